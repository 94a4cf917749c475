#include "runner.hpp"

#include "backing.hpp"
#include "breakdown.hpp"
#include "config.hpp"
#include "cpu.hpp"
#include "cpu_cost.hpp"
#include "environment.hpp"
#include "fio.hpp"
#include "interrupt.hpp"
#include "latency.hpp"
#include "macro.hpp"
#include "metadata.hpp"
#include "placement.hpp"
#include "mount.hpp"
#include "stats.hpp"
#include "subprocess.hpp"
#include "transport.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

namespace bench {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace stdfs = std::filesystem;

constexpr int kReportSchemaVersion = 1;

std::string utc_now()
{
	std::time_t t = std::time(nullptr);
	char buf[32];
	std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
	return buf;
}

std::string read_text(const std::string &path)
{
	std::ifstream in(path, std::ios::binary);
	std::stringstream ss;
	ss << in.rdbuf();
	return ss.str();
}

void write_text(const std::string &path, const std::string &text)
{
	std::ofstream out(path, std::ios::binary | std::ios::trunc);
	out << text;
	if (!out.flush())
		throw std::runtime_error("cannot write " + path);
}

// Written to a temp file and renamed: a reader never sees half a report.
void write_report(const std::string &out_dir, const json &report)
{
	std::string tmp = out_dir + "/report.json.tmp";
	write_text(tmp, report.dump(1) + "\n");
	stdfs::rename(tmp, out_dir + "/report.json");
}

std::string hms(double seconds)
{
	long s = static_cast<long>(seconds + 0.5);
	char buf[32];
	std::snprintf(buf, sizeof(buf), "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
	return buf;
}

std::string size_text(unsigned long long bytes)
{
	return std::to_string(bytes);
}

// Kills the daemon at a given moment: the fault injection of the tests, and
// the point timeout (a daemon that hangs would block a workload thread in
// the kernel forever; without it the calls fail with ENOTCONN).
class DaemonWatchdog {
public:
	DaemonWatchdog(pid_t pid, int inject_ms, double timeout_s) : pid_(pid)
	{
		if (pid_ <= 0)
			return;
		thread_ = std::thread([this, inject_ms, timeout_s] {
			std::unique_lock<std::mutex> lock(mutex_);
			auto start = Clock::now();
			if (inject_ms > 0 &&
			    !cv_.wait_until(lock, start + std::chrono::milliseconds(inject_ms), [this] { return done_; })) {
				injected_ = true;
				kill(pid_, SIGKILL);
				return;
			}
			auto limit = start + std::chrono::duration_cast<Clock::duration>(
						     std::chrono::duration<double>(timeout_s));
			if (!cv_.wait_until(lock, limit, [this] { return done_; })) {
				timed_out_ = true;
				kill(pid_, SIGKILL);
			}
		});
	}
	~DaemonWatchdog() { cancel(); }
	void cancel()
	{
		{
			std::lock_guard<std::mutex> g(mutex_);
			done_ = true;
		}
		cv_.notify_all();
		if (thread_.joinable())
			thread_.join();
	}
	bool injected() const { return injected_; }
	bool timed_out() const { return timed_out_; }

private:
	pid_t pid_;
	std::thread thread_;
	std::mutex mutex_;
	std::condition_variable cv_;
	bool done_ = false;
	bool injected_ = false, timed_out_ = false;
};

// StackFS keeps an fd per inode it knows (as passthrough_ll does), and the
// kernel keeps the inodes of big filesets cached: the daemons, which inherit
// our limits, need far more than the usual 1024 or 20000 descriptors. Root
// may raise the hard limit up to fs.nr_open.
void raise_open_file_limit()
{
	rlimit lim {};
	if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
		return;
	rlim_t want = 1 << 20;
	std::ifstream nr_open("/proc/sys/fs/nr_open");
	unsigned long long max = 0;
	if (nr_open >> max && max > 0)
		want = std::min<rlim_t>(want, static_cast<rlim_t>(max));
	if (lim.rlim_max < want) {
		rlimit raised{want, want};
		if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
			return;
	}
	lim.rlim_cur = lim.rlim_max;
	setrlimit(RLIMIT_NOFILE, &lim);
}

// A run killed hard (SIGKILL, second Ctrl-C) leaves its scratch folder:
// images, and mounts only lazily detached. Folders are named run-<pid>-*;
// those whose rfuse-bench is gone are swept before a new run starts.
void sweep_dead_runs(const std::string &scratch_root)
{
	std::error_code ec;
	for (const auto &entry : stdfs::directory_iterator(scratch_root, ec)) {
		std::string name = entry.path().filename().string();
		if (name.rfind("run-", 0) != 0)
			continue;
		pid_t pid = static_cast<pid_t>(std::atol(name.c_str() + 4));
		if (pid <= 0 || (kill(pid, 0) == 0 || errno == EPERM))
			continue;
		harness::unmount_all_under(entry.path().string());
		stdfs::remove_all(entry.path(), ec);
		std::fprintf(stderr, "rfuse-bench: removed %s, left by a run that died\n", entry.path().c_str());
	}
}

struct RepetitionOutcome {
	bool ok = false;
	std::string reason;
	json record;
};

class SuiteRun {
public:
	SuiteRun(const RunOptions &opts, const Catalog &catalog, const Spec &spec, const Profile &profile)
		: opts_(opts), catalog_(catalog), spec_(spec), profile_(profile)
	{
	}

	int run(const std::vector<Point> &points, const std::vector<int> &order);

private:
	json point_config(const Point &p) const;
	FsDef effective_fs(const Point &p) const;
	std::string skip_reason(const Point &p) const;
	json run_latency_workload(const Point &p, const std::string &dir, MountedTarget &target, std::string &error);
	json run_breakdown_workload(const Point &p, const std::string &dir, MountedTarget &target,
				    std::string &error);
	RepetitionOutcome run_repetition(const Point &p, int rep);
	json run_fio(const Point &p, int rep, const std::string &dir, std::string &error);
	json run_metadata_workload(const Point &p, const std::string &dir, MountedTarget &target,
				   std::string &error);
	json run_macro_workload(const Point &p, const std::string &dir, MountedTarget &target, std::string &error);
	// The repetition's CPU meter (its window: the workload's timed part)
	// and the operations that part did, set by the workload functions.
	std::unique_ptr<CpuMeter> meter_;
	double ops_ = 0;

	const RunOptions &opts_;
	const Catalog &catalog_;
	const Spec &spec_;
	const Profile &profile_;
	std::string scratch_;
};

// The filesystem as this point mounts it: the workload's daemon options
// appended, and for the latency kinds a tmpfs as the native reference of a
// filesystem that has no in-kernel counterpart (NullFS).
FsDef SuiteRun::effective_fs(const Point &p) const
{
	FsDef fs = catalog_.fs(p.filesystem);
	const WorkloadDef &w = catalog_.workload(p.workload);
	if (fs.command.empty()) {
		fs.args.insert(fs.args.end(), w.daemon_args.begin(), w.daemon_args.end());
	} else {
		// A program of the user's takes them where its "{options}" is
		// (options are its own business: without "{options}" they are
		// not passed, and the report's argv shows it).
		auto at = std::find(fs.command.begin(), fs.command.end(), "{options}");
		if (at != fs.command.end())
			fs.command.insert(fs.command.erase(at), w.daemon_args.begin(), w.daemon_args.end());
	}
	if ((w.kind == "latency" || w.kind == "breakdown") && fs.native.empty())
		fs.native = "tmpfs";
	return fs;
}

std::string SuiteRun::skip_reason(const Point &p) const
{
	std::string why = transport(p.transport).unavailable_reason(effective_fs(p), opts_.bin_dir);
	if (why.empty() && catalog_.workload(p.workload).kind == "breakdown")
		why = breakdown_unavailable_reason(p.transport);
	return why;
}

json SuiteRun::point_config(const Point &p) const
{
	const WorkloadDef &w = catalog_.workload(p.workload);
	const Transport &t = transport(p.transport);
	const FsDef fs = effective_fs(p);
	json wl = {{"name", w.name}, {"kind", w.kind}, {"description", w.description}};
	if (w.kind == "fio") {
		wl["job_template"] = w.job;
		wl["total_size_bytes"] = profile_.fio_total_size;
		wl["runtime_s"] = profile_.fio_runtime_s;
	} else if (w.kind == "latency") {
		wl["op"] = w.op;
		wl["samples"] = profile_.latency_samples;
		wl["warmup"] = profile_.latency_warmup;
		wl["daemon_args"] = w.daemon_args;
	} else if (w.kind == "breakdown") {
		wl["op"] = w.op;
		wl["calls"] = profile_.breakdown_calls;
		wl["warmup"] = profile_.breakdown_warmup;
		wl["daemon_args"] = w.daemon_args;
		wl["stages"] = json::array();
		for (const StageDef &st : breakdown_stages())
			wl["stages"].push_back({{"name", st.name}, {"label", st.label}});
	} else if (w.kind == "macro") {
		MacroParams d = macro_defaults(w.op);
		wl["op"] = w.op;
		wl["duration_s"] = profile_.macro_duration_s;
		wl["files"] = profile_.macro_files.at(w.op);
		wl["file_size_bytes"] = d.mean_file_size;
		wl["append_size_bytes"] = d.append_size;
		wl["io_size_bytes"] = d.io_size;
	} else {
		wl["op"] = w.op;
		wl["duration_s"] = profile_.metadata_duration_s;
		wl["files_per_thread"] = profile_.metadata_files_per_thread;
		wl["dir_entries"] = profile_.metadata_dir_entries;
	}
	std::string backing = t.backing_kind(fs, p);
	return {{"group", p.group},
		{"figure", p.figure},
		{"filesystem", p.filesystem},
		{"transport", p.transport},
		{"transport_description", t.description()},
		{"backing", backing.empty() ? "none" : backing},
		{"backing_size_bytes", backing == "ext4"    ? profile_.ext4_image_size
				       : backing == "tmpfs" ? profile_.tmpfs_size
							    : 0ULL},
		{"workload", wl},
		{"threads", p.threads},
		{"cpus", p.cpus},
		{"repetitions", profile_.repetitions},
		{"drop_caches", profile_.drop_caches},
		{"point_timeout_s", profile_.point_timeout_s}};
}

json SuiteRun::run_fio(const Point &p, int rep, const std::string &dir, std::string &error)
{
	const WorkloadDef &w = catalog_.workload(p.workload);
	unsigned long long per_job = profile_.fio_total_size / static_cast<unsigned long long>(p.threads);
	per_job -= per_job % (128 * 1024); // whole blocks of the largest bs
	if (per_job == 0)
		per_job = 128 * 1024;
	std::map<std::string, std::string> vars = {
		{"DIR", dir},
		{"NUMJOBS", std::to_string(p.threads)},
		{"SIZE", size_text(per_job)},
		{"RUNTIME", std::to_string(static_cast<long long>(profile_.fio_runtime_s * 1000)) + "ms"},
		{"CPUS", cpu_list(p.cpus, p.threads)},
	};
	std::string job = render_template(read_text(catalog_.dir() + "/" + w.job), vars);
	std::string job_path = opts_.out_dir + "/jobs/" + std::to_string(p.index) + "-r" + std::to_string(rep) + ".fio";
	write_text(job_path, job);
	std::string json_path = scratch_ + "/fio-output.json";
	auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
		std::chrono::duration<double>(profile_.point_timeout_s));
	// A read job lays its files out first, then the caches are dropped, so
	// that every transport reads what it would read cold: without this the
	// layout's writes sit in the backing filesystem's page cache, which
	// fio's own invalidate=1 drops for native runs only (over FUSE it
	// drops the FUSE file's pages, not the backing file's).
	// The layout is written in 1 MiB blocks (layout_job()).
	json layout;
	if (job.find("rw=randread") != std::string::npos || job.find("rw=read\n") != std::string::npos) {
		std::string layout_path = job_path.substr(0, job_path.size() - 4) + ".layout.fio";
		write_text(layout_path, layout_job(job));
		ProcessResult lp = run_process({"fio", "--create_only=1", "--output-format=json",
						"--output=" + json_path, layout_path},
					       {}, timeout);
		unlink(json_path.c_str());
		if (lp.exit_code != 0 || lp.term_signal != 0 || lp.interrupted) {
			error = "fio layout " + lp.describe() + ": " +
				(lp.err.size() > 600 ? lp.err.substr(lp.err.size() - 600) : lp.err);
			return {{"job_file", stdfs::path(job_path).lexically_relative(opts_.out_dir).string()},
				{"job", job},
				{"metrics", json::object()}};
		}
		layout = {{"create_only_first", true},
			  {"job_file", stdfs::path(layout_path).lexically_relative(opts_.out_dir).string()},
			  {"caches_dropped_after_layout", profile_.drop_caches && drop_caches()}};
	}
	meter_->begin();
	ProcessResult pr = run_process({"fio", "--output-format=json", "--output=" + json_path, job_path}, {}, timeout);
	meter_->end();
	std::string out = read_text(json_path);
	unlink(json_path.c_str());
	json rec = {{"job_file", stdfs::path(job_path).lexically_relative(opts_.out_dir).string()},
		    {"job", job},
		    {"size_per_job_bytes", per_job}};
	if (!layout.is_null())
		rec["layout"] = layout;
	FioResult fr = parse_fio_json(out);
	if (pr.interrupted)
		error = pr.timed_out ? "fio timed out" : "interrupted";
	else if (pr.exit_code != 0 || pr.term_signal != 0)
		error = "fio " + pr.describe() + (fr.ok || fr.error.empty() ? "" : ": " + fr.error) + ": " +
			(pr.err.size() > 600 ? pr.err.substr(pr.err.size() - 600) : pr.err);
	else if (!fr.ok)
		error = fr.error;
	json metrics = json::object();
	for (const auto &[name, m] : fr.metrics)
		metrics[name] = {{"value", m.value}, {"unit", m.unit}};
	rec["metrics"] = metrics;
	rec["raw"] = {{"fio_jobs", fr.jobs}, {"fio_stderr", pr.err.substr(0, 2000)}};
	ops_ = fio_total_ios(fr.jobs);
	return rec;
}

json SuiteRun::run_metadata_workload(const Point &p, const std::string &dir, MountedTarget &target,
				     std::string &error)
{
	const WorkloadDef &w = catalog_.workload(p.workload);
	MetadataParams mp;
	mp.op = w.op;
	mp.dir = dir;
	mp.cpus = p.cpus;
	mp.duration_s = profile_.metadata_duration_s;
	mp.files_per_thread = profile_.metadata_files_per_thread;
	mp.dir_entries = profile_.metadata_dir_entries;
	mp.should_stop = [&target] { return stop_requested() || !target.daemon_alive(); };
	mp.window = meter_->window();
	MetadataResult mr = run_metadata(mp);
	for (const MetadataThread &t : mr.threads)
		ops_ += static_cast<double>(t.works);
	if (!mr.ok)
		error = mr.error;
	json threads = json::array();
	for (const MetadataThread &t : mr.threads)
		threads.push_back(to_json(t));
	json metrics = json::object();
	if (mr.ok) {
		metrics["works_per_sec"] = {{"value", mr.works_per_sec}, {"unit", "ops/s"}};
		metrics["works_per_sec_per_thread"] = {{"value", mr.works_per_sec_per_thread}, {"unit", "ops/s"}};
	}
	return {{"metrics", metrics}, {"raw", {{"setup_s", mr.setup_s}, {"threads", threads}}}};
}

json SuiteRun::run_macro_workload(const Point &p, const std::string &dir, MountedTarget &target, std::string &error)
{
	const WorkloadDef &w = catalog_.workload(p.workload);
	MacroParams mp = macro_defaults(w.op);
	mp.dir = dir;
	mp.cpus = p.cpus;
	mp.duration_s = profile_.macro_duration_s;
	mp.files = std::max(profile_.macro_files.at(w.op), p.threads);
	mp.should_stop = [&target] { return stop_requested() || !target.daemon_alive(); };
	mp.window = meter_->window();
	MacroResult mr = run_macro(mp);
	for (const MacroThread &t : mr.threads)
		ops_ += static_cast<double>(t.ops);
	if (!mr.ok)
		error = mr.error;
	json threads = json::array();
	for (const MacroThread &t : mr.threads)
		threads.push_back(to_json(t));
	json metrics = json::object();
	if (mr.ok) {
		metrics["ops_per_sec"] = {{"value", mr.ops_per_sec}, {"unit", "ops/s"}};
		metrics["iterations_per_sec"] = {{"value", mr.iterations_per_sec}, {"unit", "iterations/s"}};
		metrics["bandwidth"] = {{"value", mr.mib_per_sec}, {"unit", "MiB/s"}};
	}
	return {{"metrics", metrics}, {"raw", {{"setup_s", mr.setup_s}, {"threads", threads}}}};
}

json SuiteRun::run_latency_workload(const Point &p, const std::string &dir, MountedTarget &target,
				    std::string &error)
{
	const WorkloadDef &w = catalog_.workload(p.workload);
	// One measuring thread per CPU of the point, all at once; with several,
	// each works in a directory of its own ("*.d": NullFS makes those
	// directories) and the samples of all threads make one distribution.
	std::vector<int> cpus = p.cpus.empty() ? std::vector<int>{-1} : p.cpus;
	std::vector<LatencyResult> results(cpus.size());
	// From the first thread's end of warmup to the last one's last sample.
	meter_ = std::make_unique<CpuMeter>(target.daemon_pid(), static_cast<int>(cpus.size()));
	std::vector<std::thread> threads;
	for (size_t i = 0; i < cpus.size(); ++i) {
		LatencyParams lp;
		lp.op = w.op;
		lp.dir = dir;
		if (cpus.size() > 1) {
			lp.dir = dir + "/lat-t" + std::to_string(i) + ".d";
			if (mkdir(lp.dir.c_str(), 0755) != 0 && errno != EEXIST) {
				error = "mkdir " + lp.dir + ": " + std::strerror(errno);
				return {{"metrics", json::object()}, {"raw", json::object()}};
			}
		}
		lp.cpu = cpus[i];
		lp.samples = profile_.latency_samples;
		lp.warmup = profile_.latency_warmup;
		lp.should_stop = [&target] { return stop_requested() || !target.daemon_alive(); };
		lp.window = meter_->window();
		threads.emplace_back([lp, &out = results[i]] { out = run_latency(lp); });
	}
	for (std::thread &t : threads)
		t.join();
	LatencyResult lr;
	lr.ok = true;
	for (LatencyResult &r : results) {
		if (!r.ok) {
			lr.ok = false;
			lr.error = r.error;
		}
		lr.setup_s = std::max(lr.setup_s, r.setup_s);
		lr.samples_us.insert(lr.samples_us.end(), r.samples_us.begin(), r.samples_us.end());
	}
	if (lr.ok)
		lr.us = distribution(lr.samples_us);
	ops_ = static_cast<double>(lr.samples_us.size());
	if (!lr.ok)
		error = lr.error;
	json metrics = lr.ok ? latency_metrics(lr.us) : json::object();
	json raw = {{"setup_s", lr.setup_s}, {"cpus", cpus}, {"threads", cpus.size()}};
	// Every sample, unless that would make the report huge (paper profile).
	constexpr size_t kMaxSamplesKept = 5000;
	if (lr.samples_us.size() <= kMaxSamplesKept)
		raw["samples_us"] = lr.samples_us;
	else
		raw["samples_us_omitted"] = "more than " + std::to_string(kMaxSamplesKept) + " samples";
	return {{"metrics", metrics}, {"raw", raw}};
}

json SuiteRun::run_breakdown_workload(const Point &p, const std::string &dir, MountedTarget &target,
				      std::string &error)
{
	BreakdownParams bp;
	bp.transport = p.transport;
	bp.dir = dir;
	bp.daemon_pid = target.daemon_pid();
	bp.cpu = p.cpus.empty() ? -1 : p.cpus[0];
	bp.calls = profile_.breakdown_calls;
	bp.warmup = profile_.breakdown_warmup;
	bp.should_stop = [&target] { return stop_requested() || !target.daemon_alive(); };
	BreakdownResult br = run_breakdown(bp);
	if (!br.ok)
		error = br.error;
	json raw = breakdown_raw(br);
	raw["cpu"] = bp.cpu;
	return {{"metrics", breakdown_metrics(br)}, {"raw", raw}};
}

RepetitionOutcome SuiteRun::run_repetition(const Point &p, int rep)
{
	RepetitionOutcome out;
	const FsDef fs = effective_fs(p);
	const Transport &tr = transport(p.transport);
	const WorkloadDef &w = catalog_.workload(p.workload);
	json &rec = out.record;
	rec = {{"index", rep}, {"started_at", utc_now()}};
	auto start = Clock::now();
	std::string error;
	try {
		std::optional<BackingStore> backing;
		std::string kind = tr.backing_kind(fs, p);
		if (!kind.empty())
			backing.emplace(kind, scratch_, kind == "ext4" ? profile_.ext4_image_size : profile_.tmpfs_size);
		std::string log = opts_.out_dir + "/logs/" + std::to_string(p.index) + "-r" + std::to_string(rep) + ".log";
		MountRequest req{fs, p, opts_.bin_dir, scratch_, log, backing ? &*backing : nullptr};
		std::unique_ptr<MountedTarget> target = tr.mount(req);
		rec["mount"] = target->describe();
		if (target->daemon_pid() > 0)
			rec["daemon_log"] = stdfs::path(log).lexically_relative(opts_.out_dir).string();
		rec["caches_dropped"] = profile_.drop_caches && drop_caches();

		json result;
		{
			DaemonWatchdog watchdog(target->daemon_pid(), opts_.inject_daemon_kill_ms, profile_.point_timeout_s);
			// Where the daemon's threads ran: sampled around the run.
			std::vector<ThreadSample> daemon_before = sample_threads(target->daemon_pid());
			meter_ = std::make_unique<CpuMeter>(target->daemon_pid());
			ops_ = 0;
			auto run_start = Clock::now();
			if (w.kind == "fio")
				result = run_fio(p, rep, target->workdir(), error);
			else if (w.kind == "macro")
				result = run_macro_workload(p, target->workdir(), *target, error);
			else if (w.kind == "latency")
				result = run_latency_workload(p, target->workdir(), *target, error);
			else if (w.kind == "breakdown")
				result = run_breakdown_workload(p, target->workdir(), *target, error);
			else
				result = run_metadata_workload(p, target->workdir(), *target, error);
			rec["run_s"] = std::chrono::duration<double>(Clock::now() - run_start).count();
			// The CPU the timed part cost (a breakdown traces every call,
			// which is not what its CPU would cost: none there).
			if (w.kind != "breakdown" && error.empty()) {
				CpuCost cost = meter_->cost(ops_);
				result["cpu"] = cost.to_json();
				if (result.contains("metrics"))
					cost.add_metrics(result["metrics"]);
			}
			if (target->daemon_pid() > 0 && target->daemon_alive())
				rec["daemon_threads"] = thread_placement(daemon_before, sample_threads(target->daemon_pid()),
									 sysconf(_SC_CLK_TCK));
			watchdog.cancel();
			if (watchdog.injected()) {
				rec["fault_injected"] = "daemon SIGKILLed " + std::to_string(opts_.inject_daemon_kill_ms) +
							" ms into the run";
			} else if (opts_.inject_daemon_kill_ms > 0 && target->daemon_pid() > 0) {
				// The workload beat the injection: kill it now, so that
				// the fault is injected on every point, however fast.
				kill(target->daemon_pid(), SIGKILL);
				rec["fault_injected"] = "daemon SIGKILLed at the end of the run";
			}
			if (watchdog.timed_out())
				error = "point timed out after " + std::to_string(profile_.point_timeout_s) +
					" s (daemon killed)" + (error.empty() ? "" : ": " + error);
		}
		for (auto &[k, v] : result.items())
			rec[k] = v;
		// The daemon's fate explains a workload error better than the error.
		bool died = !target->daemon_alive();
		std::string tail = died ? target->log_tail() : "";
		std::string daemon_error = target->stop();
		rec["mount"] = target->describe(); // now with what librfuse reported at the unmount
		if (!daemon_error.empty()) {
			error = daemon_error + (error.empty() ? "" : "; workload: " + error);
			if (!tail.empty())
				rec["daemon_log_tail"] = tail;
		}
	} catch (const std::exception &e) {
		error = std::string(e.what()) + (error.empty() ? "" : "; " + error);
	}
	if (stop_requested())
		error = "interrupted" + (error.empty() || error == "interrupted" ? "" : " (" + error + ")");
	rec["wall_s"] = std::chrono::duration<double>(Clock::now() - start).count();
	out.ok = error.empty();
	out.reason = error;
	rec["status"] = out.ok ? "ok" : "failed";
	if (!out.ok)
		rec["reason"] = error;
	return out;
}

int SuiteRun::run(const std::vector<Point> &points, const std::vector<int> &order)
{
	stdfs::create_directories(opts_.out_dir + "/logs");
	stdfs::create_directories(opts_.out_dir + "/jobs");
	stdfs::create_directories(opts_.scratch_root);
	sweep_dead_runs(opts_.scratch_root);
	std::string tmpl = opts_.scratch_root + "/run-" + std::to_string(getpid()) + "-XXXXXX";
	if (mkdtemp(tmpl.data()) == nullptr)
		throw std::runtime_error("mkdtemp " + tmpl + ": " + std::strerror(errno));
	scratch_ = tmpl;

	json report;
	report["schema_version"] = kReportSchemaVersion;
	report["generator"] = "rfuse-bench";
	report["run_id"] = stdfs::path(opts_.out_dir).filename().string();
	report["started_at"] = utc_now();
	report["status"] = "running";
	report["command"] = {{"spec", opts_.spec_path},
			     {"profile", opts_.profile},
			     {"filters", opts_.filters},
			     {"filesystems", opts_.filesystems},
			     {"bin_dir", opts_.bin_dir},
			     {"workloads_dir", opts_.workloads_dir},
			     {"inject_daemon_kill_ms", opts_.inject_daemon_kill_ms}};
	report["spec"] = spec_.raw;
	report["profile"] = {{"name", profile_.name}, {"description", profile_.description}, {"parameters", profile_.raw}};
	report["environment"] = collect_environment(order, opts_.source_dir);
	report["points"] = json::array();
	report["totals"] = {{"points", points.size()}, {"ok", 0}, {"failed", 0}, {"skipped", 0}, {"not_run", points.size()}};
	write_report(opts_.out_dir, report);

	// Availability first: the time estimate counts only points that will run.
	std::vector<std::string> skip_reason;
	size_t runnable_left = 0;
	for (const Point &p : points) {
		skip_reason.push_back(this->skip_reason(p));
		runnable_left += skip_reason.back().empty();
	}
	auto run_start = Clock::now();
	double measured_s = 0;
	int measured = 0, ok = 0, failed = 0, skipped = 0;
	size_t n = points.size();
	for (size_t i = 0; i < n && !stop_requested(); ++i) {
		const Point &p = points[i];
		auto point_start = Clock::now();
		json pj = {{"id", p.id}, {"index", p.index}, {"config", point_config(p)}};
		std::fprintf(stderr, "[%zu/%zu] %s ... ", i + 1, n, p.id.c_str());
		std::fflush(stderr);
		const std::string &skip = skip_reason[i];
		if (!skip.empty()) {
			pj["status"] = "skipped";
			pj["reason"] = skip;
			pj["repetitions"] = json::array();
			++skipped;
			std::fprintf(stderr, "skipped: %s\n", skip.c_str());
		} else {
			json reps = json::array();
			std::string reason;
			for (int r = 0; r < profile_.repetitions && !stop_requested(); ++r) {
				RepetitionOutcome o = run_repetition(p, r);
				reps.push_back(o.record);
				if (!o.ok) {
					reason = "repetition " + std::to_string(r) + ": " + o.reason;
					break; // a broken point stays broken: go on with the next one
				}
			}
			// Summaries over the repetitions that succeeded.
			std::map<std::string, std::pair<std::string, std::vector<double>>> values;
			for (const json &rj : reps)
				if (rj["status"] == "ok")
					for (const auto &[name, m] : rj["metrics"].items()) {
						values[name].first = m["unit"];
						values[name].second.push_back(m["value"].get<double>());
					}
			json summary = json::object();
			for (const auto &[name, uv] : values) {
				Summary s = summarize(uv.second);
				summary[name] = {{"unit", uv.first}, {"n", s.n},	   {"median", s.median}, {"min", s.min},
						 {"max", s.max},     {"mean", s.mean}, {"stddev", s.stddev}};
			}
			pj["repetitions"] = reps;
			pj["summary"] = summary;
			if (reason.empty() && static_cast<int>(reps.size()) < profile_.repetitions)
				reason = "interrupted";
			if (reason.empty()) {
				pj["status"] = "ok";
				++ok;
			} else {
				pj["status"] = "failed";
				pj["reason"] = reason;
				++failed;
			}
			double took = std::chrono::duration<double>(Clock::now() - point_start).count();
			measured_s += took;
			++measured;
			--runnable_left;
			std::string headline;
			for (const auto &[name, s] : summary.items())
				if (name == "works_per_sec" || name == "ops_per_sec" || name == "p50" || name == "total" ||
				    name.find(".bandwidth") != std::string::npos ||
				    name.find(".iops") != std::string::npos) {
					char buf[96];
					std::snprintf(buf, sizeof(buf), " %s=%.1f %s", name.c_str(), s["median"].get<double>(),
						      s["unit"].get<std::string>().c_str());
					headline += buf;
				}
			std::fprintf(stderr, "%s (%.1fs)%s\n", reason.empty() ? "ok" : ("FAILED: " + reason).c_str(), took,
				     headline.c_str());
		}
		pj["wall_s"] = std::chrono::duration<double>(Clock::now() - point_start).count();
		report["points"].push_back(pj);
		report["totals"] = {{"points", n}, {"ok", ok}, {"failed", failed}, {"skipped", skipped}, {"not_run", n - i - 1}};
		write_report(opts_.out_dir, report);
		double elapsed = std::chrono::duration<double>(Clock::now() - run_start).count();
		if (skip.empty() && runnable_left > 0)
			std::fprintf(stderr, "        elapsed %s, about %s left (%zu points to run)\n", hms(elapsed).c_str(),
				     hms(measured_s / measured * static_cast<double>(runnable_left)).c_str(), runnable_left);
	}
	bool interrupted = stop_requested();
	report["finished_at"] = utc_now();
	report["status"] = interrupted ? "interrupted" : "complete";
	report["wall_s"] = std::chrono::duration<double>(Clock::now() - run_start).count();
	write_report(opts_.out_dir, report);
	// Anything a crashed daemon or a bug left behind goes now.
	harness::unmount_all_under(scratch_);
	std::error_code ec;
	stdfs::remove_all(scratch_, ec);
	std::fprintf(stderr, "%s: %d ok, %d failed, %d skipped of %zu points in %s; report: %s/report.json\n",
		     interrupted ? "interrupted" : "done", ok, failed, skipped, n,
		     hms(std::chrono::duration<double>(Clock::now() - run_start).count()).c_str(),
		     opts_.out_dir.c_str());
	if (interrupted)
		return kRunInterrupted;
	return failed > 0 ? kRunSomeFailed : kRunAllOk;
}

} // namespace

int run_suite(const RunOptions &opts)
{
	Catalog catalog = Catalog::load(opts.workloads_dir);
	Profile profile = catalog.profile(opts.profile);
	if (opts.repetitions > 0)
		profile.repetitions = opts.repetitions;
	Spec spec = catalog.load_spec(opts.spec_path);
	if (!opts.filesystems.empty()) {
		for (const std::string &name : opts.filesystems)
			catalog.fs(name); // a ConfigError naming the valid ones
		for (Group &g : spec.groups)
			g.filesystems = opts.filesystems;
	}
	std::vector<int> order = cpu_order();
	std::vector<Point> points = expand_points(spec, catalog, profile, order, opts.filters);
	if (points.empty())
		throw ConfigError("no point of " + opts.spec_path + " matches the filter(s) " + join(opts.filters));
	if (opts.dry_run) {
		for (const Point &p : points)
			std::printf("%s\n", p.id.c_str());
		return kRunAllOk;
	}
	install_interrupt_handler();
	raise_open_file_limit();
	SuiteRun run(opts, catalog, spec, profile);
	return run.run(points, order);
}

} // namespace bench
