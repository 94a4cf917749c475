// memfs::Filesystem semantics, operation by operation, without FUSE.
#include "memfs_test.hpp"

#include "lowlevel.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <set>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <thread>

namespace memfs_test {
namespace {

constexpr uint64_t kGiB = 1ULL << 30;
constexpr uint64_t kPage = memfs::kPageSize;

bool operator==(const timespec &a, const timespec &b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

// ---- regular files ---------------------------------------------------

TEST_F(MemfsTest, SparseWriteBeyondFourGiBCostsOnePage)
{
	fuse_ino_t f = mkfile(kRootIno, "sparse");
	const uint64_t off = 5 * kGiB + 123;
	write_str(f, off, "x");
	struct stat st = attr(f);
	EXPECT_EQ(static_cast<off_t>(off + 1), st.st_size);
	EXPECT_EQ(static_cast<blkcnt_t>(kPage / 512), st.st_blocks);
	EXPECT_EQ(1u, fs.pages_used());
	EXPECT_EQ("x", read_str(f, off, 10));
	EXPECT_EQ(std::string(5, '\0') + "x", read_str(f, off - 5, 6));
	EXPECT_EQ(std::string(4096, '\0'), read_str(f, 4 * kGiB, 4096));
	// A second byte in the same page costs nothing more.
	write_str(f, off + 100, "y");
	EXPECT_EQ(1u, fs.pages_used());
	// A write straddling two pages takes both.
	write_str(f, 7 * kGiB - 2, "abcd");
	EXPECT_EQ(3u, fs.pages_used());
	EXPECT_EQ("abcd", read_str(f, 7 * kGiB - 2, 4));
	EXPECT_EQ(static_cast<off_t>(7 * kGiB + 2), attr(f).st_size);
}

TEST_F(MemfsTest, ReadStopsAtEndOfFile)
{
	fuse_ino_t f = mkfile(kRootIno, "f");
	write_str(f, 0, "hello");
	EXPECT_EQ("hello", read_str(f, 0, 100));
	EXPECT_EQ("lo", read_str(f, 3, 100));
	EXPECT_EQ("", read_str(f, 5, 100));
	EXPECT_EQ("", read_str(f, 1 << 20, 100));
}

TEST_F(MemfsTest, LargeWriteRoundTrips)
{
	fuse_ino_t f = mkfile(kRootIno, "f");
	std::string data(3 * kPage + 777, '\0');
	for (size_t i = 0; i < data.size(); ++i)
		data[i] = static_cast<char>(i * 31 + 7);
	write_str(f, 1000, data);
	EXPECT_EQ(data, read_str(f, 1000, data.size()));
	EXPECT_EQ(std::string(1000, '\0'), read_str(f, 0, 1000));
	EXPECT_EQ(4u, fs.pages_used()); // [1000, 14065) spans pages 0..3
}

TEST_F(MemfsTest, TruncateDownThenUpReadsZeros)
{
	fuse_ino_t f = mkfile(kRootIno, "f");
	write_str(f, 0, std::string(3 * kPage, 'a'));
	EXPECT_EQ(3u, fs.pages_used());
	struct stat in {}, out;
	in.st_size = 100;
	ASSERT_EQ(0, fs.setattr(f, in, FUSE_SET_ATTR_SIZE, &out));
	EXPECT_EQ(100, out.st_size);
	EXPECT_EQ(1u, fs.pages_used());
	in.st_size = 2 * kPage;
	ASSERT_EQ(0, fs.setattr(f, in, FUSE_SET_ATTR_SIZE, &out));
	EXPECT_EQ(static_cast<off_t>(2 * kPage), out.st_size);
	EXPECT_EQ(1u, fs.pages_used()); // growing allocates nothing
	std::string got = read_str(f, 0, 2 * kPage);
	EXPECT_EQ(std::string(100, 'a') + std::string(2 * kPage - 100, '\0'), got);
	// Writing past the old tail must not resurrect old bytes either.
	write_str(f, 3 * kPage, "z");
	EXPECT_EQ(std::string(kPage - 100, '\0'), read_str(f, 100, kPage - 100));
	in.st_size = 0;
	ASSERT_EQ(0, fs.setattr(f, in, FUSE_SET_ATTR_SIZE, &out));
	EXPECT_EQ(0u, fs.pages_used());
	EXPECT_EQ(0, out.st_blocks);
}

TEST_F(MemfsTest, TruncateUpdatesTimesEvenToSameSize)
{
	fuse_ino_t f = mkfile(kRootIno, "f");
	struct stat in {}, out;
	in.st_mtim = {1000, 0};
	ASSERT_EQ(0, fs.setattr(f, in, FUSE_SET_ATTR_MTIME, &out));
	in.st_size = 0;
	ASSERT_EQ(0, fs.setattr(f, in, FUSE_SET_ATTR_SIZE, &out));
	EXPECT_GT(out.st_mtim.tv_sec, 1000);
	// An explicit mtime in the same call wins.
	in.st_size = 10;
	ASSERT_EQ(0, fs.setattr(f, in, FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_MTIME, &out));
	EXPECT_EQ(1000, out.st_mtim.tv_sec);
}

TEST_F(MemfsTest, TruncateOfDirectoryIsEISDIR)
{
	fuse_ino_t d = mkdir(kRootIno, "d");
	struct stat in {}, out;
	EXPECT_EQ(EISDIR, fs.setattr(d, in, FUSE_SET_ATTR_SIZE, &out));
}

TEST_F(MemfsTest, OpenWithTruncEmptiesAndTouches)
{
	fuse_ino_t f = mkfile(kRootIno, "f");
	write_str(f, 0, "data");
	struct stat in {}, out;
	in.st_mtim = {1000, 0};
	ASSERT_EQ(0, fs.setattr(f, in, FUSE_SET_ATTR_MTIME, &out));
	ASSERT_EQ(0, fs.open(f, O_WRONLY | O_TRUNC));
	out = attr(f);
	EXPECT_EQ(0, out.st_size);
	EXPECT_GT(out.st_mtim.tv_sec, 1000);
	EXPECT_EQ(0u, fs.pages_used());
	ASSERT_EQ(0, fs.release(f));
}

TEST_F(MemfsTest, CreateOpensExistingUnlessExcl)
{
	struct stat a, b;
	ASSERT_EQ(0, fs.create(kRootIno, "f", 0600, O_CREAT | O_WRONLY, root, &a));
	EXPECT_EQ(static_cast<mode_t>(S_IFREG | 0600), a.st_mode);
	EXPECT_EQ(EEXIST, fs.create(kRootIno, "f", 0600, O_CREAT | O_EXCL | O_WRONLY, root, &b));
	ASSERT_EQ(0, fs.create(kRootIno, "f", 0600, O_CREAT | O_WRONLY, root, &b));
	EXPECT_EQ(a.st_ino, b.st_ino);
	EXPECT_EQ(2u, fs.lookup_count(a.st_ino));
	fuse_ino_t d = mkdir(kRootIno, "d");
	EXPECT_EQ(EISDIR, fs.create(kRootIno, "d", 0600, O_CREAT | O_WRONLY, root, &b));
	EXPECT_EQ(1u, fs.lookup_count(d));
}

TEST_F(MemfsTest, WriteToDirectoryFails)
{
	fuse_ino_t d = mkdir(kRootIno, "d");
	size_t n;
	EXPECT_EQ(EISDIR, fs.write(d, 0, "x", 1, &n));
	EXPECT_EQ(EISDIR, fs.read(d, 0, 1, nullptr, &n));
}

TEST_F(MemfsTest, WriteBeyondMaximumFileSizeIsEFBIG)
{
	fuse_ino_t f = mkfile(kRootIno, "f");
	size_t n;
	EXPECT_EQ(EFBIG, fs.write(f, memfs::kMaxFileSize - 1, "ab", 2, &n));
	EXPECT_EQ(0u, fs.pages_used());
}

// ---- fallocate and SEEK_DATA / SEEK_HOLE ----------------------------

TEST_F(MemfsTest, FallocateModes)
{
	fuse_ino_t f = mkfile(kRootIno, "f");
	ASSERT_EQ(0, fs.fallocate(f, 0, 100, 2 * kPage));
	EXPECT_EQ(static_cast<off_t>(100 + 2 * kPage), attr(f).st_size);
	EXPECT_EQ(3u, fs.pages_used());
	EXPECT_EQ(std::string(2 * kPage, '\0'), read_str(f, 100, 2 * kPage));

	ASSERT_EQ(0, fs.fallocate(f, FALLOC_FL_KEEP_SIZE, 10 * kPage, kPage));
	EXPECT_EQ(static_cast<off_t>(100 + 2 * kPage), attr(f).st_size);
	EXPECT_EQ(4u, fs.pages_used());

	write_str(f, 0, std::string(3 * kPage, 'q'));
	ASSERT_EQ(0, fs.fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 10, kPage + 20));
	EXPECT_EQ(static_cast<off_t>(3 * kPage), attr(f).st_size);
	EXPECT_EQ(std::string(10, 'q') + std::string(kPage + 20, '\0') + std::string(10, 'q'),
		  read_str(f, 0, kPage + 40));
	// Page 0 and 1 were only partly punched; no page was wholly inside.
	EXPECT_EQ(4u, fs.pages_used());
	ASSERT_EQ(0, fs.fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, kPage, kPage));
	EXPECT_EQ(3u, fs.pages_used());

