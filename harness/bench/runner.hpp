// A benchmark run: expands the spec into points, runs each repetition of
// each point (prepare the backing store, mount, run, collect, unmount),
// records failures and skips with their reasons, and keeps report.json in
// the output directory current after every point.
#pragma once

#include <string>
#include <vector>

namespace bench {

struct RunOptions {
	std::string spec_path;
	std::string profile;
	std::string out_dir;
	std::vector<std::string> filters;
	// Non-empty: every group of the spec runs over these filesystems
	// instead of its own (--fs; e.g. a program named in filesystems.json).
	std::vector<std::string> filesystems;
	std::string workloads_dir;
	std::string bin_dir;
	std::string scratch_root; // mount points, images, stores live below it
	std::string source_dir;   // for the git commit
	int inject_daemon_kill_ms = 0; // testing aid: SIGKILL the daemon this long into each run
	bool dry_run = false;     // list the points, run nothing
	int repetitions = 0;      // > 0: overrides the profile's repetitions
};

// Exit codes of `rfuse-bench run`.
inline constexpr int kRunAllOk = 0;        // every point ok or skipped
inline constexpr int kRunHarnessError = 1; // the harness itself failed
inline constexpr int kRunUsage = 2;        // bad names, bad spec: nothing ran
inline constexpr int kRunSomeFailed = 3;   // ran to the end, some points failed
inline constexpr int kRunInterrupted = 130;

int run_suite(const RunOptions &opts);

} // namespace bench
