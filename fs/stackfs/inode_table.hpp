// The inodes StackFS has told the kernel about.
//
// An Inode stands for one file of the source tree, identified by its
// (st_dev, st_ino), and holds an O_PATH descriptor to it: every operation
// reaches the file through that descriptor with *at() calls, never by path,
// so renames in the source cannot make it act on the wrong file. Holding the
// descriptor also keeps the source inode alive, so its (st_dev, st_ino) cannot
// be reused for another file while the Inode exists.
//
// The kernel's node id for an Inode is its address; the root is FUSE_ROOT_ID.
// nlookup counts the entries handed to the kernel (lookup, create, mknod,
// mkdir, symlink, link, readdirplus) minus what forget returned; at zero the
// Inode is freed. The table is split into shards, each with its own mutex:
// only lookup-like operations and forget take one. Every other operation uses
// the Inode through its node id without any lock: the kernel sends nothing for
// a node id after its last forget.
#pragma once

#include <fuse_lowlevel.h>

#include <array>
#include <cstdint>
#include <mutex>
#include <sys/stat.h>
#include <unordered_map>

namespace stackfs {

struct Inode {
	int fd = -1;       // O_PATH|O_NOFOLLOW, owned
	dev_t dev = 0;     // identity in the source filesystem
	ino_t ino = 0;
	mode_t type = 0;   // S_IFMT bits; a file never changes type
	uint64_t nlookup = 0; // guarded by the owning shard's lock
};

class InodeTable {
public:
	InodeTable() = default;
	~InodeTable();
	InodeTable(const InodeTable &) = delete;
	InodeTable &operator=(const InodeTable &) = delete;

	// Counts one lookup of the file `fd` (an O_PATH descriptor, described by
	// `st`). Takes ownership of `fd`: it becomes the Inode's descriptor, or is
	// closed when the file already has an Inode.
	Inode *acquire(int fd, const struct stat &st);
	// Drops `n` lookups; frees the Inode at zero.
	void forget(Inode *inode, uint64_t n);
	// Frees every Inode (at unmount).
	void clear();

private:
	struct Key {
		dev_t dev;
		ino_t ino;
		bool operator==(const Key &) const = default;
	};
	struct KeyHash {
		size_t operator()(const Key &k) const;
	};
	struct Shard {
		std::mutex lock;
		std::unordered_map<Key, Inode *, KeyHash> inodes;
	};
	static constexpr size_t kShards = 64;
	Shard &shard_of(const Key &k);
	std::array<Shard, kShards> shards_;
};

} // namespace stackfs
