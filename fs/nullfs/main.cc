// nullfs-fuse [options] <mountpoint>: see nullfs.hpp for what it answers.
#include "fs_main.hpp"
#include "nullfs.hpp"

#include <cerrno>
#include <cstddef>
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

struct RawOptions {
	char *file_size = nullptr;
	char *entry_timeout = nullptr;
	char *attr_timeout = nullptr;
	char *delay_us = nullptr;
};

const fuse_opt kOptionSpec[] = {
	{"file_size=%s", offsetof(RawOptions, file_size), 0},
	{"entry_timeout=%s", offsetof(RawOptions, entry_timeout), 0},
	{"attr_timeout=%s", offsetof(RawOptions, attr_timeout), 0},
	{"delay_us=%s", offsetof(RawOptions, delay_us), 0},
	FUSE_OPT_END,
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

// Fills `cfg` from what fuse_opt_parse found; false (message printed) on a bad value.
bool make_config(const RawOptions &raw, nullfs::Config *cfg)
{
	const char *bad = nullptr;
	const char *value = nullptr;
	unsigned long long size = cfg->file_size;
	if (raw.file_size && (!fs_common::parse_size(raw.file_size, &size) || size > INT64_MAX))
		bad = "file_size", value = raw.file_size;
	else if (raw.entry_timeout && !fs_common::parse_seconds(raw.entry_timeout, &cfg->entry_timeout))
		bad = "entry_timeout", value = raw.entry_timeout;
	else if (raw.attr_timeout && !fs_common::parse_seconds(raw.attr_timeout, &cfg->attr_timeout))
		bad = "attr_timeout", value = raw.attr_timeout;
	else if (raw.delay_us && !parse_delay(raw.delay_us, &cfg->delay_us))
		bad = "delay_us", value = raw.delay_us;
	if (bad != nullptr) {
		std::fprintf(stderr, "%s: invalid %s '%s'\n", kProgram.name, bad, value);
		return false;
	}
	cfg->file_size = size;
	return true;
}

} // namespace

int main(int argc, char *argv[])
{
	fuse_args args = FUSE_ARGS_INIT(argc, argv);
	RawOptions raw;
	nullfs::Config cfg;
	int rc;
	if (fuse_opt_parse(&args, &raw, kOptionSpec, nullptr) != 0) {
		fs_common::print_usage(kProgram, stderr);
		rc = fs_common::kExitUsage;
	} else if (!make_config(raw, &cfg)) {
		fs_common::print_usage(kProgram, stderr);
		rc = fs_common::kExitUsage;
	} else {
		nullfs::NullFs fs(cfg);
		rc = fs_common::serve(kProgram, &args, nullfs::operations(), &fs);
	}
	fuse_opt_free_args(&args);
	std::free(raw.file_size);
	std::free(raw.entry_timeout);
	std::free(raw.attr_timeout);
	std::free(raw.delay_us);
	return rc;
}
