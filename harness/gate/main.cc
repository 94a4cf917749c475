// rfuse-gate: the CI performance regression gate. Measures a fixed, short
// set of metrics over every transport available here, interleaving the
// repetitions, and compares them with the baseline of this machine class
// (README.md). Exit 0: nothing regressed; 1: something did; 2: could not run.
#include "environment.hpp"
#include "gate.hpp"
#include "interrupt.hpp"
#include "measure.hpp"
#include "mount.hpp"

#include "cpu.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <unistd.h>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string own_bin_dir()
{
	std::error_code ec;
	fs::path exe = fs::read_symlink("/proc/self/exe", ec);
	return ec ? "." : exe.parent_path().string();
}

void write_json(const std::string &path, const json &j)
{
	fs::path p(path);
	if (p.has_parent_path())
		fs::create_directories(p.parent_path());
	std::string tmp = path + ".tmp";
	{
		std::ofstream f(tmp);
		f << j.dump(2) << "\n";
		if (!f.flush())
			throw std::runtime_error("cannot write " + tmp);
	}
	fs::rename(tmp, path);
}

std::string known_classes(const std::string &dir)
{
	std::string out;
	std::error_code ec;
	for (const auto &e : fs::directory_iterator(dir, ec))
		if (e.path().extension() == ".json")
			out += (out.empty() ? "" : ", ") + e.path().stem().string();
	return out.empty() ? "none" : out;
}

int cannot_run(const std::string &why)
{
	std::cerr << "rfuse-gate: cannot run: " << why << "\n";
	return gate::kCannotRun;
}

} // namespace

