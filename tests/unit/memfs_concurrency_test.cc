// Many threads change one memfs tree at once (create, unlink, mkdir, rmdir,
// rename with every flag, link, write, readdirplus) in a shared directory,
// private directories and each other's subtrees; afterwards the tree must
// be consistent: link counts, sizes, "..", lookup counts, inode and page
// accounting. Run under -DRFUSE_TSAN=ON as well to catch data races.
#include "memfs_test.hpp"

#include <array>
#include <cstdio>
#include <fcntl.h>
#include <map>
#include <random>
#include <set>
#include <thread>

namespace memfs_test {
namespace {

// One lookup reference, dropped on destruction, as the kernel holds one on
// every inode it sends a request for. Borrowed references (the fixed
// directories the test owns) drop nothing.
class Ref {
public:
	Ref(memfs::Filesystem &fs, fuse_ino_t ino, bool owned) : fs_(&fs), ino_(ino), owned_(owned) {}
	Ref(Ref &&o) noexcept : fs_(o.fs_), ino_(o.ino_), owned_(o.owned_) { o.owned_ = false; }
	Ref &operator=(Ref &&) = delete;
	~Ref()
	{
		if (owned_)
			fs_->forget(ino_, 1);
	}
	fuse_ino_t ino() const { return ino_; }

private:
	memfs::Filesystem *fs_;
	fuse_ino_t ino_;
	bool owned_;
};

class Worker {
public:
	Worker(memfs::Filesystem &fs, unsigned seed, fuse_ino_t shared, fuse_ino_t own)
		: fs_(fs), rng_(seed), fixed_{kRootIno, shared, own}
	{
	}
	void run(int steps)
	{
		for (int i = 0; i < steps; ++i)
			step();
	}
	const std::map<int, int> &errors() const { return errors_; }
	int done() const { return done_; }

private:
	unsigned pick(unsigned n) { return std::uniform_int_distribution<unsigned>(0, n - 1)(rng_); }
	// A small name space, so threads collide on names all the time.
	std::string name() { return "n" + std::to_string(pick(12)); }

	// A directory to work in: a fixed one, or a subdirectory found by name
	// in one (which may move anywhere or be removed meanwhile).
	Ref dir()
	{
		fuse_ino_t base = fixed_[pick(3)];
		if (pick(2) == 0) {
			struct stat st;
			if (fs_.lookup(base, name(), &st) == 0) {
				Ref r(fs_, st.st_ino, true);
				if (S_ISDIR(st.st_mode))
					return r;
			}
		}
		return Ref(fs_, base, false);
	}

	void check(int err, std::initializer_list<int> allowed, const char *op)
	{
		if (err == 0) {
			++done_;
			return;
		}
		++errors_[err];
		for (int a : allowed)
			if (err == a)
				return;
		ADD_FAILURE() << op << ": unexpected errno " << err;
	}

