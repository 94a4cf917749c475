// Helpers for the librfuse and uring tests: where things are, scratch
// directories, the kernel's enable_uring switch, the statistics file.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>

namespace rfuse_test {

// build/bin/<name> (RFUSE_BIN_DIR, else the compile-time bin dir).
std::string binary(const std::string &name);
// The path of librfuse.so, for LD_PRELOAD.
std::string librfuse_path();

// A fresh directory under RFUSE_TEST_ROOT (else /tmp), removed with its
// contents on destruction; nothing may be mounted below it by then.
class ScratchDir {
public:
	explicit ScratchDir(const std::string &prefix);
	~ScratchDir();
	ScratchDir(const ScratchDir &) = delete;
	ScratchDir &operator=(const ScratchDir &) = delete;
	const std::string &path() const { return path_; }
	std::string operator/(const std::string &name) const { return path_ + "/" + name; }

private:
	std::string path_;
};

// Sets /sys/module/fuse/parameters/enable_uring for the object's lifetime
// and restores what was there. usable() is false (with why()) when the
// kernel has no such parameter or we may not write it.
class UringSwitch {
public:
	explicit UringSwitch(bool enable);
	~UringSwitch();
	UringSwitch(const UringSwitch &) = delete;
	UringSwitch &operator=(const UringSwitch &) = delete;
	bool usable() const { return usable_; }
	const std::string &why() const { return why_; }

private:
	bool usable_ = false;
	std::string why_;
	std::string original_;
};

// The environment a daemon needs to report to `stats_path` over `transport`.
std::map<std::string, std::string> transport_env(const std::string &transport, const std::string &stats_path);

// The statistics file librfuse wrote (throws when missing or not JSON).
nlohmann::json read_stats(const std::string &path);

// Writes `size` bytes of a pattern that depends on `seed` to `path` and
// reads them back through a second descriptor; returns "" or what differed.
std::string write_and_verify(const std::string &path, size_t size, unsigned seed);

} // namespace rfuse_test
