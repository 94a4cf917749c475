// Shared command line and session plumbing for our low-level libfuse3
// filesystems. It knows nothing of the transport underneath: linking
// librfuse ahead of libfuse3 swaps the transport without touching this code.
#pragma once

#include <fuse_lowlevel.h>

#include <cstdio>

namespace fs_common {

struct Program {
	const char *name;            // "memfs"
	const char *synopsis;        // "[options] <mountpoint>"
	const char *fs_options_help; // the filesystem's own -o options, one per line
};

void print_usage(const Program &prog, std::FILE *out);

// Exit codes shared by every filesystem binary.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Parses the generic options left in `args` (-f, -d, -s, -o clone_fd, the
// mountpoint), checks the mountpoint, creates the session, mounts, serves
// until unmounted or signalled, and unmounts. Returns a process exit code:
// kExitUsage for a missing or invalid argument (usage printed), kExitFailure
// for a runtime failure (one line on stderr), kExitOk otherwise.
int serve(const Program &prog, fuse_args *args, const fuse_lowlevel_ops *ops,
	  void *userdata);

// Parses a size with an optional binary suffix (K, M, G, T; "1T" = 2^40).
// Returns false on garbage or overflow.
bool parse_size(const char *text, unsigned long long *out);

// Parses a non-negative timeout in seconds (a decimal fraction allowed).
bool parse_seconds(const char *text, double *out);

} // namespace fs_common
