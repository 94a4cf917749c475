// Directory trees for the compatibility suite: a source tree with every
// kind of entry a filesystem has to show (sizes around page and request
// boundaries, deep and wide directories, symlinks, hard links, modes, fixed
// mtimes, user xattrs where the source supports them), and a snapshot of
// any tree: one line per entry, read through the filesystem under test, so
// that a mount can be compared with its source and with another mount.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace compat {

// Deterministic bytes: `size` of them from `seed`.
std::string pattern(size_t size, unsigned seed);

// Builds the source tree under `root` (which must exist). user.* xattrs
// are set only where the filesystem of `root` takes them.
void make_source_tree(const std::string &root);

struct SnapshotOptions {
	bool mtimes = true;     // regular files' and symlinks' mtimes (seconds)
	bool nlink = true;      // link counts of non-directories
	bool xattrs = true;     // user.* xattrs (but not user.fuseoverlayfs.*)
	bool contents = true;   // file contents (a hash)
};

// path (relative to root, "" for root itself, not listed) -> its line.
using Snapshot = std::map<std::string, std::string>;
Snapshot snapshot(const std::string &root, const SnapshotOptions &opts = {});

// "" when equal, else the lines that differ (at most 20), each side named.
std::string diff(const Snapshot &expected, const Snapshot &actual, const std::string &expected_name,
		 const std::string &actual_name);

// FNV-1a 64 of a string, in hex.
std::string hash(const std::string &data);

// Whole contents of `path` read with read(2) in 128 KiB pieces; "" and
// *error set when it cannot be read.
std::string read_all(const std::string &path, int *error = nullptr);

// "name = 0" or "name = ENOENT": one line of a transcript for a call that
// returned `rc` (-1 with errno set on failure).
std::string outcome(const std::string &name, long rc);

// Reads `path` from `threads` threads at once, each the whole file in
// 64 KiB preads at its own starting offset; the first mismatch with
// `expected` or "".
std::string parallel_reads(const std::string &path, const std::string &expected, unsigned threads = 4);

} // namespace compat