	EXPECT_EQ(EOPNOTSUPP, fs.fallocate(f, FALLOC_FL_PUNCH_HOLE, 0, kPage));
	EXPECT_EQ(EOPNOTSUPP, fs.fallocate(f, FALLOC_FL_ZERO_RANGE, 0, kPage));
	EXPECT_EQ(EOPNOTSUPP, fs.fallocate(f, FALLOC_FL_COLLAPSE_RANGE, 0, kPage));
	EXPECT_EQ(EOPNOTSUPP, fs.fallocate(f, FALLOC_FL_INSERT_RANGE, 0, kPage));
	EXPECT_EQ(EINVAL, fs.fallocate(f, 0, 0, 0));
}

TEST_F(MemfsTest, SeekDataAndHole)
{
	fuse_ino_t f = mkfile(kRootIno, "f");
	off_t pos = -1;
	// Empty file: everything is ENXIO.
	EXPECT_EQ(ENXIO, fs.lseek(f, 0, SEEK_DATA, &pos));
	EXPECT_EQ(ENXIO, fs.lseek(f, 0, SEEK_HOLE, &pos));

	// Layout: hole [0, 8K), data [8K, 16K), hole [16K, 5G), data at 5G, EOF 5G+10.
	write_str(f, 2 * kPage, std::string(2 * kPage, 'd'));
	write_str(f, 5 * kGiB, "0123456789");
	const off_t eof = static_cast<off_t>(5 * kGiB + 10);

	ASSERT_EQ(0, fs.lseek(f, 0, SEEK_DATA, &pos));
	EXPECT_EQ(static_cast<off_t>(2 * kPage), pos);
	ASSERT_EQ(0, fs.lseek(f, 0, SEEK_HOLE, &pos));
	EXPECT_EQ(0, pos);
	ASSERT_EQ(0, fs.lseek(f, 2 * kPage + 5, SEEK_DATA, &pos));
	EXPECT_EQ(static_cast<off_t>(2 * kPage + 5), pos);
	ASSERT_EQ(0, fs.lseek(f, 2 * kPage + 5, SEEK_HOLE, &pos));
	EXPECT_EQ(static_cast<off_t>(4 * kPage), pos);
	ASSERT_EQ(0, fs.lseek(f, 4 * kPage, SEEK_DATA, &pos));
	EXPECT_EQ(static_cast<off_t>(5 * kGiB), pos);
	ASSERT_EQ(0, fs.lseek(f, 5 * kGiB + 3, SEEK_HOLE, &pos));
	EXPECT_EQ(eof, pos); // the implicit hole at EOF
	EXPECT_EQ(ENXIO, fs.lseek(f, eof, SEEK_DATA, &pos));
	EXPECT_EQ(ENXIO, fs.lseek(f, eof, SEEK_HOLE, &pos));
	EXPECT_EQ(ENXIO, fs.lseek(f, -1, SEEK_DATA, &pos));

	// Data pages beyond EOF (fallocate KEEP_SIZE) are not data.
	fuse_ino_t g = mkfile(kRootIno, "g");
	write_str(g, 0, "abc");
	ASSERT_EQ(0, fs.fallocate(g, FALLOC_FL_KEEP_SIZE, 8 * kPage, kPage));
	ASSERT_EQ(0, fs.lseek(g, 1, SEEK_HOLE, &pos));
	EXPECT_EQ(3, pos);
	EXPECT_EQ(ENXIO, fs.lseek(g, 3, SEEK_DATA, &pos));
}

TEST_F(MemfsTest, FallocatedPagesAreHolesUntilWritten)
{
	// As on tmpfs: allocated space that was never written is a hole.
	fuse_ino_t f = mkfile(kRootIno, "f");
	ASSERT_EQ(0, fs.fallocate(f, 0, 0, 16 * kPage));
	EXPECT_EQ(16u, fs.pages_used());
	EXPECT_EQ(static_cast<blkcnt_t>(16 * kPage / 512), attr(f).st_blocks);
	write_str(f, 4 * kPage + 10, "x");
	EXPECT_EQ(16u, fs.pages_used()); // the page was already counted
	EXPECT_EQ(std::string(10, '\0') + "x" + std::string(5, '\0'), read_str(f, 4 * kPage, 16));
	off_t pos = -1;
	ASSERT_EQ(0, fs.lseek(f, 0, SEEK_DATA, &pos));
	EXPECT_EQ(static_cast<off_t>(4 * kPage), pos);
	ASSERT_EQ(0, fs.lseek(f, 0, SEEK_HOLE, &pos));
	EXPECT_EQ(0, pos);
	ASSERT_EQ(0, fs.lseek(f, 4 * kPage, SEEK_HOLE, &pos));
	EXPECT_EQ(static_cast<off_t>(5 * kPage), pos);
	EXPECT_EQ(ENXIO, fs.lseek(f, 5 * kPage, SEEK_DATA, &pos));
	// Truncating and punching through unwritten pages frees them too.
	ASSERT_EQ(0, fs.fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 8 * kPage, 100 + kPage));
	EXPECT_EQ(15u, fs.pages_used());
	struct stat in {}, out;
	in.st_size = 4 * kPage + 5;
	ASSERT_EQ(0, fs.setattr(f, in, FUSE_SET_ATTR_SIZE, &out));
	EXPECT_EQ(5u, fs.pages_used());
	EXPECT_EQ(std::string(5, '\0'), read_str(f, 4 * kPage, 16));
}

