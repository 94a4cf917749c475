#include "memfs.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <vector>

namespace memfs {
namespace {

// tmpfs reports a directory's size as 20 bytes per entry, "." and ".."
// included; tools that compare sizes against tmpfs see the same numbers.
constexpr uint64_t kBogoDirentSize = 20;
// A directory's entry count once it has been removed (rmdir, or replaced by
// rename): no entry can be added to it any more.
constexpr int64_t kDirRemoved = -1;
// readdir offsets: 1 follows ".", 2 follows "..", entries' cookies follow.
constexpr uint64_t kFirstCookie = 3;
// Symlink targets at least this long take a page on tmpfs.
constexpr size_t kShortSymlinkMax = 128;

struct StringHash {
	using is_transparent = void;
	size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct DirEntry {
	fuse_ino_t ino;
	uint64_t cookie;
	mode_t type; // S_IFMT bits, for plain readdir without an inode lookup
};

timespec now()
{
	timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

bool ts_le(const timespec &a, const timespec &b)
{
	return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec <= b.tv_nsec);
}

bool is_dot_name(std::string_view name)
{
	return name == "." || name == "..";
}

int check_name(std::string_view name)
{
	if (name.empty())
		return ENOENT;
	if (name.size() > kNameMax)
		return ENAMETOOLONG;
	return 0;
}

uint64_t pages_for(uint64_t bytes)
{
	return bytes / kPageSize + (bytes % kPageSize != 0);
}

} // namespace

struct Directory {
	std::shared_mutex mu; // guards everything below but the atomics
	// Parent directory; changed only under topology_mu_ (cross-directory
	// rename of this directory). Atomic so readdir can read it freely.
	std::atomic<fuse_ino_t> parent;
	// Number of entries, or kDirRemoved. Changed under mu, except that
	// rmdir/rename of this directory swaps 0 for kDirRemoved holding only
	// the parent's lock: whoever adds an entry must win a CAS against that.
	std::atomic<int64_t> count{0};
	uint64_t next_cookie = kFirstCookie;
	using NameMap = std::unordered_map<std::string, DirEntry, StringHash, std::equal_to<>>;
	NameMap by_name;
	// Cookie order for readdir. Points into by_name (nodes never move).
	std::map<uint64_t, NameMap::value_type *> by_cookie;

	explicit Directory(fuse_ino_t parent_ino) : parent(parent_ino) {}

	// Adds one to count unless the directory is removed.
	bool reserve_slot()
	{
		int64_t c = count.load();
		while (c != kDirRemoved)
			if (count.compare_exchange_weak(c, c + 1))
				return true;
		return false;
	}
	bool mark_removed_if_empty()
	{
		int64_t zero = 0;
		return count.compare_exchange_strong(zero, kDirRemoved);
	}
	bool removed() const { return count.load() == kDirRemoved; }

	DirEntry *find(std::string_view name)
	{
		auto it = by_name.find(name);
		return it == by_name.end() ? nullptr : &it->second;
	}
	// count is the caller's business (reserve_slot first).
	void insert(std::string_view name, fuse_ino_t ino, mode_t type)
	{
		uint64_t cookie = next_cookie++;
		auto [it, ok] = by_name.emplace(std::string(name), DirEntry{ino, cookie, type});
		by_cookie.emplace(cookie, &*it);
	}
	void erase(std::string_view name)
	{
		auto it = by_name.find(name);
		by_cookie.erase(it->second.cookie);
		by_name.erase(it);
	}
};

struct Inode {
	Inode(fuse_ino_t ino_, mode_t mode_) : ino(ino_), type(mode_ & S_IFMT), mode(mode_) {}

	const fuse_ino_t ino;
	const mode_t type;

	// Guards the attributes, pages, symlink target and xattrs below.
	mutable std::shared_mutex mu;
	mode_t mode;
	uid_t uid = 0;
	gid_t gid = 0;
	dev_t rdev = 0;
	uint64_t size = 0; // regular files and symlinks; directories derive it
	timespec atime{}, mtime{}, ctime{};
	// Page index -> data. A null page is allocated (fallocate) but never
	// written: it counts as used space and reads as zeros, but like on
	// tmpfs it is a hole to SEEK_DATA, and it takes no memory until written.
	std::map<uint64_t, std::unique_ptr<char[]>> pages;
	std::string target;
	std::map<std::string, std::string, std::less<>> xattrs;
	std::unique_ptr<Directory> dir;

	// Written under mu, read lock-free by maybe_free().
	std::atomic<nlink_t> nlink{0};
	std::atomic<uint64_t> nlookup{0};
	// Open handles (open/create/opendir until release).
	std::atomic<uint32_t> handles{0};

	bool is_dir() const { return type == S_IFDIR; }
	bool is_reg() const { return type == S_IFREG; }
	// Order matters: a reference is only taken while the inode is linked
	// (lookup) or referenced (open), so reading in this order, each zero
	// seen makes the next count's increments visible.
	bool unused() const { return nlink.load() == 0 && nlookup.load() == 0 && handles.load() == 0; }

