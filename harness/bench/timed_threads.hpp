// The measurement loop shared by the in-harness workloads: one thread per
// CPU, pinned, each set up untimed, all released together at a barrier,
// stopped after a fixed time (or early on error, interrupt, daemon death).
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

namespace bench {

struct TimedThreadsResult {
	std::string error;              // first failure of any thread, "" if none
	std::vector<double> elapsed_s;  // per thread: barrier to its own end
};

// Runs body(t, stop) on thread t pinned to cpus[t]. body loops until `stop`
// is set (or it runs out of work and returns); it throws std::exception on
// failure. `should_stop` is polled about every 10 ms by the coordinator.
TimedThreadsResult run_timed_threads(const std::vector<int> &cpus, double duration_s,
				     const std::function<bool()> &should_stop,
				     const std::function<void(int t, const std::atomic<bool> &stop)> &body);

// Throws std::runtime_error "CALL PATH: strerror(errno)".
[[noreturn]] void throw_errno(const std::string &call, const std::string &path);

} // namespace bench