// ---- capacity ----------------------------------------------------------

class SmallMemfsTest : public MemfsTest {
protected:
	SmallMemfsTest() : MemfsTest({8 * kPage, 5}) {}
};

TEST_F(SmallMemfsTest, WriteFillsThenENOSPC)
{
	fuse_ino_t f = mkfile(kRootIno, "f");
	std::string big(10 * kPage, 'b');
	size_t n = 0;
	// Only 8 pages exist: a short write, then ENOSPC.
	ASSERT_EQ(0, fs.write(f, 0, big.data(), big.size(), &n));
	EXPECT_EQ(8 * kPage, n);
	EXPECT_EQ(8u, fs.pages_used());
	EXPECT_EQ(ENOSPC, fs.write(f, 8 * kPage, big.data(), 1, &n));
	// Writing into pages already there still works when full.
	ASSERT_EQ(0, fs.write(f, 100, "over", 4, &n));
	EXPECT_EQ(4u, n);
	struct statvfs sv;
	ASSERT_EQ(0, fs.statfs(&sv));
	EXPECT_EQ(8u, sv.f_blocks);
	EXPECT_EQ(0u, sv.f_bfree);
	EXPECT_EQ(kPage, sv.f_frsize);

	// A short write stops at the first page it could not get.
	fuse_ino_t g = mkfile(kRootIno, "g");
	struct stat in {}, out;
	in.st_size = 2 * kPage;
	ASSERT_EQ(0, fs.setattr(f, in, FUSE_SET_ATTR_SIZE, &out)); // frees 6 pages
	ASSERT_EQ(0, fs.write(g, 10, big.data(), big.size(), &n));
	EXPECT_EQ(6 * kPage - 10, n);
	EXPECT_EQ(static_cast<off_t>(6 * kPage), attr(g).st_size);

	// Unlinking (and forgetting) frees the space again.
	ASSERT_EQ(0, fs.unlink(kRootIno, "g"));
	fs.forget(g, 1);
	EXPECT_EQ(2u, fs.pages_used());
	ASSERT_EQ(0, fs.statfs(&sv));
	EXPECT_EQ(6u, sv.f_bavail);
}

TEST_F(SmallMemfsTest, FallocateIsAllOrNothing)
{
	fuse_ino_t f = mkfile(kRootIno, "f");
	EXPECT_EQ(ENOSPC, fs.fallocate(f, 0, 0, 9 * kPage));
	EXPECT_EQ(0u, fs.pages_used());
	EXPECT_EQ(0, attr(f).st_size);
	EXPECT_EQ(0, fs.fallocate(f, 0, 0, 8 * kPage));
	EXPECT_EQ(8u, fs.pages_used());
	EXPECT_EQ(ENOSPC, fs.fallocate(f, FALLOC_FL_KEEP_SIZE, 8 * kPage, 1));
}

TEST_F(SmallMemfsTest, InodeLimitIsENOSPC)
{
	// The root counts: four more fit.
	for (int i = 0; i < 4; ++i)
		mkfile(kRootIno, "f" + std::to_string(i));
	struct stat st;
	EXPECT_EQ(ENOSPC, fs.mknod(kRootIno, "x", S_IFREG | 0644, 0, root, &st));
	EXPECT_EQ(ENOSPC, fs.mkdir(kRootIno, "x", 0755, root, &st));
	EXPECT_EQ(ENOSPC, fs.symlink("t", kRootIno, "x", root, &st));
	struct statvfs sv;
	ASSERT_EQ(0, fs.statfs(&sv));
	EXPECT_EQ(5u, sv.f_files);
	EXPECT_EQ(0u, sv.f_ffree);
	// A failed create into an existing name gives its inode back.
	fuse_ino_t f0 = ino_of(kRootIno, "f0");
	ASSERT_EQ(0, fs.unlink(kRootIno, "f0"));
	fs.forget(f0, 1);
	EXPECT_EQ(4u, fs.inodes_used());
	EXPECT_EQ(EEXIST, fs.mknod(kRootIno, "f1", S_IFREG | 0644, 0, root, &st));
	EXPECT_EQ(4u, fs.inodes_used());
	EXPECT_EQ(0, fs.mknod(kRootIno, "f0", S_IFREG | 0644, 0, root, &st));
}

// ---- lookup counts and inode lifetime -------------------------------

TEST_F(MemfsTest, UnlinkedInodeLivesUntilForgetAndRelease)
{
	fuse_ino_t f = mkfile(kRootIno, "f"); // nlookup 1
	write_str(f, 0, std::string(2 * kPage, 'x'));
	struct stat st;
	ASSERT_EQ(0, fs.lookup(kRootIno, "f", &st));
	EXPECT_EQ(2u, fs.lookup_count(f));
	ASSERT_EQ(0, fs.open(f, O_RDWR));
	ASSERT_EQ(0, fs.unlink(kRootIno, "f"));
	EXPECT_EQ(ENOENT, fs.lookup(kRootIno, "f", &st));
	EXPECT_EQ(0u, attr(f).st_nlink);
	// Still readable and writable through the open handle.
	EXPECT_EQ("xx", read_str(f, 0, 2));
	write_str(f, 0, "yy");
	fs.forget(f, 1);
	EXPECT_TRUE(fs.inode_exists(f));
	fs.forget(f, 1);
	EXPECT_TRUE(fs.inode_exists(f)); // still open
	EXPECT_EQ(2u, fs.pages_used());
	EXPECT_EQ(2u, fs.inodes_used());
	ASSERT_EQ(0, fs.release(f));
	EXPECT_FALSE(fs.inode_exists(f));
	EXPECT_EQ(0u, fs.pages_used());
	EXPECT_EQ(1u, fs.inodes_used());
	EXPECT_EQ(ENOENT, fs.getattr(f, &st));
}

TEST_F(MemfsTest, ForgetOfLinkedInodeKeepsIt)
{
	fuse_ino_t f = mkfile(kRootIno, "f");
	fs.forget(f, 1);
	EXPECT_EQ(0u, fs.lookup_count(f));
	EXPECT_TRUE(fs.inode_exists(f));
	// Looked up again later: same inode number.
	EXPECT_EQ(f, ino_of(kRootIno, "f"));
	// Over-forgetting clamps at zero rather than wrapping.
	fs.forget(f, 10);
	EXPECT_TRUE(fs.inode_exists(f));
	ASSERT_EQ(0, fs.unlink(kRootIno, "f"));
	EXPECT_FALSE(fs.inode_exists(f));
}

TEST_F(MemfsTest, InodeNumbersAreNeverReused)
{
	std::set<fuse_ino_t> seen{kRootIno};
	for (int i = 0; i < 100; ++i) {
		fuse_ino_t f = mkfile(kRootIno, "f");
		EXPECT_TRUE(seen.insert(f).second);
		ASSERT_EQ(0, fs.unlink(kRootIno, "f"));
		fs.forget(f, 1);
	}
}

