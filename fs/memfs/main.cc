// memfs: an in-memory POSIX filesystem (tmpfs semantics) on libfuse3's
// low-level API.
#include "fs_main.hpp"
#include "lowlevel.hpp"

#include <cstdio>
#include <memory>

int main(int argc, char *argv[])
{
	const fs_common::Program prog{"memfs", "[options] <mountpoint>", memfs::kOptionsHelp};
	fuse_args args = FUSE_ARGS_INIT(argc, argv);
	memfs::Options opts;
	std::string error;
	if (!memfs::parse_options(&args, &opts, &error)) {
		std::fprintf(stderr, "memfs: %s\n", error.c_str());
		fs_common::print_usage(prog, stderr);
		fuse_opt_free_args(&args);
		return fs_common::kExitUsage;
	}
	auto mount = std::make_unique<memfs::Mount>(opts);
	int rc = fs_common::serve(prog, &args, &memfs::lowlevel_ops(), mount.get());
	fuse_opt_free_args(&args);
	return rc;
}
