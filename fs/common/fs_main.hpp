// Shared command line and session plumbing for our low-level libfuse3
// filesystems. It knows nothing of the transport underneath: linking
// librfuse ahead of libfuse3 swaps the transport without touching this code.
#pragma once

#include <fuse_lowlevel.h>

#include <cstdio>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// A filesystem's own -o options. parse() takes them out of the arguments
// (what it does not know stays for libfuse, which rejects what nobody
// knows) and keeps their values as given, for the filesystem to check.
class FsOptions {
public:
	// `valued`: options given as -o NAME=VALUE; `flags`: as -o NAME.
	explicit FsOptions(std::initializer_list<const char *> valued,
			   std::initializer_list<const char *> flags = {});
	// With take_nonopt, the first argument that is not an option (a
	// source directory) is taken out too. False when fuse_opt_parse fails.
	bool parse(fuse_args *args, bool take_nonopt = false);
	// The value of -o NAME=VALUE (the last one given); null when absent.
	const char *value(std::string_view name) const;
	// Whether -o NAME was given.
	bool flag(std::string_view name) const;
	// The argument parse(args, true) took; null when there was none.
	const char *nonopt() const { return nonopt_ ? nonopt_->c_str() : nullptr; }

private:
	struct Option {
		std::string name;
		std::string pattern; // fuse_opt template: "NAME=" or "NAME"
		std::optional<std::string> value; // "" for a flag that was given
	};
	static int take(void *data, const char *arg, int key, fuse_args *outargs);
	const Option *find(std::string_view name) const;

	std::vector<Option> options_;
	bool take_nonopt_ = false;
	std::optional<std::string> nonopt_;
};

// Parses a size with an optional binary suffix (K, M, G, T; "1T" = 2^40).
// Returns false on garbage or overflow.
bool parse_size(const char *text, unsigned long long *out);

// Parses a non-negative timeout in seconds (a decimal fraction allowed).
bool parse_seconds(const char *text, double *out);

} // namespace fs_common
