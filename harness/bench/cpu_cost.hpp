// What a point's measured run costs in CPU time, and who spent it: the whole
// machine (every CPU's busy time from /proc/stat), the application (this
// process and the children it waited for during the run, i.e. fio), the
// filesystem daemon (its /proc/PID/stat, which keeps the time of threads
// that ended), and the rest (kernel threads, interrupts, other processes:
// the whole minus the two). Polling workers that spin on an idle CPU show
// up in the daemon's share; kernel work done for a request in the caller's
// context in the application's system time.
#pragma once

#include "timed_threads.hpp"

#include <nlohmann/json.hpp>

#include <mutex>
#include <string>
#include <sys/types.h>

namespace bench {

// Seconds of CPU time, split by mode.
struct CpuSplit {
	double user_s = 0;
	double system_s = 0;
	double total() const { return user_s + system_s; }
};

// The aggregate "cpu" line of /proc/stat: busy time in user mode
// (user + nice; guest time is inside user) and in the kernel (system + irq
// + softirq); idle, iowait and steal are not busy. False when malformed.
bool parse_proc_stat_busy(const std::string &text, long ticks_per_second, CpuSplit &out);

// /proc/PID/stat: the process's utime and stime (every thread's, ended
// ones included). False when malformed.
bool parse_pid_stat_times(const std::string &text, long ticks_per_second, CpuSplit &out);

// One snapshot of the three sources.
struct CpuSnapshot {
	double at_s = 0; // CLOCK_MONOTONIC
	CpuSplit machine, app, daemon;
	bool daemon_seen = false;
};

// The CPU cost of a window, from two snapshots; ops = the operations the
// window did (fio I/Os, metadata works, flowops, timed latency samples).
struct CpuCost {
	double window_s = 0;
	int cpus = 0; // CPUs online: window_s * cpus is all there was
	CpuSplit machine, app, daemon;
	double other_s = 0; // machine - app - daemon, at least 0
	double ops = 0;

	// The report's "cpu" object of a repetition.
	nlohmann::json to_json() const;
	// Per-operation costs for the repetition's metrics (summarized over
	// repetitions like any metric): cpu.us_per_op (the machine's busy time
	// per operation), cpu.app_us_per_op, cpu.daemon_us_per_op,
	// cpu.other_us_per_op, and cpu.ops_per_cpu_s (operations per second of
	// busy CPU: the throughput per CPU-second). Nothing when ops is 0.
	void add_metrics(nlohmann::json &metrics) const;
};

// Measures one window: begin() and end() around the timed part of a run,
// from any thread. With `participants` threads timing parts of their own,
// the window runs from the first begin() to the last of their end()s.
// cost() then gives it. Without begin() the window starts at construction,
// without (enough) end() at cost().
class CpuMeter {
public:
	explicit CpuMeter(pid_t daemon_pid, int participants = 1);
	void begin();
	void end();
	CpuCost cost(double ops);
	// begin and end for run_timed_threads() and the latency workload.
	TimedWindow window();

private:
	CpuSnapshot snapshot() const;

	pid_t daemon_pid_;
	int participants_;
	std::mutex lock_;
	CpuSnapshot first_, last_;
	bool begun_ = false;
	int ended_ = 0;
};

} // namespace bench
