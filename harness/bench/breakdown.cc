#include "breakdown.hpp"

#include "cpu.hpp"
#include "timed_threads.hpp"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <thread>
#include <unistd.h>

namespace bench {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

enum Stage { kQueueing, kDispatch, kDaemon, kReply, kWakeup, kReturn, kStages };

bool is_queued_event(const std::string &n)
{
	return n == "fuse_request_send" || n == "rfuse_req_queued" || n == kKprobeQueued;
}

bool is_end_event(const std::string &n)
{
	return n == "fuse_request_end" || n == "rfuse_req_completed" || n == kKprobeEnd;
}

// How a libfuse daemon takes a request from /dev/fuse and answers it.
bool is_device_read(long long id)
{
	return id == SYS_read || id == SYS_readv || id == SYS_splice;
}

bool is_device_write(long long id)
{
	return id == SYS_write || id == SYS_writev || id == SYS_splice;
}

struct Request {
	long long unique = -1, len = -1, opcode = -1;
	uint64_t req = 0; // kprobe events: the struct fuse_req address
	uint64_t queued = 0, picked = 0, replied = 0, ended = 0, woken = 0;
	int daemon_tid = -1;
	bool rfuse = false; // picked/replied come from rfuse_req_completed's daemon stamps
};

// What a daemon thread last did with the device (kprobe matching).
struct DaemonThread {
	uint64_t read = 0;  // the exit of the read that took its last request
	uint64_t write = 0; // its last write() entry
	long long read_id = -1, read_ret = -1; // that last read-like syscall
};

struct Call {
	uint64_t enter = 0, exit = 0;
	std::vector<Request> reqs;
};

double us(uint64_t from, uint64_t to)
{
	return (static_cast<double>(to) - static_cast<double>(from)) / 1000.0;
}

// Per-stage durations of one call; false when its events are incomplete or
// out of order. Stages not traced are NaN.
bool call_stages(const Call &c, std::vector<double> &st, bool &daemon_seen)
{
	const double nan = std::numeric_limits<double>::quiet_NaN();
	st.assign(kStages, 0);
	if (c.reqs.empty() || c.exit < c.enter)
		return false;
	daemon_seen = true;
	for (const Request &r : c.reqs)
		daemon_seen = daemon_seen && r.picked && r.replied;
	uint64_t prev = c.enter;
	for (const Request &r : c.reqs) {
		if (!r.queued || !r.ended || !r.woken || r.queued < prev || r.ended < r.queued || r.woken < r.ended)
			return false;
		st[kQueueing] += us(prev, r.queued);
		if (daemon_seen) {
			if (r.picked < r.queued || r.replied < r.picked || r.ended < r.replied)
				return false;
			st[kDispatch] += us(r.queued, r.picked);
			st[kDaemon] += us(r.picked, r.replied);
			st[kReply] += us(r.replied, r.ended);
		}
		st[kWakeup] += us(r.ended, r.woken);
		prev = r.woken;
	}
	if (c.exit < prev)
		return false;
	st[kReturn] = us(prev, c.exit);
	if (!daemon_seen)
		st[kDispatch] = st[kDaemon] = st[kReply] = nan;
	return true;
}

// Where the events of a kprobe-traced request are paired (BreakdownResult::matching).
const char *const kKprobeMatching =
	"request queued and request end paired by the struct fuse_req address (req=$argN); daemon pick-up and "
	"reply: the last device read() exit (the splice() when libfuse splices and then reads the pipe) and "
	"write() entry of the daemon thread that ran the request's end";
const char *const kRfuseMatching =
	"request queued and completed paired by the request's unique; daemon pick-up and reply: the daemon's "
	"CLOCK_MONOTONIC stamps in the ring slot (fetched_ns, replied_ns), reported by rfuse_req_completed";
const char *const kTracepointMatching =
	"request queued and end paired by the request's unique; daemon pick-up: the first device read() whose "
	"length is the request's; reply: that thread's next device write()";

} // namespace

const char *const kKprobeQueued = "fuse_kp_queued";
const char *const kKprobeEnd = "fuse_kp_end";

const std::vector<StageDef> &breakdown_stages()
{
	static const std::vector<StageDef> stages = {
		{"queueing", "syscall entry -> request queued"},
		{"dispatch", "request queued -> daemon picked up"},
		{"daemon", "daemon picked up -> daemon replied"},
		{"reply", "daemon replied -> reply seen by kernel"},
		{"wakeup", "reply seen by kernel -> caller woken"},
		{"return", "caller woken -> syscall return"},
	};
	return stages;
}

