// Unit tests of the latency statistics, the tracefs text parser and the
// creat() breakdown, on a trace captured on this project's host (Linux
// 6.18, nullfs-fuse -o entry_timeout=0,attr_timeout=0, five creat() calls
// by task 4999 through bash's ": > file"; daemon threads 5003 and 5004).
#include "breakdown.hpp"
#include "test_support.hpp"
#include "stats.hpp"
#include "trace.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/syscall.h>

namespace {

std::string data(const std::string &name)
{
	std::string text;
	EXPECT_TRUE(test_support::read_file(std::string(RFUSE_TEST_DATA_DIR) + "/" + name, text)) << name;
	return text;
}

constexpr int kCaller = 4999;

TEST(Distribution, PercentilesInterpolateBetweenRanks)
{
	std::vector<double> v;
	for (int i = 100; i >= 1; --i)
		v.push_back(i); // unsorted on purpose
	bench::Distribution d = bench::distribution(v);
	EXPECT_EQ(d.n, 100);
	EXPECT_DOUBLE_EQ(d.min, 1);
	EXPECT_DOUBLE_EQ(d.max, 100);
	EXPECT_DOUBLE_EQ(d.mean, 50.5);
	EXPECT_DOUBLE_EQ(d.p50, 50.5);
	EXPECT_DOUBLE_EQ(d.p90, 90.1);
	EXPECT_DOUBLE_EQ(d.p99, 99.01);
}

TEST(Distribution, SmallAndEmpty)
{
	EXPECT_EQ(bench::distribution({}).n, 0);
	bench::Distribution one = bench::distribution({7});
	EXPECT_DOUBLE_EQ(one.p50, 7);
	EXPECT_DOUBLE_EQ(one.p99, 7);
	bench::Distribution odd = bench::distribution({3, 1, 2});
	EXPECT_DOUBLE_EQ(odd.p50, 2);
	EXPECT_DOUBLE_EQ(bench::percentile({1, 2, 3, 4}, 0), 1);
	EXPECT_DOUBLE_EQ(bench::percentile({1, 2, 3, 4}, 1), 4);
}

TEST(TraceParser, ParsesEveryKindOfLine)
{
	std::string text =
		"# tracer: nop\n"
		"     nullfs-fuse-5003    [001] .....  5375.579537: sys_exit: NR 0 = 45\n"
		"  my-odd task-12-77  [000] d..2.  12.000001: sched_switch: prev_comm=a prev_pid=77 prev_prio=120 "
		"prev_state=S ==> next_comm=b next_pid=5 next_prio=120\n"
		"      capture.sh-4999    [000] ...1.  5375.579461: fuse_request_send: connection 40 req 18 opcode 1 "
		"(FUSE_LOOKUP) len 45 \n"
		"     nullfs-fuse-5003    [000] .....  5375.579549: fuse_request_end: connection 40 req 18 len 144 error -2\n"
		"CPU:1 [LOST 12 EVENTS]\n"
		"      capture.sh-4999    [000] .....  5375.579453: sys_enter: NR 257 (ffffff9c, 55b6, 241, 1b6, 0, 20)\n"
		"     kworker-9  [001] d..2.  1.5: sched_wakeup: comm=x pid=4999 prio=120 target_cpu=000\n"
		"     rfuse-bench-518     [000] .....   396.015764: rfuse_req_completed: ring=0 slot=3 unique=806 "
		"inline=1 error=-5 fetched_ns=396015383574 replied_ns=396015508271\n";
	bench::ParsedTrace t = bench::parse_trace(text);
	ASSERT_EQ(t.events.size(), 7u);
	EXPECT_EQ(t.lost_events, 12);
	EXPECT_FALSE(t.ns_timestamps);
	const auto &e = t.events;
	EXPECT_EQ(e[0].name, "sys_exit");
	EXPECT_EQ(e[0].pid, 5003);
	EXPECT_EQ(e[0].cpu, 1);
	EXPECT_EQ(e[0].id, 0);
	EXPECT_EQ(e[0].ret, 45);
	EXPECT_EQ(e[0].ts_ns, 5375579537000ULL);
	EXPECT_EQ(e[1].pid, 77); // the comm holds a space and a dash
	EXPECT_EQ(e[1].prev_pid, 77);
	EXPECT_EQ(e[1].next_pid, 5);
	EXPECT_EQ(e[1].prev_state, 1);
	EXPECT_EQ(e[2].unique, 18);
	EXPECT_EQ(e[2].opcode, 1);
	EXPECT_EQ(e[2].len, 45);
	EXPECT_EQ(e[3].error, -2);
	EXPECT_EQ(e[3].len, 144);
	EXPECT_EQ(e[4].id, 257);
	EXPECT_EQ(e[5].name, "sched_wakeup");
	EXPECT_EQ(e[5].wakee, 4999);
	EXPECT_EQ(e[5].ts_ns, 1500000000ULL);
	EXPECT_EQ(e[6].unique, 806);
	EXPECT_EQ(e[6].error, -5);
	EXPECT_EQ(e[6].fetched_ns, 396015383574ULL);
	EXPECT_EQ(e[6].replied_ns, 396015508271ULL);
	EXPECT_EQ(e[0].fetched_ns, 0u);
}

TEST(TraceParser, RawTimestampsMustLineUp)
{
	std::string text = "  a-1  [000] .....  1.000001: sys_exit: NR 0 = 1\n"
			   "  b-2  [001] .....  1.000002: sys_exit: NR 0 = 1\n";
	bench::ParsedTrace t = bench::parse_trace(text, "1 0 1000001234 type: 1\n2 1 1000002499 type: 1\n");
	EXPECT_TRUE(t.ns_timestamps);
	EXPECT_EQ(t.events[0].ts_ns, 1000001234ULL);
	EXPECT_EQ(t.events[1].ts_ns, 1000002499ULL);
	EXPECT_THROW(bench::parse_trace(text, "1 0 1000001234 type: 1\n"), std::runtime_error);
	EXPECT_THROW(bench::parse_trace(text, "1 0 1000001234 type: 1\n3 1 1000002000 type: 1\n"), std::runtime_error);
	EXPECT_THROW(bench::parse_trace(text, "1 0 1000001234 type: 1\n2 1 1000009000 type: 1\n"), std::runtime_error);
}

TEST(TraceParser, RealCaptureMergesNanoseconds)
{
	bench::ParsedTrace t = bench::parse_trace(data("trace-creat-fuse.txt"), data("trace-creat-fuse.raw.txt"));
	EXPECT_TRUE(t.ns_timestamps);
	EXPECT_EQ(t.lost_events, 0);
	ASSERT_GT(t.events.size(), 300u);
	int sends = 0, ends = 0;
	for (size_t i = 0; i < t.events.size(); ++i) {
		if (i > 0) { // the trace file merges CPUs in time order
			EXPECT_GE(t.events[i].ts_ns, t.events[i - 1].ts_ns);
		}
		sends += t.events[i].name == "fuse_request_send";
		ends += t.events[i].name == "fuse_request_end";
	}
	EXPECT_GT(sends, 10);
	EXPECT_GT(ends, 10);
}

TEST(Breakdown, RealFuseCaptureHasEveryStage)
{
	bench::ParsedTrace t = bench::parse_trace(data("trace-creat-fuse.txt"), data("trace-creat-fuse.raw.txt"));
	bench::BreakdownResult r = bench::compute_breakdown(t, kCaller, bench::creat_syscalls());
	ASSERT_TRUE(r.ok) << r.error;
	EXPECT_EQ(r.calls_used, 5);
	// creat() of an existing NullFS file: LOOKUP (1), then OPEN (14).
	EXPECT_EQ(r.opcodes.at(1), 5);
	EXPECT_EQ(r.opcodes.at(14), 5);
	EXPECT_DOUBLE_EQ(r.requests_per_call, 2);
	ASSERT_EQ(r.stages.size(), bench::breakdown_stages().size());
	for (const bench::StageResult &s : r.stages) {
		EXPECT_TRUE(s.present) << s.name << ": " << s.missing_reason;
		EXPECT_GE(s.us.min, 0) << s.name;
		EXPECT_EQ(s.us.n, 5) << s.name;
	}
	// The stages partition each call: they add up to its syscall latency.
	ASSERT_EQ(r.per_call_us.size(), 5u);
	double mean_sum = 0;
	for (const bench::StageResult &s : r.stages)
		mean_sum += s.us.mean;
	EXPECT_NEAR(mean_sum, r.total_us.mean, 1e-6);
	for (const auto &row : r.per_call_us) {
		double sum = 0;
		for (double v : row)
			sum += v;
		EXPECT_GT(sum, 0);
		EXPECT_LE(sum, r.total_us.max + 1e-6);
	}
}

TEST(Breakdown, DaemonStagesMissingWithoutDeviceSyscalls)
{
	bench::ParsedTrace t = bench::parse_trace(data("trace-creat-fuse.txt"), data("trace-creat-fuse.raw.txt"));
	// As a ring transport would look: no read/write of the device.
	std::vector<bench::TraceEvent> kept;
	for (const bench::TraceEvent &e : t.events)
		if (e.pid == kCaller || e.name == "sched_switch" || e.name == "fuse_request_end")
			kept.push_back(e);
	t.events = kept;
	bench::BreakdownResult r = bench::compute_breakdown(t, kCaller, bench::creat_syscalls(), "ring transport");
	ASSERT_TRUE(r.ok) << r.error;
	EXPECT_EQ(r.calls_used, 5);
	for (const bench::StageResult &s : r.stages) {
		bool daemon_stage = s.name == "dispatch" || s.name == "daemon" || s.name == "reply";
		EXPECT_EQ(s.present, !daemon_stage) << s.name;
		if (daemon_stage) {
			EXPECT_EQ(s.missing_reason, "ring transport");
		}
	}
	nlohmann::json raw = bench::breakdown_raw(r);
	EXPECT_TRUE(raw["stages"][1]["median_us"].is_null());
	EXPECT_FALSE(bench::breakdown_metrics(r).contains("stage.dispatch"));
	EXPECT_TRUE(bench::breakdown_metrics(r).contains("stage.wakeup"));
}

// A real RFUSE capture (nullfs-rfuse in the 6.1 VM, 14 creat() calls): the
// daemon stages come from rfuse_req_completed's fetched_ns/replied_ns.
constexpr int kRfuseCaller = 518;

TEST(Breakdown, RealRfuseCaptureTakesTheDaemonStamps)
{
	bench::ParsedTrace t = bench::parse_trace(data("trace-creat-rfuse.txt"), data("trace-creat-rfuse.raw.txt"));
	ASSERT_TRUE(t.ns_timestamps);
	bench::BreakdownResult r = bench::compute_breakdown(t, kRfuseCaller, bench::creat_syscalls(), "unused");
	ASSERT_TRUE(r.ok) << r.error;
	EXPECT_EQ(r.calls_used, 14);
	EXPECT_EQ(r.calls_discarded, 0);
	for (const bench::StageResult &s : r.stages) {
		EXPECT_TRUE(s.present) << s.name << ": " << s.missing_reason;
		EXPECT_GE(s.us.min, 0) << s.name;
	}
	// The first call: LOOKUP 806 and OPEN 808; the daemon held them
	// 396015508271 - 396015383574 and 396016497094 - 396016437195 ns.
	ASSERT_FALSE(r.per_call_us.empty());
	EXPECT_NEAR(r.per_call_us[0][2], (124697 + 59899) / 1000.0, 1e-6);
	for (size_t i = 0; i < r.per_call_us.size(); ++i) {
		double sum = 0;
		for (double v : r.per_call_us[i])
			sum += v;
		EXPECT_GT(sum, 0) << i;
		EXPECT_LE(sum, r.total_us.max + 1e-6) << i;
	}
	double mean_sum = 0;
	for (const bench::StageResult &s : r.stages)
		mean_sum += s.us.mean;
	EXPECT_NEAR(mean_sum, r.total_us.mean, 1e-6);
}

TEST(Breakdown, RfuseWithoutDaemonStampsHasNoDaemonStages)
{
	bench::ParsedTrace t = bench::parse_trace(data("trace-creat-rfuse.txt"), data("trace-creat-rfuse.raw.txt"));
	// An older rfuse.ko or a daemon that does not stamp: zeros.
	for (bench::TraceEvent &e : t.events)
		e.fetched_ns = e.replied_ns = 0;
	bench::BreakdownResult r = bench::compute_breakdown(t, kRfuseCaller, bench::creat_syscalls(), "no stamps");
	ASSERT_TRUE(r.ok) << r.error;
	EXPECT_EQ(r.calls_used, 14);
	for (const bench::StageResult &s : r.stages) {
		bool daemon_stage = s.name == "dispatch" || s.name == "daemon" || s.name == "reply";
		EXPECT_EQ(s.present, !daemon_stage) << s.name;
		if (daemon_stage) {
			EXPECT_EQ(s.missing_reason, "no stamps");
		}
	}
}

TEST(Breakdown, NoCallsIsAnError)
{
	bench::ParsedTrace t = bench::parse_trace(data("trace-creat-fuse.txt"), data("trace-creat-fuse.raw.txt"));
	bench::BreakdownResult r = bench::compute_breakdown(t, 12345, bench::creat_syscalls());
	EXPECT_FALSE(r.ok);
	EXPECT_NE(r.error.find("no complete creat()"), std::string::npos);
	for (const bench::StageResult &s : r.stages)
		EXPECT_FALSE(s.present);
}

TEST(Breakdown, UnavailableWithoutTracefs)
{
	setenv("RFUSE_BENCH_TRACEFS", "/nonexistent-tracefs", 1);
	std::string why = bench::breakdown_unavailable_reason("fuse");
	unsetenv("RFUSE_BENCH_TRACEFS");
	EXPECT_NE(why.find("not a tracefs"), std::string::npos) << why;
	EXPECT_NE(bench::breakdown_unavailable_reason("native"), "");
}

TEST(Breakdown, NamesTheMissingEvents)
{
	char tmpl[] = "/tmp/fake-tracefs-XXXXXX";
	ASSERT_NE(mkdtemp(tmpl), nullptr);
	std::string root = tmpl;
	std::filesystem::create_directories(root + "/instances");
	std::filesystem::create_directories(root + "/events/fuse/fuse_request_send");
	std::ofstream(root + "/events/fuse/fuse_request_send/enable") << "0\n";
	EXPECT_EQ(bench::missing_events(root, {"fuse/fuse_request_send"}), "");
	EXPECT_EQ(bench::missing_events(root, {"fuse/fuse_request_send", "fuse/fuse_request_end", "rfuse/rfuse_req_queued"}),
		  "fuse/fuse_request_end, rfuse/rfuse_req_queued");
	setenv("RFUSE_BENCH_TRACEFS", root.c_str(), 1);
	std::string why = bench::breakdown_unavailable_reason("rfuse");
	unsetenv("RFUSE_BENCH_TRACEFS");
	EXPECT_NE(why.find("tracepoints missing"), std::string::npos) << why;
	EXPECT_NE(why.find("rfuse/rfuse_req_queued"), std::string::npos) << why;
	std::filesystem::remove_all(root);
}

} // namespace