TEST_F(MemfsTest, ReaddirplusTakesReferencesOnlyForEntriesThatFit)
{
	fuse_ino_t d = mkdir(kRootIno, "d");
	std::vector<fuse_ino_t> files;
	for (int i = 0; i < 5; ++i)
		files.push_back(mkfile(d, "f" + std::to_string(i)));
	for (fuse_ino_t f : files)
		fs.forget(f, 1);
	int room = 4; // ".", "..", f0, f1
	uint64_t last = 0;
	ASSERT_EQ(0, fs.readdir(d, 0, true, [&](const memfs::DirEntryView &e) {
		if (room-- == 0)
			return false;
		last = e.next_off;
		if (!e.is_dot) {
			EXPECT_EQ(static_cast<mode_t>(S_IFREG | 0644), e.attr.st_mode);
			EXPECT_EQ(1u, e.attr.st_nlink);
		}
		return true;
	}));
	EXPECT_EQ(1u, fs.lookup_count(files[0]));
	EXPECT_EQ(1u, fs.lookup_count(files[1]));
	EXPECT_EQ(0u, fs.lookup_count(files[2]));
	EXPECT_EQ(1u, fs.lookup_count(d)); // "." takes none
	// Continue from where we stopped.
	std::vector<std::string> rest;
	ASSERT_EQ(0, fs.readdir(d, last, true, [&](const memfs::DirEntryView &e) {
		rest.emplace_back(e.name);
		return true;
	}));
	EXPECT_EQ((std::vector<std::string>{"f2", "f3", "f4"}), rest);
	EXPECT_EQ(1u, fs.lookup_count(files[4]));
}

// ---- directories and readdir ----------------------------------------

TEST_F(MemfsTest, DirectoryLinkCountsAndSizes)
{
	EXPECT_EQ(2u, attr(kRootIno).st_nlink);
	fuse_ino_t a = mkdir(kRootIno, "a");
	fuse_ino_t b = mkdir(kRootIno, "b");
	mkdir(a, "sub");
	mkfile(a, "file");
	EXPECT_EQ(4u, attr(kRootIno).st_nlink);
	EXPECT_EQ(3u, attr(a).st_nlink);
	EXPECT_EQ(2u, attr(b).st_nlink);
	EXPECT_EQ(80, attr(a).st_size); // tmpfs: 20 per entry, dots included
	ASSERT_EQ(0, fs.rename(a, "sub", b, "sub2", 0));
	EXPECT_EQ(2u, attr(a).st_nlink);
	EXPECT_EQ(3u, attr(b).st_nlink);
	EXPECT_EQ(ENOTEMPTY, fs.rmdir(kRootIno, "b"));
	ASSERT_EQ(0, fs.rmdir(b, "sub2"));
	EXPECT_EQ(2u, attr(b).st_nlink);
	ASSERT_EQ(0, fs.rmdir(kRootIno, "b"));
	EXPECT_EQ(3u, attr(kRootIno).st_nlink);
	EXPECT_EQ(0u, attr(b).st_nlink); // still referenced by lookup
	struct stat st;
	EXPECT_EQ(ENOENT, fs.mknod(b, "late", S_IFREG | 0644, 0, root, &st));
	EXPECT_EQ(ENOENT, fs.mkdir(b, "late", 0755, root, &st));
	EXPECT_EQ(ENOTDIR, fs.rmdir(a, "file"));
	EXPECT_EQ(EISDIR, fs.unlink(kRootIno, "a"));
	EXPECT_EQ(ENOENT, fs.rmdir(kRootIno, "nothing"));
	EXPECT_EQ(EINVAL, fs.rmdir(a, "."));
	EXPECT_EQ(ENOTEMPTY, fs.rmdir(a, ".."));
}

TEST_F(MemfsTest, ReaddirListsDotsThenEntriesInCreationOrder)
{
	fuse_ino_t d = mkdir(kRootIno, "d");
	mkfile(d, "zeta");
	mkdir(d, "alpha");
	std::vector<std::pair<std::string, mode_t>> got;
	std::vector<fuse_ino_t> inos;
	ASSERT_EQ(0, fs.readdir(d, 0, false, [&](const memfs::DirEntryView &e) {
		got.emplace_back(std::string(e.name), e.attr.st_mode & S_IFMT);
		inos.push_back(e.attr.st_ino);
		return true;
	}));
	ASSERT_EQ(4u, got.size());
	EXPECT_EQ(".", got[0].first);
	EXPECT_EQ(d, inos[0]);
	EXPECT_EQ("..", got[1].first);
	EXPECT_EQ(kRootIno, inos[1]);
	EXPECT_EQ(std::make_pair(std::string("zeta"), static_cast<mode_t>(S_IFREG)), got[2]);
	EXPECT_EQ(std::make_pair(std::string("alpha"), static_cast<mode_t>(S_IFDIR)), got[3]);
}

TEST_F(MemfsTest, ReaddirOffsetsSurviveInsertionAndRemoval)
{
	fuse_ino_t d = mkdir(kRootIno, "d");
	for (int i = 0; i < 100; ++i)
		mkfile(d, "f" + std::to_string(i));
	// Read the first 40 names, remembering where we are.
	std::vector<std::string> seen;
	uint64_t off = 0;
	auto read_some = [&](size_t max) {
		size_t n = 0;
		EXPECT_EQ(0, fs.readdir(d, off, false, [&](const memfs::DirEntryView &e) {
			if (n == max)
				return false;
			++n;
			off = e.next_off;
			if (!e.is_dot)
				seen.emplace_back(e.name);
			return true;
		}));
		return n;
	};
	read_some(42);
	ASSERT_EQ(40u, seen.size());
	// Churn: remove half of the names already seen and half of those not
	// yet seen, add new ones, rename some.
	for (int i = 0; i < 100; i += 2)
		ASSERT_EQ(0, fs.unlink(d, "f" + std::to_string(i)));
	for (int i = 0; i < 20; ++i)
		mkfile(d, "new" + std::to_string(i));
	ASSERT_EQ(0, fs.rename(d, "f41", d, "renamed41", 0));
	while (read_some(7) > 0) {
	}
	// Every name that existed throughout was returned exactly once.
	std::multiset<std::string> counted(seen.begin(), seen.end());
	for (int i = 1; i < 100; i += 2) {
		std::string name = "f" + std::to_string(i);
		if (i == 41)
			continue;
		EXPECT_EQ(1u, counted.count(name)) << name;
	}
	for (const std::string &s : seen)
		EXPECT_LE(counted.count(s), 1u) << s;
	// Entries added during the listing show up (they get later cookies).
	EXPECT_EQ(1u, counted.count("new0"));
	EXPECT_EQ(1u, counted.count("renamed41"));
	// Seeking back to an offset of a removed entry resumes after it.
	std::vector<std::string> all = list(d);
	EXPECT_EQ(2u + 50 + 20, all.size());
}

TEST_F(MemfsTest, ReaddirOfRemovedDirectoryIsEmpty)
{
	fuse_ino_t d = mkdir(kRootIno, "d");
	ASSERT_EQ(0, fs.opendir(d));
	ASSERT_EQ(0, fs.rmdir(kRootIno, "d"));
	EXPECT_EQ((std::vector<std::string>{".", ".."}), list(d));
	fs.forget(d, 1);
	EXPECT_TRUE(fs.inode_exists(d));
	ASSERT_EQ(0, fs.releasedir(d));
	EXPECT_FALSE(fs.inode_exists(d));
}

