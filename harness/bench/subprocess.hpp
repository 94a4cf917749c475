// Running a helper program (fio, mkfs.ext4, losetup) to completion with its
// output captured, killable when the run is interrupted.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace bench {

struct ProcessResult {
	int exit_code = -1;   // exit status, or -1 when killed by a signal
	int term_signal = 0;  // the signal that ended it, or 0
	bool interrupted = false; // we killed it because a stop was requested or it timed out
	bool timed_out = false;
	std::string out;
	std::string err;
	std::string describe() const; // "exit 1", "signal 9", "timed out"
};

// Runs argv[0] (PATH lookup) with `env` added, stdin from /dev/null, in its
// own process group. Kills the group on bench::stop_requested() or after
// `timeout` (zero: none).
ProcessResult run_process(const std::vector<std::string> &argv,
			  const std::map<std::string, std::string> &env = {},
			  std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

// The first line of `cmd --version`-style output, or "" when it fails.
std::string first_line_of(const std::vector<std::string> &argv);

} // namespace bench
