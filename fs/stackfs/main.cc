// stackfs-fuse [options] <source> <mountpoint>: see stackfs.hpp.
#include "fs_main.hpp"
#include "stackfs.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

const fs_common::Program kProgram = {
	"stackfs",
	"[options] <source> <mountpoint>",
	"    -o cache=never|auto|always  like passthrough_ll: never = direct I/O and\n"
	"                           no caching of names/attributes (timeouts 0); auto\n"
	"                           = page cache dropped at open (timeouts 1.0);\n"
	"                           always = page cache kept (timeouts 86400)\n"
	"    -o entry_timeout=S     seconds the kernel may cache names (default: by cache=)\n"
	"    -o attr_timeout=S      seconds the kernel may cache attributes (default: by cache=)\n",
};

// Fills `cfg` from the options and the source (the first non-option
// argument; the next, the mount point, stays for libfuse); false (message
// printed) on a bad value.
bool make_config(const fs_common::FsOptions &opts, stackfs::Config *cfg)
{
	if (opts.nonopt() == nullptr) {
		std::fprintf(stderr, "%s: no source directory given\n", kProgram.name);
		return false;
	}
	cfg->source = opts.nonopt();
	double default_timeout = 1.0;
	if (const char *cache = opts.value("cache")) {
		if (std::strcmp(cache, "never") == 0) {
			cfg->cache = stackfs::CacheMode::kNever;
			default_timeout = 0.0;
		} else if (std::strcmp(cache, "auto") == 0) {
			cfg->cache = stackfs::CacheMode::kAuto;
		} else if (std::strcmp(cache, "always") == 0) {
			cfg->cache = stackfs::CacheMode::kAlways;
			default_timeout = 86400.0;
		} else {
			std::fprintf(stderr, "%s: invalid cache '%s'\n", kProgram.name, cache);
			return false;
		}
	}
	cfg->entry_timeout = cfg->attr_timeout = default_timeout;
	const char *entry_timeout = opts.value("entry_timeout");
	if (entry_timeout && !fs_common::parse_seconds(entry_timeout, &cfg->entry_timeout)) {
		std::fprintf(stderr, "%s: invalid entry_timeout '%s'\n", kProgram.name, entry_timeout);
		return false;
	}
	const char *attr_timeout = opts.value("attr_timeout");
	if (attr_timeout && !fs_common::parse_seconds(attr_timeout, &cfg->attr_timeout)) {
		std::fprintf(stderr, "%s: invalid attr_timeout '%s'\n", kProgram.name, attr_timeout);
		return false;
	}
	return true;
}

// One O_PATH descriptor per inode in use: allow as many as the hard limit.
// One O_PATH descriptor per known inode: a big tree needs far more than the
// usual 1024/4096. Root may raise the hard limit up to fs.nr_open.
void raise_fd_limit()
{
	rlimit lim;
	if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
		return;
	if (geteuid() == 0) {
		std::FILE *f = std::fopen("/proc/sys/fs/nr_open", "r");
		unsigned long nr_open = 0;
		if (f != nullptr) {
			if (std::fscanf(f, "%lu", &nr_open) == 1 && nr_open > lim.rlim_max)
				lim.rlim_max = nr_open;
			std::fclose(f);
		}
	}
	lim.rlim_cur = lim.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &lim) != 0) {
		getrlimit(RLIMIT_NOFILE, &lim);
		lim.rlim_cur = lim.rlim_max;
		setrlimit(RLIMIT_NOFILE, &lim);
	}
}

// Parses, checks the source, serves. Returns the exit code.
int run(fuse_args *args)
{
	fs_common::FsOptions opts({"cache", "entry_timeout", "attr_timeout"});
	if (!opts.parse(args, true)) {
		fs_common::print_usage(kProgram, stderr);
		return fs_common::kExitUsage;
	}
	// -h and -V need no source; let serve() answer them.
	bool help_or_version = false;
	for (int i = 1; i < args->argc; ++i)
		for (const char *flag : {"-h", "--help", "-V", "--version"})
			help_or_version |= std::strcmp(args->argv[i], flag) == 0;
	stackfs::Config cfg;
	if (!help_or_version) {
		if (!make_config(opts, &cfg)) {
			fs_common::print_usage(kProgram, stderr);
			return fs_common::kExitUsage;
		}
		struct stat st;
		if (stat(cfg.source.c_str(), &st) != 0) {
			std::fprintf(stderr, "%s: source %s: %s\n", kProgram.name, cfg.source.c_str(),
				     std::strerror(errno));
			return fs_common::kExitFailure;
		}
		if (!S_ISDIR(st.st_mode)) {
			std::fprintf(stderr, "%s: source %s is not a directory\n", kProgram.name, cfg.source.c_str());
			return fs_common::kExitFailure;
		}
	}
	// The daemon runs as root and acts on the source with root's rights, so
	// permissions are checked by the kernel, always (-o allow_other would
	// otherwise let every user act as root on the source). The kernel
	// checks each request against the caller's whole credentials (fsuid,
	// fsgid, every supplementary group, capabilities) and the source's own
	// mode bits and owners, which StackFS reports unchanged, at no cost in
	// the daemon. The alternative, taking on the caller's credentials per
	// request (setfsuid/setfsgid and a per-thread setgroups), needs the
	// caller's supplementary groups, which FUSE does not send: a read of
	// /proc/<pid>/task/<tid>/status per request (fuse_req_getgroups), on
	// every operation of a filesystem we benchmark. The price of this choice,
	// as for MemFS: POSIX ACLs of the source are not enforced (mode bits
	// only), and a chmod made directly on the source reaches the checks once
	// attr_timeout has passed.
	if (fuse_opt_add_arg(args, "-odefault_permissions") != 0) {
		std::fprintf(stderr, "%s: out of memory\n", kProgram.name);
		return fs_common::kExitFailure;
	}
	stackfs::StackFs fs(cfg);
	if (!help_or_version && !fs.error().empty()) {
		std::fprintf(stderr, "%s: %s\n", kProgram.name, fs.error().c_str());
		return fs_common::kExitFailure;
	}
	// Modes arrive with the caller's umask already applied by the kernel.
	umask(0);
	raise_fd_limit();
	return fs_common::serve(kProgram, args, stackfs::operations(), &fs);
}

} // namespace

int main(int argc, char *argv[])
{
	fuse_args args = FUSE_ARGS_INIT(argc, argv);
	int rc = run(&args);
	fuse_opt_free_args(&args);
	return rc;
}
