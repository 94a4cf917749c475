// The creat() breakdown's kprobe fallback (kernels without the fuse
// tracepoints, Linux 6.1 of the VM rig): the kprobe trace lines, the
// /proc/kallsyms lookup, the plan chosen from a fake tracefs, the
// kprobe_events bookkeeping, and the pairing of events on a capture from the
// VM rig (data/trace-creat-fuse-kprobes*.txt: rfuse-bench task 160 creating
// NullFS files, libfuse daemon threads splicing requests from /dev/fuse).
#include "breakdown.hpp"
#include "test_support.hpp"
#include "trace.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

namespace stdfs = std::filesystem;

std::string data(const std::string &name)
{
	std::string text;
	EXPECT_TRUE(test_support::read_file(std::string(RFUSE_TEST_DATA_DIR) + "/" + name, text)) << name;
	return text;
}

std::string slurp(const std::string &path)
{
	std::string text;
	test_support::read_file(path, text);
	return text;
}

constexpr int kVmCaller = 160;    // in trace-creat-fuse-kprobes.txt
constexpr int kHostCaller = 4999; // in trace-creat-fuse.txt

// A tracefs look-alike in a temporary folder.
class FakeTracefs {
public:
	FakeTracefs()
	{
		char tmpl[] = "/tmp/fake-tracefs-XXXXXX";
		if (mkdtemp(tmpl) == nullptr)
			throw std::runtime_error("mkdtemp failed");
		root = tmpl;
		stdfs::create_directories(root + "/instances");
	}
	~FakeTracefs() { stdfs::remove_all(root); }
	void add_event(const std::string &e)
	{
		stdfs::create_directories(root + "/events/" + e);
		std::ofstream(root + "/events/" + e + "/enable") << "0\n";
	}
	void add_base_events()
	{
		for (const char *e : {"raw_syscalls/sys_enter", "raw_syscalls/sys_exit", "sched/sched_switch"})
			add_event(e);
	}
	void add_kprobe_events(const std::string &text = "") { std::ofstream(root + "/kprobe_events") << text; }
	std::string root;
};

const char *const kKallsyms = "ffffffff81000000 T _stext\n"
			      "ffffffffc02138d0 t queue_request_and_unlock\t[fuse]\n"
			      "ffffffffc0214380 t request_wait_answer\t[fuse]\n"
			      "ffffffffc0213ba0 t fuse_request_end\t[fuse]\n"
			      "ffffffffc0219000 d fuse_request_end_data\t[fuse]\n";

TEST(KprobeTrace, ParsesTheRequestAddress)
{
	bench::ParsedTrace t = bench::parse_trace(
		"     nullfs-fuse-157     [001] .....    26.475615: fuse_kp_end: (fuse_request_end+0x0/0x190 [fuse]) "
		"req=0xffff8881019d01c8\n"
		"     rfuse-bench-160     [000] ...1.    26.474530: fuse_kp_queued: (queue_request_and_unlock+0x0/0x90 "
		"[fuse]) req=0xffff8881019d0000\n");
	ASSERT_EQ(t.events.size(), 2u);
	EXPECT_EQ(t.events[0].name, "fuse_kp_end");
	EXPECT_EQ(t.events[0].pid, 157);
	EXPECT_EQ(t.events[0].cpu, 1);
	EXPECT_EQ(t.events[0].req, 0xffff8881019d01c8ULL);
	EXPECT_EQ(t.events[0].unique, -1);
	EXPECT_EQ(t.events[0].ts_ns, 26475615000ULL);
	EXPECT_EQ(t.events[1].name, bench::kKprobeQueued);
	EXPECT_EQ(t.events[1].req, 0xffff8881019d0000ULL);
}

TEST(Kallsyms, FindsExactlyOneTextSymbol)
{
	std::string text = std::string(kKallsyms) + "ffffffff81234000 T fuse_simple_request\n"
						    "ffffffffc0300000 t dup_fn\t[a]\nffffffffc0400000 t dup_fn\t[b]\n"
						    "ffffffffc0500000 t fuse_copy_args.isra.0\t[fuse]\n";
	std::string module, why;
	EXPECT_TRUE(bench::find_kallsyms(text, "queue_request_and_unlock", module, why)) << why;
	EXPECT_EQ(module, "fuse");
	EXPECT_TRUE(bench::find_kallsyms(text, "fuse_simple_request", module, why)) << why;
	EXPECT_EQ(module, ""); // built into the kernel image
	EXPECT_FALSE(bench::find_kallsyms(text, "dup_fn", module, why));
	EXPECT_NE(why.find("2 times"), std::string::npos) << why;
	// Only the exact name: a compiler-specialised copy has other arguments.
	EXPECT_FALSE(bench::find_kallsyms(text, "fuse_copy_args", module, why));
	EXPECT_NE(why.find("not in /proc/kallsyms"), std::string::npos) << why;
	EXPECT_FALSE(bench::find_kallsyms(text, "fuse_request_end_data", module, why)); // data, not text
}