std::set<long long> creat_syscalls()
{
	std::set<long long> ids = {SYS_openat};
#ifdef SYS_creat
	ids.insert(SYS_creat);
#endif
#ifdef SYS_open
	ids.insert(SYS_open);
#endif
	return ids;
}

BreakdownResult compute_breakdown(const ParsedTrace &trace, int caller, const std::set<long long> &call_ids,
				  const std::string &no_daemon_syscalls)
{
	BreakdownResult out;
	out.trace_events = static_cast<long long>(trace.events.size());
	out.lost_events = trace.lost_events;
	out.ns_timestamps = trace.ns_timestamps;
	std::vector<Call> calls;
	Call cur;
	bool in_call = false, caller_on_cpu = true;
	std::map<int, DaemonThread> daemon;
	for (const TraceEvent &ev : trace.events) {
		if (ev.name == "sched_switch") {
			if (ev.prev_pid == caller)
				caller_on_cpu = false;
			if (ev.next_pid == caller) {
				caller_on_cpu = true;
				for (Request &r : cur.reqs)
					if (r.ended && !r.woken)
						r.woken = ev.ts_ns;
			}
			continue;
		}
		if (ev.pid == caller && (ev.name == "sys_enter" || ev.name == "sys_exit") && call_ids.count(ev.id)) {
			if (ev.name == "sys_enter") {
				cur = Call{};
				cur.enter = ev.ts_ns;
				in_call = true;
				caller_on_cpu = true;
			} else if (in_call) {
				cur.exit = ev.ts_ns;
				calls.push_back(cur);
				in_call = false;
			}
			continue;
		}
		if (ev.pid != caller && ev.name == "sys_exit" && is_device_read(ev.id) && ev.ret > 0) {
			DaemonThread &d = daemon[ev.pid];
			// libfuse's splice read: splice() from the device into a
			// pipe, then read() of the pipe; the splice took the request.
			if (!(ev.id == SYS_read && d.read_id == SYS_splice && d.read_ret == ev.ret))
				d.read = ev.ts_ns;
			d.read_id = ev.id;
			d.read_ret = ev.ret;
		} else if (ev.pid != caller && ev.name == "sys_enter" && is_device_write(ev.id)) {
			daemon[ev.pid].write = ev.ts_ns;
		}
		if (!in_call)
			continue;
		if (is_queued_event(ev.name) && ev.pid == caller) {
			Request r;
			r.req = ev.req;
			r.unique = ev.unique;
			r.len = ev.len;
			r.opcode = ev.opcode;
			r.rfuse = ev.name == "rfuse_req_queued";
			r.queued = ev.ts_ns;
			cur.reqs.push_back(r);
		} else if (is_end_event(ev.name)) {
			for (Request &r : cur.reqs) {
				if (r.ended || (r.req ? r.req != ev.req : r.unique != ev.unique))
					continue;
				r.ended = ev.ts_ns;
				// A caller that has not gone to sleep yet (or that
				// polls, as RFUSE's may) needs no wake-up.
				if (caller_on_cpu || ev.pid == caller)
					r.woken = ev.ts_ns;
				// Kprobes: the replying thread's read and write that
				// led to this end, when they follow the queueing.
				const DaemonThread &d = daemon[ev.pid];
				if (r.req && ev.pid != caller && d.read >= r.queued && d.write >= d.read) {
					r.picked = d.read;
					r.replied = d.write;
					r.daemon_tid = ev.pid;
				}
				// RFUSE: the daemon's own stamps, on the trace's clock.
				if (r.rfuse && ev.fetched_ns && ev.replied_ns) {
					r.picked = ev.fetched_ns;
					r.replied = ev.replied_ns;
				}
			}
		} else if (ev.pid != caller && ev.name == "sys_exit" && is_device_read(ev.id) && ev.ret > 0) {
			// The first unpicked request of this length: an async RELEASE
			// of the previous close() may be read in between.
			for (Request &r : cur.reqs)
				if (!r.req && !r.rfuse && !r.picked && (r.len < 0 || r.len == ev.ret)) {
					r.picked = ev.ts_ns;
					r.daemon_tid = ev.pid;
					break;
				}
		} else if (ev.pid != caller && ev.name == "sys_enter" && is_device_write(ev.id)) {
			for (Request &r : cur.reqs)
				if (!r.req && !r.rfuse && r.daemon_tid == ev.pid && r.picked && !r.replied) {
					r.replied = ev.ts_ns;
					break;
				}
		}
	}
	out.calls_traced = static_cast<int>(calls.size());
	std::vector<std::vector<double>> per_stage(kStages);
	std::vector<double> totals;
	int with_daemon = 0, requests = 0;
	for (const Call &c : calls) {
		std::vector<double> st;
		bool daemon_seen = false;
		if (!call_stages(c, st, daemon_seen)) {
			++out.calls_discarded;
			continue;
		}
		out.per_call_us.push_back(st);
		totals.push_back(us(c.enter, c.exit));
		with_daemon += daemon_seen;
		requests += static_cast<int>(c.reqs.size());
		for (const Request &r : c.reqs)
			if (r.opcode >= 0) // kprobe events carry no opcode
				++out.opcodes[r.opcode];
	}
	out.calls_used = static_cast<int>(totals.size());
	// Stages are reported only from calls that have all of them: a mix
	// would not add up.
	bool daemon_stages = out.calls_used > 0 && with_daemon == out.calls_used;
	for (size_t i = 0; i < out.per_call_us.size(); ++i)
		for (int s = 0; s < kStages; ++s)
			if (!std::isnan(out.per_call_us[i][s]))
				per_stage[s].push_back(out.per_call_us[i][s]);
	out.total_us = distribution(totals);
	out.requests_per_call = out.calls_used ? static_cast<double>(requests) / out.calls_used : 0;
	for (int s = 0; s < kStages; ++s) {
		StageResult sr;
		sr.name = breakdown_stages()[s].name;
		sr.label = breakdown_stages()[s].label;
		bool daemon_stage = s == kDispatch || s == kDaemon || s == kReply;
		if (out.calls_used == 0) {
			sr.missing_reason = "no complete call in the trace";
		} else if (daemon_stage && !daemon_stages) {
			sr.missing_reason = !no_daemon_syscalls.empty()
						    ? no_daemon_syscalls
						    : "the daemon's read/write of the device is missing from " +
							      std::to_string(out.calls_used - with_daemon) + " of " +
							      std::to_string(out.calls_used) + " calls";
		} else {
			sr.present = true;
			sr.us = distribution(per_stage[s]);
		}
		out.stages.push_back(sr);
	}
	if (!daemon_stages)
		for (auto &row : out.per_call_us)
			row[kDispatch] = row[kDaemon] = row[kReply] = std::numeric_limits<double>::quiet_NaN();
	out.ok = out.calls_used > 0;
	if (!out.ok)
		out.error = "no complete creat() call in the trace (" + std::to_string(out.calls_traced) + " traced, " +
			    std::to_string(out.trace_events) + " events, " + std::to_string(out.lost_events) + " lost)";
	return out;
}