TEST_F(MemfsTest, NameLimits)
{
	struct stat st;
	std::string longest(memfs::kNameMax, 'n');
	EXPECT_EQ(0, fs.mknod(kRootIno, longest, S_IFREG | 0644, 0, root, &st));
	EXPECT_EQ(ENAMETOOLONG, fs.mknod(kRootIno, longest + "n", S_IFREG | 0644, 0, root, &st));
	EXPECT_EQ(ENAMETOOLONG, fs.lookup(kRootIno, longest + "n", &st));
	EXPECT_EQ(EEXIST, fs.mkdir(kRootIno, longest, 0755, root, &st));
	EXPECT_EQ(ENOTDIR, fs.lookup(st.st_ino, "x", &st));
}

// ---- special files ----------------------------------------------------

TEST_F(MemfsTest, MknodFifoDeviceAndRegular)
{
	struct stat st;
	ASSERT_EQ(0, fs.mknod(kRootIno, "fifo", S_IFIFO | 0600, 0, root, &st));
	EXPECT_TRUE(S_ISFIFO(st.st_mode));
	ASSERT_EQ(0, fs.mknod(kRootIno, "chr", S_IFCHR | 0600, makedev(1, 3), root, &st));
	EXPECT_EQ(makedev(1, 3), st.st_rdev);
	ASSERT_EQ(0, fs.mknod(kRootIno, "plain", 0640, 0, root, &st));
	EXPECT_EQ(static_cast<mode_t>(S_IFREG | 0640), st.st_mode);
	EXPECT_EQ(EPERM, fs.mknod(kRootIno, "dir", S_IFDIR | 0755, 0, root, &st));
}

TEST_F(MemfsTest, Symlinks)
{
	struct stat st;
	ASSERT_EQ(0, fs.symlink("some/target", kRootIno, "l", root, &st));
	EXPECT_TRUE(S_ISLNK(st.st_mode));
	EXPECT_EQ(11, st.st_size);
	std::string t;
	ASSERT_EQ(0, fs.readlink(st.st_ino, &t));
	EXPECT_EQ("some/target", t);
	fuse_ino_t f = mkfile(kRootIno, "f");
	EXPECT_EQ(EINVAL, fs.readlink(f, &t));
	EXPECT_EQ(ENAMETOOLONG, fs.symlink(std::string(5000, 'x'), kRootIno, "l2", root, &st));
	EXPECT_EQ(EEXIST, fs.symlink("x", kRootIno, "l", root, &st));
	EXPECT_EQ(0u, fs.pages_used());
	// Like tmpfs, a target of 128 bytes or more takes a page.
	ASSERT_EQ(0, fs.symlink(std::string(127, 's'), kRootIno, "short", root, &st));
	EXPECT_EQ(0, st.st_blocks);
	ASSERT_EQ(0, fs.symlink(std::string(128, 's'), kRootIno, "long", root, &st));
	EXPECT_EQ(8, st.st_blocks);
	EXPECT_EQ(1u, fs.pages_used());
	EXPECT_EQ(EEXIST, fs.symlink(std::string(200, 's'), kRootIno, "long", root, &st));
	EXPECT_EQ(1u, fs.pages_used());
	ASSERT_EQ(0, fs.unlink(kRootIno, "long"));
	fs.forget(st.st_ino, 1);
	EXPECT_EQ(0u, fs.pages_used());
}

TEST_F(MemfsTest, SetgidDirectoryPassesOnGroup)
{
	fuse_ino_t d = mkdir(kRootIno, "d", 02775);
	struct stat in {}, out;
	in.st_gid = 42;
	ASSERT_EQ(0, fs.setattr(d, in, FUSE_SET_ATTR_GID, &out));
	EXPECT_EQ(static_cast<mode_t>(S_IFDIR | 02775), out.st_mode);
	memfs::Caller user{1000, 1000};
	struct stat f, sub;
	ASSERT_EQ(0, fs.mknod(d, "f", S_IFREG | 0644, 0, user, &f));
	EXPECT_EQ(1000u, f.st_uid);
	EXPECT_EQ(42u, f.st_gid);
	ASSERT_EQ(0, fs.mkdir(d, "sub", 0755, user, &sub));
	EXPECT_EQ(42u, sub.st_gid);
	EXPECT_TRUE(sub.st_mode & S_ISGID);
}

// ---- hard links ---------------------------------------------------------

TEST_F(MemfsTest, HardLinkCounts)
{
	fuse_ino_t f = mkfile(kRootIno, "f");
	fuse_ino_t d = mkdir(kRootIno, "d");
	struct stat st;
	ASSERT_EQ(0, fs.link(f, d, "g", &st));
	EXPECT_EQ(f, st.st_ino);
	EXPECT_EQ(2u, st.st_nlink);
	EXPECT_EQ(2u, fs.lookup_count(f));
	ASSERT_EQ(0, fs.link(f, kRootIno, "h", &st));
	EXPECT_EQ(3u, attr(f).st_nlink);
	EXPECT_EQ(2u, attr(d).st_nlink); // files do not count in a dir's nlink
	EXPECT_EQ(EEXIST, fs.link(f, kRootIno, "h", &st));
	EXPECT_EQ(EPERM, fs.link(d, kRootIno, "dirlink", &st));
	write_str(f, 0, "shared");
	EXPECT_EQ("shared", read_str(ino_of(d, "g"), 0, 6));
	ASSERT_EQ(0, fs.unlink(kRootIno, "f"));
	ASSERT_EQ(0, fs.unlink(kRootIno, "h"));
	EXPECT_EQ(1u, attr(f).st_nlink);
	ASSERT_EQ(0, fs.unlink(d, "g"));
	EXPECT_EQ(0u, attr(f).st_nlink);
	// An inode without links cannot get one back.
	EXPECT_EQ(ENOENT, fs.link(f, kRootIno, "again", &st));
	fs.forget(f, 3);
	EXPECT_FALSE(fs.inode_exists(f));
}

TEST_F(MemfsTest, LinkUpdatesCtimeAndParentMtime)
{
	fuse_ino_t f = mkfile(kRootIno, "f");
	struct stat in {}, out;
	in.st_mtim = {1000, 0};
	ASSERT_EQ(0, fs.setattr(kRootIno, in, FUSE_SET_ATTR_MTIME, &out));
	in.st_ctim = {1000, 0};
	ASSERT_EQ(0, fs.setattr(f, in, FUSE_SET_ATTR_CTIME, &out));
	struct stat st;
	ASSERT_EQ(0, fs.link(f, kRootIno, "g", &st));
	EXPECT_GT(st.st_ctim.tv_sec, 1000);
	EXPECT_GT(attr(kRootIno).st_mtim.tv_sec, 1000);
}

// ---- rename ---------------------------------------------------------------