	// Caller holds mu (shared at least).
	void fill_stat(struct stat *st) const
	{
		*st = {};
		st->st_ino = ino;
		st->st_mode = mode;
		st->st_nlink = nlink.load();
		st->st_uid = uid;
		st->st_gid = gid;
		st->st_rdev = rdev;
		st->st_blksize = kPageSize;
		if (dir)
			st->st_size = static_cast<off_t>(kBogoDirentSize * (2 + std::max<int64_t>(dir->count.load(), 0)));
		else
			st->st_size = static_cast<off_t>(size);
		st->st_blocks = static_cast<blkcnt_t>(pages.size() * (kPageSize / 512));
		st->st_atim = atime;
		st->st_mtim = mtime;
		st->st_ctim = ctime;
	}
	void stat_locked(struct stat *st) const
	{
		std::shared_lock l(mu);
		fill_stat(st);
	}
	// The relatime rule (tmpfs mounts default to relatime).
	bool atime_due(const timespec &t) const
	{
		return ts_le(atime, mtime) || ts_le(atime, ctime) || t.tv_sec - atime.tv_sec >= 24 * 3600;
	}
	void touch_atime()
	{
		timespec t = now();
		{
			std::shared_lock l(mu);
			if (!atime_due(t))
				return;
		}
		std::unique_lock l(mu);
		if (atime_due(t))
			atime = t;
	}
};

// 64 shards keyed by ino, so lookups of different inodes rarely share a lock.
class Filesystem::InodeTable {
public:
	Inode *get(fuse_ino_t ino) const
	{
		const Shard &s = shard(ino);
		std::shared_lock l(s.mu);
		auto it = s.map.find(ino);
		return it == s.map.end() ? nullptr : it->second.get();
	}
	void insert(std::unique_ptr<Inode> inode)
	{
		Shard &s = shard(inode->ino);
		std::unique_lock l(s.mu);
		s.map.emplace(inode->ino, std::move(inode));
	}
	// Takes the inode out when it is unused. Waits for whoever still holds
	// its lock (a thread that has just dropped the last link) first.
	std::unique_ptr<Inode> take_if_unused(fuse_ino_t ino)
	{
		Shard &s = shard(ino);
		std::unique_lock l(s.mu);
		auto it = s.map.find(ino);
		if (it == s.map.end() || !it->second->unused())
			return nullptr;
		{
			std::unique_lock wait(it->second->mu);
		}
		if (!it->second->unused())
			return nullptr;
		std::unique_ptr<Inode> out = std::move(it->second);
		s.map.erase(it);
		return out;
	}

private:
	struct alignas(64) Shard {
		mutable std::shared_mutex mu;
		std::unordered_map<fuse_ino_t, std::unique_ptr<Inode>> map;
	};
	static constexpr size_t kShards = 64;
	Shard &shard(fuse_ino_t ino) { return shards_[ino % kShards]; }
	const Shard &shard(fuse_ino_t ino) const { return shards_[ino % kShards]; }
	std::array<Shard, kShards> shards_;
};

namespace {

// Exclusive locks on one or two directories, taken in ascending ino order
// so that two renames between the same pair never deadlock.
class DirPairLock {
public:
	DirPairLock(Inode *a, Inode *b)
	{
		if (a == b)
			b = nullptr;
		else if (b->ino < a->ino)
			std::swap(a, b);
		first_ = std::unique_lock(a->dir->mu);
		if (b != nullptr)
			second_ = std::unique_lock(b->dir->mu);
	}
	void unlock()
	{
		if (second_.owns_lock())
			second_.unlock();
		first_.unlock();
	}

private:
	std::unique_lock<std::shared_mutex> first_, second_;
};

bool xattr_namespace_ok(std::string_view name, int *err)
{
	if (name.empty() || name.size() > XATTR_NAME_MAX) {
		*err = ERANGE;
		return false;
	}
	for (std::string_view prefix : {"user.", "trusted.", "security."}) {
		if (name.substr(0, prefix.size()) == prefix) {
			if (name.size() == prefix.size()) {
				*err = EINVAL;
				return false;
			}
			return true;
		}
	}
	*err = EOPNOTSUPP;
	return false;
}

} // namespace

Limits default_limits()
{
	long pages = sysconf(_SC_PHYS_PAGES);
	long page_size = sysconf(_SC_PAGESIZE);
	if (pages <= 0 || page_size <= 0)
		return Limits{1ULL << 30, 1ULL << 18};
	uint64_t ram = static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size);
	return Limits{ram / 2, static_cast<uint64_t>(pages) / 2};
}

Filesystem::Filesystem(const Limits &limits)
	: limits_(limits), capacity_pages_(limits.capacity_bytes / kPageSize),
	  table_(std::make_unique<InodeTable>())
{
	// Like a tmpfs mounted without mode=: world-writable and sticky.
	auto root = std::make_unique<Inode>(kRootIno, S_IFDIR | 01777);
	root->uid = getuid();
	root->gid = getgid();
	root->atime = root->mtime = root->ctime = now();
	root->nlink = 2;
	root->dir = std::make_unique<Directory>(kRootIno);
	// The kernel holds the root without ever looking it up.
	root->nlookup = 1;
	inodes_used_ = 1;
	root_ = root.get();
	table_->insert(std::move(root));
}

Filesystem::~Filesystem() = default;

Inode *Filesystem::get(fuse_ino_t ino) const
{
	// The root is never freed and is every path's start: skip its shard.
	if (ino == kRootIno)
		return root_;
	return table_->get(ino);
}

Inode *Filesystem::get_dir(fuse_ino_t ino, int *err) const
{
	Inode *n = get(ino);
	if (n == nullptr) {
		*err = ENOENT;
		return nullptr;
	}
	if (!n->is_dir()) {
		*err = ENOTDIR;
		return nullptr;
	}
	return n;
}

Inode *Filesystem::get_parent(fuse_ino_t parent, std::string_view name, int *err) const
{
	Inode *p = get_dir(parent, err);
	if (p == nullptr)
		return nullptr;
	if ((*err = check_name(name)) != 0)
		return nullptr;
	return p;
}

Inode *Filesystem::get_file(fuse_ino_t ino, int *err) const
{
	Inode *n = get(ino);
	if (n == nullptr)
		*err = ENOENT;
	else if (n->is_dir())
		*err = EISDIR;
	else if (!n->is_reg())
		*err = EINVAL;
	else
		return n;
	return nullptr;
}

Inode *Filesystem::get_for_xattr(fuse_ino_t ino, std::string_view name, int *err) const
{
	if (!xattr_namespace_ok(name, err))
		return nullptr;
	Inode *n = get(ino);
	if (n == nullptr)
		*err = ENOENT;
	return n;
}

bool Filesystem::inode_exists(fuse_ino_t ino) const
{
	return get(ino) != nullptr;
}

uint64_t Filesystem::lookup_count(fuse_ino_t ino) const
{
	Inode *n = get(ino);
	return n == nullptr ? 0 : n->nlookup.load();
}

bool Filesystem::reserve_pages(uint64_t n)
{
	uint64_t used = pages_used_.load();
	do {
		if (n > capacity_pages_ || used > capacity_pages_ - n)
			return false;
	} while (!pages_used_.compare_exchange_weak(used, used + n));
	return true;
}

void Filesystem::unreserve_pages(uint64_t n)
{
	pages_used_.fetch_sub(n);
}

void Filesystem::maybe_free(fuse_ino_t ino)
{
	std::unique_ptr<Inode> gone = table_->take_if_unused(ino);
	if (gone == nullptr)
		return;
	unreserve_pages(gone->pages.size());
	inodes_used_.fetch_sub(1);
}

// A new inode, not yet in the table. Owner and setgid inheritance as tmpfs
// (inode_init_owner): a setgid directory passes on its group, and its
// setgid bit to subdirectories.
int Filesystem::new_inode(mode_t mode, const Caller &who, Inode *parent, std::unique_ptr<Inode> *out)
{
	uint64_t used = inodes_used_.load();
	do {
		if (used >= limits_.max_inodes)
			return ENOSPC;
	} while (!inodes_used_.compare_exchange_weak(used, used + 1));

	auto n = std::make_unique<Inode>(next_ino_.fetch_add(1), mode);
	n->uid = who.uid;
	n->gid = who.gid;
	{
		std::shared_lock l(parent->mu);
		if (parent->mode & S_ISGID) {
			n->gid = parent->gid;
			if (n->is_dir())
				n->mode |= S_ISGID;
		}
	}
	n->atime = n->mtime = n->ctime = now();
	if (n->is_dir()) {
		n->nlink = 2;
		n->dir = std::make_unique<Directory>(parent->ino);
	} else {
		n->nlink = 1;
	}
	*out = std::move(n);
	return 0;
}

// Links a new inode into `dir` under `name` and hands out one lookup
// reference on it.
int Filesystem::add_entry(Inode *dir, std::string_view name, std::unique_ptr<Inode> child,
			  struct stat *out)
{
	std::unique_lock dl(dir->dir->mu);
	int err = 0;
	if (dir->dir->find(name) != nullptr)
		err = EEXIST;
	else if (!dir->dir->reserve_slot())
		err = ENOENT;
	if (err != 0) {
		unreserve_pages(child->pages.size());
		inodes_used_.fetch_sub(1);
		return err;
	}
	Inode *c = child.get();
	c->nlookup = 1;
	c->fill_stat(out);
	const timespec t = c->ctime;
	const bool subdir = c->is_dir();
	table_->insert(std::move(child));
	dir->dir->insert(name, c->ino, c->type);