std::vector<std::string> breakdown_events(const std::string &transport)
{
	std::vector<std::string> ev = {"raw_syscalls/sys_enter", "raw_syscalls/sys_exit", "sched/sched_switch"};
	if (transport == "rfuse") {
		ev.push_back("rfuse/rfuse_req_queued");
		ev.push_back("rfuse/rfuse_req_completed");
	} else {
		ev.push_back("fuse/fuse_request_send");
		ev.push_back("fuse/fuse_request_end");
	}
	return ev;
}

namespace {

// "6.1.0-56-amd64" -> major * 1000 + minor; -1 when unreadable.
int kernel_version(const std::string &release)
{
	char *end = nullptr;
	long major = std::strtol(release.c_str(), &end, 10);
	if (end == release.c_str() || *end != '.')
		return -1;
	const char *minor_at = end + 1;
	long minor = std::strtol(minor_at, &end, 10);
	if (end == minor_at)
		return -1;
	return static_cast<int>(major * 1000 + minor);
}

std::string this_kernel_release()
{
	struct utsname u {};
	return uname(&u) == 0 ? u.release : "";
}

} // namespace

BreakdownPlan plan_breakdown(const std::string &root, const std::string &transport, const std::string &kallsyms,
			     const std::string &release)
{
	BreakdownPlan plan;
	plan.source = "tracepoints";
	plan.events = breakdown_events(transport);
	std::string missing = missing_events(root, plan.events);
	if (missing.empty())
		return plan;
	std::string why = "tracepoints missing under " + root + "/events: " + missing;
	std::vector<std::string> base(plan.events.begin(), plan.events.begin() + 3); // syscalls, sched_switch
	if (transport != "fuse" || !missing_events(root, base).empty()) {
		plan.unavailable = why;
		return plan;
	}
	why += "; no kprobe fallback: ";
	if (access((root + "/kprobe_events").c_str(), W_OK) != 0) {
		plan.unavailable = why + "no writable " + root + "/kprobe_events (kernel without CONFIG_KPROBE_EVENTS)";
		return plan;
	}
	int version = kernel_version(release);
	if (version < 5004) {
		plan.unavailable = why + "kernel " + release +
				   " predates Linux 5.4 (fuse_request_end took the connection as its first argument)";
		return plan;
	}
	// A symbol with an .isra/.constprop suffix has had its arguments
	// changed by the compiler: only exact names are probed.
	struct Candidate {
		const char *event, *symbol, *fetch;
	};
	const Candidate queued[] = {
		{kKprobeQueued, "queue_request_and_unlock", "req=$arg2:x64"}, // (fiq, req): the queueing itself
		{kKprobeQueued, "request_wait_answer", "req=$arg1:x64"},      // (req): right after it
	};
	const Candidate end = {kKprobeEnd, "fuse_request_end", "req=$arg1:x64"};
	auto resolve = [&](const Candidate &c, std::string &miss) {
		std::string module;
		if (!find_kallsyms(kallsyms, c.symbol, module, miss))
			return false;
		plan.kprobes.push_back({c.event, module.empty() ? c.symbol : module + ":" + c.symbol, c.fetch});
		return true;
	};
	std::string miss_q1, miss_q2, miss_end;
	bool queued_ok = resolve(queued[0], miss_q1) || resolve(queued[1], miss_q2);
	bool end_ok = resolve(end, miss_end);
	if (!queued_ok || !end_ok) {
		plan.kprobes.clear();
		plan.unavailable = why + (queued_ok ? "" : miss_q1 + "; " + miss_q2) +
				   (queued_ok || end_ok ? "" : "; ") + (end_ok ? "" : miss_end);
		return plan;
	}
	plan.source = "kprobes";
	plan.events = base;
	return plan;
}

