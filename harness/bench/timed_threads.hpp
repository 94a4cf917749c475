// The measurement loop shared by the in-harness workloads: one thread per
// CPU, pinned, each set up untimed, all released together at a barrier,
// stopped after a fixed time (or early on error, interrupt, daemon death).
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

namespace bench {

// Called where a workload's timed part begins and ends (the CPU cost of a
// point is measured between them); either may be empty.
struct TimedWindow {
	std::function<void()> begin, end;
};

struct TimedThreadsResult {
	std::string error;              // first failure of any thread, "" if none
	std::vector<double> elapsed_s;  // per thread: barrier to its own end
};

// Runs body(t, stop) on thread t pinned to cpus[t]. body loops until `stop`
// is set (or it runs out of work and returns); it throws std::exception on
// failure. `should_stop` is polled about every 10 ms by the coordinator.
// `window` is told when the threads are released and when all have ended.
TimedThreadsResult run_timed_threads(const std::vector<int> &cpus, double duration_s,
				     const std::function<bool()> &should_stop,
				     const std::function<void(int t, const std::atomic<bool> &stop)> &body,
				     const TimedWindow &window = {});

// Throws std::runtime_error "CALL PATH: strerror(errno)".
[[noreturn]] void throw_errno(const std::string &call, const std::string &path);

} // namespace bench