	std::unique_lock al(dir->mu);
	dir->mtime = dir->ctime = t;
	if (subdir)
		dir->nlink.fetch_add(1);
	return 0;
}

int Filesystem::lookup(fuse_ino_t parent, std::string_view name, struct stat *out)
{
	int err = 0;
	Inode *p = get_parent(parent, name, &err);
	if (p == nullptr)
		return err;
	std::shared_lock dl(p->dir->mu);
	const DirEntry *e = p->dir->find(name);
	if (e == nullptr)
		return ENOENT;
	Inode *c = get(e->ino);
	// Under the directory lock the entry keeps c linked, hence alive.
	c->nlookup.fetch_add(1);
	c->stat_locked(out);
	return 0;
}

void Filesystem::forget(fuse_ino_t ino, uint64_t n)
{
	Inode *c = get(ino);
	if (c == nullptr)
		return;
	uint64_t cur = c->nlookup.load();
	while (!c->nlookup.compare_exchange_weak(cur, cur > n ? cur - n : 0)) {
	}
	maybe_free(ino);
}

int Filesystem::mknod(fuse_ino_t parent, std::string_view name, mode_t mode, dev_t rdev,
		      const Caller &who, struct stat *out)
{
	switch (mode & S_IFMT) {
	case 0:
		mode |= S_IFREG;
		break;
	case S_IFREG:
	case S_IFIFO:
	case S_IFSOCK:
	case S_IFCHR:
	case S_IFBLK:
		break;
	case S_IFDIR:
		return EPERM;
	default:
		return EINVAL;
	}
	return make_node(parent, name, mode & (S_IFMT | 07777), rdev, who, out);
}

int Filesystem::mkdir(fuse_ino_t parent, std::string_view name, mode_t mode, const Caller &who,
		      struct stat *out)
{
	return make_node(parent, name, S_IFDIR | (mode & 07777), 0, who, out);
}

int Filesystem::make_node(fuse_ino_t parent, std::string_view name, mode_t mode, dev_t rdev,
			  const Caller &who, struct stat *out)
{
	int err = 0;
	Inode *p = get_parent(parent, name, &err);
	if (p == nullptr)
		return err;
	if (is_dot_name(name))
		return EEXIST;
	std::unique_ptr<Inode> n;
	if ((err = new_inode(mode, who, p, &n)) != 0)
		return err;
	if (S_ISCHR(mode) || S_ISBLK(mode))
		n->rdev = rdev;
	return add_entry(p, name, std::move(n), out);
}

int Filesystem::symlink(std::string_view target, fuse_ino_t parent, std::string_view name,
			const Caller &who, struct stat *out)
{
	int err = 0;
	Inode *p = get_parent(parent, name, &err);
	if (p == nullptr)
		return err;
	if (target.empty())
		return ENOENT;
	if (target.size() > kSymlinkMax)
		return ENAMETOOLONG;
	if (is_dot_name(name))
		return EEXIST;
	std::unique_ptr<Inode> n;
	if ((err = new_inode(S_IFLNK | 0777, who, p, &n)) != 0)
		return err;
	n->target = std::string(target);
	n->size = target.size();
	if (target.size() >= kShortSymlinkMax) {
		// tmpfs keeps a long target in a page of its own, which shows
		// in st_blocks and in the space used.
		if (!reserve_pages(1)) {
			inodes_used_.fetch_sub(1);
			return ENOSPC;
		}
		n->pages.emplace(0, nullptr);
	}
	return add_entry(p, name, std::move(n), out);
}

int Filesystem::link(fuse_ino_t ino, fuse_ino_t newparent, std::string_view newname, struct stat *out)
{
	int err = 0;
	Inode *p = get_dir(newparent, &err);
	if (p == nullptr)
		return err;
	Inode *c = get(ino);
	if (c == nullptr)
		return ENOENT;
	if (c->is_dir())
		return EPERM;
	if ((err = check_name(newname)) != 0)
		return err;
	if (is_dot_name(newname))
		return EEXIST;

	std::unique_lock dl(p->dir->mu);
	if (p->dir->find(newname) != nullptr)
		return EEXIST;
	const timespec t = now();
	{
		std::unique_lock cl(c->mu);
		// An unlinked inode (open, or not yet forgotten) cannot come back.
		if (c->nlink.load() == 0)
			return ENOENT;
		if (!p->dir->reserve_slot())
			return ENOENT;
		c->nlink.fetch_add(1);
		c->ctime = t;
		c->nlookup.fetch_add(1);
		c->fill_stat(out);
	}
	p->dir->insert(newname, c->ino, c->type);
	std::unique_lock al(p->mu);
	p->mtime = p->ctime = t;
	return 0;
}

int Filesystem::remove_entry(fuse_ino_t parent, std::string_view name, bool want_dir)
{
	int err = 0;
	Inode *p = get_parent(parent, name, &err);
	if (p == nullptr)
		return err;
	if (name == ".")
		return want_dir ? EINVAL : EISDIR;
	if (name == "..")
		return want_dir ? ENOTEMPTY : EISDIR;

	fuse_ino_t victim;
	{
		std::unique_lock dl(p->dir->mu);
		const DirEntry *e = p->dir->find(name);
		if (e == nullptr)
			return ENOENT;
		Inode *c = get(e->ino);
		if (want_dir) {
			if (!c->is_dir())
				return ENOTDIR;
			if (!c->dir->mark_removed_if_empty())
				return ENOTEMPTY;
		} else if (c->is_dir()) {
			return EISDIR;
		}
		victim = c->ino;
		p->dir->erase(name);
		p->dir->count.fetch_sub(1);

		const timespec t = now();
		{
			std::unique_lock cl(c->mu);
			if (want_dir)
				c->nlink = 0;
			else
				c->nlink.fetch_sub(1);
			c->ctime = t;
		}
		std::unique_lock al(p->mu);
		p->mtime = p->ctime = t;
		if (want_dir)
			p->nlink.fetch_sub(1);
	}
	maybe_free(victim);
	return 0;
}

int Filesystem::unlink(fuse_ino_t parent, std::string_view name)
{
	return remove_entry(parent, name, false);
}

int Filesystem::rmdir(fuse_ino_t parent, std::string_view name)
{
	return remove_entry(parent, name, true);
}

// Whether directory `ancestor` is `start` or above it. Only called under
// topology_mu_ with `start` kept non-empty, so the chain up to the root is
// stable: no directory on it can move to another parent or be removed.
bool Filesystem::is_ancestor(const Inode *ancestor, fuse_ino_t start) const
{
	fuse_ino_t cur = start;
	for (;;) {
		if (cur == ancestor->ino)
			return true;
		if (cur == kRootIno)
			return false;
		const Inode *n = get(cur);
		if (n == nullptr)
			return false;
		cur = n->dir->parent.load();
	}
}

int Filesystem::rename(fuse_ino_t parent, std::string_view name, fuse_ino_t newparent,
		       std::string_view newname, unsigned int flags)
{
	if ((flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) != 0 ||
	    flags == (RENAME_NOREPLACE | RENAME_EXCHANGE))
		return EINVAL;
	const bool exchange = flags & RENAME_EXCHANGE;
	int err = 0;
	Inode *p1 = get_dir(parent, &err);
	if (p1 == nullptr)
		return err;
	Inode *p2 = get_dir(newparent, &err);
	if (p2 == nullptr)
		return err;
	if ((err = check_name(name)) != 0 || (err = check_name(newname)) != 0)
		return err;
	if (is_dot_name(name) || is_dot_name(newname))
		return EINVAL;
	const bool cross = p1 != p2;

	std::unique_lock topology(topology_mu_, std::defer_lock);
	fuse_ino_t replaced = 0;
	for (;;) {
		DirPairLock locks(p1, p2);
		DirEntry *se = p1->dir->find(name);
		if (se == nullptr)
			return ENOENT;
		DirEntry *te = p2->dir->find(newname);
		Inode *s = get(se->ino);
		Inode *t = te != nullptr ? get(te->ino) : nullptr;
		if (cross && !topology.owns_lock() && (s->is_dir() || (exchange && t != nullptr && t->is_dir()))) {
			// Moving a directory between parents: start over under the
			// topology lock, which must come before directory locks.
			locks.unlock();
			topology.lock();
			continue;
		}
		if ((flags & RENAME_NOREPLACE) && t != nullptr)
			return EEXIST;
		if (exchange && t == nullptr)
			return ENOENT;
		if (t == s)
			return 0; // two names of one inode: POSIX says do nothing
		if (!exchange && t != nullptr) {
			if (s->is_dir() && !t->is_dir())
				return ENOTDIR;
			if (!s->is_dir() && t->is_dir())
				return EISDIR;
		}
		// The new parent gets an entry more: claim it now, which also
		// keeps p2 from being removed while we look at its ancestors.
		bool slot = false;
		if (t == nullptr) {
			if (!p2->dir->reserve_slot())
				return ENOENT;
			slot = true;
		}
		if (cross && ((s->is_dir() && is_ancestor(s, p2->ino)) ||
			      (exchange && t->is_dir() && is_ancestor(t, p1->ino)))) {
			if (slot)
				p2->dir->count.fetch_sub(1);
			return EINVAL;
		}
		if (!exchange && t != nullptr && t->is_dir() && !t->dir->mark_removed_if_empty())
			return ENOTEMPTY;

		const timespec ts = now();
		const fuse_ino_t s_ino = s->ino;
		const mode_t s_type = s->type;
		const bool s_dir = s->is_dir();
		const bool t_dir = t != nullptr && t->is_dir();
		if (exchange) {
			se->ino = t->ino;
			se->type = t->type;
			te->ino = s_ino;
			te->type = s_type;
		} else {
			p1->dir->erase(name);
			p1->dir->count.fetch_sub(1);
			if (t != nullptr) {
				replaced = t->ino;
				p2->dir->erase(newname);
			}
			p2->dir->insert(newname, s_ino, s_type);
		}
		if (cross && s_dir)
			s->dir->parent = p2->ino;
		if (cross && exchange && t_dir)
			t->dir->parent = p1->ino;

		{
			std::unique_lock l(s->mu);
			s->ctime = ts;
		}
		if (t != nullptr) {
			// A replaced inode may be freed by a forget as soon as
			// its last link is gone: this is the last touch of t.
			std::unique_lock l(t->mu);
			t->ctime = ts;
			if (!exchange)
				t->nlink = t_dir ? 0 : t->nlink.load() - 1;
		}
		// Subdirectory links: "s/.." moves from p1 to p2, "t/.." the
		// other way on exchange, and a replaced directory takes its
		// ".." link on p2 away with it.
		int d1 = 0, d2 = 0;
		if (cross && s_dir) {
			--d1;
			++d2;
		}
		if (cross && exchange && t_dir) {
			++d1;
			--d2;
		}
		if (!exchange && t_dir)
			--d2;
		{
			std::unique_lock l(p1->mu);
			p1->mtime = p1->ctime = ts;
			p1->nlink.fetch_add(static_cast<nlink_t>(d1));
		}
		if (cross) {
			std::unique_lock l(p2->mu);
			p2->mtime = p2->ctime = ts;
			p2->nlink.fetch_add(static_cast<nlink_t>(d2));
		} else if (d2 != 0) {
			std::unique_lock l(p1->mu);
			p1->nlink.fetch_add(static_cast<nlink_t>(d2));
		}
		break;
	}
	if (replaced != 0)
		maybe_free(replaced);
	return 0;
}

int Filesystem::getattr(fuse_ino_t ino, struct stat *out)
{
	Inode *n = get(ino);
	if (n == nullptr)
		return ENOENT;
	n->stat_locked(out);
	return 0;
}

namespace {

using PageMap = std::map<uint64_t, std::unique_ptr<char[]>>;

// Pages of [first, last] (page indexes) that exist, written or not.
uint64_t pages_present(const PageMap &pages, uint64_t first, uint64_t last)
{
	uint64_t present = 0;
	for (auto it = pages.lower_bound(first); it != pages.end() && it->first <= last; ++it)
		++present;
	return present;
}

// Walks the bytes [off, off + len) one page at a time: for each piece
// within page `idx`, fn(it, idx, in_page, chunk, done), where `it` is the
// first page at or after idx (fn may move it, e.g. to a page it inserts),
// the piece starts at byte `in_page` of the page and at byte `done` of the
// range, and is `chunk` bytes long.
template <typename Fn>
void walk_pages(PageMap &pages, uint64_t off, size_t len, Fn &&fn)
{
	auto it = pages.lower_bound(off / kPageSize);
	for (size_t done = 0; done < len;) {
		uint64_t pos = off + done;
		uint64_t idx = pos / kPageSize;
		size_t in_page = pos % kPageSize;
		size_t chunk = std::min<size_t>(len - done, kPageSize - in_page);
		while (it != pages.end() && it->first < idx)
			++it;
		fn(it, idx, in_page, chunk, done);
		done += chunk;
	}
}

// Drops pages at and beyond `new_size` and zeros the tail of the last page,
// so that growing the file again reads zeros. Returns pages freed.
uint64_t truncate_pages(Inode *n, uint64_t new_size)
{
	uint64_t freed = 0;
	auto it = n->pages.lower_bound(pages_for(new_size));
	while (it != n->pages.end()) {
		it = n->pages.erase(it);
		++freed;
	}
	if (new_size % kPageSize != 0) {
		auto last = n->pages.find(new_size / kPageSize);
		if (last != n->pages.end() && last->second != nullptr) {
			size_t in_page = new_size % kPageSize;
			std::memset(last->second.get() + in_page, 0, kPageSize - in_page);
		}
	}
	return freed;
}

// Zeros [from, to) of the file's pages, freeing pages wholly inside.
uint64_t punch_pages(Inode *n, uint64_t from, uint64_t to)
{
	uint64_t freed = 0;
	auto it = n->pages.lower_bound(from / kPageSize);
	while (it != n->pages.end() && it->first * kPageSize < to) {
		uint64_t start = it->first * kPageSize;
		uint64_t lo = std::max(from, start);
		uint64_t hi = std::min(to, start + kPageSize);
		if (lo == start && hi == start + kPageSize) {
			it = n->pages.erase(it);
			++freed;
			continue;
		}
		if (it->second != nullptr)
			std::memset(it->second.get() + (lo - start), 0, hi - lo);
		++it;
	}
	return freed;
}

void set_time(timespec *field, const timespec &given, bool use_now, const timespec &t)
{
	if (use_now || given.tv_nsec == UTIME_NOW)
		*field = t;
	else
		*field = given;
}

} // namespace

int Filesystem::setattr(fuse_ino_t ino, const struct stat &in, int to_set, struct stat *out)
{
	Inode *n = get(ino);
	if (n == nullptr)
		return ENOENT;
	if ((to_set & FUSE_SET_ATTR_ATIME) && in.st_atim.tv_nsec == UTIME_OMIT)
		to_set &= ~(FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW);
	if ((to_set & FUSE_SET_ATTR_MTIME) && in.st_mtim.tv_nsec == UTIME_OMIT)
		to_set &= ~(FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW);
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (n->is_dir())
			return EISDIR;
		if (!n->is_reg())
			return EINVAL;
		if (in.st_size < 0)
			return EINVAL;
	}

