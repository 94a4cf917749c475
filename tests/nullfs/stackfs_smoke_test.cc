// A smoke test of StackFS over a directory of the test root's filesystem:
// data and metadata go through to the source, errors come back unchanged,
// the command line is checked. tests/posix compares StackFS with tmpfs in depth.
#include "fs_test_util.hpp"
#include "mount.hpp"
#include "mountinfo.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using fs_test::list_dir;
using fs_test::TempDir;

std::string read_file(const std::string &file)
{
	std::ifstream in(file, std::ios::binary);
	std::stringstream ss;
	ss << in.rdbuf();
	return ss.str();
}

void write_file(const std::string &file, const std::string &data)
{
	std::ofstream out(file, std::ios::binary | std::ios::trunc);
	out << data;
	ASSERT_TRUE(out.good()) << file;
}

class StackFsTest : public ::testing::Test {
protected:
	virtual std::vector<std::string> options() const { return {}; }
	void SetUp() override
	{
		// Files that exist before the mount, so no lookup has cached their absence.
		write_file(src_ / "existing", "from the source\n");
		ASSERT_EQ(mkdir((src_ / "dir").c_str(), 0755), 0);
		write_file(src_ / "dir/inner", "inner\n");
		harness::DaemonSpec spec;
		spec.argv = {fs_test::binary("stackfs-fuse")};
		for (const std::string &o : options())
			spec.argv.insert(spec.argv.end(), {"-o", o});
		spec.argv.push_back(src_.path());
		spec.mountpoint = mp_.path();
		fs_ = std::make_unique<harness::MountedFs>(spec);
	}
	void TearDown() override { fs_.reset(); }
	std::string m(const std::string &name) const { return mp_ / name; }
	std::string s(const std::string &name) const { return src_ / name; }

	TempDir src_{"stackfs-src"};
	TempDir mp_{"stackfs-mnt"};
	std::unique_ptr<harness::MountedFs> fs_;
};

TEST_F(StackFsTest, DataGoesThroughBothWays)
{
	EXPECT_NE(fs_->fstype().find("stackfs"), std::string::npos) << fs_->fstype();
	EXPECT_EQ(read_file(m("existing")), "from the source\n");
	EXPECT_EQ(read_file(m("dir/inner")), "inner\n");
	write_file(m("written"), "through the mount\n");
	EXPECT_EQ(read_file(s("written")), "through the mount\n");

	// Bigger than one request, with an offset.
	std::string big(3 << 20, '\0');
	for (size_t i = 0; i < big.size(); ++i)
		big[i] = static_cast<char>('a' + i % 26);
	write_file(m("big"), big);
	EXPECT_EQ(read_file(s("big")), big);
	EXPECT_EQ(read_file(m("big")), big);
}

TEST_F(StackFsTest, MetadataGoesThrough)
{
	ASSERT_EQ(mkdir(m("newdir").c_str(), 0750), 0);
	struct stat st;
	ASSERT_EQ(stat(s("newdir").c_str(), &st), 0);
	EXPECT_TRUE(S_ISDIR(st.st_mode));
	EXPECT_EQ(st.st_mode & 07777, 0750u & ~0u);

	ASSERT_EQ(chmod(m("existing").c_str(), 0640), 0);
	ASSERT_EQ(chown(m("existing").c_str(), 1234, 5678), 0);
	ASSERT_EQ(truncate(m("existing").c_str(), 4), 0);
	timespec times[2] = {{1000000000, 0}, {1200000000, 500}};
	ASSERT_EQ(utimensat(AT_FDCWD, m("existing").c_str(), times, 0), 0);
	ASSERT_EQ(stat(s("existing").c_str(), &st), 0);
	EXPECT_EQ(st.st_mode & 07777, 0640u);
	EXPECT_EQ(st.st_uid, 1234u);
	EXPECT_EQ(st.st_gid, 5678u);
	EXPECT_EQ(st.st_size, 4);
	EXPECT_EQ(st.st_mtim.tv_sec, 1200000000);
	EXPECT_EQ(st.st_atim.tv_sec, 1000000000);

	ASSERT_EQ(link(m("existing").c_str(), m("hardlink").c_str()), 0);
	struct stat a, b;
	ASSERT_EQ(stat(m("existing").c_str(), &a), 0);
	ASSERT_EQ(stat(m("hardlink").c_str(), &b), 0);
	EXPECT_EQ(a.st_ino, b.st_ino);
	EXPECT_EQ(a.st_nlink, 2u);

	ASSERT_EQ(symlink("existing", m("symlink").c_str()), 0);
	char target[64] = {};
	ASSERT_EQ(readlink(s("symlink").c_str(), target, sizeof(target) - 1), 8);
	EXPECT_STREQ(target, "existing");

	EXPECT_EQ(list_dir(m("")), list_dir(s("")));
	ASSERT_EQ(unlink(m("hardlink").c_str()), 0);
	EXPECT_EQ(access(s("hardlink").c_str(), F_OK), -1);
}

