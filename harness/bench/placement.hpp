// Where a daemon's threads ran during a point: sampled from /proc before and
// after the workload, per thread (what the report keeps in each repetition's
// "daemon_threads"): the CPUs it may use, the CPU it last ran on, the CPU
// time it used and its context switches during the run.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>
#include <sys/types.h>

namespace bench {

struct ThreadSample {
	pid_t tid = -1;
	std::string comm;
	int last_cpu = -1;                 // /proc/.../stat "processor"
	long long cpu_ticks = 0;           // utime + stime, clock ticks
	std::string cpus_allowed;          // Cpus_allowed_list, "0-1"
	long long voluntary = 0, involuntary = 0; // context switches
	long long utime_ticks = 0, stime_ticks = 0; // cpu_ticks split: user, system
};

// /proc/PID/task/TID/stat text -> comm, last_cpu, cpu_ticks; false when malformed.
bool parse_task_stat(const std::string &text, ThreadSample &s);
// /proc/PID/task/TID/status text -> cpus_allowed, voluntary, involuntary.
void parse_task_status(const std::string &text, ThreadSample &s);

// Every thread of `pid` now (empty when the process is gone).
std::vector<ThreadSample> sample_threads(pid_t pid);

// One object per thread alive at the end: tid, comm, cpus_allowed, last_cpu,
// cpu_s (CPU time during the run: after - before, or since the thread started
// when it is new), voluntary/involuntary switches during the run; plus
// "cpu_s_by_last_cpu": the run's CPU seconds summed by each thread's last CPU.
nlohmann::json thread_placement(const std::vector<ThreadSample> &before, const std::vector<ThreadSample> &after,
				long ticks_per_second);

} // namespace bench
