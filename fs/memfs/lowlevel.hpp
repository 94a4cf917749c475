// The libfuse low-level glue of MemFS: command line options and one thin
// handler per FUSE operation that calls memfs::Filesystem and replies.
#pragma once

#include "memfs.hpp"

#include <fuse_lowlevel.h>

#include <string>

namespace memfs {

struct Options {
	Limits limits = default_limits();
	double entry_timeout = 1.0; // seconds the kernel may cache a name
	double attr_timeout = 1.0;  // seconds the kernel may cache attributes
	bool writeback = false;     // kernel writeback cache
};

// One line per option, for fs_common::print_usage.
extern const char kOptionsHelp[];

// Takes memfs's own -o options out of `args` (the rest stays for libfuse,
// which rejects what nobody knows) and adds -o default_permissions, so the
// kernel checks permissions by mode bits as it does on tmpfs. Returns false
// with a one-line reason for an invalid value.
bool parse_options(fuse_args *args, Options *opts, std::string *error);

// What the handlers get as userdata.
struct Mount {
	explicit Mount(const Options &o) : opts(o), fs(o.limits) {}
	Options opts;
	Filesystem fs;
};

const fuse_lowlevel_ops &lowlevel_ops();

} // namespace memfs