	const timespec t = now();
	uint64_t freed = 0;
	{
		std::unique_lock l(n->mu);
		if (to_set & FUSE_SET_ATTR_MODE)
			n->mode = n->type | (in.st_mode & 07777);
		if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
			if (to_set & FUSE_SET_ATTR_UID)
				n->uid = in.st_uid;
			if (to_set & FUSE_SET_ATTR_GID)
				n->gid = in.st_gid;
			// chown drops set-user-ID, and set-group-ID when it
			// means something (group execute), as on tmpfs.
			if (!n->is_dir() && !(to_set & FUSE_SET_ATTR_MODE))
				to_set |= FUSE_SET_ATTR_KILL_SUID | FUSE_SET_ATTR_KILL_SGID;
		}
		if (!n->is_dir() && !(to_set & FUSE_SET_ATTR_MODE)) {
			if (to_set & FUSE_SET_ATTR_KILL_SUID)
				n->mode &= ~S_ISUID;
			if ((to_set & FUSE_SET_ATTR_KILL_SGID) && (n->mode & S_IXGRP))
				n->mode &= ~S_ISGID;
		}
		if (to_set & FUSE_SET_ATTR_SIZE) {
			// tmpfs (Linux 6.18) moves mtime even when the size
			// stays; so do we.
			uint64_t new_size = static_cast<uint64_t>(in.st_size);
			if (new_size < n->size)
				freed = truncate_pages(n, new_size);
			n->size = new_size;
			n->mtime = t;
		}
		if (to_set & FUSE_SET_ATTR_ATIME)
			set_time(&n->atime, in.st_atim, to_set & FUSE_SET_ATTR_ATIME_NOW, t);
		else if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			n->atime = t;
		if (to_set & FUSE_SET_ATTR_MTIME)
			set_time(&n->mtime, in.st_mtim, to_set & FUSE_SET_ATTR_MTIME_NOW, t);
		else if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			n->mtime = t;
		if (to_set & FUSE_SET_ATTR_CTIME)
			n->ctime = in.st_ctim;
		else
			n->ctime = t;
		n->fill_stat(out);
	}
	unreserve_pages(freed);
	return 0;
}

