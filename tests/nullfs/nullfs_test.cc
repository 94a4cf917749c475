// NullFS as documented in fs/nullfs/nullfs.hpp and the README: every name is
// a file of file_size zeros, writes vanish, "*.d" names are directories once
// mkdir'ed, options are checked.
#include "fs_test_util.hpp"
#include "mount.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <memory>
#include <set>
#include <string>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <vector>

namespace {

using fs_test::list_dir;
using fs_test::TempDir;

constexpr off_t kFileSize = 10000;

class NullFsTest : public ::testing::Test {
protected:
	void mount(std::vector<std::string> options)
	{
		std::vector<std::string> args;
		for (const std::string &o : options) {
			args.push_back("-o");
			args.push_back(o);
		}
		fs_ = std::make_unique<harness::MountedFs>(fs_test::fs_daemon_spec("nullfs", args, mp_.path()));
	}
	void SetUp() override { mount({"file_size=" + std::to_string(kFileSize)}); }
	std::string path(const std::string &name) const { return mp_ / name; }

	TempDir mp_{"nullfs"};
	std::unique_ptr<harness::MountedFs> fs_;
};

std::vector<char> pread_all(const std::string &file, size_t size, off_t off)
{
	int fd = open(file.c_str(), O_RDONLY);
	EXPECT_GE(fd, 0) << file << ": " << strerror(errno);
	std::vector<char> buf(size, 'x');
	ssize_t n = pread(fd, buf.data(), size, off);
	EXPECT_GE(n, 0) << strerror(errno);
	close(fd);
	buf.resize(n < 0 ? 0 : static_cast<size_t>(n));
	return buf;
}

bool all_zero(const std::vector<char> &buf)
{
	return std::all_of(buf.begin(), buf.end(), [](char c) { return c == 0; });
}

TEST_F(NullFsTest, RootIsADirectory)
{
	struct stat st;
	ASSERT_EQ(stat(mp_.path().c_str(), &st), 0);
	EXPECT_TRUE(S_ISDIR(st.st_mode));
	EXPECT_NE(fs_->fstype().find("nullfs"), std::string::npos) << fs_->fstype();
}

TEST_F(NullFsTest, ArbitraryNamesAreFilesOfTheConfiguredSize)
{
	struct stat a, b, a_again;
	ASSERT_EQ(stat(path("anything").c_str(), &a), 0);
	ASSERT_EQ(stat(path("something.else").c_str(), &b), 0);
	ASSERT_EQ(stat(path("anything").c_str(), &a_again), 0);
	EXPECT_TRUE(S_ISREG(a.st_mode));
	EXPECT_EQ(a.st_size, kFileSize);
	EXPECT_EQ(b.st_size, kFileSize);
	EXPECT_NE(a.st_ino, b.st_ino);
	EXPECT_EQ(a.st_ino, a_again.st_ino);
	EXPECT_EQ(a.st_nlink, 1u);
}

TEST_F(NullFsTest, DefaultFileSizeIsOneTebibyte)
{
	fs_.reset();
	mount({});
	struct stat st;
	ASSERT_EQ(stat(path("f").c_str(), &st), 0);
	EXPECT_EQ(st.st_size, off_t{1} << 40);
	// Near the end of the default size: the read stops at EOF.
	std::vector<char> tail = pread_all(path("f"), 4096, (off_t{1} << 40) - 100);
	EXPECT_EQ(tail.size(), 100u);
	EXPECT_TRUE(all_zero(tail));
}

TEST_F(NullFsTest, NamesBelowAFileAreNotDirectories)
{
	struct stat st;
	EXPECT_EQ(stat(path("file/child").c_str(), &st), -1);
	EXPECT_EQ(errno, ENOTDIR);
}

TEST_F(NullFsTest, ReadsReturnZerosClampedAtEndOfFile)
{
	std::vector<char> head = pread_all(path("r"), 4096, 0);
	EXPECT_EQ(head.size(), 4096u);
	EXPECT_TRUE(all_zero(head));

	std::vector<char> big = pread_all(path("r"), 1 << 20, 0);
	EXPECT_EQ(big.size(), static_cast<size_t>(kFileSize));
	EXPECT_TRUE(all_zero(big));

	std::vector<char> near_end = pread_all(path("r"), 4096, 8192);
	EXPECT_EQ(near_end.size(), static_cast<size_t>(kFileSize - 8192));
	EXPECT_TRUE(all_zero(near_end));

	EXPECT_EQ(pread_all(path("r"), 4096, kFileSize).size(), 0u);
	EXPECT_EQ(pread_all(path("r"), 4096, kFileSize + 12345).size(), 0u);
}

TEST_F(NullFsTest, DirectReadsReachTheDaemon)
{
	int fd = open(path("direct").c_str(), O_RDONLY | O_DIRECT);
	ASSERT_GE(fd, 0) << strerror(errno);
	void *mem = nullptr;
	ASSERT_EQ(posix_memalign(&mem, 4096, 8192), 0);
	std::unique_ptr<char, decltype(&free)> buf(static_cast<char *>(mem), free);
	std::fill_n(buf.get(), 8192, 'x');
	ssize_t n = pread(fd, buf.get(), 8192, 4096);
	close(fd);
	ASSERT_EQ(n, 8192 - (4096 + 8192 - kFileSize));
	EXPECT_TRUE(std::all_of(buf.get(), buf.get() + n, [](char c) { return c == 0; }));
}

TEST_F(NullFsTest, WritesSucceedAndAreDropped)
{
	int fd = open(path("w").c_str(), O_WRONLY);
	ASSERT_GE(fd, 0) << strerror(errno);
	std::vector<char> data(4096, 'a');
	EXPECT_EQ(pwrite(fd, data.data(), data.size(), 0), 4096);
	EXPECT_EQ(pwrite(fd, "hello", 5, 5000), 5);
	EXPECT_EQ(fsync(fd), 0);
	EXPECT_EQ(close(fd), 0);
	// A new open drops the page cache; the data comes from NullFS again.
	std::vector<char> back = pread_all(path("w"), 8192, 0);
	EXPECT_EQ(back.size(), 8192u);
	EXPECT_TRUE(all_zero(back));
}

TEST_F(NullFsTest, FileOperationsSucceed)
{
	int fd = open(path("new").c_str(), O_CREAT | O_RDWR, 0644);
	ASSERT_GE(fd, 0) << strerror(errno);
	EXPECT_EQ(ftruncate(fd, 5), 0);
	EXPECT_EQ(fallocate(fd, 0, 0, 4096), 0);
	EXPECT_EQ(close(fd), 0);
	EXPECT_EQ(chmod(path("new").c_str(), 0600), 0);
	EXPECT_EQ(rename(path("new").c_str(), path("renamed").c_str()), 0);
	EXPECT_EQ(link(path("renamed").c_str(), path("linked").c_str()), -1); // the name exists
	EXPECT_EQ(errno, EEXIST);
	EXPECT_EQ(unlink(path("renamed").c_str()), 0);
	// Created with O_EXCL: every plain name already exists.
	EXPECT_EQ(open(path("x").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644), -1);
	EXPECT_EQ(errno, EEXIST);
}

TEST_F(NullFsTest, OnlyFilesAndDirectoriesExist)
{
	EXPECT_EQ(symlink("target", path("absent.d").c_str()), -1);
	EXPECT_EQ(errno, EPERM);
	EXPECT_EQ(mkfifo(path("fifo.d").c_str(), 0644), -1);
	EXPECT_EQ(errno, EPERM);
}

TEST_F(NullFsTest, DotDNamesAreDirectoriesOnceCreated)
{
	struct stat st;
	EXPECT_EQ(stat(path("a.d").c_str(), &st), -1);
	EXPECT_EQ(errno, ENOENT);
	ASSERT_EQ(mkdir(path("a.d").c_str(), 0755), 0) << strerror(errno);
	ASSERT_EQ(stat(path("a.d").c_str(), &st), 0);
	EXPECT_TRUE(S_ISDIR(st.st_mode));
	EXPECT_EQ(mkdir(path("a.d").c_str(), 0755), -1);
	EXPECT_EQ(errno, EEXIST);
	// A plain name is a file already.
	EXPECT_EQ(mkdir(path("plain").c_str(), 0755), -1);
	EXPECT_EQ(errno, EEXIST);

	// Inside a directory the same rules hold.
	struct stat inner;
	ASSERT_EQ(stat(path("a.d/file").c_str(), &inner), 0);
	EXPECT_TRUE(S_ISREG(inner.st_mode));
	EXPECT_EQ(inner.st_size, kFileSize);
	ASSERT_EQ(mkdir(path("a.d/sub.d").c_str(), 0755), 0);
	EXPECT_EQ(rmdir(path("a.d").c_str()), -1);
	EXPECT_EQ(errno, ENOTEMPTY);

	// A renamed directory keeps what was created inside it.
	ASSERT_EQ(rename(path("a.d").c_str(), path("b.d").c_str()), 0);
	EXPECT_EQ(stat(path("a.d").c_str(), &st), -1);
	ASSERT_EQ(stat(path("b.d/sub.d").c_str(), &st), 0);
	EXPECT_TRUE(S_ISDIR(st.st_mode));

	EXPECT_EQ(rmdir(path("b.d/sub.d").c_str()), 0);
	EXPECT_EQ(rmdir(path("b.d").c_str()), 0);
	EXPECT_EQ(stat(path("b.d").c_str(), &st), -1);
	EXPECT_EQ(errno, ENOENT);
}

TEST_F(NullFsTest, DirectoriesListEmpty)
{
	EXPECT_EQ(list_dir(mp_.path()), (std::set<std::string>{".", ".."}));
	ASSERT_EQ(mkdir(path("d.d").c_str(), 0755), 0);
	struct stat st;
	ASSERT_EQ(stat(path("d.d/looked-up").c_str(), &st), 0);
	EXPECT_EQ(list_dir(path("d.d")), (std::set<std::string>{".", ".."}));
}

TEST_F(NullFsTest, StatfsIsSane)
{
	struct statvfs sv;
	ASSERT_EQ(statvfs(mp_.path().c_str(), &sv), 0);
	EXPECT_EQ(sv.f_bsize, 4096u);
	EXPECT_GT(sv.f_blocks, 0u);
	EXPECT_EQ(sv.f_bfree, sv.f_blocks);
	EXPECT_GT(sv.f_files, 0u);
	EXPECT_EQ(sv.f_namemax, 255u);
}

TEST_F(NullFsTest, DelayUsDelaysEveryOperation)
{
	fs_.reset();
	constexpr int kDelayUs = 20000;
	mount({"delay_us=" + std::to_string(kDelayUs), "entry_timeout=0", "attr_timeout=0"});
	for (const char *name : {"d1", "d2", "d3"}) {
		auto start = std::chrono::steady_clock::now();
		struct stat st;
		ASSERT_EQ(stat(path(name).c_str(), &st), 0);
		auto took = std::chrono::steady_clock::now() - start;
		EXPECT_GE(took, std::chrono::microseconds(kDelayUs)) << name;
	}
}

// ---- the command line ----------------------------------------------------

class NullFsCommandLine : public ::testing::Test {
protected:
	fs_test::CommandResult run(std::vector<std::string> args, const std::string &mp)
	{
		args.insert(args.begin(), fs_test::fs_binary("nullfs"));
		args.push_back("-f");
		if (!mp.empty())
			args.push_back(mp);
		return fs_test::run_command(args, mp);
	}
	TempDir mp_{"nullfs-cli"};
};

TEST_F(NullFsCommandLine, InvalidOptionValuesPrintUsageAndExit2)
{
	for (const char *bad : {"file_size=lots", "file_size=-1", "file_size=99999999T", "entry_timeout=x",
				"attr_timeout=-1", "delay_us=abc", "delay_us=-5"}) {
		fs_test::CommandResult r = run({"-o", bad}, mp_.path());
		EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.output;
		EXPECT_NE(r.output.find("usage:"), std::string::npos) << bad << ": " << r.output;
	}
}

TEST_F(NullFsCommandLine, UnknownOptionPrintsUsageAndExits2)
{
	fs_test::CommandResult r = run({"-o", "no_such_option=1"}, mp_.path());
	EXPECT_EQ(r.exit_code, 2) << r.output;
	EXPECT_NE(r.output.find("usage:"), std::string::npos) << r.output;
}

TEST_F(NullFsCommandLine, MissingMountPointPrintsUsageAndExits2)
{
	fs_test::CommandResult r = run({}, "");
	EXPECT_EQ(r.exit_code, 2) << r.output;
	EXPECT_NE(r.output.find("usage:"), std::string::npos) << r.output;
}

TEST_F(NullFsCommandLine, HelpExits0)
{
	fs_test::CommandResult r = fs_test::run_command({fs_test::fs_binary("nullfs"), "--help"});
	EXPECT_EQ(r.exit_code, 0) << r.output;
	EXPECT_NE(r.output.find("file_size"), std::string::npos) << r.output;
	EXPECT_NE(r.output.find("delay_us"), std::string::npos) << r.output;
}

TEST_F(NullFsCommandLine, NonexistentMountPointIsOneLineExit1)
{
	std::string missing = mp_ / "does-not-exist";
	fs_test::CommandResult r = run({}, missing);
	EXPECT_EQ(r.exit_code, 1) << r.output;
	EXPECT_EQ(fs_test::count_lines(r.output), 1) << r.output;
	EXPECT_NE(r.output.find(missing), std::string::npos) << r.output;
}

TEST_F(NullFsCommandLine, BusyMountPointIsOneLineExit1)
{
	harness::MountedFs first(fs_test::fs_daemon_spec("nullfs", {}, mp_.path()));
	fs_test::CommandResult r = run({}, mp_.path());
	EXPECT_EQ(r.exit_code, 1) << r.output;
	EXPECT_EQ(fs_test::count_lines(r.output), 1) << r.output;
	EXPECT_NE(r.output.find("busy"), std::string::npos) << r.output;
}

} // namespace