TEST_F(StackFsTest, ErrorsComeBackUnchanged)
{
	EXPECT_EQ(open(m("missing").c_str(), O_RDONLY), -1);
	EXPECT_EQ(errno, ENOENT);
	EXPECT_EQ(rmdir(m("dir").c_str()), -1);
	EXPECT_EQ(errno, ENOTEMPTY);
	// Even root may not execute a file without execute bits.
	EXPECT_EQ(access(m("existing").c_str(), X_OK), -1);
	EXPECT_EQ(errno, EACCES);
	char value[16];
	EXPECT_EQ(getxattr(m("existing").c_str(), "user.none", value, sizeof(value)), -1);
	EXPECT_EQ(errno, ENODATA);
	EXPECT_EQ(rename(m("dir").c_str(), m("existing").c_str()), -1);
	EXPECT_EQ(errno, ENOTDIR);
}

TEST_F(StackFsTest, RenameFlagsGoThrough)
{
	write_file(s("one"), "1");
	write_file(s("two"), "2");
	EXPECT_EQ(renameat2(AT_FDCWD, m("one").c_str(), AT_FDCWD, m("two").c_str(), RENAME_NOREPLACE), -1);
	EXPECT_EQ(errno, EEXIST);
	ASSERT_EQ(renameat2(AT_FDCWD, m("one").c_str(), AT_FDCWD, m("two").c_str(), RENAME_EXCHANGE), 0);
	EXPECT_EQ(read_file(s("one")), "2");
	EXPECT_EQ(read_file(s("two")), "1");
}

TEST_F(StackFsTest, XattrsGoThrough)
{
	ASSERT_EQ(setxattr(m("existing").c_str(), "user.colour", "blue", 4, 0), 0) << strerror(errno);
	char value[16] = {};
	EXPECT_EQ(getxattr(s("existing").c_str(), "user.colour", value, sizeof(value)), 4);
	EXPECT_STREQ(value, "blue");
	EXPECT_EQ(getxattr(m("existing").c_str(), "user.colour", nullptr, 0), 4);
	EXPECT_EQ(getxattr(m("existing").c_str(), "user.colour", value, 2), -1);
	EXPECT_EQ(errno, ERANGE);
	char names[256];
	ssize_t n = listxattr(m("existing").c_str(), names, sizeof(names));
	ASSERT_GT(n, 0);
	EXPECT_NE(std::string(names, static_cast<size_t>(n)).find("user.colour"), std::string::npos);
	ASSERT_EQ(removexattr(m("existing").c_str(), "user.colour"), 0);
	EXPECT_EQ(getxattr(s("existing").c_str(), "user.colour", value, sizeof(value)), -1);
	EXPECT_EQ(errno, ENODATA);
}

TEST_F(StackFsTest, HolesAndDataAreReportedLikeTheSource)
{
	int sfd = open(s("sparse").c_str(), O_CREAT | O_WRONLY, 0644);
	ASSERT_GE(sfd, 0);
	ASSERT_EQ(pwrite(sfd, "x", 1, 1 << 20), 1);
	ASSERT_EQ(fsync(sfd), 0);
	int fd = open(m("sparse").c_str(), O_RDONLY);
	ASSERT_GE(fd, 0) << strerror(errno);
	int src = open(s("sparse").c_str(), O_RDONLY);
	for (int whence : {SEEK_DATA, SEEK_HOLE})
		EXPECT_EQ(lseek(fd, 0, whence), lseek(src, 0, whence)) << whence;
	EXPECT_EQ(lseek(fd, 2 << 20, SEEK_DATA), -1);
	EXPECT_EQ(errno, ENXIO);
	close(src);
	close(fd);
	close(sfd);
}