int Filesystem::readlink(fuse_ino_t ino, std::string *out)
{
	Inode *n = get(ino);
	if (n == nullptr)
		return ENOENT;
	if (n->type != S_IFLNK)
		return EINVAL;
	*out = n->target; // immutable after creation
	n->touch_atime();
	return 0;
}

int Filesystem::access(fuse_ino_t ino, int mask, const Caller &who)
{
	Inode *n = get(ino);
	if (n == nullptr)
		return ENOENT;
	if (mask == F_OK)
		return 0;
	std::shared_lock l(n->mu);
	if (who.uid == 0) {
		// root may read and write anything, and execute what anybody may.
		if ((mask & X_OK) && !n->is_dir() && !(n->mode & (S_IXUSR | S_IXGRP | S_IXOTH)))
			return EACCES;
		return 0;
	}
	mode_t bits;
	if (who.uid == n->uid)
		bits = (n->mode >> 6) & 7;
	else if (who.gid == n->gid)
		bits = (n->mode >> 3) & 7;
	else
		bits = n->mode & 7;
	return (static_cast<mode_t>(mask) & ~bits & 7) == 0 ? 0 : EACCES;
}

int Filesystem::statfs(struct statvfs *out)
{
	*out = {};
	uint64_t used = pages_used_.load();
	uint64_t inodes = inodes_used_.load();
	out->f_bsize = kPageSize;
	out->f_frsize = kPageSize;
	out->f_blocks = capacity_pages_;
	out->f_bfree = out->f_bavail = capacity_pages_ - std::min(used, capacity_pages_);
	out->f_files = limits_.max_inodes;
	out->f_ffree = out->f_favail = limits_.max_inodes - std::min(inodes, limits_.max_inodes);
	out->f_namemax = kNameMax;
	return 0;
}

