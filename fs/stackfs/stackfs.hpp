// StackFS: a passthrough filesystem that forwards every operation to a
// directory of an in-kernel filesystem (the "source"), in the style of the
// FAST '17 StackFS and libfuse's passthrough_ll. Errors are the errno values
// the source's system calls gave, unchanged.
#pragma once

#include "inode_table.hpp"

#include <fuse_lowlevel.h>

#include <string>

namespace stackfs {

enum class CacheMode { kNever, kAuto, kAlways };

struct Config {
	std::string source;          // the directory being stacked on
	CacheMode cache = CacheMode::kAuto;
	double entry_timeout = 1.0;  // seconds
	double attr_timeout = 1.0;
};

class StackFs {
public:
	// Opens the source and /proc; on failure, `error()` says why.
	explicit StackFs(const Config &cfg);
	~StackFs();
	StackFs(const StackFs &) = delete;
	StackFs &operator=(const StackFs &) = delete;

	const std::string &error() const { return error_; }
	const Config &config() const { return cfg_; }
	Inode *inode(fuse_ino_t ino) { return ino == FUSE_ROOT_ID ? &root_ : reinterpret_cast<Inode *>(ino); }
	InodeTable &table() { return table_; }
	int proc_fd() const { return proc_fd_; }

private:
	Config cfg_;
	Inode root_;
	InodeTable table_;
	int proc_fd_ = -1; // /proc, to reopen O_PATH descriptors by "self/fd/N"
	std::string error_;
};

// The low-level operations; userdata is a StackFs.
const fuse_lowlevel_ops *operations();

} // namespace stackfs
