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
	uint64_t req = 0;                  // kprobe events: "req=0x..." (a struct fuse_req address)
	uint64_t fetched_ns = 0, replied_ns = 0; // rfuse_req_completed: the daemon's stamps (0: none)
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

// A kprobe event to define where a kernel lacks a tracepoint.
struct KprobeDef {
	std::string event;  // name inside the group
	std::string symbol; // "fuse:queue_request_and_unlock" (MOD:SYM for a module symbol)
	std::string fetch;  // fetch args, "req=$arg2:x64"
};

// Kprobe events in tracefs kprobe_events, in a group of their own
// (rfuse_bench_<pid>_<n>: concurrent runs never touch each other's); removed
// in the destructor, which must run after every instance that enabled them
// is gone (an enabled event cannot be removed).
class KprobeGroup {
public:
	// Throws std::runtime_error (what the kernel refused) and defines none.
	KprobeGroup(const std::string &root, const std::vector<KprobeDef> &defs);
	~KprobeGroup();
	KprobeGroup(const KprobeGroup &) = delete;
	KprobeGroup &operator=(const KprobeGroup &) = delete;

	std::vector<std::string> events() const;             // "group/event"
	const std::vector<std::string> &definitions() const { return lines_; } // as written
	const std::string &group() const { return group_; }

private:
	void remove_all();
	std::string root_, group_;
	std::vector<std::string> names_, lines_;
};

// The kprobe_events definition line of `def` in `group`.
std::string kprobe_line(const std::string &group, const KprobeDef &def);

// Removes what a run killed outright (SIGKILL, a second Ctrl-C) left behind:
// instances rfuse-bench-<pid>-N and kprobe groups rfuse_bench_<pid>_N whose
// process is gone.
void remove_stale_tracing(const std::string &root);

// Looks up a function in /proc/kallsyms text: true when exactly one text
// symbol has that name, with `module` its module ("" for the kernel image);
// else false and `why`.
bool find_kallsyms(const std::string &kallsyms, const std::string &symbol, std::string &module, std::string &why);

// The whole file; "" when it cannot be read (a /proc entry that is gone).
std::string slurp(const std::string &path);

// The threads of process `pid` (from /proc/pid/task).
std::vector<pid_t> threads_of(pid_t pid);

} // namespace bench