int Filesystem::open(fuse_ino_t ino, int flags)
{
	Inode *n = get(ino);
	if (n == nullptr)
		return ENOENT;
	if (n->is_dir() && (flags & O_ACCMODE) != O_RDONLY)
		return EISDIR;
	uint64_t freed = 0;
	if ((flags & O_TRUNC) && n->is_reg()) {
		// Like do_truncate() on open: times change even if empty.
		std::unique_lock l(n->mu);
		freed = truncate_pages(n, 0);
		n->size = 0;
		n->mtime = n->ctime = now();
	}
	unreserve_pages(freed);
	n->handles.fetch_add(1);
	return 0;
}

int Filesystem::create(fuse_ino_t parent, std::string_view name, mode_t mode, int flags,
		       const Caller &who, struct stat *out)
{
	int err = 0;
	Inode *p = get_parent(parent, name, &err);
	if (p == nullptr)
		return err;
	if (is_dot_name(name))
		return EISDIR;
	for (;;) {
		std::unique_ptr<Inode> n;
		if ((err = new_inode(S_IFREG | (mode & 07777), who, p, &n)) != 0)
			return err;
		Inode *c = n.get();
		err = add_entry(p, name, std::move(n), out);
		if (err == 0) {
			c->handles.fetch_add(1);
			return 0;
		}
		if (err != EEXIST || (flags & O_EXCL))
			return err;
		// Somebody else created it first: open theirs, as open(2) would.
		err = lookup(parent, name, out);
		if (err == ENOENT)
			continue;
		if (err != 0)
			return err;
		fuse_ino_t ino = out->st_ino;
		if (S_ISDIR(out->st_mode))
			err = EISDIR;
		else
			err = open(ino, flags);
		if (err != 0) {
			forget(ino, 1);
			return err;
		}
		if (flags & O_TRUNC)
			getattr(ino, out);
		return 0;
	}
}