std::string breakdown_unavailable_reason(const std::string &transport)
{
	if (transport == "native")
		return "a breakdown needs a FUSE transport (native has no request to trace)";
	std::string why;
	std::string root = tracefs_root(why);
	if (root.empty())
		return why;
	if (missing_events(root, breakdown_events(transport)).empty())
		return "";
	return plan_breakdown(root, transport, transport == "fuse" ? slurp("/proc/kallsyms") : "", this_kernel_release())
		.unavailable;
}

BreakdownResult run_breakdown(const BreakdownParams &p)
{
	BreakdownResult out;
	std::string why;
	std::string root = tracefs_root(why);
	if (root.empty()) {
		out.error = why;
		return out;
	}
	remove_stale_tracing(root);
	bool kallsyms_needed = p.transport == "fuse" && !missing_events(root, breakdown_events(p.transport)).empty();
	BreakdownPlan plan = plan_breakdown(root, p.transport, kallsyms_needed ? slurp("/proc/kallsyms") : "",
					    this_kernel_release());
	if (!plan.unavailable.empty()) {
		out.error = plan.unavailable;
		return out;
	}
	std::string trace_text, raw_text;
	std::vector<std::string> events = plan.events, kprobe_defs;
	int caller = -1;
	std::string error;
	std::thread worker([&] {
		try {
			if (p.cpu >= 0)
				if (int err = pin_current_thread(p.cpu))
					throw std::runtime_error("pinning to CPU " + std::to_string(p.cpu) + ": " +
								 std::strerror(err));
			auto setup_start = Clock::now();
			caller = static_cast<int>(gettid());
			auto one = [&](int i) {
				std::string path = p.dir + "/bd-" + std::to_string(i);
				int fd = creat(path.c_str(), 0644);
				if (fd < 0)
					throw_errno("creat", path);
				close(fd);
			};
			for (int i = 0; i < p.warmup; ++i)
				one(i);
			// About 40 events (2 KiB) per creat() + close() on FUSE; twice
			// that per CPU, since one CPU may hold them all.
			size_t kb = std::max<size_t>(4096, static_cast<size_t>(p.calls) * 4);
			// Declared before the session: removed after it is gone.
			std::unique_ptr<KprobeGroup> kprobes;
			if (!plan.kprobes.empty()) {
				kprobes = std::make_unique<KprobeGroup>(root, plan.kprobes);
				kprobe_defs = kprobes->definitions();
				for (const std::string &e : kprobes->events())
					events.push_back(e);
			}
			TraceSession session(root, events, kb);
			std::vector<pid_t> pids = {caller};
			if (p.daemon_pid > 0)
				for (pid_t t : threads_of(p.daemon_pid))
					pids.push_back(t);
			session.filter_pids(pids);
			out.setup_s = std::chrono::duration<double>(Clock::now() - setup_start).count();
			session.start();
			for (int i = 0; i < p.calls; ++i) {
				if (i % 64 == 0 && p.should_stop && p.should_stop()) {
					session.stop();
					throw std::runtime_error("stopped after " + std::to_string(i) + " calls");
				}
				one(p.warmup + i);
			}
			session.stop();
			session.read(trace_text, raw_text);
		} catch (const std::exception &e) {
			error = e.what();
		}
	});
	worker.join();
	auto how_measured = [&](BreakdownResult &r) {
		r.source = plan.source;
		r.events = events;
		r.kprobes = kprobe_defs;
		if (p.transport == "rfuse")
			r.matching = kRfuseMatching;
		else
			r.matching = plan.source == "kprobes" ? kKprobeMatching : kTracepointMatching;
	};
	if (!error.empty()) {
		out.error = error;
		how_measured(out);
		return out;
	}
	// RFUSE_BENCH_TRACE_DUMP=DIR keeps the trace text (for test data, debugging).
	if (const char *dump = std::getenv("RFUSE_BENCH_TRACE_DUMP"); dump != nullptr && *dump) {
		std::string base = std::string(dump) + "/trace-creat-" + p.transport + "-" + std::to_string(getpid());
		std::ofstream(base + ".txt") << trace_text;
		std::ofstream(base + ".raw.txt") << raw_text;
	}
	try {
		ParsedTrace parsed = parse_trace(trace_text, raw_text);
		std::string no_daemon;
		if (p.transport == "rfuse")
			no_daemon = "RFUSE: rfuse_req_completed carries no daemon stamps (fetched_ns/replied_ns 0: a "
				    "daemon that does not record them, or an rfuse.ko older than them)";
		else if (p.transport == "uring")
			no_daemon = "FUSE over io_uring: the daemon takes and answers requests through io_uring "
				    "completions and submissions, not read/write of /dev/fuse";
		double setup = out.setup_s;
		out = compute_breakdown(parsed, caller, creat_syscalls(), no_daemon);
		out.setup_s = setup;
	} catch (const std::exception &e) {
		out.error = std::string("parsing the trace: ") + e.what();
	}
	how_measured(out);
	return out;
}

