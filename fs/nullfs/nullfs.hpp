// NullFS: a filesystem whose handlers do (almost) no work, so that a
// benchmark over it measures the cost of the FUSE transport alone.
//
// Namespace, decided so that the hot path needs no state at all:
//  - The root (inode 1) is a directory.
//  - In any directory, every name not ending in ".d" exists as a regular file
//    of `file_size` bytes. Its inode number is a hash of (parent inode, name):
//    stable for the life of the mount, never 1, never a directory's.
//  - Names ending in ".d" are directories. They do not exist until mkdir
//    creates them; mkdir/rmdir/rename of them is remembered in a small
//    sharded table (the only state NullFS keeps, touched only by operations
//    on ".d" names). A directory lists as empty (just "." and "..") but any
//    name looked up inside it follows the same rules as in the root.
//  - Everything done to regular files is accepted and forgotten: writes are
//    dropped (reads return zeros), create/unlink/rename/truncate/chmod
//    succeed and change nothing. Only regular files and directories exist:
//    symlink and mknod of anything but a regular file fail with EPERM.
#pragma once

#include <fuse_lowlevel.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <ctime>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace nullfs {

struct Config {
	uint64_t file_size = 1ULL << 40; // -o file_size=BYTES
	double entry_timeout = 1.0;       // -o entry_timeout=S
	double attr_timeout = 1.0;        // -o attr_timeout=S
	unsigned delay_us = 0;            // -o delay_us=N (test only)
};

// The directories created by mkdir, keyed by (parent inode, name).
class DirTable {
public:
	fuse_ino_t find(fuse_ino_t parent, std::string_view name);
	// False when the name is already there.
	bool insert(fuse_ino_t parent, std::string_view name, fuse_ino_t ino);
	// The inode that was there, or 0.
	fuse_ino_t erase(fuse_ino_t parent, std::string_view name);
	// True when some directory was created inside `dir`.
	bool has_children(fuse_ino_t dir);

private:
	static constexpr size_t kShards = 64;
	struct Shard {
		std::mutex lock;
		std::unordered_map<std::string, fuse_ino_t> dirs;
	};
	static std::string key(fuse_ino_t parent, std::string_view name);
	Shard &shard_of(const std::string &key);
	std::array<Shard, kShards> shards_;
};

class NullFs {
public:
	explicit NullFs(const Config &cfg);

	const Config &config() const { return cfg_; }
	// Sleeps delay_us (the CI gate's way to make a run measurably slower).
	void delay() const;
	void fill_attr(fuse_ino_t ino, struct stat *st) const;
	fuse_entry_param entry(fuse_ino_t ino) const;
	fuse_ino_t new_dir_ino() { return kDirTag | next_dir_.fetch_add(1, std::memory_order_relaxed); }
	DirTable &dirs() { return dirs_; }

	// Inode number tags: bit 63 marks a regular file, bit 62 a directory.
	static constexpr fuse_ino_t kFileTag = 1ULL << 63;
	static constexpr fuse_ino_t kDirTag = 1ULL << 62;
	static bool is_dir(fuse_ino_t ino) { return ino == FUSE_ROOT_ID || (ino & kDirTag) != 0; }
	static bool is_file(fuse_ino_t ino) { return (ino & kFileTag) != 0; }
	static bool is_dir_name(std::string_view name);
	static fuse_ino_t file_ino(fuse_ino_t parent, std::string_view name);

private:
	Config cfg_;
	uid_t uid_;
	gid_t gid_;
	timespec mount_time_;
	std::atomic<uint64_t> next_dir_{2};
	DirTable dirs_;
};

// The low-level operations; userdata is a NullFs.
const fuse_lowlevel_ops *operations();

} // namespace nullfs