int Filesystem::release(fuse_ino_t ino)
{
	Inode *n = get(ino);
	if (n == nullptr)
		return ENOENT;
	n->handles.fetch_sub(1);
	maybe_free(ino);
	return 0;
}

int Filesystem::opendir(fuse_ino_t ino)
{
	int err = 0;
	Inode *n = get_dir(ino, &err);
	if (n == nullptr)
		return err;
	n->handles.fetch_add(1);
	return 0;
}

int Filesystem::releasedir(fuse_ino_t ino)
{
	return release(ino);
}

int Filesystem::read(fuse_ino_t ino, uint64_t off, size_t size, char *buf, size_t *nread)
{
	*nread = 0;
	int err = 0;
	Inode *n = get_file(ino, &err);
	if (n == nullptr)
		return err;
	{
		std::shared_lock l(n->mu);
		if (off < n->size) {
			size_t len = static_cast<size_t>(std::min<uint64_t>(size, n->size - off));
			auto copy_out = [&](PageMap::iterator &it, uint64_t idx, size_t in_page, size_t chunk,
					    size_t done) {
				if (it != n->pages.end() && it->first == idx && it->second != nullptr)
					std::memcpy(buf + done, it->second.get() + in_page, chunk);
				else
					std::memset(buf + done, 0, chunk);
			};
			walk_pages(n->pages, off, len, copy_out);
			*nread = len;
		}
	}
	n->touch_atime();
	return 0;
}

int Filesystem::write(fuse_ino_t ino, uint64_t off, const char *buf, size_t size, size_t *nwritten)
{
	*nwritten = 0;
	int err = 0;
	Inode *n = get_file(ino, &err);
	if (n == nullptr)
		return err;
	if (size == 0)
		return 0;
	if (off >= kMaxFileSize || size > kMaxFileSize - off)
		return EFBIG;

	std::unique_lock l(n->mu);
	const uint64_t first = off / kPageSize;
	const uint64_t last = (off + size - 1) / kPageSize;
	uint64_t missing = last - first + 1 - pages_present(n->pages, first, last);
	size_t len = size;
	if (!reserve_pages(missing)) {
		// Full: write what fits in the pages we can still get, like a
		// short write on tmpfs.
		uint64_t avail;
		do {
			uint64_t used = pages_used_.load();
			avail = capacity_pages_ > used ? capacity_pages_ - used : 0;
		} while (avail > 0 && !reserve_pages(std::min(avail, missing)));
		if (avail == 0)
			return ENOSPC;
		missing = std::min(avail, missing);
		// Find where the (missing+1)-th absent page starts.
		uint64_t absent = 0;
		auto it = n->pages.lower_bound(first);
		for (uint64_t idx = first; idx <= last; ++idx) {
			if (it != n->pages.end() && it->first == idx) {
				++it;
				continue;
			}
			if (++absent > missing) {
				len = static_cast<size_t>(std::max(idx * kPageSize, off) - off);
				break;
			}
		}
		if (len == 0) {
			unreserve_pages(missing);
			return ENOSPC;
		}
	}

	auto copy_in = [&](PageMap::iterator &hint, uint64_t idx, size_t in_page, size_t chunk, size_t done) {
		if (hint == n->pages.end() || hint->first != idx)
			hint = n->pages.emplace_hint(hint, idx, nullptr);
		char *page = hint->second.get();
		if (page == nullptr) {
			hint->second.reset(new char[kPageSize]);
			page = hint->second.get();
			// Fresh pages are zero outside what this write covers.
			std::memset(page, 0, in_page);
			std::memset(page + in_page + chunk, 0, kPageSize - in_page - chunk);
		}
		std::memcpy(page + in_page, buf + done, chunk);
	};
	walk_pages(n->pages, off, len, copy_in);
	n->size = std::max<uint64_t>(n->size, off + len);
	n->mtime = n->ctime = now();
	*nwritten = len;
	return 0;
}

int Filesystem::fallocate(fuse_ino_t ino, int mode, uint64_t off, uint64_t len)
{
	Inode *n = get(ino);
	if (n == nullptr)
		return ENOENT;
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE))
		return EOPNOTSUPP;
	if ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE))
		return EOPNOTSUPP;
	if (len == 0)
		return EINVAL;
	if (n->is_dir())
		return EISDIR;
	if (!n->is_reg())
		return ENODEV;
	if (off >= kMaxFileSize || len > kMaxFileSize - off)
		return EFBIG;

	const uint64_t end = off + len;
	std::unique_lock l(n->mu);
	if (mode & FALLOC_FL_PUNCH_HOLE) {
		uint64_t freed = punch_pages(n, off, end);
		n->mtime = n->ctime = now();
		l.unlock();
		unreserve_pages(freed);
		return 0;
	}
	const uint64_t first = off / kPageSize;
	const uint64_t last = (end - 1) / kPageSize;
	// All or nothing, as tmpfs undoes a fallocate that runs out of space.
	if (!reserve_pages(last - first + 1 - pages_present(n->pages, first, last)))
		return ENOSPC;
	auto hint = n->pages.lower_bound(first);
	for (uint64_t idx = first; idx <= last; ++idx) {
		if (hint != n->pages.end() && hint->first == idx) {
			++hint;
			continue;
		}
		hint = std::next(n->pages.emplace_hint(hint, idx, nullptr));
	}
	if (!(mode & FALLOC_FL_KEEP_SIZE) && end > n->size) {
		n->size = end;
		n->mtime = n->ctime = now();
	}
	return 0;
}

