// Latency breakdown of one creat() (the RFUSE paper's Figures 2 and 7):
// where the time of a synchronous request goes, from kernel tracepoints.
// Timestamps of each creat() call, per request it sends:
//   syscall entry        raw_syscalls:sys_enter of the caller (creat/openat)
//   request queued       fuse:fuse_request_send | rfuse:rfuse_req_queued
//   daemon picked up     the daemon thread's read() of the device returns
//                        (raw_syscalls:sys_exit; ret = the request's length)
//   daemon replied       that thread's write()/writev() of the reply enters
//   reply seen by kernel fuse:fuse_request_end | rfuse:rfuse_req_completed
// Kernels before the fuse tracepoints (Linux 6.1 of the VM rig) get kprobe
// events on fuse.ko in their place (see plan_breakdown): at the entry of
// queue_request_and_unlock (else request_wait_answer) and of
// fuse_request_end, each fetching the struct fuse_req address, which pairs
// a request's end with its queueing (no unique, no length: their offsets in
// struct fuse_req are not stable across kernels). The pick-up and the reply
// are then the replying daemon thread's last device read() exit (its
// splice() when libfuse splices the request into a pipe and reads that) and
// write() entry before the request's end (a libfuse thread reads one
// request, answers it, reads the next).
//   caller woken         sched:sched_switch to the caller (or the reply time,
//                        when the caller had not gone to sleep yet)
//   syscall return       raw_syscalls:sys_exit of the caller
// The stages between them partition the syscall exactly: a creat() that
// sends several requests (NullFS: LOOKUP, then OPEN) adds up each stage over
// its requests, and the kernel's time between two requests counts as
// "queueing". Stages whose events this transport does not produce (RFUSE
// and io_uring daemons take and answer requests without a read/write
// syscall) are reported missing, with the reason.
#pragma once

#include "stats.hpp"
#include "trace.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace bench {

struct StageDef {
	const char *name;  // metric name
	const char *label; // "request queued -> daemon picked up"
};

// In syscall order: queueing, dispatch, daemon, reply, wakeup, return.
const std::vector<StageDef> &breakdown_stages();

struct StageResult {
	std::string name, label;
	bool present = false;
	std::string missing_reason; // when !present
	Distribution us;            // per call
};

struct BreakdownResult {
	bool ok = false;
	std::string error;
	int calls_traced = 0;    // syscalls seen in the trace
	int calls_used = 0;      // with every timestamp a present stage needs
	int calls_discarded = 0; // out of order, unanswered or without requests
	Distribution total_us;   // syscall entry -> return, over the calls used
	std::vector<StageResult> stages;
	std::vector<std::vector<double>> per_call_us; // [call][stage]; NaN = missing
	std::map<long long, int> opcodes; // FUSE opcode -> requests, over the calls used
	double requests_per_call = 0;
	long long trace_events = 0, lost_events = 0;
	bool ns_timestamps = false;
	double setup_s = 0;
	std::string source;               // "tracepoints" or "kprobes"
	std::vector<std::string> events;  // the events traced ("system/event")
	std::vector<std::string> kprobes; // kprobe_events definitions, when source = kprobes
	std::string matching;             // how a request's events are paired
};

// The breakdown of the calls of task `caller` whose syscall number is in
// `call_ids`. `no_daemon_syscalls`: why dispatch/daemon/reply are missing
// when the daemon's pick-up is not in the trace ("" = expect them).
BreakdownResult compute_breakdown(const ParsedTrace &trace, int caller, const std::set<long long> &call_ids,
				  const std::string &no_daemon_syscalls = "");

// The syscall numbers of creat() as libc issues it (creat and openat).
std::set<long long> creat_syscalls();

// The tracepoints a transport's breakdown needs ("system/event").
std::vector<std::string> breakdown_events(const std::string &transport);

// How a transport's breakdown is traced on this kernel.
struct BreakdownPlan {
	std::string source;               // "tracepoints" or "kprobes"
	std::vector<std::string> events;  // tracepoints to enable (kprobe events come on top)
	std::vector<KprobeDef> kprobes;   // to define first (source = kprobes)
	std::string unavailable;          // "" = can trace, else why not
};

// The kprobe event names standing in for fuse_request_send/_end.
extern const char *const kKprobeQueued;
extern const char *const kKprobeEnd;

// The tracepoints when `root` has them; for classic FUSE without them,
// kprobe events on the fuse functions found in `kallsyms` (the text of
// /proc/kallsyms) when `root` has kprobe_events and the kernel `release`
// (uname -r) is 5.4 or later (the probed functions' signatures).
BreakdownPlan plan_breakdown(const std::string &root, const std::string &transport, const std::string &kallsyms,
			     const std::string &release);

// "" when a breakdown of `transport` can be traced here, else why not.
std::string breakdown_unavailable_reason(const std::string &transport);

struct BreakdownParams {
	std::string transport; // fuse, rfuse, uring
	std::string dir;       // on the mounted filesystem
	pid_t daemon_pid = -1;
	int cpu = -1;          // the caller is pinned here
	int calls = 200;       // traced creat() calls
	int warmup = 20;
	std::function<bool()> should_stop;
};

BreakdownResult run_breakdown(const BreakdownParams &params);

// metrics (medians in us: total, stage.<name>; mean_total, mean.<name>;
// calls) and raw (per-stage detail, missing reasons, opcodes).
nlohmann::json breakdown_metrics(const BreakdownResult &r);
nlohmann::json breakdown_raw(const BreakdownResult &r);

} // namespace bench
