// Helpers for the librfuse and uring tests: where things are, scratch
// directories, the kernel's enable_uring switch, the statistics file.
#pragma once

#include "mount.hpp"
#include "test_support.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace rfuse_test {

using test_support::binary;
using test_support::ScratchDir;

// The path of librfuse.so, for LD_PRELOAD.
std::string librfuse_path();

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

// The contents of `path` ("" when it cannot be read).
std::string read_file(const std::string &path);

// What starts a daemon (argv, env) on `dir`/mnt (created here), with its
// statistics file in `dir`/stats.json and its log in `dir`/daemon.log.
harness::DaemonSpec stats_daemon_spec(const ScratchDir &dir, std::vector<std::string> argv,
				      std::map<std::string, std::string> env);

// A daemon (argv, env) mounted on a fresh scratch directory's "mnt", with
// its statistics file and log next to it; unmounted when destroyed.
struct StatsMount {
	ScratchDir dir;
	std::string mnt = dir / "mnt";
	std::string stats = dir / "stats.json";
	std::unique_ptr<harness::MountedFs> fs;

	StatsMount(const std::string &prefix, std::vector<std::string> argv, std::map<std::string, std::string> env);
	std::string path(const std::string &name) const { return mnt + "/" + name; }
	// Unmounts, reaps the daemon and returns the final statistics.
	nlohmann::json stop_and_read_stats();
	std::string log() const { return read_file(dir / "daemon.log"); }
};

// Writes `size` bytes of a pattern that depends on `seed` to `path` and
// reads them back through a second descriptor; returns "" or what differed.
std::string write_and_verify(const std::string &path, size_t size, unsigned seed);

} // namespace rfuse_test