TEST(BreakdownPlan, TracepointsWhenTheKernelHasThem)
{
	FakeTracefs fs;
	fs.add_base_events();
	fs.add_event("fuse/fuse_request_send");
	fs.add_event("fuse/fuse_request_end");
	fs.add_kprobe_events();
	bench::BreakdownPlan plan = bench::plan_breakdown(fs.root, "fuse", kKallsyms, "6.18.0");
	EXPECT_EQ(plan.unavailable, "");
	EXPECT_EQ(plan.source, "tracepoints");
	EXPECT_TRUE(plan.kprobes.empty());
	EXPECT_EQ(plan.events, bench::breakdown_events("fuse"));
}

TEST(BreakdownPlan, KprobesInPlaceOfMissingFuseTracepoints)
{
	FakeTracefs fs;
	fs.add_base_events();
	fs.add_kprobe_events();
	bench::BreakdownPlan plan = bench::plan_breakdown(fs.root, "fuse", kKallsyms, "6.1.0-56-amd64");
	ASSERT_EQ(plan.unavailable, "");
	EXPECT_EQ(plan.source, "kprobes");
	EXPECT_EQ(plan.events.size(), 3u); // syscalls and sched_switch; the kprobes come on top
	ASSERT_EQ(plan.kprobes.size(), 2u);
	EXPECT_EQ(bench::kprobe_line("g", plan.kprobes[0]),
		  "p:g/fuse_kp_queued fuse:queue_request_and_unlock req=$arg2:x64");
	EXPECT_EQ(bench::kprobe_line("g", plan.kprobes[1]), "p:g/fuse_kp_end fuse:fuse_request_end req=$arg1:x64");

	// queue_request_and_unlock inlined: the entry of request_wait_answer.
	std::string inlined = std::regex_replace(kKallsyms, std::regex(".*queue_request_and_unlock.*\n"), "");
	plan = bench::plan_breakdown(fs.root, "fuse", inlined, "6.1.0-56-amd64");
	ASSERT_EQ(plan.unavailable, "");
	ASSERT_EQ(plan.kprobes.size(), 2u);
	EXPECT_EQ(bench::kprobe_line("g", plan.kprobes[0]),
		  "p:g/fuse_kp_queued fuse:request_wait_answer req=$arg1:x64");
}

TEST(BreakdownPlan, SaysWhyThereIsNoFallback)
{
	FakeTracefs fs;
	fs.add_base_events();
	// No kprobe_events file.
	bench::BreakdownPlan plan = bench::plan_breakdown(fs.root, "fuse", kKallsyms, "6.1.0");
	EXPECT_NE(plan.unavailable.find("tracepoints missing"), std::string::npos) << plan.unavailable;
	EXPECT_NE(plan.unavailable.find("fuse/fuse_request_send"), std::string::npos) << plan.unavailable;
	EXPECT_NE(plan.unavailable.find("kprobe_events"), std::string::npos) << plan.unavailable;

	fs.add_kprobe_events();
	plan = bench::plan_breakdown(fs.root, "fuse", "ffffffff81000000 T _stext\n", "6.1.0");
	EXPECT_NE(plan.unavailable.find("request_wait_answer is not in /proc/kallsyms"), std::string::npos)
		<< plan.unavailable;
	EXPECT_NE(plan.unavailable.find("fuse_request_end is not in"), std::string::npos) << plan.unavailable;
	EXPECT_TRUE(plan.kprobes.empty());

	plan = bench::plan_breakdown(fs.root, "fuse", kKallsyms, "5.3.18");
	EXPECT_NE(plan.unavailable.find("predates Linux 5.4"), std::string::npos) << plan.unavailable;

	// Only classic FUSE has a fallback.
	plan = bench::plan_breakdown(fs.root, "rfuse", kKallsyms, "6.1.0");
	EXPECT_NE(plan.unavailable.find("rfuse/rfuse_req_queued"), std::string::npos) << plan.unavailable;
	EXPECT_EQ(plan.unavailable.find("kprobe"), std::string::npos) << plan.unavailable;
}