TEST_F(StackFsTest, SigtermUnmountsAndExitsCleanly)
{
	ASSERT_EQ(kill(fs_->pid(), SIGTERM), 0);
	auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
	while (fs_common::is_mountpoint(mp_.path()) && std::chrono::steady_clock::now() < deadline)
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	EXPECT_FALSE(fs_common::is_mountpoint(mp_.path()));
	int status = fs_->stop();
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

// cache=never: direct I/O, nothing cached, so the source's changes show at once.
class StackFsUncachedTest : public StackFsTest {
protected:
	std::vector<std::string> options() const override { return {"cache=never"}; }
};

TEST_F(StackFsUncachedTest, ChangesInTheSourceShowAtOnce)
{
	EXPECT_EQ(read_file(m("existing")), "from the source\n");
	write_file(s("existing"), "changed\n");
	EXPECT_EQ(read_file(m("existing")), "changed\n");
	struct stat st;
	EXPECT_EQ(stat(m("appears").c_str(), &st), -1);
	write_file(s("appears"), "now\n");
	EXPECT_EQ(read_file(m("appears")), "now\n");
	// Unaligned direct writes reach the source byte for byte.
	int fd = open(m("existing").c_str(), O_WRONLY);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(pwrite(fd, "CH", 2, 0), 2);
	close(fd);
	EXPECT_EQ(read_file(s("existing")), "CHanged\n");
}

// Started as users start it, without -f: after mounting, the daemon forks
// into the background (fuse_daemonize) and the process we started exits.
// Files are reopened through their O_PATH descriptors by /proc/self/fd/N,
// which must be the serving process's: it once was the exited parent's, and
// every open of an existing file failed with ENOENT.
class StackFsDaemonized : public ::testing::TestWithParam<const char *> {};

TEST_P(StackFsDaemonized, ReopensExistingFiles)
{
	std::string bin = fs_test::binary(GetParam());
	if (access(bin.c_str(), X_OK) != 0)
		GTEST_SKIP() << bin << " is not built";
	TempDir src("stackfs-src"), mp("stackfs-mnt");
	write_file(src / "existing", "from the source\n");
	harness::DaemonSpec spec;
	spec.argv = {bin, src.path()};
	spec.mountpoint = mp.path();
	spec.env["RFUSE_TRANSPORT"] = "fuse"; // the librfuse build over /dev/fuse; libfuse3's ignores it
	spec.daemonize = true;
	harness::MountedFs fs(spec);
	// What serves is the daemon, a session leader of its own, not the process we started.
	EXPECT_EQ(getsid(fs.pid()), fs.pid());

	write_file(mp / "created", "first\n");
	int fd = open((mp / "created").c_str(), O_RDWR);
	ASSERT_GE(fd, 0) << "reopening a file created through the mount: " << strerror(errno);
	char buf[16] = {};
	EXPECT_EQ(pread(fd, buf, sizeof(buf), 0), 6);
	EXPECT_STREQ(buf, "first\n");
	EXPECT_EQ(pwrite(fd, "FIRST", 5, 0), 5);
	EXPECT_EQ(close(fd), 0);
	EXPECT_EQ(read_file(src / "created"), "FIRST\n");
	EXPECT_EQ(read_file(mp / "existing"), "from the source\n");
	int status = fs.stop();
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status;
}

INSTANTIATE_TEST_SUITE_P(Builds, StackFsDaemonized, ::testing::Values("stackfs-fuse", "stackfs-rfuse"));

TEST(StackFsCommandLine, MissingSourcePrintsUsageAndExits2)
{
	fs_test::CommandResult r = fs_test::run_command({fs_test::binary("stackfs-fuse"), "-f"});
	EXPECT_EQ(r.exit_code, 2) << r.output;
	EXPECT_NE(r.output.find("usage:"), std::string::npos) << r.output;
}

TEST(StackFsCommandLine, InvalidCachePrintsUsageAndExits2)
{
	TempDir src("stackfs-src"), mp("stackfs-mnt");
	fs_test::CommandResult r = fs_test::run_command(
		{fs_test::binary("stackfs-fuse"), "-f", "-o", "cache=sometimes", src.path(), mp.path()}, mp.path());
	EXPECT_EQ(r.exit_code, 2) << r.output;
	EXPECT_NE(r.output.find("usage:"), std::string::npos) << r.output;
}

TEST(StackFsCommandLine, NonexistentSourceIsOneLineExit1)
{
	TempDir mp("stackfs-mnt");
	std::string missing = mp / "no-such-source";
	fs_test::CommandResult r =
		fs_test::run_command({fs_test::binary("stackfs-fuse"), "-f", missing, mp.path()}, mp.path());
	EXPECT_EQ(r.exit_code, 1) << r.output;
	EXPECT_EQ(fs_test::count_lines(r.output), 1) << r.output;
	EXPECT_NE(r.output.find(missing), std::string::npos) << r.output;
}

TEST(StackFsCommandLine, NonexistentMountPointIsOneLineExit1)
{
	TempDir src("stackfs-src");
	std::string missing = src / "no-such-mountpoint";
	fs_test::CommandResult r =
		fs_test::run_command({fs_test::binary("stackfs-fuse"), "-f", src.path(), missing}, missing);
	EXPECT_EQ(r.exit_code, 1) << r.output;
	EXPECT_EQ(fs_test::count_lines(r.output), 1) << r.output;
	EXPECT_NE(r.output.find(missing), std::string::npos) << r.output;
}

} // namespace
