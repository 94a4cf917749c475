// MemFS core: a POSIX filesystem held in memory, with tmpfs semantics.
// Nothing here knows about FUSE requests: every operation is a method that
// returns 0 or a positive errno value, so the logic is tested directly
// (tests/unit) and the low-level glue (lowlevel.cc) stays thin.
//
// Inode lifetime follows the FUSE lookup protocol. Every method that hands an
// inode out (lookup, create, mkdir, mknod, symlink, link, readdir with plus)
// takes one lookup reference; forget() drops them. An inode is freed when it
// has no lookup references, no links and no open handles.
// Callers must hold a lookup reference on every inode they name, as the
// kernel does: that is what keeps a raw Inode pointer valid for the length of
// one call.
//
// Locking (outermost first; nothing is ever taken against this order):
//   1. topology_mu_    only for renames that move a directory to another
//                      parent: it keeps the ancestor walk (EINVAL check)
//                      race-free, like the kernel's s_vfs_rename_mutex.
//   2. Directory::mu   the entries of one directory. An operation on two
//                      directories (rename) locks them in ascending ino order.
//   3. InodeTable shard locks (64 shards keyed by ino).
//   4. Inode::mu       attributes, data pages, xattrs of one inode; at most one
//                      held at a time.
// The data path (read/write/fallocate/lseek/setattr) takes only Inode::mu.
#pragma once

#include <fuse_lowlevel.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unordered_map>

namespace memfs {

// File data lives in pages of this size, kept in a map keyed by page index:
// a file is as sparse as its writes. Same granularity as tmpfs.
inline constexpr uint64_t kPageSize = 4096;
inline constexpr fuse_ino_t kRootIno = FUSE_ROOT_ID;
inline constexpr size_t kNameMax = 255;
inline constexpr size_t kSymlinkMax = 4095;  // PATH_MAX - 1
inline constexpr size_t kXattrSizeMax = 65536;
inline constexpr uint64_t kMaxFileSize = INT64_MAX;

struct Limits {
	uint64_t capacity_bytes; // rounded down to whole pages
	uint64_t max_inodes;     // the root included
};

// Defaults like tmpfs: half of physical RAM, and one inode per two RAM pages.
Limits default_limits();

// Who creates an inode (owner of the new inode).
struct Caller {
	uid_t uid = 0;
	gid_t gid = 0;
};

// A directory entry handed to a readdir callback. `attr` is complete for
// readdirplus and has only st_ino/st_mode otherwise. `next_off` is the
// offset to pass back to continue after this entry. `is_dot` marks "." and
// "..", which never take a lookup reference. `name` is NUL-terminated.
struct DirEntryView {
	std::string_view name;
	const struct stat &attr;
	uint64_t next_off;
	bool is_dot;
};
// Returns false when the entry did not fit (it is then not consumed and,
// for readdirplus, takes no lookup reference); readdir stops there.
using DirEmitter = std::function<bool(const DirEntryView &)>;

struct Inode;

class Filesystem {
public:
	explicit Filesystem(const Limits &limits);
	~Filesystem();
	Filesystem(const Filesystem &) = delete;
	Filesystem &operator=(const Filesystem &) = delete;

	// Name space. Each successful call that fills `out` took one lookup
	// reference on out->st_ino.
	int lookup(fuse_ino_t parent, std::string_view name, struct stat *out);
	int mknod(fuse_ino_t parent, std::string_view name, mode_t mode, dev_t rdev,
		  const Caller &who, struct stat *out);
	int mkdir(fuse_ino_t parent, std::string_view name, mode_t mode, const Caller &who,
		  struct stat *out);
	int symlink(std::string_view target, fuse_ino_t parent, std::string_view name,
		    const Caller &who, struct stat *out);
	int link(fuse_ino_t ino, fuse_ino_t newparent, std::string_view newname, struct stat *out);
	int unlink(fuse_ino_t parent, std::string_view name);
	int rmdir(fuse_ino_t parent, std::string_view name);
	// flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE.
	int rename(fuse_ino_t parent, std::string_view name, fuse_ino_t newparent,
		   std::string_view newname, unsigned int flags);
	// Drops `n` lookup references.
	void forget(fuse_ino_t ino, uint64_t n);

	// Attributes.
	int getattr(fuse_ino_t ino, struct stat *out);
	// `to_set` is a mask of FUSE_SET_ATTR_*; a tv_nsec of UTIME_NOW in
	// `in` counts as the matching *_NOW flag, UTIME_OMIT as not set.
	int setattr(fuse_ino_t ino, const struct stat &in, int to_set, struct stat *out);
	int readlink(fuse_ino_t ino, std::string *out);
	// Permission check by mode bits (the mount uses default_permissions,
	// so the kernel checks before us; this serves FUSE_ACCESS anyway).
	int access(fuse_ino_t ino, int mask, const Caller &who);
	int statfs(struct statvfs *out);

