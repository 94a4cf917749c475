// nullfs-fuse [options] <mountpoint>: see nullfs.hpp for what it answers.
#include "fs_main.hpp"
#include "nullfs.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/stat.h>

namespace {

const fs_common::Program kProgram = {
	"nullfs",
	"[options] <mountpoint>",
	"    -o file_size=BYTES     size of every file (K/M/G/T suffixes; default 1T)\n"
	"    -o entry_timeout=S     seconds the kernel may cache names (default 1.0)\n"
	"    -o attr_timeout=S      seconds the kernel may cache attributes (default 1.0)\n"
	"    -o delay_us=N          TEST ONLY: sleep N microseconds in every operation\n",
};

constexpr unsigned long kMaxDelayUs = 10'000'000;

bool parse_delay(const char *text, unsigned *out)
{
	if (text == nullptr || *text < '0' || *text > '9')
		return false;
	errno = 0;
	char *end = nullptr;
	unsigned long v = std::strtoul(text, &end, 10);
	if (errno != 0 || *end != '\0' || v > kMaxDelayUs)
		return false;
	*out = static_cast<unsigned>(v);
	return true;
}

// Fills `cfg` from the options; false (message printed) on a bad value.
bool make_config(const fs_common::FsOptions &opts, nullfs::Config *cfg)
{
	const char *file_size = opts.value("file_size");
	const char *entry_timeout = opts.value("entry_timeout");
	const char *attr_timeout = opts.value("attr_timeout");
	const char *delay_us = opts.value("delay_us");
	const char *bad = nullptr;
	unsigned long long size = cfg->file_size;
	if (file_size && (!fs_common::parse_size(file_size, &size) || size > INT64_MAX))
		bad = "file_size";
	else if (entry_timeout && !fs_common::parse_seconds(entry_timeout, &cfg->entry_timeout))
		bad = "entry_timeout";
	else if (attr_timeout && !fs_common::parse_seconds(attr_timeout, &cfg->attr_timeout))
		bad = "attr_timeout";
	else if (delay_us && !parse_delay(delay_us, &cfg->delay_us))
		bad = "delay_us";
	if (bad != nullptr) {
		std::fprintf(stderr, "%s: invalid %s '%s'\n", kProgram.name, bad, opts.value(bad));
		return false;
	}
	cfg->file_size = size;
	return true;
}

} // namespace

int main(int argc, char *argv[])
{
	fuse_args args = FUSE_ARGS_INIT(argc, argv);
	fs_common::FsOptions opts({"file_size", "entry_timeout", "attr_timeout", "delay_us"});
	nullfs::Config cfg;
	int rc;
	if (!opts.parse(&args) || !make_config(opts, &cfg)) {
		fs_common::print_usage(kProgram, stderr);
		rc = fs_common::kExitUsage;
	} else {
		nullfs::NullFs fs(cfg);
		rc = fs_common::serve(kProgram, &args, nullfs::operations(), &fs);
	}
	fuse_opt_free_args(&args);
	return rc;
}
