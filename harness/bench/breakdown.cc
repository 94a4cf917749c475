#include "breakdown.hpp"

#include "cpu.hpp"
#include "timed_threads.hpp"

#include <chrono>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <stdexcept>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

namespace bench {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

enum Stage { kQueueing, kDispatch, kDaemon, kReply, kWakeup, kReturn, kStages };

bool is_queued_event(const std::string &n)
{
	return n == "fuse_request_send" || n == "rfuse_req_queued";
}

bool is_end_event(const std::string &n)
{
	return n == "fuse_request_end" || n == "rfuse_req_completed";
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
	uint64_t queued = 0, picked = 0, replied = 0, ended = 0, woken = 0;
	int daemon_tid = -1;
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

} // namespace

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
		if (!in_call)
			continue;
		if (is_queued_event(ev.name) && ev.pid == caller) {
			Request r;
			r.unique = ev.unique;
			r.len = ev.len;
			r.opcode = ev.opcode;
			r.queued = ev.ts_ns;
			cur.reqs.push_back(r);
		} else if (is_end_event(ev.name)) {
			for (Request &r : cur.reqs)
				if (r.unique == ev.unique && !r.ended) {
					r.ended = ev.ts_ns;
					// A caller that has not gone to sleep yet (or that
					// polls, as RFUSE's may) needs no wake-up.
					if (caller_on_cpu || ev.pid == caller)
						r.woken = ev.ts_ns;
				}
		} else if (ev.pid != caller && ev.name == "sys_exit" && is_device_read(ev.id) && ev.ret > 0) {
			// The first unpicked request of this length: an async RELEASE
			// of the previous close() may be read in between.
			for (Request &r : cur.reqs)
				if (!r.picked && (r.len < 0 || r.len == ev.ret)) {
					r.picked = ev.ts_ns;
					r.daemon_tid = ev.pid;
					break;
				}
		} else if (ev.pid != caller && ev.name == "sys_enter" && is_device_write(ev.id)) {
			for (Request &r : cur.reqs)
				if (r.daemon_tid == ev.pid && r.picked && !r.replied) {
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

std::string breakdown_unavailable_reason(const std::string &transport)
{
	if (transport == "native")
		return "a breakdown needs a FUSE transport (native has no request to trace)";
	std::string why;
	std::string root = tracefs_root(why);
	if (root.empty())
		return why;
	std::string missing = missing_events(root, breakdown_events(transport));
	if (!missing.empty())
		return "tracepoints missing under " + root + "/events: " + missing;
	return "";
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
	std::string trace_text, raw_text;
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
			TraceSession session(root, breakdown_events(p.transport), kb);
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
	if (!error.empty()) {
		out.error = error;
		return out;
	}
	try {
		ParsedTrace parsed = parse_trace(trace_text, raw_text);
		std::string no_daemon;
		if (p.transport == "rfuse")
			no_daemon = "RFUSE daemons poll the ring: no syscall marks the pick-up or the reply, and rfuse.ko "
				    "has no tracepoint for them (see /work/notes/tracepoints-needed.md)";
		else if (p.transport == "uring")
			no_daemon = "FUSE over io_uring: the daemon takes and answers requests through io_uring "
				    "completions and submissions, not read/write of /dev/fuse";
		double setup = out.setup_s;
		out = compute_breakdown(parsed, caller, creat_syscalls(), no_daemon);
		out.setup_s = setup;
	} catch (const std::exception &e) {
		out.error = std::string("parsing the trace: ") + e.what();
	}
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
		{"setup_s", r.setup_s}};
}

} // namespace bench
