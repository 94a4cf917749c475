// Kernel tracepoints through tracefs, for the latency breakdown (breakdown.hpp).
//
// Capture: a private tracefs instance (instances/rfuse-bench-<pid>-N: its
// own buffer, event set and pid filter, so nothing else that traces is
// disturbed), the "mono" clock (one clock for every CPU: stages cross CPUs),
// events filtered to the caller and the daemon's threads (set_event_pid with
// event-fork). The `trace` file prints microseconds only; read once more with
// options/raw it prints the nanosecond timestamp, pid and CPU of the same
// events in the same order, so parse_trace() merges the two texts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>
#include <sys/types.h>

namespace bench {

// One event of the `trace` text. Fields not in the event stay -1.
struct TraceEvent {
	uint64_t ts_ns = 0;
	int pid = -1;   // the task that was running (common_pid)
	int cpu = -1;
	std::string name; // "sys_enter", "fuse_request_send", ...
	long long id = -1, ret = -1;       // raw_syscalls: syscall number, sys_exit return value
	long long unique = -1, len = -1, opcode = -1, error = -1; // fuse_request_*, rfuse_req_*
	long long prev_pid = -1, next_pid = -1, prev_state = -1;  // sched_switch (prev_state: 0 = runnable)
	long long wakee = -1;              // sched_wakeup*: the task woken
};

struct ParsedTrace {
	std::vector<TraceEvent> events;
	long long lost_events = 0; // "[LOST N EVENTS]" lines
	bool ns_timestamps = false; // merged from the raw text; else microseconds
};

// Parses `trace` (the text as the file prints it) and, when `raw` is not
// empty, takes each event's timestamp from the same file read with
// options/raw. Throws std::runtime_error when the two do not line up.
ParsedTrace parse_trace(const std::string &trace, const std::string &raw = "");

// The tracefs root: $RFUSE_BENCH_TRACEFS, else /sys/kernel/tracing (mounted
// there when it is not yet and we may). "" and `why` set when there is none.
std::string tracefs_root(std::string &why);

// "" when every "system/event" exists under `root`, else what is missing.
std::string missing_events(const std::string &root, const std::vector<std::string> &events);

// A private tracing instance; removed (events off) in the destructor.
class TraceSession {
public:
	// Throws std::runtime_error when the instance cannot be set up.
	TraceSession(const std::string &root, const std::vector<std::string> &events, size_t buffer_kb_per_cpu);
	~TraceSession();
	TraceSession(const TraceSession &) = delete;
	TraceSession &operator=(const TraceSession &) = delete;

	// Traces these tasks only, and the threads they start from now on.
	void filter_pids(const std::vector<pid_t> &pids);
	void start();
	void stop();
	// The buffer as text: the normal view and the raw one (nanoseconds).
	void read(std::string &trace, std::string &raw);
	const std::string &dir() const { return dir_; }

private:
	void write(const std::string &file, const std::string &value);
	std::string dir_;
	std::vector<std::string> events_;
};

// The threads of process `pid` (from /proc/pid/task).
std::vector<pid_t> threads_of(pid_t pid);

} // namespace bench