	void step()
	{
		static constexpr unsigned kFlags[] = {0, 0, RENAME_NOREPLACE, RENAME_EXCHANGE};
		memfs::Caller root{0, 0};
		struct stat st;
		Ref d = dir();
		switch (pick(10)) {
		case 0: {
			int err = fs_.mknod(d.ino(), name(), S_IFREG | 0644, 0, root, &st);
			check(err, {EEXIST, ENOENT}, "mknod");
			if (err == 0)
				fs_.forget(st.st_ino, 1);
			break;
		}
		case 1: {
			int err = fs_.mkdir(d.ino(), name(), 0755, root, &st);
			check(err, {EEXIST, ENOENT}, "mkdir");
			if (err == 0)
				fs_.forget(st.st_ino, 1);
			break;
		}
		case 2:
			check(fs_.unlink(d.ino(), name()), {ENOENT, EISDIR}, "unlink");
			break;
		case 3:
			check(fs_.rmdir(d.ino(), name()), {ENOENT, ENOTDIR, ENOTEMPTY}, "rmdir");
			break;
		case 4:
		case 5: {
			Ref d2 = dir();
			check(fs_.rename(d.ino(), name(), d2.ino(), name(), kFlags[pick(4)]),
			      {ENOENT, EEXIST, EINVAL, ENOTEMPTY, EISDIR, ENOTDIR}, "rename");
			break;
		}
		case 6: {
			int err = fs_.lookup(d.ino(), name(), &st);
			if (err != 0)
				break;
			Ref f(fs_, st.st_ino, true);
			Ref d2 = dir();
			err = fs_.link(f.ino(), d2.ino(), name(), &st);
			check(err, {EEXIST, ENOENT, EPERM}, "link");
			if (err == 0)
				fs_.forget(st.st_ino, 1);
			break;
		}
		case 7: {
			int err = fs_.create(d.ino(), name(), 0644, O_CREAT | O_WRONLY, root, &st);
			check(err, {EISDIR, ENOENT}, "create");
			if (err != 0)
				break;
			Ref f(fs_, st.st_ino, true);
			if (!S_ISREG(st.st_mode)) {
				// An existing fifo, socket or symlink of that name.
				check(fs_.release(f.ino()), {}, "release");
				break;
			}
			std::string data(1 + pick(3 * memfs::kPageSize), 'w');
			size_t n;
			check(fs_.write(f.ino(), pick(4) * memfs::kPageSize, data.data(), data.size(), &n), {},
			      "write");
			if (pick(4) == 0) {
				struct stat in {}, out;
				in.st_size = pick(2 * memfs::kPageSize);
				check(fs_.setattr(f.ino(), in, FUSE_SET_ATTR_SIZE, &out), {}, "truncate");
			}
			check(fs_.release(f.ino()), {}, "release");
			break;
		}
		case 8: {
			std::vector<fuse_ino_t> got;
			check(fs_.readdir(d.ino(), 0, true,
					  [&](const memfs::DirEntryView &e) {
						  if (!e.is_dot)
							  got.push_back(e.attr.st_ino);
						  return true;
					  }),
			      {}, "readdirplus");
			for (fuse_ino_t ino : got)
				fs_.forget(ino, 1);
			break;
		}
		case 9: {
			int err = fs_.symlink("target", d.ino(), name(), root, &st);
			check(err, {EEXIST, ENOENT}, "symlink");
			if (err == 0)
				fs_.forget(st.st_ino, 1);
			break;
		}
		}
	}

	memfs::Filesystem &fs_;
	std::mt19937 rng_;
	std::array<fuse_ino_t, 3> fixed_;
	std::map<int, int> errors_;
	int done_ = 0;
};

class MemfsConcurrencyTest : public MemfsTest {
protected:
	struct Census {
		std::map<fuse_ino_t, unsigned> links; // entries naming each non-directory
		std::set<fuse_ino_t> dirs;
		uint64_t pages = 0;
	};