TEST_F(MemfsTest, RenameMovesAndReplaces)
{
	fuse_ino_t a = mkfile(kRootIno, "a");
	fuse_ino_t b = mkfile(kRootIno, "b");
	write_str(b, 0, std::string(kPage, 'b'));
	ASSERT_EQ(0, fs.rename(kRootIno, "a", kRootIno, "b", 0));
	EXPECT_EQ(0u, ino_of(kRootIno, "a"));
	EXPECT_EQ(a, ino_of(kRootIno, "b"));
	// The replaced inode lost its link but lives on while looked up.
	EXPECT_EQ(0u, attr(b).st_nlink);
	EXPECT_EQ(1u, fs.pages_used());
	fs.forget(b, 1);
	EXPECT_FALSE(fs.inode_exists(b));
	EXPECT_EQ(0u, fs.pages_used());
	EXPECT_EQ(ENOENT, fs.rename(kRootIno, "a", kRootIno, "c", 0));
}

TEST_F(MemfsTest, RenameFlags)
{
	fuse_ino_t a = mkfile(kRootIno, "a");
	fuse_ino_t b = mkfile(kRootIno, "b");
	EXPECT_EQ(EEXIST, fs.rename(kRootIno, "a", kRootIno, "b", RENAME_NOREPLACE));
	ASSERT_EQ(0, fs.rename(kRootIno, "a", kRootIno, "c", RENAME_NOREPLACE));
	EXPECT_EQ(a, ino_of(kRootIno, "c"));
	EXPECT_EQ(ENOENT, fs.rename(kRootIno, "c", kRootIno, "missing", RENAME_EXCHANGE));
	ASSERT_EQ(0, fs.rename(kRootIno, "c", kRootIno, "b", RENAME_EXCHANGE));
	EXPECT_EQ(b, ino_of(kRootIno, "c"));
	EXPECT_EQ(a, ino_of(kRootIno, "b"));
	EXPECT_EQ(EINVAL, fs.rename(kRootIno, "b", kRootIno, "c", RENAME_EXCHANGE | RENAME_NOREPLACE));
	EXPECT_EQ(EINVAL, fs.rename(kRootIno, "b", kRootIno, "c", 1u << 2)); // RENAME_WHITEOUT
	EXPECT_EQ(1u, attr(a).st_nlink);
	EXPECT_EQ(1u, attr(b).st_nlink);
}

TEST_F(MemfsTest, RenameExchangeOfDirectoriesAcrossParents)
{
	fuse_ino_t p = mkdir(kRootIno, "p");
	fuse_ino_t q = mkdir(kRootIno, "q");
	fuse_ino_t d = mkdir(p, "d");
	fuse_ino_t f = mkfile(q, "f");
	ASSERT_EQ(0, fs.rename(p, "d", q, "f", RENAME_EXCHANGE));
	EXPECT_EQ(f, ino_of(p, "d"));
	EXPECT_EQ(d, ino_of(q, "f"));
	EXPECT_EQ(2u, attr(p).st_nlink);
	EXPECT_EQ(3u, attr(q).st_nlink);
	// ".." of the moved directory follows it.
	std::vector<fuse_ino_t> dotdot;
	ASSERT_EQ(0, fs.readdir(d, 1, false, [&](const memfs::DirEntryView &e) {
		dotdot.push_back(e.attr.st_ino);
		return false;
	}));
	EXPECT_EQ((std::vector<fuse_ino_t>{q}), dotdot);
	// Exchanging a directory with its own ancestor is EINVAL.
	fuse_ino_t inner = mkdir(d, "inner");
	EXPECT_EQ(EINVAL, fs.rename(kRootIno, "q", d, "inner", RENAME_EXCHANGE));
	EXPECT_EQ(EINVAL, fs.rename(d, "inner", kRootIno, "q", RENAME_EXCHANGE));
	EXPECT_EQ(inner, ino_of(d, "inner"));
}

TEST_F(MemfsTest, RenameErrors)
{
	fuse_ino_t a = mkdir(kRootIno, "a");
	fuse_ino_t b = mkdir(a, "b");
	mkdir(b, "c");
	mkfile(kRootIno, "file");
	fuse_ino_t full = mkdir(kRootIno, "full");
	mkfile(full, "x");
	mkdir(kRootIno, "empty");
	// A directory into its own subtree (or onto itself as parent).
	EXPECT_EQ(EINVAL, fs.rename(kRootIno, "a", b, "a2", 0));
	EXPECT_EQ(EINVAL, fs.rename(kRootIno, "a", a, "a2", 0));
	EXPECT_EQ(EINVAL, fs.rename(kRootIno, "a", ino_of(b, "c"), "a2", 0));
	// Directory over a non-empty directory, file over directory and back.
	EXPECT_EQ(ENOTEMPTY, fs.rename(kRootIno, "a", kRootIno, "full", 0));
	EXPECT_EQ(EISDIR, fs.rename(kRootIno, "file", kRootIno, "empty", 0));
	EXPECT_EQ(ENOTDIR, fs.rename(kRootIno, "empty", kRootIno, "file", 0));
	// A directory onto an ancestor of itself: the ancestor is not empty.
	EXPECT_EQ(ENOTEMPTY, fs.rename(b, "c", kRootIno, "a", 0));
	EXPECT_EQ(ENOTDIR, fs.rename(ino_of(kRootIno, "file"), "x", kRootIno, "y", 0));
	EXPECT_EQ(EINVAL, fs.rename(kRootIno, ".", kRootIno, "y", 0));
	// Nothing moved.
	EXPECT_EQ(b, ino_of(a, "b"));
	EXPECT_EQ(5u, attr(kRootIno).st_nlink); // a, full, empty
}

TEST_F(MemfsTest, RenameDirectoryOverEmptyDirectory)
{
	fuse_ino_t p = mkdir(kRootIno, "p");
	fuse_ino_t d = mkdir(kRootIno, "d");
	fuse_ino_t e = mkdir(p, "e");
	EXPECT_EQ(4u, attr(kRootIno).st_nlink);
	EXPECT_EQ(3u, attr(p).st_nlink);
	ASSERT_EQ(0, fs.rename(kRootIno, "d", p, "e", 0));
	EXPECT_EQ(d, ino_of(p, "e"));
	EXPECT_EQ(3u, attr(kRootIno).st_nlink);
	EXPECT_EQ(3u, attr(p).st_nlink);
	EXPECT_EQ(0u, attr(e).st_nlink);
	struct stat st;
	EXPECT_EQ(ENOENT, fs.mknod(e, "x", S_IFREG | 0644, 0, root, &st));
	fs.forget(e, 1);
	EXPECT_FALSE(fs.inode_exists(e));
	// Within one directory, replacing a subdirectory drops one link.
	mkdir(p, "g");
	EXPECT_EQ(4u, attr(p).st_nlink);
	ASSERT_EQ(0, fs.rename(p, "e", p, "g", 0));
	EXPECT_EQ(3u, attr(p).st_nlink);
}

TEST_F(MemfsTest, RenameOfHardLinkOntoItselfDoesNothing)
{
	fuse_ino_t f = mkfile(kRootIno, "f");
	struct stat st;
	ASSERT_EQ(0, fs.link(f, kRootIno, "g", &st));
	ASSERT_EQ(0, fs.rename(kRootIno, "f", kRootIno, "g", 0));
	EXPECT_EQ(f, ino_of(kRootIno, "f"));
	EXPECT_EQ(f, ino_of(kRootIno, "g"));
	EXPECT_EQ(2u, attr(f).st_nlink);
	ASSERT_EQ(0, fs.rename(kRootIno, "f", kRootIno, "f", 0));
	EXPECT_EQ(EEXIST, fs.rename(kRootIno, "f", kRootIno, "g", RENAME_NOREPLACE));
}