	// Open handles: data of an unlinked inode lives until the last release.
	// open() applies O_TRUNC; create() opens the new (or, without O_EXCL,
	// the existing) regular file and takes a lookup reference.
	int open(fuse_ino_t ino, int flags);
	int create(fuse_ino_t parent, std::string_view name, mode_t mode, int flags,
		   const Caller &who, struct stat *out);
	int release(fuse_ino_t ino);
	int opendir(fuse_ino_t ino);
	int releasedir(fuse_ino_t ino);

	// Data. read() fills `buf` (size bytes max), zeros for holes, and
	// stops at EOF. write() may write less than asked when the filesystem
	// fills up; it fails with ENOSPC only when nothing could be written.
	int read(fuse_ino_t ino, uint64_t off, size_t size, char *buf, size_t *nread);
	int write(fuse_ino_t ino, uint64_t off, const char *buf, size_t size, size_t *nwritten);
	// mode: 0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE.
	int fallocate(fuse_ino_t ino, int mode, uint64_t off, uint64_t len);
	int lseek(fuse_ino_t ino, off_t off, int whence, off_t *out);

	// Entries in cookie order; see DirEmitter. Offsets: 0 starts, 1 is
	// after ".", 2 after "..", then each entry's cookie, which is unique
	// and increasing in the directory, so an offset stays meaningful while
	// entries come and go.
	int readdir(fuse_ino_t ino, uint64_t off, bool plus, const DirEmitter &emit);

	// Extended attributes ("user.", "trusted.", "security." namespaces).
	// flags: 0, XATTR_CREATE, XATTR_REPLACE. get/list with size 0 report
	// the size needed in *len; a too small buffer is ERANGE.
	int setxattr(fuse_ino_t ino, std::string_view name, std::string_view value, int flags);
	int getxattr(fuse_ino_t ino, std::string_view name, char *buf, size_t size, size_t *len);
	int listxattr(fuse_ino_t ino, char *buf, size_t size, size_t *len);
	int removexattr(fuse_ino_t ino, std::string_view name);

	// Introspection for tests and statfs.
	uint64_t pages_used() const { return pages_used_.load(); }
	uint64_t inodes_used() const { return inodes_used_.load(); }
	bool inode_exists(fuse_ino_t ino) const;
	uint64_t lookup_count(fuse_ino_t ino) const;
	const Limits &limits() const { return limits_; }

private:
	class InodeTable;

	Inode *get(fuse_ino_t ino) const;
	Inode *get_dir(fuse_ino_t ino, int *err) const;
	// The directory `parent` of an operation on its entry `name`: null with
	// *err as get_dir, or ENOENT/ENAMETOOLONG for a bad name.
	Inode *get_parent(fuse_ino_t parent, std::string_view name, int *err) const;
	// A regular file to read or write: null with *err ENOENT, EISDIR for a
	// directory or EINVAL for any other type.
	Inode *get_file(fuse_ino_t ino, int *err) const;
	// The inode of an operation on its xattr `name`: null with *err as
	// xattr_namespace_ok (memfs.cc), else ENOENT when there is no such inode.
	Inode *get_for_xattr(fuse_ino_t ino, std::string_view name, int *err) const;
	int new_inode(mode_t mode, const Caller &who, Inode *parent, std::unique_ptr<Inode> *out);
	// mknod and mkdir once `mode` (type and permission bits) is checked.
	int make_node(fuse_ino_t parent, std::string_view name, mode_t mode, dev_t rdev, const Caller &who,
		      struct stat *out);
	int add_entry(Inode *dir, std::string_view name, std::unique_ptr<Inode> child,
		      struct stat *out);
	int remove_entry(fuse_ino_t parent, std::string_view name, bool want_dir);
	void maybe_free(fuse_ino_t ino);
	bool reserve_pages(uint64_t n);
	void unreserve_pages(uint64_t n);
	bool is_ancestor(const Inode *ancestor, fuse_ino_t start) const;

	const Limits limits_;
	const uint64_t capacity_pages_;
	std::atomic<uint64_t> pages_used_{0};
	std::atomic<uint64_t> inodes_used_{0};
	std::atomic<fuse_ino_t> next_ino_{kRootIno + 1};
	std::mutex topology_mu_;
	std::unique_ptr<InodeTable> table_;
	Inode *root_ = nullptr;
};

} // namespace memfs