	// Walks the whole tree checking each directory, and counts what it saw.
	void walk(fuse_ino_t dir, fuse_ino_t parent, Census *c)
	{
		ASSERT_TRUE(c->dirs.insert(dir).second) << "directory reached twice: " << dir;
		std::vector<std::pair<std::string, struct stat>> entries;
		fuse_ino_t dotdot = 0;
		ASSERT_EQ(0, fs.readdir(dir, 0, false, [&](const memfs::DirEntryView &e) {
			if (e.name == "..")
				dotdot = e.attr.st_ino;
			else if (!e.is_dot)
				entries.emplace_back(std::string(e.name), e.attr);
			return true;
		}));
		EXPECT_EQ(parent, dotdot) << "'..' of " << dir;
		nlink_t subdirs = 0;
		for (const auto &[name, ent] : entries) {
			struct stat st;
			ASSERT_EQ(0, fs.lookup(dir, name, &st)) << name;
			fs.forget(st.st_ino, 1);
			EXPECT_EQ(ent.st_ino, st.st_ino);
			EXPECT_EQ(ent.st_mode & S_IFMT, st.st_mode & S_IFMT);
			if (S_ISDIR(st.st_mode)) {
				++subdirs;
				walk(st.st_ino, dir, c);
			} else {
				++c->links[st.st_ino];
				if (c->links[st.st_ino] == 1)
					c->pages += static_cast<uint64_t>(st.st_blocks) / (memfs::kPageSize / 512);
			}
		}
		struct stat self = attr(dir);
		EXPECT_EQ(2 + subdirs, self.st_nlink) << "directory " << dir;
		EXPECT_EQ(static_cast<off_t>(20 * (2 + entries.size())), self.st_size) << "directory " << dir;
	}
};

TEST_F(MemfsConcurrencyTest, ChurnKeepsTreeConsistent)
{
	const unsigned threads = std::max(4u, std::thread::hardware_concurrency());
	const int steps = 20000;
	fuse_ino_t shared = mkdir(kRootIno, "shared");
	std::vector<fuse_ino_t> own;
	for (unsigned i = 0; i < threads; ++i)
		own.push_back(mkdir(kRootIno, "private" + std::to_string(i)));

	std::vector<Worker> workers;
	for (unsigned i = 0; i < threads; ++i)
		workers.emplace_back(fs, 1234 + i, shared, own[i]);
	std::vector<std::thread> running;
	for (Worker &w : workers)
		running.emplace_back([&w] { w.run(steps); });
	for (std::thread &t : running)
		t.join();

	int done = 0;
	std::map<int, int> errors;
	for (const Worker &w : workers) {
		done += w.done();
		for (auto [e, n] : w.errors())
			errors[e] += n;
	}
	// The run must have done real work, not failed its way through.
	EXPECT_GT(done, static_cast<int>(threads) * steps / 4);
	for (auto [e, n] : errors)
		std::printf("errno %d: %d times\n", e, n);

	// Drop the test's own references to the fixed directories.
	fs.forget(shared, 1);
	for (fuse_ino_t o : own)
		fs.forget(o, 1);

	Census c;
	walk(kRootIno, kRootIno, &c);
	for (const auto &[ino, n] : c.links)
		EXPECT_EQ(n, attr(ino).st_nlink) << "inode " << ino;
	// Nothing is looked up or open any more: whatever is unreachable is gone.
	EXPECT_EQ(c.dirs.size() + c.links.size(), fs.inodes_used());
	EXPECT_EQ(c.pages, fs.pages_used());
	for (const auto &[ino, n] : c.links)
		EXPECT_EQ(0u, fs.lookup_count(ino));
	c.dirs.erase(kRootIno);
	for (fuse_ino_t d : c.dirs)
		EXPECT_EQ(0u, fs.lookup_count(d));
}

// Two threads renaming directories into each other's subtrees, cross-wise,
// must neither deadlock nor create a cycle.
TEST_F(MemfsConcurrencyTest, CrossRenamesOfDirectoriesMakeNoCycles)
{
	fuse_ino_t a = mkdir(kRootIno, "a");
	fuse_ino_t b = mkdir(kRootIno, "b");
	fuse_ino_t a1 = mkdir(a, "x");
	fuse_ino_t b1 = mkdir(b, "x");
	// Moves `name` from the root into `into` and back, over and over.
	auto mover = [&](const char *name, fuse_ino_t into) {
		for (int i = 0; i < 5000; ++i) {
			int err = fs.rename(kRootIno, name, into, name, 0);
			if (err == 0) {
				EXPECT_EQ(0, fs.rename(into, name, kRootIno, name, 0));
			} else {
				EXPECT_EQ(EINVAL, err);
			}
		}
	};
	// "a" goes into b/x while "b" goes into a/x: one of them must fail.
	std::thread t1([&] { mover("a", b1); });
	std::thread t2([&] { mover("b", a1); });
	t1.join();
	t2.join();
	for (fuse_ino_t i : {a, b, a1, b1})
		fs.forget(i, 1);
	Census c;
	walk(kRootIno, kRootIno, &c);
	EXPECT_EQ(5u, c.dirs.size());
	EXPECT_EQ(5u, fs.inodes_used());
}

} // namespace
} // namespace memfs_test