TEST_F(MemfsTest, RenameUpdatesTimes)
{
	fuse_ino_t p = mkdir(kRootIno, "p");
	fuse_ino_t q = mkdir(kRootIno, "q");
	fuse_ino_t f = mkfile(p, "f");
	struct stat in {}, out;
	in.st_mtim = in.st_ctim = {1000, 0};
	for (fuse_ino_t i : {p, q, f})
		ASSERT_EQ(0, fs.setattr(i, in, FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_CTIME, &out));
	ASSERT_EQ(0, fs.rename(p, "f", q, "g", 0));
	EXPECT_GT(attr(p).st_mtim.tv_sec, 1000);
	EXPECT_GT(attr(q).st_mtim.tv_sec, 1000);
	EXPECT_GT(attr(f).st_ctim.tv_sec, 1000);
	EXPECT_EQ(1000, attr(f).st_mtim.tv_sec);
}

// ---- attributes -------------------------------------------------------------

TEST_F(MemfsTest, UtimensNowAndOmit)
{
	fuse_ino_t f = mkfile(kRootIno, "f");
	struct stat in {}, out;
	in.st_atim = {100, 1};
	in.st_mtim = {200, 2};
	ASSERT_EQ(0, fs.setattr(f, in, FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME, &out));
	EXPECT_TRUE(out.st_atim == (timespec{100, 1}));
	EXPECT_TRUE(out.st_mtim == (timespec{200, 2}));
	// UTIME_OMIT leaves a time alone; UTIME_NOW (as value or flag) sets it.
	in.st_atim = {0, UTIME_OMIT};
	in.st_mtim = {0, UTIME_NOW};
	ASSERT_EQ(0, fs.setattr(f, in, FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME, &out));
	EXPECT_TRUE(out.st_atim == (timespec{100, 1}));
	EXPECT_GT(out.st_mtim.tv_sec, 200);
	timespec before = out.st_mtim;
	ASSERT_EQ(0, fs.setattr(f, in, FUSE_SET_ATTR_ATIME_NOW, &out));
	EXPECT_GT(out.st_atim.tv_sec, 100);
	EXPECT_TRUE(out.st_mtim == before);
	// Any change moves ctime to now.
	EXPECT_GE(out.st_ctim.tv_sec, before.tv_sec);
}

TEST_F(MemfsTest, WriteUpdatesMtimeAndCtime)
{
	fuse_ino_t f = mkfile(kRootIno, "f");
	struct stat in {}, out;
	in.st_mtim = in.st_ctim = in.st_atim = {1000, 0};
	ASSERT_EQ(0, fs.setattr(f, in, FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_CTIME | FUSE_SET_ATTR_ATIME, &out));
	write_str(f, 0, "x");
	out = attr(f);
	EXPECT_GT(out.st_mtim.tv_sec, 1000);
	EXPECT_GT(out.st_ctim.tv_sec, 1000);
	EXPECT_EQ(1000, out.st_atim.tv_sec);
	// relatime: a read moves an atime older than mtime.
	read_str(f, 0, 1);
	EXPECT_GT(attr(f).st_atim.tv_sec, 1000);
}

TEST_F(MemfsTest, CreateAndUnlinkUpdateParentTimes)
{
	fuse_ino_t d = mkdir(kRootIno, "d");
	struct stat in {}, out;
	in.st_mtim = in.st_ctim = {1000, 0};
	ASSERT_EQ(0, fs.setattr(d, in, FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_CTIME, &out));
	mkfile(d, "f");
	EXPECT_GT(attr(d).st_mtim.tv_sec, 1000);
	ASSERT_EQ(0, fs.setattr(d, in, FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_CTIME, &out));
	ASSERT_EQ(0, fs.unlink(d, "f"));
	EXPECT_GT(attr(d).st_mtim.tv_sec, 1000);
	EXPECT_GT(attr(d).st_ctim.tv_sec, 1000);
}

TEST_F(MemfsTest, ChmodAndChownClearSetIds)
{
	fuse_ino_t f = mkfile(kRootIno, "f", 06755);
	EXPECT_EQ(static_cast<mode_t>(S_IFREG | 06755), attr(f).st_mode);
	struct stat in {}, out;
	in.st_uid = 1000;
	ASSERT_EQ(0, fs.setattr(f, in, FUSE_SET_ATTR_UID, &out));
	EXPECT_EQ(1000u, out.st_uid);
	EXPECT_EQ(static_cast<mode_t>(S_IFREG | 0755), out.st_mode);
	// Set-group-ID without group execute marks mandatory locking: kept.
	in.st_mode = 02745;
	ASSERT_EQ(0, fs.setattr(f, in, FUSE_SET_ATTR_MODE, &out));
	EXPECT_EQ(static_cast<mode_t>(S_IFREG | 02745), out.st_mode);
	in.st_gid = 7;
	ASSERT_EQ(0, fs.setattr(f, in, FUSE_SET_ATTR_GID, &out));
	EXPECT_EQ(static_cast<mode_t>(S_IFREG | 02745), out.st_mode);
	// chmod keeps the file type whatever the caller passes.
	in.st_mode = S_IFDIR | 0600;
	ASSERT_EQ(0, fs.setattr(f, in, FUSE_SET_ATTR_MODE, &out));
	EXPECT_EQ(static_cast<mode_t>(S_IFREG | 0600), out.st_mode);
	// Directories keep their setgid bit on chown.
	fuse_ino_t d = mkdir(kRootIno, "d", 02755);
	ASSERT_EQ(0, fs.setattr(d, in, FUSE_SET_ATTR_GID, &out));
	EXPECT_EQ(static_cast<mode_t>(S_IFDIR | 02755), out.st_mode);
}

TEST_F(MemfsTest, AccessByModeBits)
{
	fuse_ino_t f = mkfile(kRootIno, "f", 0640);
	struct stat in {}, out;
	in.st_uid = 1000;
	in.st_gid = 100;
	ASSERT_EQ(0, fs.setattr(f, in, FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID, &out));
	EXPECT_EQ(0, fs.access(f, R_OK | W_OK, {1000, 1}));
	EXPECT_EQ(EACCES, fs.access(f, X_OK, {1000, 1}));
	EXPECT_EQ(0, fs.access(f, R_OK, {2000, 100}));
	EXPECT_EQ(EACCES, fs.access(f, W_OK, {2000, 100}));
	EXPECT_EQ(EACCES, fs.access(f, R_OK, {2000, 2000}));
	EXPECT_EQ(0, fs.access(f, F_OK, {2000, 2000}));
	EXPECT_EQ(0, fs.access(f, R_OK | W_OK, root));
	EXPECT_EQ(EACCES, fs.access(f, X_OK, root));
	EXPECT_EQ(0, fs.access(kRootIno, X_OK, root));
}

// ---- xattrs -----------------------------------------------------------------