TEST(KprobeGroup, DefinesAndRemovesItsOwnEventsOnly)
{
	FakeTracefs fs;
	const std::string other = "p:someone_else/probe do_sys_open\n";
	fs.add_kprobe_events(other);
	std::string group;
	{
		bench::KprobeGroup g(fs.root, {{"a", "fuse:fuse_request_end", "req=$arg1:x64"}, {"b", "vfs_read", ""}});
		group = g.group();
		EXPECT_NE(group.find("rfuse_bench_" + std::to_string(getpid()) + "_"), std::string::npos) << group;
		EXPECT_EQ(g.events(), (std::vector<std::string>{group + "/a", group + "/b"}));
		ASSERT_EQ(g.definitions().size(), 2u);
		EXPECT_EQ(g.definitions()[1], "p:" + group + "/b vfs_read");
		// Appended: the events already there stay.
		EXPECT_EQ(slurp(fs.root + "/kprobe_events"),
			  other + "p:" + group + "/a fuse:fuse_request_end req=$arg1:x64\np:" + group + "/b vfs_read\n");
	}
	EXPECT_EQ(slurp(fs.root + "/kprobe_events"), other + "p:" + group +
							     "/a fuse:fuse_request_end req=$arg1:x64\np:" + group +
							     "/b vfs_read\n-:" + group + "/a\n-:" + group + "/b\n");
}

TEST(KprobeGroup, RefusedDefinitionThrows)
{
	FakeTracefs fs;
	stdfs::create_directories(fs.root + "/kprobe_events"); // cannot be written
	EXPECT_THROW(bench::KprobeGroup(fs.root, {{"a", "fuse_request_end", ""}}), std::runtime_error);
}

TEST(KprobeGroup, StaleGroupsOfDeadRunsAreRemoved)
{
	pid_t dead = fork();
	ASSERT_GE(dead, 0);
	if (dead == 0)
		_exit(0);
	ASSERT_EQ(waitpid(dead, nullptr, 0), dead);
	FakeTracefs fs;
	std::string d = std::to_string(dead), me = std::to_string(getpid());
	stdfs::create_directories(fs.root + "/instances/rfuse-bench-" + d + "-0");
	stdfs::create_directories(fs.root + "/instances/rfuse-bench-" + me + "-0");
	stdfs::create_directories(fs.root + "/instances/someone-" + d);
	std::string before = "p:rfuse_bench_" + d + "_0/fuse_kp_end fuse:fuse_request_end req=$arg1:x64\n" +
			     "p:rfuse_bench_" + me + "_0/fuse_kp_end fuse:fuse_request_end req=$arg1:x64\n" +
			     "p:kprobes/p_vfs_read_0 vfs_read\n";
	fs.add_kprobe_events(before);
	bench::remove_stale_tracing(fs.root);
	EXPECT_FALSE(stdfs::exists(fs.root + "/instances/rfuse-bench-" + d + "-0"));
	EXPECT_TRUE(stdfs::exists(fs.root + "/instances/rfuse-bench-" + me + "-0"));
	EXPECT_TRUE(stdfs::exists(fs.root + "/instances/someone-" + d));
	EXPECT_EQ(slurp(fs.root + "/kprobe_events"), before + "-:rfuse_bench_" + d + "_0/fuse_kp_end\n");
}

bench::ParsedTrace vm_capture()
{
	return bench::parse_trace(data("trace-creat-fuse-kprobes.txt"), data("trace-creat-fuse-kprobes.raw.txt"));
}

double us_between(uint64_t from, uint64_t to)
{
	return (static_cast<double>(to) - static_cast<double>(from)) / 1000.0;
}