int Filesystem::lseek(fuse_ino_t ino, off_t off, int whence, off_t *out)
{
	Inode *n = get(ino);
	if (n == nullptr)
		return ENOENT;
	std::shared_lock l(n->mu);
	const uint64_t size = n->size;
	switch (whence) {
	case SEEK_SET:
		if (off < 0)
			return EINVAL;
		*out = off;
		return 0;
	case SEEK_END:
		if (off < 0 && static_cast<uint64_t>(-off) > size)
			return EINVAL;
		*out = static_cast<off_t>(size) + off;
		return 0;
	case SEEK_DATA:
	case SEEK_HOLE:
		break;
	default:
		return EINVAL;
	}
	if (off < 0 || static_cast<uint64_t>(off) >= size)
		return ENXIO;
	const uint64_t pos = static_cast<uint64_t>(off);
	uint64_t idx = pos / kPageSize;
	auto it = n->pages.lower_bound(idx);
	if (whence == SEEK_DATA) {
		while (it != n->pages.end() && it->second == nullptr)
			++it;
		if (it == n->pages.end())
			return ENXIO;
		uint64_t data = std::max(pos, it->first * kPageSize);
		if (data >= size)
			return ENXIO;
		*out = static_cast<off_t>(data);
		return 0;
	}
	// SEEK_HOLE: the first page at or after idx that is absent or unwritten;
	// EOF is a hole.
	while (it != n->pages.end() && it->first == idx && it->second != nullptr) {
		++it;
		++idx;
	}
	*out = static_cast<off_t>(std::min(size, std::max(pos, idx * kPageSize)));
	return 0;
}

int Filesystem::readdir(fuse_ino_t ino, uint64_t off, bool plus, const DirEmitter &emit)
{
	int err = 0;
	Inode *d = get_dir(ino, &err);
	if (d == nullptr)
		return err;
	{
		std::shared_lock dl(d->dir->mu);
		struct stat st {};
		if (off < 1) {
			if (plus)
				d->stat_locked(&st);
			st.st_ino = d->ino;
			st.st_mode = S_IFDIR;
			if (!emit(DirEntryView{".", st, 1, true}))
				goto done;
		}
		if (off < 2) {
			st = {};
			st.st_ino = d->dir->parent.load();
			st.st_mode = S_IFDIR;
			if (!emit(DirEntryView{"..", st, 2, true}))
				goto done;
		}
		for (auto it = d->dir->by_cookie.upper_bound(std::max<uint64_t>(off, 2));
		     it != d->dir->by_cookie.end(); ++it) {
			const std::string &name = it->second->first;
			const DirEntry &e = it->second->second;
			Inode *c = nullptr;
			if (plus) {
				c = get(e.ino);
				c->stat_locked(&st);
			} else {
				st = {};
				st.st_ino = e.ino;
				st.st_mode = e.type;
			}
			if (!emit(DirEntryView{name, st, e.cookie, false}))
				break;
			if (plus)
				c->nlookup.fetch_add(1);
		}
	}
done:
	d->touch_atime();
	return 0;
}

int Filesystem::setxattr(fuse_ino_t ino, std::string_view name, std::string_view value, int flags)
{
	int err = 0;
	if (!xattr_namespace_ok(name, &err))
		return err;
	if (value.size() > kXattrSizeMax)
		return E2BIG;
	if (flags & ~(XATTR_CREATE | XATTR_REPLACE))
		return EINVAL;
	Inode *n = get(ino);
	if (n == nullptr)
		return ENOENT;
	std::unique_lock l(n->mu);
	auto it = n->xattrs.find(name);
	if (it != n->xattrs.end()) {
		if (flags & XATTR_CREATE)
			return EEXIST;
		it->second.assign(value);
	} else {
		if (flags & XATTR_REPLACE)
			return ENODATA;
		n->xattrs.emplace(std::string(name), std::string(value));
	}
	n->ctime = now();
	return 0;
}

int Filesystem::getxattr(fuse_ino_t ino, std::string_view name, char *buf, size_t size, size_t *len)
{
	int err = 0;
	Inode *n = get_for_xattr(ino, name, &err);
	if (n == nullptr)
		return err;
	std::shared_lock l(n->mu);
	auto it = n->xattrs.find(name);
	if (it == n->xattrs.end())
		return ENODATA;
	*len = it->second.size();
	if (size == 0)
		return 0;
	if (size < it->second.size())
		return ERANGE;
	std::memcpy(buf, it->second.data(), it->second.size());
	return 0;
}

int Filesystem::listxattr(fuse_ino_t ino, char *buf, size_t size, size_t *len)
{
	Inode *n = get(ino);
	if (n == nullptr)
		return ENOENT;
	std::shared_lock l(n->mu);
	size_t need = 0;
	for (const auto &[name, value] : n->xattrs)
		need += name.size() + 1;
	*len = need;
	if (size == 0)
		return 0;
	if (size < need)
		return ERANGE;
	for (const auto &[name, value] : n->xattrs) {
		std::memcpy(buf, name.c_str(), name.size() + 1);
		buf += name.size() + 1;
	}
	return 0;
}

int Filesystem::removexattr(fuse_ino_t ino, std::string_view name)
{
	int err = 0;
	Inode *n = get_for_xattr(ino, name, &err);
	if (n == nullptr)
		return err;
	std::unique_lock l(n->mu);
	if (n->xattrs.erase(std::string(name)) == 0)
		return ENODATA;
	n->ctime = now();
	return 0;
}

} // namespace memfs