json breakdown_metrics(const BreakdownResult &r)
{
	auto m = [](double v, const char *unit) { return json{{"value", v}, {"unit", unit}}; };
	json out = json::object();
	if (!r.ok)
		return out;
	out["total"] = m(r.total_us.p50, "us");
	out["mean_total"] = m(r.total_us.mean, "us");
	out["calls"] = m(r.calls_used, "calls");
	out["requests_per_call"] = m(r.requests_per_call, "requests");
	for (const StageResult &s : r.stages)
		if (s.present) {
			out["stage." + s.name] = m(s.us.p50, "us");
			out["mean." + s.name] = m(s.us.mean, "us");
		}
	return out;
}

json breakdown_raw(const BreakdownResult &r)
{
	json stages = json::array();
	for (const StageResult &s : r.stages) {
		json j = {{"name", s.name}, {"label", s.label}, {"present", s.present}};
		if (s.present)
			j.update({{"median_us", s.us.p50},
				  {"mean_us", s.us.mean},
				  {"p90_us", s.us.p90},
				  {"p99_us", s.us.p99},
				  {"min_us", s.us.min},
				  {"max_us", s.us.max},
				  {"n", s.us.n}});
		else
			j.update({{"median_us", nullptr}, {"reason", s.missing_reason}});
		stages.push_back(j);
	}
	json opcodes = json::object();
	for (const auto &[op, n] : r.opcodes)
		opcodes[std::to_string(op)] = n;
	return {{"stages", stages},
		{"total_us", {{"median", r.total_us.p50}, {"mean", r.total_us.mean}, {"p90", r.total_us.p90},
			      {"p99", r.total_us.p99}}},
		{"calls_traced", r.calls_traced},
		{"calls_used", r.calls_used},
		{"calls_discarded", r.calls_discarded},
		{"opcodes", opcodes},
		{"trace_events", r.trace_events},
		{"lost_events", r.lost_events},
		{"ns_timestamps", r.ns_timestamps},
		{"setup_s", r.setup_s},
		{"source", r.source},
		{"events", r.events},
		{"kprobes", r.kprobes},
		{"matching", r.matching}};
}

} // namespace bench
