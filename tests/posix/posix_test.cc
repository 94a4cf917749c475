// POSIX behaviour: the same calls on tmpfs and on the subject, outcomes
// compared (see posix_fixture.hpp), plus absolute expectations checked on
// the reference so that each test also says what POSIX/Linux wants.
#include "posix_fixture.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <linux/falloc.h>
#include <set>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <thread>
#include <unistd.h>

namespace posix {
namespace {

using Open = PosixTest;
using ReadWrite = PosixTest;
using Sparse = PosixTest;
using Truncate = PosixTest;
using Rename = PosixTest;
using Links = PosixTest;
using Unlink = PosixTest;
using Symlink = PosixTest;
using Dirs = PosixTest;
using Attr = PosixTest;
using Times = PosixTest;
using Readdir = PosixTest;
using Permissions = PosixTest;
using Mmap = PosixTest;
using Concurrency = PosixTest;
using Fallocate = PosixTest;
using CopyFileRange = PosixTest;
using Locks = PosixTest;
using Special = PosixTest;
using Statfs = PosixTest;

constexpr off_t kGiB = 1LL << 30;

std::string zeros(size_t n)
{
	return std::string(n, '\0');
}

// Runs probes in another process: a child that calls setup(), then
// probe(dfd, results[i]) for the reference directory (i = 0) and the
// subject's (i = 1). The child is a fork of a threaded process, so setup
// and probe may only make system calls; setup returns false on failure.
// Returns "" or what went wrong.
template <size_t N, typename Setup, typename Probe>
std::string probe_in_child(int ref_dfd, int sub_dfd, long (&results)[2][N], Setup setup, Probe probe)
{
	int pipefd[2];
	if (pipe(pipefd) != 0)
		return "pipe: " + errno_name(errno);
	pid_t child = fork();
	if (child < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return "fork: " + errno_name(errno);
	}
	if (child == 0) {
		close(pipefd[0]);
		if (!setup())
			_exit(3);
		for (int dfd : {ref_dfd, sub_dfd}) {
			long r[N] = {};
			probe(dfd, r);
			if (write(pipefd[1], r, sizeof(r)) != static_cast<ssize_t>(sizeof(r)))
				_exit(4);
		}
		_exit(0);
	}
	close(pipefd[1]);
	size_t got = 0;
	while (got < sizeof(results)) {
		ssize_t n = read(pipefd[0], reinterpret_cast<char *>(results) + got, sizeof(results) - got);
		if (n <= 0)
			break;
		got += static_cast<size_t>(n);
	}
	close(pipefd[0]);
	int status = 0;
	waitpid(child, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return "child failed, wait status " + std::to_string(status);
	if (got != sizeof(results))
		return "child sent " + std::to_string(got) + " of " + std::to_string(sizeof(results)) + " bytes";
	return "";
}

// The unprivileged user of the permission probes, and a setup for
// probe_in_child() that becomes it (system calls only).
constexpr uid_t kNobody = 65534;

bool become_nobody()
{
	return setgroups(0, nullptr) == 0 && setresgid(kNobody, kNobody, kNobody) == 0 &&
	       setresuid(kNobody, kNobody, kNobody) == 0;
}

// ---------------------------------------------------------------- open

TEST_F(Open, ExclOnExistingIsEexist)
{
	make_file("f", "hello");
	expect_err(both([](Dir &d) { return d.open("f", O_CREAT | O_EXCL | O_WRONLY, 0644); }), EEXIST);
	expect_content("f", "hello");
	auto f = both([](Dir &d) { return d.open("new", O_CREAT | O_EXCL | O_WRONLY, 0644); });
	expect_ok(f);
	same_stat("new");
}

TEST_F(Open, CreatOnExistingKeepsContentAndMode)
{
	make_file("f", "hello");
	both([](Dir &d) { return d.chmod("f", 0600); });
	expect_ok(both([](Dir &d) { return d.open("f", O_CREAT | O_WRONLY, 0666); }));
	expect_content("f", "hello");
	auto st = same_stat("f");
	EXPECT_EQ(judged(st).val.st_mode, S_IFREG | 0600);
	// A new file gets the mode asked for, less the umask (022).
	expect_ok(both([](Dir &d) { return d.open("g", O_CREAT | O_WRONLY, 0666); }));
	EXPECT_EQ(judged(same_stat("g")).val.st_mode, S_IFREG | 0644);
}

TEST_F(Open, TruncEmptiesTheFile)
{
	make_file("f", "hello world");
	auto f = both([](Dir &d) { return d.open("f", O_TRUNC | O_WRONLY); });
	expect_ok(f);
	expect_val(both(f, [](File &h) { return h.lseek(0, SEEK_END); }), 0);
	expect_content("f", "");
	EXPECT_EQ(judged(same_stat("f")).val.st_size, 0);
	// Linux truncates even for O_RDONLY (POSIX leaves it unspecified).
	make_file("r", "data");
	expect_ok(both([](Dir &d) { return d.open("r", O_TRUNC | O_RDONLY); }));
	expect_content("r", "");
	// Writing after O_TRUNC starts at 0, no stale tail.
	make_file("w", "0123456789");
	auto w = both([](Dir &d) { return d.open("w", O_TRUNC | O_RDWR); });
	expect_val(both(w, [](File &h) { return h.write("ab"); }), 2);
	expect_content("w", "ab");
}

TEST_F(Open, AppendWritesAtTheEnd)
{
	make_file("f", "abc");
	auto f = both([](Dir &d) { return d.open("f", O_WRONLY | O_APPEND); });
	expect_ok(f);
	expect_val(both(f, [](File &h) { return h.lseek(0, SEEK_SET); }), 0);
	expect_val(both(f, [](File &h) { return h.write("def"); }), 3);
	expect_val(both(f, [](File &h) { return h.lseek(0, SEEK_CUR); }), 6);
	// On Linux pwrite on an O_APPEND descriptor appends too.
	expect_val(both(f, [](File &h) { return h.pwrite("XY", 0); }), 2);
	expect_content("f", "abcdefXY");
	// Another writer extends the file: the next append goes after it.
	auto g = both([](Dir &d) { return d.open("f", O_WRONLY); });
	expect_val(both(g, [](File &h) { return h.pwrite("--tail--", 8); }), 8);
	expect_val(both(f, [](File &h) { return h.write("!"); }), 1);
	expect_content("f", "abcdefXY--tail--!");
}

TEST_F(Open, DirectoryFlagAndDirectories)
{
	make_file("f", "x");
	both([](Dir &d) { return d.mkdir("dir"); });
	expect_err(both([](Dir &d) { return d.open("f", O_RDONLY | O_DIRECTORY); }), ENOTDIR);
	expect_err(both([](Dir &d) { return d.open("missing", O_RDONLY | O_DIRECTORY); }), ENOENT);
	expect_ok(both([](Dir &d) { return d.open("dir", O_RDONLY | O_DIRECTORY); }));
	expect_err(both([](Dir &d) { return d.open("dir", O_WRONLY); }), EISDIR);
	expect_err(both([](Dir &d) { return d.open("dir", O_RDWR); }), EISDIR);
	expect_err(both([](Dir &d) { return d.open("dir", O_CREAT | O_WRONLY, 0644); }), EISDIR);
	expect_err(both([](Dir &d) { return d.open("newdir/", O_CREAT | O_WRONLY, 0644); }), EISDIR);
	auto dir = both([](Dir &d) { return d.open("dir", O_RDONLY); });
	expect_err(both(dir, [](File &h) { return h.read(10); }), EISDIR);
}

TEST_F(Open, NofollowOnSymlinkIsEloop)
{
	make_file("f", "x");
	both([](Dir &d) { return d.symlink("f", "l"); });
	expect_err(both([](Dir &d) { return d.open("l", O_RDONLY | O_NOFOLLOW); }), ELOOP);
	expect_ok(both([](Dir &d) { return d.open("f", O_RDONLY | O_NOFOLLOW); }));
	// O_PATH|O_NOFOLLOW opens the link itself.
	auto l = both([](Dir &d) { return d.open("l", O_PATH | O_NOFOLLOW); });
	expect_ok(l);
	auto st = both(l, [](File &h) { return h.fstat(); });
	EXPECT_TRUE(S_ISLNK(judged(st).val.st_mode));
}

TEST_F(Open, MissingAndNotADirectory)
{
	make_file("f", "x");
	expect_err(both([](Dir &d) { return d.open("missing", O_RDONLY); }), ENOENT);
	expect_err(both([](Dir &d) { return d.open("missing/x", O_CREAT | O_WRONLY, 0644); }), ENOENT);
	expect_err(both([](Dir &d) { return d.open("f/x", O_RDONLY); }), ENOTDIR);
	expect_err(both([](Dir &d) { return d.open("f/x", O_CREAT | O_WRONLY, 0644); }), ENOTDIR);
}

TEST_F(Open, CreatThroughDanglingSymlink)
{
	both([](Dir &d) { return d.symlink("target", "dangling"); });
	// O_CREAT follows the link and creates its target ...
	expect_ok(both([](Dir &d) { return d.open("dangling", O_CREAT | O_WRONLY, 0644); }));
	expect_ok(same_stat("target"));
	// ... but O_CREAT|O_EXCL never follows: the link itself exists.
	both([](Dir &d) { return d.symlink("target2", "dangling2"); });
	expect_err(both([](Dir &d) { return d.open("dangling2", O_CREAT | O_EXCL | O_WRONLY, 0644); }), EEXIST);
	expect_err(same_stat("target2"), ENOENT);
}

TEST_F(Open, NameMaxIs255)
{
	std::string longest(255, 'n'), too_long(256, 'n');
	expect_ok(both([&](Dir &d) { return d.open(longest, O_CREAT | O_WRONLY, 0644); }));
	expect_ok(same_stat(longest));
	expect_err(both([&](Dir &d) { return d.open(too_long, O_CREAT | O_WRONLY, 0644); }), ENAMETOOLONG);
	expect_err(both([&](Dir &d) { return d.mkdir(too_long); }), ENAMETOOLONG);
	expect_listing_same();
}

TEST_F(Open, OddNames)
{
	const std::string names[] = {
		"with space", "new\nline", "tab\there", "ünïcødé-文件",
		"-leading-dash", ".hidden", "...", "a:b", "back\\slash", "\x7f\x01" "ctl", "*?[glob]", "%s%n",
	};
	for (const std::string &name : names)
		make_file(name, "content of " + name);
	expect_listing_same();
	for (const std::string &name : names) {
		expect_content(name, "content of " + name);
		expect_ok(both([&](Dir &d) { return d.rename(name, name + ".renamed"); }));
	}
	expect_listing_same();
}

// ---------------------------------------------------------------- read/write

TEST_F(ReadWrite, OffsetsHolesAndShortReads)
{
	auto f = both([](Dir &d) { return d.open("f", O_CREAT | O_RDWR, 0644); });
	expect_ok(f);
	expect_val(both(f, [](File &h) { return h.pwrite("hello", 0); }), 5);
	expect_val(both(f, [](File &h) { return h.pwrite("world", 10); }), 5);
	EXPECT_EQ(judged(both(f, [](File &h) { return h.fstat(); })).val.st_size, 15);
	expect_data(both(f, [](File &h) { return h.pread(100, 0); }), "hello" + zeros(5) + "world");
	expect_data(both(f, [](File &h) { return h.pread(10, 12); }), "rld");
	expect_data(both(f, [](File &h) { return h.pread(10, 15); }), "");
	expect_data(both(f, [](File &h) { return h.pread(10, 1000); }), "");
	expect_data(both(f, [](File &h) { return h.pread(5, 5); }), zeros(5));
	// A zero-length write past EOF does not extend the file.
	expect_val(both(f, [](File &h) { return h.pwrite("", 100); }), 0);
	EXPECT_EQ(judged(both(f, [](File &h) { return h.fstat(); })).val.st_size, 15);
	// Overwrite inside, straddling the hole.
	expect_val(both(f, [](File &h) { return h.pwrite("XXXXXXXX", 3); }), 8);
	expect_content("f", "helXXXXXXXXorld");
	expect_err(both(f, [](File &h) { return h.pread(1, -1); }), EINVAL);
}

TEST_F(ReadWrite, FilePositionAndSeek)
{
	auto f = both([](Dir &d) { return d.open("f", O_CREAT | O_RDWR, 0644); });
	expect_val(both(f, [](File &h) { return h.write("abc"); }), 3);
	expect_val(both(f, [](File &h) { return h.write("def"); }), 3);
	expect_val(both(f, [](File &h) { return h.lseek(0, SEEK_CUR); }), 6);
	expect_val(both(f, [](File &h) { return h.lseek(0, SEEK_SET); }), 0);
	expect_data(both(f, [](File &h) { return h.read(2); }), "ab");
	expect_data(both(f, [](File &h) { return h.read(10); }), "cdef");
	expect_data(both(f, [](File &h) { return h.read(10); }), "");
	expect_val(both(f, [](File &h) { return h.lseek(-1, SEEK_END); }), 5);
	expect_data(both(f, [](File &h) { return h.read(10); }), "f");
	expect_err(both(f, [](File &h) { return h.lseek(-100, SEEK_SET); }), EINVAL);
	expect_val(both(f, [](File &h) { return h.lseek(100, SEEK_END); }), 106);
	expect_val(both(f, [](File &h) { return h.write("x"); }), 1);
	expect_content("f", "abcdef" + zeros(100) + "x");
}

TEST_F(ReadWrite, LargeUnalignedWrites)
{
	// Bigger than FUSE's max_write, at an offset aligned to nothing.
	std::string big = pattern((1 << 20) + 7, 1);
	auto f = both([](Dir &d) { return d.open("f", O_CREAT | O_RDWR, 0644); });
	expect_val(both(f, [&](File &h) { return h.pwrite(big, 4093); }), static_cast<long long>(big.size()));
	std::string expected = zeros(4093) + big;
	expect_data(both(f, [](File &h) { return h.read_all(); }), expected);
	expect_data(both(f, [](File &h) { return h.pread(300000, 131000); }), expected.substr(131000, 300000));
	std::string mid = pattern(200000, 2);
	expect_val(both(f, [&](File &h) { return h.pwrite(mid, 500001); }), 200000);
	expected.replace(500001, mid.size(), mid);
	expect_content("f", expected);
}

TEST_F(ReadWrite, WrongAccessModeIsEbadf)
{
	make_file("f", "data");
	auto r = both([](Dir &d) { return d.open("f", O_RDONLY); });
	expect_err(both(r, [](File &h) { return h.write("x"); }), EBADF);
	expect_err(both(r, [](File &h) { return h.ftruncate(0); }), EINVAL);
	auto w = both([](Dir &d) { return d.open("f", O_WRONLY); });
	expect_err(both(w, [](File &h) { return h.read(1); }), EBADF);
	expect_content("f", "data");
}

// ---------------------------------------------------------------- sparse

TEST_F(Sparse, WriteAtFiveGiB)
{
	const off_t five = 5 * kGiB, four = 4 * kGiB;
	auto f = both([](Dir &d) { return d.open("sparse", O_CREAT | O_RDWR, 0644); });
	expect_ok(f);
	expect_val(both(f, [&](File &h) { return h.pwrite("tail-data", five); }), 9);
	EXPECT_EQ(judged(both(f, [](File &h) { return h.fstat(); })).val.st_size, five + 9);
	EXPECT_EQ(judged(same_stat("sparse")).val.st_size, five + 9);
	expect_data(both(f, [](File &h) { return h.pread(4096, 0); }), zeros(4096));
	expect_data(both(f, [&](File &h) { return h.pread(8192, four - 4096); }), zeros(8192));
	expect_data(both(f, [&](File &h) { return h.pread(4096, five - 4096); }), zeros(4096));
	expect_data(both(f, [&](File &h) { return h.pread(16, five - 4); }), zeros(4) + "tail-data");
	// Offsets that do not fit in 32 bits must not wrap.
	expect_val(both(f, [&](File &h) { return h.pwrite("AB", four - 1); }), 2);
	expect_data(both(f, [&](File &h) { return h.pread(4, four - 2); }), zeros(1) + "AB" + zeros(1));
	expect_data(both(f, [](File &h) { return h.pread(4, 0); }), zeros(4));
	expect_data(both(f, [&](File &h) { return h.pread(4, 4094); }), zeros(4));
	expect_val(both(f, [&](File &h) { return h.lseek(0, SEEK_END); }), five + 9);
	// Shrinking to just past 4 GiB drops the data above.
	expect_ok(both(f, [&](File &h) { return h.ftruncate(four + 1); }));
	expect_data(both(f, [&](File &h) { return h.pread(10, four - 2); }), zeros(1) + "AB");
	expect_ok(both(f, [&](File &h) { return h.ftruncate(five); }));
	expect_data(both(f, [&](File &h) { return h.pread(4, five - 4); }), zeros(4));
}

// ---------------------------------------------------------------- truncate

TEST_F(Truncate, DownAndUp)
{
	make_file("f", "0123456789");
	expect_ok(both([](Dir &d) { return d.truncate("f", 4); }));
	expect_content("f", "0123");
	EXPECT_EQ(judged(same_stat("f")).val.st_size, 4);
	// Growing again must show zeros, not the old bytes.
	expect_ok(both([](Dir &d) { return d.truncate("f", 8); }));
	expect_content("f", "0123" + zeros(4));

	auto f = both([](Dir &d) { return d.open("f", O_RDWR); });
	expect_ok(both(f, [](File &h) { return h.ftruncate(100000); }));
	EXPECT_EQ(judged(both(f, [](File &h) { return h.fstat(); })).val.st_size, 100000);
	expect_data(both(f, [](File &h) { return h.pread(10, 99990); }), zeros(10));
	expect_ok(both(f, [](File &h) { return h.ftruncate(2); }));
	expect_content("f", "01");
	expect_ok(both(f, [](File &h) { return h.ftruncate(0); }));
	expect_content("f", "");

	// Cut inside a page that is cached, then grow past it.
	std::string data = pattern(10000, 3);
	expect_val(both(f, [&](File &h) { return h.pwrite(data, 0); }), 10000);
	expect_data(both(f, [](File &h) { return h.read_all(); }), data);
	expect_ok(both(f, [](File &h) { return h.ftruncate(5000); }));
	expect_ok(both(f, [](File &h) { return h.ftruncate(9000); }));
	expect_data(both(f, [](File &h) { return h.read_all(); }), data.substr(0, 5000) + zeros(4000));
	expect_content("f", data.substr(0, 5000) + zeros(4000));
}

TEST_F(Truncate, Errors)
{
	make_file("f", "x");
	both([](Dir &d) { return d.mkdir("dir"); });
	expect_err(both([](Dir &d) { return d.truncate("f", -1); }), EINVAL);
	expect_err(both([](Dir &d) { return d.truncate("dir", 0); }), EISDIR);
	expect_err(both([](Dir &d) { return d.truncate("missing", 0); }), ENOENT);
	expect_content("f", "x");
}

// ---------------------------------------------------------------- rename

TEST_F(Rename, FileReplacesFile)
{
	make_file("a", "A-content");
	make_file("b", "B");
	auto old_b = both([](Dir &d) { return d.open("b", O_RDONLY); });
	expect_ok(both([](Dir &d) { return d.rename("a", "b"); }));
	expect_err(same_stat("a"), ENOENT);
	expect_content("b", "A-content");
	// The replaced file lives on through its descriptor.
	expect_data(both(old_b, [](File &h) { return h.pread(10, 0); }), "B");
	EXPECT_EQ(judged(both(old_b, [](File &h) { return h.fstat(); })).val.st_nlink, 0u);
	expect_listing_same();
}

TEST_F(Rename, DirReplacesEmptyDir)
{
	both([](Dir &d) { return d.mkdir("d1"); });
	make_file("d1/inner", "i");
	both([](Dir &d) { return d.mkdir("d2"); });
	expect_ok(both([](Dir &d) { return d.rename("d1", "d2"); }));
	expect_err(same_stat("d1"), ENOENT);
	expect_content("d2/inner", "i");
	EXPECT_EQ(judged(same_stat("")).val.st_nlink, 3u);
	expect_listing_same();
}

TEST_F(Rename, DirOntoNonEmptyDirIsEnotempty)
{
	both([](Dir &d) { return d.mkdir("d1"); });
	both([](Dir &d) { return d.mkdir("d2"); });
	make_file("d2/keep", "k");
	expect_err(both([](Dir &d) { return d.rename("d1", "d2"); }), ENOTEMPTY);
	expect_content("d2/keep", "k");
	expect_ok(same_stat("d1"));
}

TEST_F(Rename, FileOntoDirIsEisdir)
{
	make_file("f", "x");
	both([](Dir &d) { return d.mkdir("dir"); });
	expect_err(both([](Dir &d) { return d.rename("f", "dir"); }), EISDIR);
	expect_content("f", "x");
}

TEST_F(Rename, DirOntoFileIsEnotdir)
{
	make_file("f", "x");
	both([](Dir &d) { return d.mkdir("dir"); });
	expect_err(both([](Dir &d) { return d.rename("dir", "f"); }), ENOTDIR);
	expect_content("f", "x");
}

TEST_F(Rename, IntoOwnSubtreeIsEinval)
{
	both([](Dir &d) { return d.mkdir("a"); });
	both([](Dir &d) { return d.mkdir("a/b"); });
	expect_err(both([](Dir &d) { return d.rename("a", "a/b/c"); }), EINVAL);
	expect_err(both([](Dir &d) { return d.rename("a", "a/c"); }), EINVAL);
	expect_listing_same("a");
}

TEST_F(Rename, NoReplace)
{
	make_file("a", "A");
	make_file("b", "B");
	expect_err(both([](Dir &d) { return d.rename("a", "b", RENAME_NOREPLACE); }), EEXIST);
	expect_content("a", "A");
	expect_content("b", "B");
	expect_ok(both([](Dir &d) { return d.rename("a", "c", RENAME_NOREPLACE); }));
	expect_content("c", "A");
	expect_err(same_stat("a"), ENOENT);
}

TEST_F(Rename, ExchangeFileAndDir)
{
	make_file("f", "data");
	both([](Dir &d) { return d.mkdir("d"); });
	make_file("d/inner", "i");
	expect_ok(both([](Dir &d) { return d.rename("f", "d", RENAME_EXCHANGE); }));
	EXPECT_TRUE(S_ISDIR(judged(same_stat("f")).val.st_mode));
	EXPECT_TRUE(S_ISREG(judged(same_stat("d")).val.st_mode));
	expect_content("d", "data");
	expect_content("f/inner", "i");
	expect_err(both([](Dir &d) { return d.rename("f", "missing", RENAME_EXCHANGE); }), ENOENT);

	// Across directories the parents' link counts follow the subdirectory.
	both([](Dir &d) { return d.mkdir("p1"); });
	both([](Dir &d) { return d.mkdir("p2"); });
	both([](Dir &d) { return d.mkdir("p1/sub"); });
	make_file("p2/file", "pf");
	expect_ok(both([](Dir &d) { return d.rename("p1/sub", "p2/file", RENAME_EXCHANGE); }));
	EXPECT_EQ(judged(same_stat("p1")).val.st_nlink, 2u);
	EXPECT_EQ(judged(same_stat("p2")).val.st_nlink, 3u);
	expect_content("p1/sub", "pf");
	EXPECT_TRUE(S_ISDIR(judged(same_stat("p2/file")).val.st_mode));
}

TEST_F(Rename, SameNameIsANoOp)
{
	make_file("f", "x");
	expect_ok(both([](Dir &d) { return d.rename("f", "f"); }));
	expect_content("f", "x");
	// Two links to one inode: rename does nothing, both names stay.
	both([](Dir &d) { return d.link("f", "g"); });
	expect_ok(both([](Dir &d) { return d.rename("f", "g"); }));
	expect_ok(same_stat("f"));
	EXPECT_EQ(judged(same_stat("g")).val.st_nlink, 2u);
	both([](Dir &d) { return d.mkdir("dir"); });
	expect_ok(both([](Dir &d) { return d.rename("dir", "dir"); }));
	expect_listing_same();
}

TEST_F(Rename, MissingSourceIsEnoent)
{
	make_file("f", "x");
	expect_err(both([](Dir &d) { return d.rename("missing", "x"); }), ENOENT);
	expect_err(both([](Dir &d) { return d.rename("f", "nodir/x"); }), ENOENT);
	expect_err(both([](Dir &d) { return d.rename("missing", "f", RENAME_NOREPLACE); }), ENOENT);
	expect_listing_same();
}

TEST_F(Rename, AcrossDirectories)
{
	both([](Dir &d) { return d.mkdir("a"); });
	both([](Dir &d) { return d.mkdir("b"); });
	make_file("a/f", "moved");
	expect_ok(both([](Dir &d) { return d.rename("a/f", "b/g"); }));
	expect_content("b/g", "moved");
	expect_err(same_stat("a/f"), ENOENT);
	both([](Dir &d) { return d.mkdir("a/sub"); });
	make_file("a/sub/deep", "deep");
	EXPECT_EQ(judged(same_stat("a")).val.st_nlink, 3u);
	expect_ok(both([](Dir &d) { return d.rename("a/sub", "b/sub"); }));
	EXPECT_EQ(judged(same_stat("a")).val.st_nlink, 2u);
	EXPECT_EQ(judged(same_stat("b")).val.st_nlink, 3u);
	expect_content("b/sub/deep", "deep");
	// ".." of the moved directory is its new parent.
	auto up = both([](Dir &d) { return d.lstat("b/sub/.."); });
	auto b = same_stat("b");
	if (reference_enabled_) {
		EXPECT_EQ(up.ref.val.st_ino, b.ref.val.st_ino);
	}
	EXPECT_EQ(up.sub.val.st_ino, b.sub.val.st_ino) << "subject: b/sub/.. is not b after the rename";
	expect_listing_same("a");
	expect_listing_same("b");
}

TEST_F(Rename, OpenFileFollowsItsInode)
{
	make_file("f", "abc");
	auto f = both([](Dir &d) { return d.open("f", O_RDWR); });
	expect_ok(both([](Dir &d) { return d.rename("f", "g"); }));
	expect_val(both(f, [](File &h) { return h.pwrite("XYZ", 3); }), 3);
	expect_content("g", "abcXYZ");
}

TEST_F(Rename, ReplacedFileKeepsItsOtherLinks)
{
	make_file("a", "A");
	make_file("b", "B");
	expect_ok(both([](Dir &d) { return d.link("b", "c"); }));
	EXPECT_EQ(judged(same_stat("c")).val.st_nlink, 2u);
	expect_ok(both([](Dir &d) { return d.rename("a", "b"); }));
	EXPECT_EQ(judged(same_stat("c")).val.st_nlink, 1u);
	expect_content("c", "B");
	expect_content("b", "A");
	EXPECT_EQ(judged(same_stat("b")).val.st_nlink, 1u);
}

// ---------------------------------------------------------------- links

TEST_F(Links, HardLinkCounts)
{
	make_file("f", "shared");
	EXPECT_EQ(judged(same_stat("f")).val.st_nlink, 1u);
	expect_ok(both([](Dir &d) { return d.link("f", "g"); }));
	EXPECT_EQ(judged(same_stat("f")).val.st_nlink, 2u);
	expect_ok(both([](Dir &d) { return d.link("g", "h"); }));
	EXPECT_EQ(judged(same_stat("h")).val.st_nlink, 3u);
	auto f = same_stat("f"), h = same_stat("h");
	EXPECT_EQ(f.sub.val.st_ino, h.sub.val.st_ino) << "subject: hard links have different inode numbers";
	// A write through one name shows through the others.
	auto w = both([](Dir &d) { return d.open("h", O_WRONLY); });
	expect_val(both(w, [](File &x) { return x.pwrite("SH", 0); }), 2);
	expect_content("f", "SHared");
	expect_ok(both([](Dir &d) { return d.unlink("g"); }));
	EXPECT_EQ(judged(same_stat("f")).val.st_nlink, 2u);
	expect_ok(both([](Dir &d) { return d.unlink("f"); }));
	EXPECT_EQ(judged(same_stat("h")).val.st_nlink, 1u);
	expect_content("h", "SHared");

	expect_err(both([](Dir &d) { return d.link("h", "h"); }), EEXIST);
	expect_err(both([](Dir &d) { return d.link("missing", "x"); }), ENOENT);
	both([](Dir &d) { return d.mkdir("dir"); });
	expect_err(both([](Dir &d) { return d.link("dir", "dirlink"); }), EPERM);
	expect_listing_same();
}

TEST_F(Links, DirectoryLinkCounts)
{
	both([](Dir &d) { return d.mkdir("d"); });
	EXPECT_EQ(judged(same_stat("d")).val.st_nlink, 2u);
	both([](Dir &d) { return d.mkdir("d/a"); });
	both([](Dir &d) { return d.mkdir("d/b"); });
	make_file("d/f", "file");
	EXPECT_EQ(judged(same_stat("d")).val.st_nlink, 4u);
	expect_ok(both([](Dir &d) { return d.rmdir("d/a"); }));
	EXPECT_EQ(judged(same_stat("d")).val.st_nlink, 3u);
	auto top = same_stat("");
	expect_ok(both([](Dir &d) { return d.rename("d/b", "b"); }));
	EXPECT_EQ(judged(same_stat("d")).val.st_nlink, 2u);
	EXPECT_EQ(judged(same_stat("")).val.st_nlink, judged(top).val.st_nlink + 1);
}

TEST_F(Links, ManyLinks)
{
	make_file("f", "many");
	expect_ok(both([](Dir &d) {
		for (int i = 0; i < 100; ++i) {
			Status s = d.link("f", "l" + std::to_string(i));
			if (!s.ok())
				return s;
		}
		return Status{};
	}));
	EXPECT_EQ(judged(same_stat("l57")).val.st_nlink, 101u);
	expect_ok(both([](Dir &d) {
		for (int i = 0; i < 100; i += 2)
			d.unlink("l" + std::to_string(i));
		return Status{};
	}));
	EXPECT_EQ(judged(same_stat("f")).val.st_nlink, 51u);
	expect_listing_same();
}

// ---------------------------------------------------------------- unlink

TEST_F(Unlink, OpenFileStaysUsable)
{
	auto f = both([](Dir &d) { return d.open("f", O_CREAT | O_RDWR, 0644); });
	expect_val(both(f, [](File &h) { return h.pwrite("before", 0); }), 6);
	expect_ok(both([](Dir &d) { return d.unlink("f"); }));
	expect_err(same_stat("f"), ENOENT);
	expect_listing_same();
	auto st = both(f, [](File &h) { return h.fstat(); });
	EXPECT_EQ(judged(st).val.st_nlink, 0u);
	expect_val(both(f, [](File &h) { return h.pwrite("after", 6); }), 5);
	expect_data(both(f, [](File &h) { return h.pread(100, 0); }), "beforeafter");
	EXPECT_EQ(judged(both(f, [](File &h) { return h.fstat(); })).val.st_size, 11);
	expect_ok(both(f, [](File &h) { return h.ftruncate(3); }));
	expect_data(both(f, [](File &h) { return h.pread(100, 0); }), "bef");
	// Attributes of the orphan can still change through the descriptor.
	expect_ok(both(f, [](File &h) { return h.fchmod(0600); }));
	EXPECT_EQ(judged(both(f, [](File &h) { return h.fstat(); })).val.st_mode, S_IFREG | 0600);
	EXPECT_EQ(judged(both(f, [](File &h) { return h.fstat(); })).val.st_nlink, 0u);
	// A new file under the old name is a different file.
	make_file("f", "new file");
	expect_data(both(f, [](File &h) { return h.pread(100, 0); }), "bef");
	expect_content("f", "new file");
	expect_ok(both(f, [](File &h) { return h.close(); }));
	expect_content("f", "new file");
}

// ---------------------------------------------------------------- symlinks

TEST_F(Symlink, ReadlinkAndDangling)
{
	make_file("target", "through the link");
	expect_ok(both([](Dir &d) { return d.symlink("target", "l"); }));
	expect_data(both([](Dir &d) { return d.readlink("l"); }), "target");
	auto st = same_stat("l");
	EXPECT_EQ(judged(st).val.st_mode, S_IFLNK | 0777);
	EXPECT_EQ(judged(st).val.st_size, 6);
	EXPECT_TRUE(S_ISREG(judged(both([](Dir &d) { return d.stat("l"); })).val.st_mode));
	expect_content("l", "through the link");

	expect_ok(both([](Dir &d) { return d.symlink("nowhere", "dangling"); }));
	expect_data(both([](Dir &d) { return d.readlink("dangling"); }), "nowhere");
	expect_err(both([](Dir &d) { return d.stat("dangling"); }), ENOENT);
	expect_ok(same_stat("dangling"));
	expect_ok(both([](Dir &d) { return d.symlink("/nonexistent/absolute/path", "abs"); }));
	expect_data(both([](Dir &d) { return d.readlink("abs"); }), "/nonexistent/absolute/path");

	expect_err(both([](Dir &d) { return d.symlink("x", "l"); }), EEXIST);
	expect_err(both([](Dir &d) { return d.readlink("target"); }), EINVAL);
	expect_err(both([](Dir &d) { return d.readlink("missing"); }), ENOENT);
	// Removing the link leaves the target.
	expect_ok(both([](Dir &d) { return d.unlink("l"); }));
	expect_content("target", "through the link");
	expect_listing_same();
}

TEST_F(Symlink, LongTargetAndLoops)
{
	std::string longest(4095, 'p');
	for (size_t i = 100; i < longest.size(); i += 100)
		longest[i] = '/';
	expect_ok(both([&](Dir &d) { return d.symlink(longest, "long"); }));
	expect_data(both([](Dir &d) { return d.readlink("long"); }), longest);
	EXPECT_EQ(judged(same_stat("long")).val.st_size, 4095);

	both([](Dir &d) { return d.symlink("loop2", "loop1"); });
	both([](Dir &d) { return d.symlink("loop1", "loop2"); });
	expect_err(both([](Dir &d) { return d.open("loop1", O_RDONLY); }), ELOOP);
	both([](Dir &d) { return d.mkdir("sub"); });
	make_file("sub/f", "via dir link");
	both([](Dir &d) { return d.symlink("sub/../sub", "dirlink"); });
	expect_content("dirlink/f", "via dir link");
}

// ---------------------------------------------------------------- mkdir/rmdir

TEST_F(Dirs, MkdirErrors)
{
	expect_ok(both([](Dir &d) { return d.mkdir("d", 0777); }));
	EXPECT_EQ(judged(same_stat("d")).val.st_mode, S_IFDIR | 0755);
	expect_ok(both([](Dir &d) { return d.mkdir("sticky", 01777); }));
	same_stat("sticky");
	make_file("f", "x");
	both([](Dir &d) { return d.symlink("nowhere", "dangling"); });
	expect_err(both([](Dir &d) { return d.mkdir("d"); }), EEXIST);
	expect_err(both([](Dir &d) { return d.mkdir("f"); }), EEXIST);
	expect_err(both([](Dir &d) { return d.mkdir("dangling"); }), EEXIST);
	expect_err(both([](Dir &d) { return d.mkdir("missing/x"); }), ENOENT);
	expect_err(both([](Dir &d) { return d.mkdir("f/x"); }), ENOTDIR);
	expect_listing_same();
}

TEST_F(Dirs, RmdirAndUnlinkErrors)
{
	both([](Dir &d) { return d.mkdir("d"); });
	both([](Dir &d) { return d.mkdir("full"); });
	make_file("full/f", "x");
	make_file("f", "x");
	both([](Dir &d) { return d.symlink("d", "dlink"); });
	expect_err(both([](Dir &d) { return d.rmdir("missing"); }), ENOENT);
	expect_err(both([](Dir &d) { return d.rmdir("f"); }), ENOTDIR);
	expect_err(both([](Dir &d) { return d.rmdir("dlink"); }), ENOTDIR);
	expect_err(both([](Dir &d) { return d.rmdir("full"); }), ENOTEMPTY);
	expect_err(both([](Dir &d) { return d.rmdir("d/."); }), EINVAL);
	expect_err(both([](Dir &d) { return d.unlink("d"); }), EISDIR);
	expect_err(both([](Dir &d) { return d.unlink("missing"); }), ENOENT);
	expect_err(both([](Dir &d) { return d.unlink("f/x"); }), ENOTDIR);
	expect_ok(both([](Dir &d) { return d.rmdir("d"); }));
	expect_err(same_stat("d"), ENOENT);
	expect_ok(both([](Dir &d) { return d.unlink("full/f"); }));
	expect_ok(both([](Dir &d) { return d.rmdir("full"); }));
	expect_listing_same();
}

TEST_F(Dirs, FsyncAndRemovedDirectory)
{
	both([](Dir &d) { return d.mkdir("d"); });
	auto d = both([](Dir &x) { return x.open("d", O_RDONLY | O_DIRECTORY); });
	expect_ok(both(d, [](File &h) { return h.fsync(); }));
	expect_ok(both([](Dir &x) { return x.rmdir("d"); }));
	// The open directory is dead: nothing can be created in it.
	each([&](Dir &x, const char *side) {
		int fd = side_of(d, x).val.fd();
		errno = 0;
		EXPECT_LT(openat(fd, "new", O_CREAT | O_WRONLY | O_CLOEXEC, 0644), 0) << side;
		EXPECT_EQ(errno, ENOENT) << side << ": create in a removed directory";
	});
}

// ---------------------------------------------------------------- xattrs

// tmpfs has user.* xattrs from Linux 6.6 on. With an older reference the
// subject is judged against the expectations alone; when neither side has
// them the tests are skipped.
class Xattr : public PosixTest {
protected:
	void SetUp() override
	{
		PosixTest::SetUp();
		if (HasFatalFailure())
			return;
		make_file("probe", "");
		int ref_err = dirs_.ref.setxattr("probe", "user.probe", "1", 0).err;
		int sub_err = dirs_.sub.setxattr("probe", "user.probe", "1", 0).err;
		dirs_.ref.unlink("probe");
		dirs_.sub.unlink("probe");
		if (ref_err == EOPNOTSUPP) {
			if (sub_err == EOPNOTSUPP)
				GTEST_SKIP() << "neither the reference tmpfs nor the subject supports user.* xattrs";
			std::printf("note: the reference tmpfs lacks user.* xattrs; the subject is checked "
				    "against the expected outcomes only\n");
			reference_enabled_ = false;
		}
	}
};

TEST_F(Xattr, SetGetListRemove)
{
	make_file("f", "x");
	expect_ok(both([](Dir &d) { return d.setxattr("f", "user.a", "alpha", 0); }));
	expect_ok(both([](Dir &d) { return d.setxattr("f", "user.empty", "", 0); }));
	std::string binary("\0\1\2\0\xff", 5);
	expect_ok(both([&](Dir &d) { return d.setxattr("f", "user.bin", binary, 0); }));
	std::string big = pattern(4000, 4);
	expect_ok(both([&](Dir &d) { return d.setxattr("f", "user.big", big, 0); }));

	expect_data(both([](Dir &d) { return d.getxattr("f", "user.a"); }), "alpha");
	expect_val(both([](Dir &d) { return d.getxattr_size("f", "user.a"); }), 5);
	expect_data(both([](Dir &d) { return d.getxattr("f", "user.empty"); }), "");
	expect_data(both([](Dir &d) { return d.getxattr("f", "user.bin"); }), binary);
	expect_data(both([](Dir &d) { return d.getxattr("f", "user.big"); }), big);
	auto names = both([](Dir &d) { return d.listxattr("f"); });
	EXPECT_EQ(judged(names).val, (Names{"user.a", "user.big", "user.bin", "user.empty"}));
	expect_val(both([](Dir &d) { return d.listxattr_size("f"); }), 7 + 9 + 9 + 11);

	expect_ok(both([](Dir &d) { return d.removexattr("f", "user.a"); }));
	expect_err(both([](Dir &d) { return d.getxattr("f", "user.a"); }), ENODATA);
	expect_err(both([](Dir &d) { return d.removexattr("f", "user.a"); }), ENODATA);
	EXPECT_EQ(judged(both([](Dir &d) { return d.listxattr("f"); })).val,
		  (Names{"user.big", "user.bin", "user.empty"}));

	// Directories carry them too; symlinks may not have user.* ones.
	both([](Dir &d) { return d.mkdir("dir"); });
	expect_ok(both([](Dir &d) { return d.setxattr("dir", "user.d", "dirval", 0); }));
	expect_data(both([](Dir &d) { return d.getxattr("dir", "user.d"); }), "dirval");
	both([](Dir &d) { return d.symlink("f", "l"); });
	expect_err(both([](Dir &d) { return d.setxattr("l", "user.l", "v", 0); }), EPERM);
	// The value survives a rename of the file.
	expect_ok(both([](Dir &d) { return d.rename("f", "g"); }));
	expect_data(both([](Dir &d) { return d.getxattr("g", "user.bin"); }), binary);
}

TEST_F(Xattr, CreateAndReplaceFlags)
{
	make_file("f", "x");
	expect_err(both([](Dir &d) { return d.setxattr("f", "user.x", "1", XATTR_REPLACE); }), ENODATA);
	expect_ok(both([](Dir &d) { return d.setxattr("f", "user.x", "1", XATTR_CREATE); }));
	expect_err(both([](Dir &d) { return d.setxattr("f", "user.x", "2", XATTR_CREATE); }), EEXIST);
	expect_data(both([](Dir &d) { return d.getxattr("f", "user.x"); }), "1");
	expect_ok(both([](Dir &d) { return d.setxattr("f", "user.x", "22", XATTR_REPLACE); }));
	expect_data(both([](Dir &d) { return d.getxattr("f", "user.x"); }), "22");
	expect_ok(both([](Dir &d) { return d.setxattr("f", "user.x", "333", 0); }));
	expect_data(both([](Dir &d) { return d.getxattr("f", "user.x"); }), "333");
}

TEST_F(Xattr, RangeAndMissing)
{
	make_file("f", "x");
	expect_ok(both([](Dir &d) { return d.setxattr("f", "user.long", "0123456789", 0); }));
	expect_err(both([](Dir &d) { return d.getxattr("f", "user.long", 4); }), ERANGE);
	expect_data(both([](Dir &d) { return d.getxattr("f", "user.long", 10); }), "0123456789");
	expect_err(both([](Dir &d) { return d.listxattr("f", 3); }), ERANGE);
	expect_err(both([](Dir &d) { return d.getxattr("f", "user.none"); }), ENODATA);
	expect_val(both([](Dir &d) { return d.listxattr_size("f"); }), 10);
	expect_err(both([](Dir &d) { return d.getxattr("missing", "user.long"); }), ENOENT);
	make_file("plain", "");
	expect_val(both([](Dir &d) { return d.listxattr_size("plain"); }), 0);
}

// ---------------------------------------------------------------- attributes

TEST_F(Attr, Chmod)
{
	make_file("f", "x");
	for (mode_t m : {0600, 07755, 0, 04711, 0644}) {
		expect_ok(both([&](Dir &d) { return d.chmod("f", m); }));
		EXPECT_EQ(judged(same_stat("f")).val.st_mode, S_IFREG | m);
	}
	// Root reads and writes a mode 0 file (CAP_DAC_OVERRIDE).
	expect_ok(both([](Dir &d) { return d.chmod("f", 0); }));
	if (geteuid() == 0) {
		auto rw = both([](Dir &d) { return d.open("f", O_RDWR); });
		expect_ok(rw);
		expect_data(both(rw, [](File &h) { return h.pread(10, 0); }), "x");
	}
	expect_ok(both([](Dir &d) { return d.chmod("f", 0644); }));
	auto f = both([](Dir &d) { return d.open("f", O_RDONLY); });
	expect_ok(both(f, [](File &h) { return h.fchmod(0640); }));
	EXPECT_EQ(judged(both(f, [](File &h) { return h.fstat(); })).val.st_mode, S_IFREG | 0640);
	both([](Dir &d) { return d.mkdir("dir"); });
	expect_ok(both([](Dir &d) { return d.chmod("dir", 01777); }));
	EXPECT_EQ(judged(same_stat("dir")).val.st_mode, S_IFDIR | 01777);
	// chmod follows a symlink to its target.
	both([](Dir &d) { return d.symlink("f", "l"); });
	expect_ok(both([](Dir &d) { return d.chmod("l", 0604); }));
	EXPECT_EQ(judged(same_stat("f")).val.st_mode, S_IFREG | 0604);
	EXPECT_EQ(judged(same_stat("l")).val.st_mode, S_IFLNK | 0777);
	expect_err(both([](Dir &d) { return d.chmod("missing", 0644); }), ENOENT);
}

TEST_F(Attr, Chown)
{
	make_file("f", "x");
	expect_ok(both([](Dir &d) { return d.chown("f", 1234, 5678); }));
	auto st = same_stat("f");
	EXPECT_EQ(judged(st).val.st_uid, 1234u);
	EXPECT_EQ(judged(st).val.st_gid, 5678u);
	expect_ok(both([](Dir &d) { return d.chown("f", static_cast<uid_t>(-1), static_cast<gid_t>(-1)); }));
	EXPECT_EQ(judged(same_stat("f")).val.st_uid, 1234u);
	expect_ok(both([](Dir &d) { return d.chown("f", static_cast<uid_t>(-1), 99); }));
	st = same_stat("f");
	EXPECT_EQ(judged(st).val.st_uid, 1234u);
	EXPECT_EQ(judged(st).val.st_gid, 99u);
	// A chown clears set-user-ID and (with group exec) set-group-ID.
	expect_ok(both([](Dir &d) { return d.chmod("f", 06755); }));
	expect_ok(both([](Dir &d) { return d.chown("f", 1, 1); }));
	EXPECT_EQ(judged(same_stat("f")).val.st_mode, S_IFREG | 0755);
	// lchown changes the link, not its target.
	both([](Dir &d) { return d.symlink("f", "l"); });
	expect_ok(both([](Dir &d) { return d.lchown("l", 42, 43); }));
	EXPECT_EQ(judged(same_stat("l")).val.st_uid, 42u);
	EXPECT_EQ(judged(same_stat("f")).val.st_uid, 1u);
	both([](Dir &d) { return d.mkdir("dir"); });
	expect_ok(both([](Dir &d) { return d.chown("dir", 7, 8); }));
	same_stat("dir");
}

TEST_F(Attr, SetgidDirectoryPassesItsGroupOn)
{
	both([](Dir &d) { return d.mkdir("d"); });
	expect_ok(both([](Dir &d) { return d.chown("d", 0, 1234); }));
	expect_ok(both([](Dir &d) { return d.chmod("d", 02775); }));
	make_file("d/f", "x");
	EXPECT_EQ(judged(same_stat("d/f")).val.st_gid, 1234u);
	expect_ok(both([](Dir &d) { return d.mkdir("d/sub", 0755); }));
	auto sub = same_stat("d/sub");
	EXPECT_EQ(judged(sub).val.st_gid, 1234u);
	EXPECT_EQ(judged(sub).val.st_mode, S_IFDIR | 02755);
	expect_ok(both([](Dir &d) { return d.mknod("d/fifo", S_IFIFO | 0644); }));
	EXPECT_EQ(judged(same_stat("d/fifo")).val.st_gid, 1234u);
	expect_ok(both([](Dir &d) { return d.symlink("f", "d/l"); }));
	same_stat("d/l");
}

// Checks on each side that a time is within [lo - slack, hi + slack]:
// "now" as the filesystem saw it, allowing for coarse kernel clocks.
void expect_time_between(const char *side, const char *what, const struct timespec &t,
			 const struct timespec &lo, const struct timespec &hi, Loc loc = Loc::current())
{
	const double slack = 1.0;
	if (seconds_between(t, lo) < -slack || seconds_between(hi, t) < -slack)
		ADD_FAILURE_AT(loc.file_name(), loc.line())
			<< side << ": " << what << " " << t.tv_sec << "." << t.tv_nsec << " is not between "
			<< lo.tv_sec << " and " << hi.tv_sec << " (now)";
}

void expect_time_eq(const char *side, const char *what, const struct timespec &t, time_t sec, long nsec,
		    Loc loc = Loc::current())
{
	if (t.tv_sec != sec || t.tv_nsec != nsec)
		ADD_FAILURE_AT(loc.file_name(), loc.line()) << side << ": " << what << " is " << t.tv_sec << "."
							      << t.tv_nsec << ", expected " << sec << "." << nsec;
}

TEST_F(Times, UtimensExplicitNowAndOmit)
{
	make_file("f", "x");
	struct timespec set[2] = {{1000000000, 123456789}, {1100000000, 500000000}};
	expect_ok(both([&](Dir &d) { return d.utimens("f", set); }));
	each([](Dir &d, const char *side) {
		auto st = d.lstat("f").val;
		expect_time_eq(side, "atime", st.st_atim, 1000000000, 123456789);
		expect_time_eq(side, "mtime", st.st_mtim, 1100000000, 500000000);
	});
	struct timespec omit_atime[2] = {{0, UTIME_OMIT}, {1200000000, 250000000}};
	expect_ok(both([&](Dir &d) { return d.utimens("f", omit_atime); }));
	each([](Dir &d, const char *side) {
		auto st = d.lstat("f").val;
		expect_time_eq(side, "atime", st.st_atim, 1000000000, 123456789);
		expect_time_eq(side, "mtime", st.st_mtim, 1200000000, 250000000);
	});
	struct timespec now_mtime[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
	struct timespec t0 = now_realtime();
	expect_ok(both([&](Dir &d) { return d.utimens("f", now_mtime); }));
	struct timespec t1 = now_realtime();
	each([&](Dir &d, const char *side) {
		auto st = d.lstat("f").val;
		expect_time_eq(side, "atime", st.st_atim, 1000000000, 123456789);
		expect_time_between(side, "mtime", st.st_mtim, t0, t1);
	});
	expect_ok(both([&](Dir &d) { return d.utimens("f", set); }));
	t0 = now_realtime();
	expect_ok(both([&](Dir &d) { return d.utimens("f", nullptr); }));
	t1 = now_realtime();
	each([&](Dir &d, const char *side) {
		auto st = d.lstat("f").val;
		expect_time_between(side, "atime", st.st_atim, t0, t1);
		expect_time_between(side, "mtime", st.st_mtim, t0, t1);
	});
	// A symlink's own times.
	both([](Dir &d) { return d.symlink("f", "l"); });
	expect_ok(both([&](Dir &d) { return d.utimens("l", set, AT_SYMLINK_NOFOLLOW); }));
	each([](Dir &d, const char *side) {
		expect_time_eq(side, "symlink mtime", d.lstat("l").val.st_mtim, 1100000000, 500000000);
	});
	expect_err(both([&](Dir &d) { return d.utimens("missing", set); }), ENOENT);
}

TEST_F(Times, WriteAndTruncateAdvanceMtime)
{
	make_file("f", "x");
	struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
	expect_ok(both([&](Dir &d) { return d.utimens("f", old); }));
	auto f = both([](Dir &d) { return d.open("f", O_RDWR); });
	struct timespec t0 = now_realtime();
	expect_val(both(f, [](File &h) { return h.pwrite("more", 1); }), 4);
	struct timespec t1 = now_realtime();
	each([&](Dir &d, const char *side) {
		auto st = d.lstat("f").val;
		expect_time_between(side, "mtime after write", st.st_mtim, t0, t1);
		expect_time_between(side, "ctime after write", st.st_ctim, t0, t1);
	});
	expect_ok(both([&](Dir &d) { return d.utimens("f", old); }));
	t0 = now_realtime();
	expect_ok(both(f, [](File &h) { return h.ftruncate(100); }));
	t1 = now_realtime();
	each([&](Dir &d, const char *side) {
		expect_time_between(side, "mtime after ftruncate", d.lstat("f").val.st_mtim, t0, t1);
	});
	expect_ok(both([&](Dir &d) { return d.utimens("f", old); }));
	t0 = now_realtime();
	expect_ok(both([](Dir &d) { return d.truncate("f", 10); }));
	t1 = now_realtime();
	each([&](Dir &d, const char *side) {
		expect_time_between(side, "mtime after truncate", d.lstat("f").val.st_mtim, t0, t1);
	});
}

TEST_F(Times, ChmodAndChownAdvanceCtimeOnly)
{
	make_file("f", "x");
	auto before = both([](Dir &d) { return d.lstat("f"); });
	// Longer than any kernel clock tick, so a change must show.
	std::this_thread::sleep_for(std::chrono::milliseconds(50));
	expect_ok(both([](Dir &d) { return d.chmod("f", 0600); }));
	auto after = both([](Dir &d) { return d.lstat("f"); });
	auto check = [](const char *side, const struct stat &b, const struct stat &a, const char *op) {
		EXPECT_GT(seconds_between(a.st_ctim, b.st_ctim), 0.0) << side << ": ctime did not advance on " << op;
		EXPECT_EQ(seconds_between(a.st_mtim, b.st_mtim), 0.0) << side << ": mtime changed on " << op;
	};
	if (reference_enabled_)
		check("reference", before.ref.val, after.ref.val, "chmod");
	check("subject", before.sub.val, after.sub.val, "chmod");
	std::this_thread::sleep_for(std::chrono::milliseconds(50));
	expect_ok(both([](Dir &d) { return d.chown("f", 5, 5); }));
	auto chowned = both([](Dir &d) { return d.lstat("f"); });
	if (reference_enabled_)
		check("reference", after.ref.val, chowned.ref.val, "chown");
	check("subject", after.sub.val, chowned.sub.val, "chown");
}

TEST_F(Times, DirectoryTimesFollowEntries)
{
	both([](Dir &d) { return d.mkdir("d"); });
	struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
	const std::pair<const char *, std::function<Status(Dir &)>> changes[] = {
		{"create", [](Dir &d) { return d.write_file("d/f", "x"); }},
		{"mkdir", [](Dir &d) { return d.mkdir("d/sub"); }},
		{"rename within", [](Dir &d) { return d.rename("d/sub", "d/sub2"); }},
		{"symlink", [](Dir &d) { return d.symlink("f", "d/l"); }},
		{"link", [](Dir &d) { return d.link("d/f", "d/f2"); }},
		{"unlink", [](Dir &d) { return d.unlink("d/f"); }},
		{"rmdir", [](Dir &d) { return d.rmdir("d/sub2"); }},
		{"mknod", [](Dir &d) { return d.mknod("d/fifo", S_IFIFO | 0644); }},
	};
	for (const auto &[what, change] : changes) {
		expect_ok(both([&](Dir &d) { return d.utimens("d", old); }));
		struct timespec t0 = now_realtime();
		expect_ok(both([&](Dir &d) { return change(d); }));
		struct timespec t1 = now_realtime();
		each([&](Dir &d, const char *side) {
			auto st = d.lstat("d").val;
			std::string label = std::string("directory mtime after ") + what;
			expect_time_between(side, label.c_str(), st.st_mtim, t0, t1);
			label = std::string("directory ctime after ") + what;
			expect_time_between(side, label.c_str(), st.st_ctim, t0, t1);
		});
	}
	expect_listing_same("d");
}

// ---------------------------------------------------------------- readdir

TEST_F(Readdir, TenThousandEntries)
{
	const unsigned n = suite().config().readdir_entries;
	auto made = both([&](Dir &d) {
		for (unsigned i = 0; i < n; ++i) {
			char name[32];
			std::snprintf(name, sizeof(name), "entry-%05u", i);
			Status s;
			switch (i % 1000) {
			case 1: s = d.mkdir(name); break;
			case 2: s = d.symlink("entry-00000", name); break;
			case 3: s = d.mknod(name, S_IFIFO | 0644); break;
			default: s = d.mknod(name, S_IFREG | 0644); break;
			}
			if (!s.ok())
				return Status{i, s.err};
		}
		return Status{n, 0};
	});
	expect_val(made, n);
	// A small buffer makes the subject answer thousands of READDIRs with offsets.
	auto small = both([](Dir &d) { return d.list("", 4096); });
	auto large = both([](Dir &d) { return d.list("", 1 << 20); });
	auto check = [&](const char *side, const Dirents &entries) {
		std::multiset<std::string> names;
		for (const Dirent &e : entries)
			names.insert(e.name);
		EXPECT_EQ(entries.size(), n + 2u) << side << ": wrong number of entries";
		size_t dups = 0;
		for (auto it = names.begin(); it != names.end(); it = names.upper_bound(*it))
			if (names.count(*it) > 1 && ++dups <= 5)
				ADD_FAILURE() << side << ": \"" << *it << "\" listed " << names.count(*it) << " times";
		EXPECT_EQ(names.count("."), 1u) << side;
		EXPECT_EQ(names.count(".."), 1u) << side;
		for (const Dirent &e : entries) {
			if (e.name == "." || e.name == "..") {
				EXPECT_EQ(e.type, DT_DIR) << side << ": d_type of " << e.name;
				continue;
			}
			unsigned i = static_cast<unsigned>(std::stoul(e.name.substr(6)));
			unsigned char want = i % 1000 == 1 ? DT_DIR : i % 1000 == 2 ? DT_LNK : i % 1000 == 3 ? DT_FIFO : DT_REG;
			if (e.type != want) {
				ADD_FAILURE() << side << ": d_type of " << e.name << " is " << int(e.type) << ", expected "
					      << int(want);
				break;
			}
		}
	};
	if (reference_enabled_)
		check("reference", small.ref.val);
	check("subject (4 KiB getdents buffer)", small.sub.val);
	check("subject (1 MiB getdents buffer)", large.sub.val);
}

TEST_F(Readdir, EmptyAndAfterRemovals)
{
	both([](Dir &d) { return d.mkdir("empty"); });
	auto e = both([](Dir &d) { return d.list("empty"); });
	EXPECT_EQ(judged(e).val.size(), 2u);
	expect_ok(both([](Dir &d) {
		for (int i = 0; i < 300; ++i)
			d.mknod("f" + std::to_string(i), S_IFREG | 0644);
		for (int i = 0; i < 300; i += 2)
			d.unlink("f" + std::to_string(i));
		return Status{};
	}));
	auto l = both([](Dir &d) { return d.list("", 2048); });
	EXPECT_EQ(judged(l).val.size(), 2u + 1u + 150u); // ., .., empty/, the odd files
}

TEST_F(Readdir, SeekToASavedOffsetResumesThere)
{
	expect_ok(both([](Dir &d) {
		for (int i = 0; i < 500; ++i)
			d.mknod("e" + std::to_string(i), S_IFREG | 0644);
		return Status{};
	}));
	// d_off values are the filesystem's own (not compared); what telldir
	// hands out must bring seekdir back to the entry after it.
	each([](Dir &d, const char *side) {
		File dir = std::move(d.open("", O_RDONLY | O_DIRECTORY).val);
		int fd = dir.fd();
		ASSERT_GE(fd, 0) << side;
		struct Entry {
			std::string name;
			off_t next_off;
		};
		std::vector<Entry> entries;
		std::vector<char> buf(1024);
		for (;;) {
			long got = syscall(SYS_getdents64, fd, buf.data(), buf.size());
			ASSERT_GE(got, 0) << side << ": getdents64: " << errno_name(errno);
			if (got == 0)
				break;
			for (long at = 0; at < got;) {
				const char *rec = buf.data() + at;
				int64_t off;
				unsigned short reclen;
				std::memcpy(&off, rec + 8, sizeof(off));
				std::memcpy(&reclen, rec + 16, sizeof(reclen));
				entries.push_back({rec + 19, static_cast<off_t>(off)});
				at += reclen;
			}
		}
		ASSERT_EQ(entries.size(), 502u) << side;
		for (size_t k : {size_t{0}, size_t{1}, size_t{7}, size_t{250}, size_t{499}, size_t{500}}) {
			ASSERT_EQ(lseek(fd, entries[k].next_off, SEEK_SET), entries[k].next_off)
				<< side << ": seeking the directory to the d_off of entry " << k;
			long got = syscall(SYS_getdents64, fd, buf.data(), buf.size());
			ASSERT_GT(got, 0) << side << ": nothing after entry " << k << " of 502";
			EXPECT_EQ(std::string(buf.data() + 19), entries[k + 1].name)
				<< side << ": after seeking to the d_off of entry " << k << " (" << entries[k].name << ")";
		}
	});
}

// ---------------------------------------------------------------- permissions

TEST_F(Permissions, NonRootIsDenied)
{
	if (geteuid() != 0)
		GTEST_SKIP() << "needs root to switch to an unprivileged user";
	make_file("secret", "secret");
	both([](Dir &d) { return d.chmod("secret", 0600); });
	make_file("public", "public");
	both([](Dir &d) { return d.mkdir("rootdir", 0755); });
	make_file("rootdir/file", "r");
	both([](Dir &d) { return d.mkdir("open"); });
	both([](Dir &d) { return d.chmod("open", 0777); });
	both([](Dir &d) { return d.mkdir("sticky"); });
	both([](Dir &d) { return d.chmod("sticky", 01777); });
	make_file("sticky/rootfile", "s");
	make_file("setuid", "s");
	both([](Dir &d) { return d.chmod("setuid", 06777); });

	struct Probe {
		const char *what;
		long expected; // 0 = success, else errno; or a value for the *_of probes
	};
	const Probe probes[] = {
		{"open 0600 root file O_RDONLY", EACCES},
		{"open 0644 root file O_RDONLY", 0},
		{"open 0644 root file O_WRONLY", EACCES},
		{"create in 0755 root dir", EACCES},
		{"mkdir in 0755 root dir", EACCES},
		{"unlink in 0755 root dir", EACCES},
		{"rename out of 0755 root dir", EACCES},
		{"chmod root's file", EPERM},
		{"chown root's file", EPERM},
		{"utimensat(NULL) on root's 0644 file", EACCES},
		{"faccessat R_OK on 0600 root file", EACCES},
		{"truncate root's 0644 file", EACCES},
		{"unlink root's file in sticky dir", EPERM},
		{"create in 0777 dir", 0},
		{"uid of the created file", kNobody},
		{"gid of the created file", kNobody},
		{"chmod own file", 0},
		{"write to a 06777 root file", 0},
	};
	constexpr size_t kProbes = sizeof(probes) / sizeof(probes[0]);

	auto probe = [](int dfd, long *r) {
		auto rc = [](long v) { return v < 0 ? static_cast<long>(errno) : 0L; };
		int fd = openat(dfd, "secret", O_RDONLY);
		r[0] = rc(fd);
		fd = openat(dfd, "public", O_RDONLY);
		r[1] = rc(fd);
		fd = openat(dfd, "public", O_WRONLY);
		r[2] = rc(fd);
		r[3] = rc(openat(dfd, "rootdir/new", O_CREAT | O_WRONLY, 0644));
		r[4] = rc(mkdirat(dfd, "rootdir/sub", 0755));
		r[5] = rc(unlinkat(dfd, "rootdir/file", 0));
		r[6] = rc(renameat(dfd, "rootdir/file", dfd, "open/stolen"));
		r[7] = rc(fchmodat(dfd, "public", 0666, 0));
		r[8] = rc(fchownat(dfd, "public", kNobody, kNobody, 0));
		r[9] = rc(utimensat(dfd, "public", nullptr, 0));
		r[10] = rc(faccessat(dfd, "secret", R_OK, AT_EACCESS));
		int tfd = openat(dfd, "public", O_WRONLY | O_TRUNC);
		r[11] = rc(tfd);
		r[12] = rc(unlinkat(dfd, "sticky/rootfile", 0));
		int mine = openat(dfd, "open/mine", O_CREAT | O_EXCL | O_WRONLY, 0640);
		r[13] = rc(mine);
		struct stat st {};
		if (mine >= 0)
			fstat(mine, &st);
		r[14] = mine >= 0 ? static_cast<long>(st.st_uid) : -1;
		r[15] = mine >= 0 ? static_cast<long>(st.st_gid) : -1;
		r[16] = rc(fchmodat(dfd, "open/mine", 0600, 0));
		int sfd = openat(dfd, "setuid", O_WRONLY);
		r[17] = sfd < 0 ? errno : write(sfd, "w", 1) == 1 ? 0 : errno;
	};
	long results[2][kProbes];
	ASSERT_EQ(probe_in_child(dirs_.ref.fd(), dirs_.sub.fd(), results, become_nobody, probe), "");
	auto show = [](long v, bool value_probe) { return value_probe ? std::to_string(v) : errno_name(static_cast<int>(v)); };
	for (size_t i = 0; i < kProbes; ++i) {
		bool value_probe = i == 14 || i == 15;
		EXPECT_EQ(results[0][i], probes[i].expected)
			<< "reference, uid 65534: " << probes[i].what << " gave " << show(results[0][i], value_probe);
		EXPECT_EQ(results[1][i], results[0][i])
			<< "uid 65534: " << probes[i].what << ": reference " << show(results[0][i], value_probe)
			<< ", subject " << show(results[1][i], value_probe)
			<< " (a FUSE subject must be mounted with -o allow_other,default_permissions)";
	}
	// Nothing the unprivileged user was refused changed anything.
	expect_content("secret", "secret");
	expect_content("public", "public");
	expect_content("rootdir/file", "r");
	expect_content("sticky/rootfile", "s");
	same_stat("open/mine");
	// A write by someone else than root clears set-user-ID and set-group-ID.
	EXPECT_EQ(judged(same_stat("setuid")).val.st_mode, S_IFREG | 0777);
	expect_content("setuid", "w");
	expect_listing_same("rootdir");
	expect_listing_same("open");
}

// A root-owned 0600 file and a 0700 root directory are closed to everyone
// else, whatever the modes of what the directory holds; the refused calls
// change nothing. (With FUSE, only the kernel's checks can refuse them:
// a daemon running as root would perform every one.)
TEST_F(Permissions, PrivateFileAndDirectoryAreClosedToOthers)
{
	if (geteuid() != 0)
		GTEST_SKIP() << "needs root to switch to an unprivileged user";
	make_file("secret", "secret");
	both([](Dir &d) { return d.chmod("secret", 0600); });
	both([](Dir &d) { return d.mkdir("private", 0700); });
	make_file("private/file", "inside");
	both([](Dir &d) { return d.chmod("private/file", 0666); });
	both([](Dir &d) { return d.mkdir("private/sub", 0777); });
	both([](Dir &d) { return d.mkdir("open"); });
	both([](Dir &d) { return d.chmod("open", 0777); });

	struct Probe {
		const char *what;
		int expected; // 0 = success, else errno
	};
	const Probe probes[] = {
		{"open 0600 file O_RDONLY", EACCES},
		{"open 0600 file O_WRONLY", EACCES},
		{"open 0600 file O_RDWR", EACCES},
		{"open 0600 file O_WRONLY|O_APPEND", EACCES},
		{"open 0600 file O_WRONLY|O_TRUNC", EACCES},
		{"utimensat(NULL) on 0600 file", EACCES},
		{"open 0666 file in 0700 dir O_RDONLY", EACCES},
		{"open 0666 file in 0700 dir O_WRONLY", EACCES},
		{"stat in 0700 dir", EACCES},
		{"list 0700 dir", EACCES},
		{"create in 0700 dir", EACCES},
		{"create in a 0777 dir inside 0700 dir", EACCES},
		{"mkdir in 0700 dir", EACCES},
		{"unlink in 0700 dir", EACCES},
		{"rmdir in 0700 dir", EACCES},
		{"rename within 0700 dir", EACCES},
		{"rename out of 0700 dir", EACCES},
		{"symlink in 0700 dir", EACCES},
		{"chmod 0700 dir", EPERM},
	};
	constexpr size_t kProbes = sizeof(probes) / sizeof(probes[0]);
	auto probe = [](int dfd, long *r) {
		auto rc = [](long v) { return v < 0 ? static_cast<long>(errno) : 0L; };
		size_t i = 0;
		for (int flags : {O_RDONLY, O_WRONLY, O_RDWR, O_WRONLY | O_APPEND, O_WRONLY | O_TRUNC}) {
			int fd = openat(dfd, "secret", flags);
			r[i++] = rc(fd);
			if (fd >= 0)
				close(fd);
		}
		r[i++] = rc(utimensat(dfd, "secret", nullptr, 0));
		for (int flags : {O_RDONLY, O_WRONLY}) {
			int fd = openat(dfd, "private/file", flags);
			r[i++] = rc(fd);
			if (fd >= 0)
				close(fd);
		}
		struct stat st;
		r[i++] = rc(fstatat(dfd, "private/file", &st, AT_SYMLINK_NOFOLLOW));
		r[i++] = rc(openat(dfd, "private", O_RDONLY | O_DIRECTORY));
		r[i++] = rc(openat(dfd, "private/new", O_CREAT | O_EXCL | O_WRONLY, 0644));
		r[i++] = rc(openat(dfd, "private/sub/new", O_CREAT | O_EXCL | O_WRONLY, 0644));
		r[i++] = rc(mkdirat(dfd, "private/newdir", 0755));
		r[i++] = rc(unlinkat(dfd, "private/file", 0));
		r[i++] = rc(unlinkat(dfd, "private/sub", AT_REMOVEDIR));
		r[i++] = rc(renameat(dfd, "private/file", dfd, "private/renamed"));
		r[i++] = rc(renameat(dfd, "private/file", dfd, "open/stolen"));
		r[i++] = rc(symlinkat("file", dfd, "private/link"));
		r[i++] = rc(fchmodat(dfd, "private", 0777, 0));
	};
	long results[2][kProbes];
	ASSERT_EQ(probe_in_child(dirs_.ref.fd(), dirs_.sub.fd(), results, become_nobody, probe), "");
	for (size_t i = 0; i < kProbes; ++i) {
		EXPECT_EQ(results[0][i], probes[i].expected)
			<< "reference, uid 65534: " << probes[i].what << " gave " << errno_name(static_cast<int>(results[0][i]));
		EXPECT_EQ(results[1][i], results[0][i])
			<< "uid 65534: " << probes[i].what << ": reference " << errno_name(static_cast<int>(results[0][i]))
			<< ", subject " << errno_name(static_cast<int>(results[1][i]));
	}
	expect_content("secret", "secret");
	expect_content("private/file", "inside");
	same_stat("secret");
	same_stat("private");
	same_stat("private/file");
	expect_listing_same("private");
	expect_listing_same("private/sub");
	expect_listing_same("open");
}

// ---------------------------------------------------------------- mmap

TEST_F(Mmap, SharedWriteReachesTheFile)
{
	const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
	const size_t len = 3 * page + 100;
	std::string expected = pattern(len, 5);
	make_file("f", expected);
	struct Patch {
		size_t off;
		std::string data;
	};
	const Patch patches[] = {{10, "first"}, {page - 3, "across-a-page"}, {3 * page + 50, "in the tail page"}};
	for (const Patch &p : patches)
		expected.replace(p.off, p.data.size(), p.data);

	each([&](Dir &d, const char *side) {
		File file = std::move(d.open("f", O_RDWR).val);
		int fd = file.fd();
		ASSERT_GE(fd, 0) << side;
		void *map = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		ASSERT_NE(map, MAP_FAILED) << side << ": mmap MAP_SHARED: " << errno_name(errno);
		char *bytes = static_cast<char *>(map);
		for (const Patch &p : patches)
			std::memcpy(bytes + p.off, p.data.data(), p.data.size());
		EXPECT_EQ(msync(map, len, MS_SYNC), 0) << side << ": msync: " << errno_name(errno);
		// Through read(2) on the same and on a fresh descriptor, map still live.
		std::string via_fd(len, '\0');
		EXPECT_EQ(pread(fd, via_fd.data(), len, 0), static_cast<ssize_t>(len)) << side;
		EXPECT_TRUE(via_fd == expected) << side << ": pread after msync differs from what was stored";
		File fresh = std::move(d.open("f", O_RDONLY).val);
		auto r = fresh.read_all();
		EXPECT_TRUE(r.ok() && r.val == expected) << side << ": a fresh descriptor reads other data";
		EXPECT_EQ(munmap(map, len), 0);
	});
	expect_content("f", expected);
	EXPECT_EQ(judged(same_stat("f")).val.st_size, static_cast<off_t>(len));

	// MAP_PRIVATE writes stay private.
	each([&](Dir &d, const char *side) {
		File file = std::move(d.open("f", O_RDWR).val);
		ASSERT_GE(file.fd(), 0) << side;
		void *map = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, file.fd(), 0);
		ASSERT_NE(map, MAP_FAILED) << side << ": mmap MAP_PRIVATE: " << errno_name(errno);
		std::memcpy(map, "PRIVATE", 7);
		munmap(map, len);
	});
	expect_content("f", expected);
}

TEST_F(Mmap, ReadSeesWrittenData)
{
	const size_t len = 2 * 65536 + 17;
	std::string data = pattern(len, 6);
	make_file("f", data);
	each([&](Dir &d, const char *side) {
		File file = std::move(d.open("f", O_RDWR).val);
		int fd = file.fd();
		ASSERT_GE(fd, 0) << side;
		void *map = mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, 0);
		ASSERT_NE(map, MAP_FAILED) << side << ": mmap: " << errno_name(errno);
		EXPECT_EQ(std::memcmp(map, data.data(), len), 0) << side << ": mapped bytes differ from the file";
		// A write(2) shows in an existing shared mapping.
		ASSERT_EQ(pwrite(fd, "late", 4, 70000), 4);
		EXPECT_EQ(std::memcmp(static_cast<char *>(map) + 70000, "late", 4), 0)
			<< side << ": pwrite not visible in the mapping";
		munmap(map, len);
	});
	data.replace(70000, 4, "late");
	expect_content("f", data);
}

// ---------------------------------------------------------------- threads

constexpr int kThreads = 4;

TEST_F(Concurrency, DisjointRangesOfOneFile)
{
	constexpr size_t kChunk = 8192, kChunks = 48;
	const size_t region = kChunk * kChunks;
	std::string expected;
	for (int t = 0; t < kThreads; ++t)
		expected += pattern(region, 100 + t);
	make_file("f", "");
	each([&](Dir &d, const char *side) {
		File file = std::move(d.open("f", O_WRONLY).val);
		int fd = file.fd();
		ASSERT_GE(fd, 0) << side;
		std::atomic<int> errors{0};
		std::vector<std::thread> threads;
		for (int t = 0; t < kThreads; ++t) {
			threads.emplace_back([&, t] {
				std::string mine = pattern(region, 100 + t);
				// Interleaved order so that all threads extend the file at once.
				for (size_t c = 0; c < kChunks; ++c) {
					size_t i = (c * 7) % kChunks;
					off_t off = static_cast<off_t>(t * region + i * kChunk);
					if (pwrite(fd, mine.data() + i * kChunk, kChunk, off) != static_cast<ssize_t>(kChunk))
						++errors;
				}
			});
		}
		for (std::thread &th : threads)
			th.join();
		EXPECT_EQ(errors.load(), 0) << side << ": short or failed pwrite";
	});
	expect_content("f", expected);
}

TEST_F(Concurrency, SeparateFilesAndOneDirectory)
{
	constexpr size_t kFileLen = 256 * 1024, kPiece = 4096;
	constexpr int kFilesPerThread = 150;
	expect_ok(both([](Dir &d) { return d.mkdir("shared"); }));
	each([&](Dir &d, const char *side) {
		std::atomic<int> errors{0};
		std::vector<std::thread> threads;
		for (int t = 0; t < kThreads; ++t) {
			threads.emplace_back([&, t] {
				std::string name = "own-" + std::to_string(t);
				int fd = openat(d.fd(), name.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
				if (fd < 0) {
					++errors;
					return;
				}
				std::string data = pattern(kFileLen, 200 + t);
				for (size_t at = 0; at < kFileLen; at += kPiece)
					if (write(fd, data.data() + at, kPiece) != static_cast<ssize_t>(kPiece))
						++errors;
				close(fd);
				// Many creates and unlinks in one shared directory.
				for (int i = 0; i < kFilesPerThread; ++i) {
					std::string f = "shared/t" + std::to_string(t) + "-" + std::to_string(i);
					int cfd = openat(d.fd(), f.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
					if (cfd < 0)
						++errors;
					else
						close(cfd);
					if (i % 3 == 0 && unlinkat(d.fd(), f.c_str(), 0) != 0)
						++errors;
				}
			});
		}
		for (std::thread &th : threads)
			th.join();
		EXPECT_EQ(errors.load(), 0) << side << ": a call failed";
	});
	for (int t = 0; t < kThreads; ++t)
		expect_content("own-" + std::to_string(t), pattern(kFileLen, 200 + t));
	auto l = both([](Dir &d) { return d.list("shared"); });
	EXPECT_EQ(judged(l).val.size(), 2u + kThreads * (kFilesPerThread - kFilesPerThread / 3));
}

TEST_F(Concurrency, ExclusiveCreateHasOneWinner)
{
	constexpr int kNames = 200;
	each([&](Dir &d, const char *side) {
		std::atomic<int> wins{0}, other_errors{0};
		std::vector<std::thread> threads;
		for (int t = 0; t < kThreads; ++t) {
			threads.emplace_back([&] {
				for (int i = 0; i < kNames; ++i) {
					std::string name = "x" + std::to_string(i);
					int fd = openat(d.fd(), name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
					if (fd >= 0) {
						++wins;
						close(fd);
					} else if (errno != EEXIST) {
						++other_errors;
					}
				}
			});
		}
		for (std::thread &th : threads)
			th.join();
		EXPECT_EQ(wins.load(), kNames) << side << ": O_CREAT|O_EXCL must succeed exactly once per name";
		EXPECT_EQ(other_errors.load(), 0) << side;
	});
	expect_listing_same();
}

TEST_F(Concurrency, RenamesKeepEveryFile)
{
	constexpr int kFilesPerThread = 25, kRounds = 8;
	expect_ok(both([](Dir &d) {
		d.mkdir("a");
		d.mkdir("b");
		for (int t = 0; t < kThreads; ++t)
			for (int i = 0; i < kFilesPerThread; ++i)
				d.write_file("a/t" + std::to_string(t) + "-" + std::to_string(i), std::to_string(i));
		return Status{};
	}));
	each([&](Dir &d, const char *side) {
		std::atomic<int> errors{0};
		std::vector<std::thread> threads;
		for (int t = 0; t < kThreads; ++t) {
			threads.emplace_back([&, t] {
				// Every thread moves its own files between the two shared
				// directories, in opposite directions on alternate rounds.
				for (int round = 0; round < kRounds; ++round) {
					const char *from = round % 2 == 0 ? "a/" : "b/";
					const char *to = round % 2 == 0 ? "b/" : "a/";
					for (int i = 0; i < kFilesPerThread; ++i) {
						std::string name = "t" + std::to_string(t) + "-" + std::to_string(i);
						if (renameat(d.fd(), (from + name).c_str(), d.fd(), (to + name).c_str()) != 0)
							++errors;
					}
				}
			});
		}
		for (std::thread &th : threads)
			th.join();
		EXPECT_EQ(errors.load(), 0) << side << ": a rename failed";
	});
	auto a = both([](Dir &d) { return d.list("a"); });
	EXPECT_EQ(judged(a).val.size(), 2u + kThreads * kFilesPerThread);
	expect_listing_same("b");
	expect_content("a/t3-17", "17");
}

// ---------------------------------------------------------------- fallocate, SEEK_DATA, copy_file_range, locks

TEST_F(Fallocate, Modes)
{
	std::string data = pattern(8192, 7);
	make_file("f", data);
	auto f = both([](Dir &d) { return d.open("f", O_RDWR); });
	expect_ok(both(f, [](File &h) { return h.fallocate(0, 8192, 8192); }));
	EXPECT_EQ(judged(both(f, [](File &h) { return h.fstat(); })).val.st_size, 16384);
	expect_ok(both(f, [](File &h) { return h.fallocate(FALLOC_FL_KEEP_SIZE, 16384, 65536); }));
	EXPECT_EQ(judged(both(f, [](File &h) { return h.fstat(); })).val.st_size, 16384);
	expect_ok(both(f, [](File &h) { return h.fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 1000, 3000); }));
	EXPECT_EQ(judged(both(f, [](File &h) { return h.fstat(); })).val.st_size, 16384);
	std::string expected = data.substr(0, 1000) + zeros(3000) + data.substr(4000) + zeros(8192);
	expect_data(both(f, [](File &h) { return h.read_all(); }), expected);
	expect_content("f", expected);
	// A hole punched past EOF changes nothing.
	expect_ok(both(f, [](File &h) { return h.fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 20000, 5000); }));
	expect_content("f", expected);
	expect_err(both(f, [](File &h) { return h.fallocate(FALLOC_FL_PUNCH_HOLE, 0, 10); }), EOPNOTSUPP);
	expect_err(both(f, [](File &h) { return h.fallocate(0, 0, 0); }), EINVAL);
	auto r = both([](Dir &d) { return d.open("f", O_RDONLY); });
	expect_err(both(r, [](File &h) { return h.fallocate(0, 0, 10); }), EBADF);
}

TEST_F(Fallocate, SeekDataAndHole)
{
	const off_t mib = 1 << 20;
	auto f = both([](Dir &d) { return d.open("f", O_CREAT | O_RDWR, 0644); });
	std::string block = pattern(4096, 8);
	both(f, [&](File &h) { return h.pwrite(block, 0); });
	both(f, [&](File &h) { return h.pwrite(block, mib); });
	expect_ok(both(f, [&](File &h) { return h.ftruncate(2 * mib); }));
	const off_t size = 2 * mib;
	expect_val(both(f, [](File &h) { return h.lseek(0, SEEK_DATA); }), 0);
	expect_err(both(f, [&](File &h) { return h.lseek(size, SEEK_DATA); }), ENXIO);
	expect_err(both(f, [&](File &h) { return h.lseek(size + 10, SEEK_HOLE); }), ENXIO);

	// Offsets may differ (a hole may be reported as data); what is reported
	// as a hole must read as zeros, and every data byte must be found.
	auto walk = [&](File &h, const char *side) {
		off_t off = 0;
		while (off < size) {
			off_t data = ::lseek(h.fd(), off, SEEK_DATA);
			off_t hole_end = data < 0 ? size : data;
			ASSERT_TRUE(data >= 0 || errno == ENXIO) << side << ": SEEK_DATA " << off << ": " << errno_name(errno);
			ASSERT_GE(hole_end, off) << side << ": SEEK_DATA went backwards";
			std::string gap(static_cast<size_t>(hole_end - off), '\0');
			ASSERT_EQ(::pread(h.fd(), gap.data(), gap.size(), off), static_cast<ssize_t>(gap.size()));
			EXPECT_EQ(gap, zeros(gap.size())) << side << ": data in [" << off << ", " << hole_end
							  << ") which SEEK_DATA skipped";
			if (data < 0)
				break;
			off_t hole = ::lseek(h.fd(), data, SEEK_HOLE);
			ASSERT_GT(hole, data) << side << ": SEEK_HOLE " << data << ": " << errno_name(errno);
			ASSERT_LE(hole, size) << side;
			off = hole;
		}
	};
	if (reference_enabled_)
		walk(f.ref.val, "reference");
	walk(f.sub.val, "subject");
	// A punched hole in the data is zeros and is not reported as data
	// beyond what the filesystem chooses.
	expect_ok(both(f, [](File &h) { return h.fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096); }));
	expect_data(both(f, [](File &h) { return h.pread(4096, 0); }), zeros(4096));
	if (reference_enabled_)
		walk(f.ref.val, "reference");
	walk(f.sub.val, "subject");
}

TEST_F(CopyFileRange, CopiesAndStopsAtEof)
{
	std::string data = pattern(300000, 10);
	make_file("src", data);
	make_file("dst", "0123456789");
	auto src = both([](Dir &d) { return d.open("src", O_RDONLY); });
	auto dst = both([](Dir &d) { return d.open("dst", O_RDWR); });
	auto copy = [&](File &in, File &out, loff_t in_off, loff_t out_off, size_t len) {
		trace_note(fmt::format("copy_file_range(src, {}, dst, {}, {})", in_off, out_off, len));
		ssize_t n = copy_file_range(in.fd(), &in_off, out.fd(), &out_off, len, 0);
		return n < 0 ? Status{0, errno} : Status{n, 0};
	};
	expect_val(both([&](Dir &d) { return copy(side_of(src, d).val, side_of(dst, d).val, 1000, 5, 200000); }),
		   200000);
	// Past the end of the source it copies what there is.
	expect_val(both([&](Dir &d) { return copy(side_of(src, d).val, side_of(dst, d).val, 250000, 300000, 100000); }),
		   50000);
	expect_val(both([&](Dir &d) { return copy(side_of(src, d).val, side_of(dst, d).val, 400000, 0, 10); }), 0);
	std::string expected = "01234" + data.substr(1000, 200000);
	expected.resize(300000, '\0');
	expected += data.substr(250000);
	expect_content("dst", expected);
}

TEST_F(Locks, RecordLocksAndFlockConflict)
{
	make_file("f", pattern(4096, 11));
	auto f = both([](Dir &d) { return d.open("f", O_RDWR); });
	expect_ok(f);
	each([&](Dir &d, const char *side) {
		int fd = side_of(f, d).val.fd();
		struct flock lk {};
		lk.l_type = F_WRLCK;
		lk.l_whence = SEEK_SET;
		lk.l_start = 0;
		lk.l_len = 100;
		EXPECT_EQ(fcntl(fd, F_SETLK, &lk), 0) << side << ": F_SETLK: " << errno_name(errno);
		EXPECT_EQ(flock(fd, LOCK_EX | LOCK_NB), 0) << side << ": flock: " << errno_name(errno);
	});
	// Another process sees both locks.
	constexpr size_t kProbes = 6;
	const char *what[kProbes] = {"F_SETLK on a locked range", "F_GETLK type", "F_GETLK pid is the holder",
				     "F_SETLK on a free range", "flock LOCK_EX|LOCK_NB", "flock LOCK_SH|LOCK_NB"};
	const long expected[kProbes] = {EAGAIN, F_WRLCK, 1, 0, EWOULDBLOCK, EWOULDBLOCK};
	pid_t parent = getpid();
	auto probe = [parent](int dfd, long *r) {
		int fd = openat(dfd, "f", O_RDWR);
		struct flock lk {};
		lk.l_type = F_WRLCK;
		lk.l_whence = SEEK_SET;
		lk.l_start = 50;
		lk.l_len = 10;
		r[0] = fcntl(fd, F_SETLK, &lk) == 0 ? 0 : errno;
		lk.l_type = F_WRLCK;
		r[1] = fcntl(fd, F_GETLK, &lk) == 0 ? lk.l_type : -errno;
		r[2] = lk.l_pid == parent;
		lk.l_type = F_WRLCK;
		lk.l_start = 200;
		lk.l_len = 100;
		r[3] = fcntl(fd, F_SETLK, &lk) == 0 ? 0 : errno;
		r[4] = flock(fd, LOCK_EX | LOCK_NB) == 0 ? 0 : errno;
		r[5] = flock(fd, LOCK_SH | LOCK_NB) == 0 ? 0 : errno;
	};
	long results[2][kProbes];
	ASSERT_EQ(probe_in_child(dirs_.ref.fd(), dirs_.sub.fd(), results, [] { return true; }, probe), "");
	for (size_t i = 0; i < kProbes; ++i) {
		EXPECT_EQ(results[0][i], expected[i]) << "reference, other process: " << what[i];
		EXPECT_EQ(results[1][i], results[0][i])
			<< "other process: " << what[i] << ": reference " << results[0][i] << ", subject " << results[1][i];
	}
	// Closing the descriptor drops the record locks.
	expect_ok(both(f, [](File &h) { return h.close(); }));
	each([](Dir &d, const char *side) {
		File g = std::move(d.open("f", O_RDWR).val);
		struct flock lk {};
		lk.l_type = F_WRLCK;
		lk.l_whence = SEEK_SET;
		lk.l_len = 0;
		EXPECT_EQ(fcntl(g.fd(), F_GETLK, &lk), 0) << side;
		EXPECT_EQ(lk.l_type, F_UNLCK) << side << ": a lock outlived its descriptor";
	});
}

// ---------------------------------------------------------------- special files, statfs

TEST_F(Special, MknodFifoAndSocket)
{
	expect_ok(both([](Dir &d) { return d.mknod("fifo", S_IFIFO | 0644); }));
	EXPECT_EQ(judged(same_stat("fifo")).val.st_mode, S_IFIFO | 0644);
	auto rd = both([](Dir &d) { return d.open("fifo", O_RDONLY | O_NONBLOCK); });
	expect_ok(rd);
	auto wr = both([](Dir &d) { return d.open("fifo", O_WRONLY | O_NONBLOCK); });
	expect_ok(wr);
	expect_val(both(wr, [](File &h) { return h.write("ping"); }), 4);
	expect_data(both(rd, [](File &h) { return h.read(10); }), "ping");
	expect_err(both([](Dir &d) { return d.mknod("fifo", S_IFIFO | 0644); }), EEXIST);
	expect_ok(both([](Dir &d) { return d.mknod("reg", S_IFREG | 0600); }));
	EXPECT_EQ(judged(same_stat("reg")).val.st_mode, S_IFREG | 0600);
	expect_ok(both([](Dir &d) { return d.mknod("sock", S_IFSOCK | 0644); }));
	EXPECT_EQ(judged(same_stat("sock")).val.st_mode, S_IFSOCK | 0644);
	expect_listing_same();
}

TEST_F(Statfs, Sane)
{
	make_file("some-data", pattern(1 << 20, 9));
	auto s = both([](Dir &d) { return d.statvfs(); });
	expect_ok(s);
	auto check = [](const char *side, const struct statvfs &v) {
		EXPECT_GT(v.f_bsize, 0u) << side;
		EXPECT_GT(v.f_frsize, 0u) << side;
		EXPECT_LE(v.f_bfree, v.f_blocks) << side;
		EXPECT_LE(v.f_bavail, v.f_bfree) << side;
		if (v.f_files != 0) {
			EXPECT_LE(v.f_ffree, v.f_files) << side;
		}
		EXPECT_GE(v.f_namemax, 255u) << side;
	};
	if (reference_enabled_)
		check("reference", s.ref.val);
	check("subject", s.sub.val);
}

} // namespace
} // namespace posix