TEST_F(MemfsTest, XattrSemantics)
{
	fuse_ino_t f = mkfile(kRootIno, "f");
	char buf[64];
	size_t len = 0;
	EXPECT_EQ(ENODATA, fs.getxattr(f, "user.a", buf, sizeof(buf), &len));
	EXPECT_EQ(ENODATA, fs.setxattr(f, "user.a", "1", XATTR_REPLACE));
	ASSERT_EQ(0, fs.setxattr(f, "user.a", "value", XATTR_CREATE));
	EXPECT_EQ(EEXIST, fs.setxattr(f, "user.a", "other", XATTR_CREATE));
	ASSERT_EQ(0, fs.getxattr(f, "user.a", nullptr, 0, &len));
	EXPECT_EQ(5u, len);
	EXPECT_EQ(ERANGE, fs.getxattr(f, "user.a", buf, 4, &len));
	ASSERT_EQ(0, fs.getxattr(f, "user.a", buf, sizeof(buf), &len));
	EXPECT_EQ("value", std::string(buf, len));
	ASSERT_EQ(0, fs.setxattr(f, "user.a", "v2", XATTR_REPLACE));
	ASSERT_EQ(0, fs.setxattr(f, "user.empty", "", 0));
	ASSERT_EQ(0, fs.getxattr(f, "user.empty", buf, sizeof(buf), &len));
	EXPECT_EQ(0u, len);
	ASSERT_EQ(0, fs.setxattr(f, "trusted.t", std::string("bin\0ary", 7), 0));
	ASSERT_EQ(0, fs.getxattr(f, "trusted.t", buf, sizeof(buf), &len));
	EXPECT_EQ(std::string("bin\0ary", 7), std::string(buf, len));

	ASSERT_EQ(0, fs.listxattr(f, nullptr, 0, &len));
	const std::string names("trusted.t\0user.a\0user.empty\0", 28);
	EXPECT_EQ(names.size(), len);
	EXPECT_EQ(ERANGE, fs.listxattr(f, buf, len - 1, &len));
	ASSERT_EQ(0, fs.listxattr(f, buf, sizeof(buf), &len));
	EXPECT_EQ(names, std::string(buf, len));

	ASSERT_EQ(0, fs.removexattr(f, "user.a"));
	EXPECT_EQ(ENODATA, fs.removexattr(f, "user.a"));
	EXPECT_EQ(EOPNOTSUPP, fs.setxattr(f, "bogus.a", "1", 0));
	EXPECT_EQ(EOPNOTSUPP, fs.getxattr(f, "system.posix_acl_access", buf, sizeof(buf), &len));
	EXPECT_EQ(EINVAL, fs.setxattr(f, "user.", "1", 0));
	EXPECT_EQ(ERANGE, fs.setxattr(f, "user." + std::string(300, 'n'), "1", 0));
	EXPECT_EQ(E2BIG, fs.setxattr(f, "user.big", std::string(memfs::kXattrSizeMax + 1, 'v'), 0));
	ASSERT_EQ(0, fs.setxattr(f, "user.max", std::string(memfs::kXattrSizeMax, 'v'), 0));
	// Directories carry xattrs too.
	ASSERT_EQ(0, fs.setxattr(kRootIno, "user.dir", "d", 0));
	ASSERT_EQ(0, fs.getxattr(kRootIno, "user.dir", buf, sizeof(buf), &len));
}

TEST_F(MemfsTest, XattrChangeUpdatesCtime)
{
	fuse_ino_t f = mkfile(kRootIno, "f");
	struct stat in {}, out;
	in.st_ctim = {1000, 0};
	ASSERT_EQ(0, fs.setattr(f, in, FUSE_SET_ATTR_CTIME, &out));
	ASSERT_EQ(0, fs.setxattr(f, "user.a", "1", 0));
	EXPECT_GT(attr(f).st_ctim.tv_sec, 1000);
}

// ---- statfs and options ----------------------------------------------------

TEST_F(MemfsTest, StatfsReportsCapacity)
{
	struct statvfs sv;
	ASSERT_EQ(0, fs.statfs(&sv));
	EXPECT_EQ((1ULL << 40) / kPage, sv.f_blocks);
	EXPECT_EQ(sv.f_blocks, sv.f_bfree);
	EXPECT_EQ(1ULL << 20, sv.f_files);
	EXPECT_EQ(sv.f_files - 1, sv.f_ffree);
	EXPECT_EQ(memfs::kNameMax, sv.f_namemax);
	fuse_ino_t f = mkfile(kRootIno, "f");
	write_str(f, 0, std::string(3 * kPage, 'x'));
	ASSERT_EQ(0, fs.statfs(&sv));
	EXPECT_EQ(sv.f_blocks - 3, sv.f_bavail);
	EXPECT_EQ(sv.f_files - 2, sv.f_ffree);
}

struct Args {
	explicit Args(std::vector<std::string> v) : strings(std::move(v))
	{
		for (std::string &s : strings)
			ptrs.push_back(s.data());
		args = FUSE_ARGS_INIT(static_cast<int>(ptrs.size()), ptrs.data());
	}
	~Args() { fuse_opt_free_args(&args); }
	std::vector<std::string> left() const
	{
		return std::vector<std::string>(args.argv, args.argv + args.argc);
	}
	std::vector<std::string> strings;
	std::vector<char *> ptrs;
	fuse_args args;
};

TEST(MemfsOptions, ParsesOwnOptionsAndLeavesTheRest)
{
	Args a({"memfs", "-o", "size=2G,max_inodes=1K,entry_timeout=0,attr_timeout=0.5,writeback,allow_other",
		"-f", "/mnt"});
	memfs::Options o;
	std::string err;
	ASSERT_TRUE(memfs::parse_options(&a.args, &o, &err)) << err;
	EXPECT_EQ(2ULL << 30, o.limits.capacity_bytes);
	EXPECT_EQ(1024u, o.limits.max_inodes);
	EXPECT_EQ(0.0, o.entry_timeout);
	EXPECT_EQ(0.5, o.attr_timeout);
	EXPECT_TRUE(o.writeback);
	EXPECT_EQ((std::vector<std::string>{"memfs", "-o", "allow_other", "-f", "/mnt", "-odefault_permissions"}),
		  a.left());
}

TEST(MemfsOptions, Defaults)
{
	Args a({"memfs", "/mnt"});
	memfs::Options o;
	std::string err;
	ASSERT_TRUE(memfs::parse_options(&a.args, &o, &err));
	EXPECT_EQ(memfs::default_limits().capacity_bytes, o.limits.capacity_bytes);
	EXPECT_GT(o.limits.capacity_bytes, 0u);
	EXPECT_EQ(1.0, o.entry_timeout);
	EXPECT_EQ(1.0, o.attr_timeout);
	EXPECT_FALSE(o.writeback);
}

TEST(MemfsOptions, RejectsBadValues)
{
	for (const char *bad : {"size=lots", "size=-1", "size=1X", "max_inodes=0", "entry_timeout=-1",
				"attr_timeout=soon"}) {
		Args a({"memfs", "-o", bad, "/mnt"});
		memfs::Options o;
		std::string err;
		EXPECT_FALSE(memfs::parse_options(&a.args, &o, &err)) << bad;
		EXPECT_FALSE(err.empty());
	}
}

} // namespace
} // namespace memfs_test
