#include "posix_fixture.hpp"

#include <cerrno>
#include <cstring>
#include <sys/stat.h>
#include <time.h>

namespace posix {

void PosixTest::SetUp()
{
	health_ = suite().subject_health();
	if (!health_.empty())
		GTEST_FAIL() << "subject unusable: " << health_;

	const ::testing::TestInfo *info = ::testing::UnitTest::GetInstance()->current_test_info();
	test_dir_name_ = std::string(info->test_suite_name()) + "." + info->name();
	for (char &c : test_dir_name_)
		if (c == '/')
			c = '_';
	for (const std::string &root : {suite().reference_root(), suite().subject_root()}) {
		std::string path = root + "/" + test_dir_name_;
		if (::mkdir(path.c_str(), 0755) != 0)
			GTEST_FAIL() << "mkdir " << path << ": " << std::strerror(errno);
	}
	dirs_.ref = Dir(suite().reference_root() + "/" + test_dir_name_);
	dirs_.sub = Dir(suite().subject_root() + "/" + test_dir_name_);
	if (dirs_.ref.fd() < 0 || dirs_.sub.fd() < 0)
		GTEST_FAIL() << "cannot open the test directories " << dirs_.ref.path() << " / " << dirs_.sub.path();
}

void PosixTest::TearDown()
{
	std::string ref_path = dirs_.ref.path(), sub_path = dirs_.sub.path();
	dirs_ = Pair<Dir>{};
	if (test_dir_name_.empty() || ref_path.empty())
		return;
	std::string ref_err = remove_tree(ref_path);
	if (!ref_err.empty())
		ADD_FAILURE() << "cleanup of the reference failed: " << ref_err;
	if (!suite().subject_health().empty())
		return; // already reported; removing would only hang on ENOTCONN
	std::string sub_err = remove_tree(sub_path);
	if (!sub_err.empty() && !HasFailure())
		ADD_FAILURE() << "removing the test directory on the subject failed: " << sub_err;
}

std::string PosixTest::joined_trace()
{
	// The last few calls name the failure; a loop of thousands would drown it.
	constexpr size_t kShown = 8;
	const std::vector<std::string> &calls = trace();
	size_t first = calls.size() > kShown ? calls.size() - kShown : 0;
	std::string s = first > 0 ? "(earlier calls left out) ..." : "";
	for (size_t i = first; i < calls.size(); ++i)
		s += (s.empty() ? "" : "; ") + calls[i];
	return s.empty() ? "(none)" : s;
}

std::string PosixTest::last_call()
{
	return trace().empty() ? "(none)" : trace().back();
}

struct timespec now_realtime()
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

double seconds_between(const struct timespec &a, const struct timespec &b)
{
	return static_cast<double>(a.tv_sec - b.tv_sec) + static_cast<double>(a.tv_nsec - b.tv_nsec) * 1e-9;
}

} // namespace posix