int main(int argc, char **argv)
{
	CLI::App app{"rfuse-gate: CI performance regression gate (exit 0 pass, 1 regression, 2 could not run)"};
	std::string baseline_path, json_path, bin_dir = own_bin_dir(), source_dir = RFUSE_SOURCE_DIR,
				       scratch = "/tmp";
	bool update = false, quick = false, append = false;
	int reps = 7, inject_delay_us = 0;
	double duration_s = 1.0;
	gate::Rule rule;
	std::vector<std::string> metrics, transports;
	app.add_option("--baseline", baseline_path,
		       "baseline file (default: <source>/reports/baselines/<machine class>.json)");
	app.add_flag("--update-baseline", update, "measure and write the baseline instead of comparing");
	app.add_flag("--append", append,
		     "with --update-baseline: add this session's samples to the existing baseline (a baseline "
		     "pooled over sessions at different times covers the box's changing load)");
	app.add_flag("--quick", quick, "CI form: 5 repetitions instead of 7");
	app.add_option("--reps", reps, "repetitions of every configuration")->check(CLI::Range(1, 100));
	app.add_option("--duration", duration_s, "seconds per sample (must match the baseline's)")
		->check(CLI::Range(0.05, 60.0));
	app.add_option("--threshold", rule.threshold, "practical threshold: fraction worse than the baseline median")
		->check(CLI::Range(0.0, 10.0));
	app.add_option("--noise-factor", rule.noise_factor,
		       "the practical threshold is at least this many baseline relative spreads (1.4826 MAD/median)")
		->check(CLI::Range(0.0, 100.0));
	app.add_option("--alpha", rule.alpha, "significance level of the one-sided Mann-Whitney U test")
		->check(CLI::Range(0.0, 1.0));
	app.add_option("--metrics", metrics, "subset: getattr, randread, mwcl, seqread (default: all)")->delimiter(',');
	app.add_option("--transports", transports, "subset of fuse, uring (default: the baseline's, or all available)")
		->delimiter(',');
	app.add_option("--json", json_path, "where to write the JSON report (default: <bin>/../gate/report.json)")
		->multi_option_policy(CLI::MultiOptionPolicy::TakeLast); // run.sh passes one, a caller may override it
	app.add_option("--bin-dir", bin_dir, "where the filesystem daemons are");
	app.add_option("--source-dir", source_dir, "the source tree (for reports/baselines and git)");
	app.add_option("--scratch", scratch, "directory for mount points and the tmpfs");
	app.add_option("--inject-delay-us", inject_delay_us,
		       "TEST ONLY: pass -o delay_us=N to nullfs, to prove the gate fails")
		->check(CLI::Range(0, 1000000));
	CLI11_PARSE(app, argc, argv);
	if (quick && app.count("--reps") == 0)
		reps = 5;

	// First signal: stop, unmount by the normal path; second: emergency.
	bench::install_interrupt_handler();
	std::vector<int> cpu_order = bench::cpu_order();
	json env = bench::collect_environment(cpu_order, source_dir);
	const std::string mclass = gate::machine_class(env);
	const std::string baseline_dir = source_dir + "/reports/baselines";
	if (baseline_path.empty())
		baseline_path = baseline_dir + "/" + mclass + ".json";
	if (json_path.empty())
		json_path = bin_dir + "/../gate/report.json";

	gate::Settings settings;
	settings.duration_s = duration_s;
	settings.repetitions = reps;
	settings.inject_delay_us = inject_delay_us;
	try {
		for (const auto &m : metrics.empty() ? std::vector<std::string>{"getattr", "randread", "mwcl", "seqread"}
						      : metrics)
			settings.metrics.push_back(gate::metric_def(m).name);
	} catch (const std::exception &e) {
		return cannot_run(e.what());
	}

	json baseline;
	if (update) {
		if (inject_delay_us > 0)
			return cannot_run("--inject-delay-us is for tests; a baseline must not be recorded with it");
	} else {
		std::ifstream f(baseline_path);
		if (!f)
			return cannot_run("no baseline " + baseline_path + " for this machine class '" + mclass +
					  "' (baselines exist for: " + known_classes(baseline_dir) +
					  "). Gates compare only within a machine class; record one here with "
					  "--update-baseline");
		try {
			baseline = json::parse(f);
		} catch (const std::exception &e) {
			return cannot_run("cannot parse " + baseline_path + ": " + e.what());
		}
		std::string why = gate::incompatibility(baseline, mclass, settings);
		if (!why.empty())
			return cannot_run(baseline_path + ": " + why);
	}

	// Transports: as asked; else the baseline's (all must be available); else all available here.
	bool explicit_transports = !transports.empty();
	if (!explicit_transports && !update)
		transports = baseline.at("settings").at("transports").get<std::vector<std::string>>();
	if (!explicit_transports && update)
		transports = {"fuse", "uring"};
	std::cerr << "rfuse-gate: machine class " << mclass << "; rfuse: "
		  << gate::transport_unavailable("rfuse", bin_dir) << "\n";
	for (const auto &t : transports) {
		std::string why = gate::transport_unavailable(t, bin_dir);
		if (why.empty()) {
			settings.transports.push_back(t);
		} else if (update && !explicit_transports) {
			std::cerr << "rfuse-gate: transport " << t << " left out: " << why << "\n";
		} else {
			return cannot_run("transport " + t + " is not available: " + why);
		}
	}
	if (settings.transports.empty())
		return cannot_run("no transport available");
	settings.thread_counts = {1};
	if (cpu_order.size() > 1)
		settings.thread_counts.push_back(static_cast<int>(cpu_order.size()));

	gate::MeasureOptions mo;
	mo.metrics = settings.metrics;
	mo.transports = settings.transports;
	mo.thread_counts = settings.thread_counts;
	mo.cpu_order = cpu_order;
	mo.repetitions = reps;
	mo.duration_s = duration_s;
	mo.inject_delay_us = inject_delay_us;
	mo.bin_dir = bin_dir;
	mo.progress = [](const std::string &s) { std::cerr << "rfuse-gate: " << s << "\n"; };

	std::map<std::string, gate::SampleSet> samples;
	std::string run_dir;
	try {
		fs::create_directories(scratch);
		std::string tmpl = scratch + "/rfuse-gate.XXXXXX";
		if (!mkdtemp(tmpl.data()))
			throw std::runtime_error("mkdtemp " + tmpl + " failed");
		run_dir = tmpl;
		mo.scratch_dir = run_dir;
		samples = gate::measure(mo);
	} catch (const std::exception &e) {
		if (!run_dir.empty())
			harness::unmount_all_under(run_dir);
		if (bench::stop_requested()) {
			std::cerr << "rfuse-gate: interrupted\n";
			return 128 + bench::stop_signal();
		}
		return cannot_run(std::string("measurement failed: ") + e.what() +
				  (run_dir.empty() ? "" : " (logs under " + run_dir + "/logs)"));
	}
	// Everything is unmounted by now; never remove_all through a live mount.
	if (harness::unmount_all_under(run_dir) == 0)
		fs::remove_all(run_dir);
	auto ratios = gate::within_run_ratios(samples);
	samples.insert(ratios.begin(), ratios.end());

	json record = gate::make_record(mclass, env, settings, samples);
	if (update) {
		if (append && fs::exists(baseline_path)) {
			try {
				std::ifstream f(baseline_path);
				json old = json::parse(f);
				if (std::string why = gate::incompatibility(old, mclass, settings); !why.empty())
					return cannot_run("cannot append to " + baseline_path + ": " + why);
				record = gate::append_session(old, record);
			} catch (const std::exception &e) {
				return cannot_run("cannot append to " + baseline_path + ": " + e.what());
			}
		}
		write_json(baseline_path, record);
		std::cout << "rfuse-gate: baseline for " << mclass << " written to " << baseline_path << "\n";
		auto rows = gate::compare_runs({}, samples, rule);
		for (const auto &r : rows)
			std::cout << "  " << r.key << ": median " << r.cmp.now_median << " " << r.unit << "\n";
		return gate::kPass;
	}

	auto base_samples = gate::samples_from_record(baseline);
	auto rows = gate::compare_runs(base_samples, samples, rule);
	std::cout << gate::format_table(rows);
	size_t n_base = SIZE_MAX;
	for (const auto &r : rows)
		if (r.n_base > 0)
			n_base = std::min(n_base, r.n_base);
	if (n_base == SIZE_MAX)
		n_base = 0;
	double min_p = gate::mann_whitney_min_p(n_base, static_cast<size_t>(reps));
	if (min_p * static_cast<double>(rows.size()) >= rule.alpha)
		std::cout << "warning: with " << n_base << " baseline and " << reps << " repetitions over " << rows.size()
			  << " metrics the Holm-corrected test cannot reach p < " << rule.alpha
			  << "; nothing can be flagged\n";
	bool regressed = gate::any_regressed(rows);
	json report = record;
	report["schema"] = "rfuse-gate-report/1";
	report["baseline"] = {{"path", baseline_path},
			      {"machine_class", baseline.value("machine_class", "")},
			      {"git", baseline.at("environment").value("git", json())},
			      {"settings", baseline.at("settings")}};
	report["rule"] = {{"threshold", rule.threshold}, {"noise_factor", rule.noise_factor}, {"alpha", rule.alpha}};
	report["comparison"] = gate::rows_to_json(rows);
	report["result"] = regressed ? "regressed" : "pass";
	write_json(json_path, report);
	std::string names;
	for (const auto &r : rows)
		if (r.cmp.verdict == gate::Verdict::regressed)
			names += (names.empty() ? "" : ", ") + r.key;
	std::cout << "rfuse-gate: " << (regressed ? "REGRESSION in " + names : std::string("pass")) << " (rule: median worse by > max("
		  << rule.threshold * 100 << "%, " << rule.noise_factor
		  << " x baseline spread) AND one-sided Mann-Whitney p < " << rule.alpha << ", Holm-corrected over "
		  << rows.size() << " metrics"
		  << "); report: " << json_path << "\n";
	return regressed ? gate::kRegressed : gate::kPass;
}