TEST(KprobeBreakdown, VmCaptureHasEveryStage)
{
	bench::ParsedTrace t = vm_capture();
	ASSERT_TRUE(t.ns_timestamps);
	bench::BreakdownResult r = bench::compute_breakdown(t, kVmCaller, bench::creat_syscalls());
	ASSERT_TRUE(r.ok) << r.error;
	EXPECT_EQ(r.calls_traced, 12);
	EXPECT_EQ(r.calls_used, 12);
	EXPECT_DOUBLE_EQ(r.requests_per_call, 2); // LOOKUP, CREATE
	EXPECT_TRUE(r.opcodes.empty());           // kprobes fetch no opcode
	for (const bench::StageResult &s : r.stages) {
		EXPECT_TRUE(s.present) << s.name << ": " << s.missing_reason;
		EXPECT_GE(s.us.min, 0) << s.name;
	}
	for (const auto &row : r.per_call_us) {
		double sum = 0;
		for (double v : row)
			sum += v;
		EXPECT_GT(sum, 0);
		EXPECT_LE(sum, r.total_us.max + 1e-6);
	}
	// The first call (LOOKUP, CREATE): each request is picked up when the
	// daemon's splice() from /dev/fuse returns, not at the read() of the
	// pipe that follows it.
	const std::vector<bench::TraceEvent> &ev = t.events;
	size_t i = 0;
	while (i < ev.size() && !(ev[i].pid == kVmCaller && ev[i].name == "sys_enter" && ev[i].id == SYS_creat))
		++i;
	double dispatch = 0;
	for (int req = 0; req < 2; ++req) {
		while (i < ev.size() && ev[i].name != bench::kKprobeQueued)
			++i;
		size_t splice = i;
		while (splice < ev.size() && !(ev[splice].name == "sys_exit" && ev[splice].id == SYS_splice))
			++splice;
		ASSERT_LT(splice + 1, ev.size());
		EXPECT_EQ(ev[splice + 1].id, SYS_read) << "splice, then read() of the pipe";
		dispatch += us_between(ev[i].ts_ns, ev[splice].ts_ns);
		i = splice;
	}
	ASSERT_FALSE(r.per_call_us.empty());
	EXPECT_NEAR(r.per_call_us[0][1], dispatch, 1e-6);
}

TEST(KprobeBreakdown, AnotherRequestsEndIsNotTaken)
{
	bench::ParsedTrace t = vm_capture();
	bench::BreakdownResult want = bench::compute_breakdown(t, kVmCaller, bench::creat_syscalls());
	// An async RELEASE of an earlier close() ending while a creat() waits:
	// another struct fuse_req, on a daemon thread, after each queueing.
	std::vector<bench::TraceEvent> mixed;
	for (const bench::TraceEvent &e : t.events) {
		mixed.push_back(e);
		if (e.name == bench::kKprobeQueued) {
			bench::TraceEvent release;
			release.name = bench::kKprobeEnd;
			release.pid = 157;
			release.cpu = 1;
			release.ts_ns = e.ts_ns + 1;
			release.req = e.req + 0x400;
			mixed.push_back(release);
		}
	}
	t.events = mixed;
	bench::BreakdownResult got = bench::compute_breakdown(t, kVmCaller, bench::creat_syscalls());
	ASSERT_TRUE(got.ok) << got.error;
	EXPECT_EQ(got.calls_used, want.calls_used);
	EXPECT_EQ(got.per_call_us, want.per_call_us);
}

// The host capture with its fuse tracepoints rewritten as the kprobe events
// would print them (the request's unique as its address): the same stages.
TEST(KprobeBreakdown, SameStagesAsTheTracepoints)
{
	std::string text = data("trace-creat-fuse.txt"), raw = data("trace-creat-fuse.raw.txt");
	const std::regex send("fuse_request_send: connection \\d+ req (\\d+) .*");
	const std::regex end("fuse_request_end: connection \\d+ req (\\d+) .*");
	std::istringstream in(text);
	std::string kp, line;
	while (std::getline(in, line)) {
		line = std::regex_replace(line, send, "fuse_kp_queued: (queue_request_and_unlock+0x0/0x90) req=0xffff8881000$1");
		line = std::regex_replace(line, end, "fuse_kp_end: (fuse_request_end+0x0/0x190) req=0xffff8881000$1");
		kp += line + "\n";
	}
	ASSERT_EQ(kp.find("fuse_request_send:"), std::string::npos);
	ASSERT_EQ(kp.find("fuse_request_end:"), std::string::npos);
	ASSERT_NE(kp.find("fuse_kp_end"), std::string::npos);
	bench::BreakdownResult want = bench::compute_breakdown(bench::parse_trace(text, raw), kHostCaller,
								bench::creat_syscalls());
	bench::BreakdownResult got = bench::compute_breakdown(bench::parse_trace(kp, raw), kHostCaller,
							       bench::creat_syscalls());
	ASSERT_TRUE(want.ok) << want.error;
	ASSERT_TRUE(got.ok) << got.error;
	EXPECT_EQ(got.calls_used, want.calls_used);
	ASSERT_EQ(got.per_call_us.size(), want.per_call_us.size());
	for (size_t c = 0; c < got.per_call_us.size(); ++c)
		for (size_t s = 0; s < got.per_call_us[c].size(); ++s)
			EXPECT_DOUBLE_EQ(got.per_call_us[c][s], want.per_call_us[c][s]) << "call " << c << " stage " << s;
}

} // namespace
