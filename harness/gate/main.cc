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
#include "subprocess.hpp"

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

// Measures in a fresh directory under `scratch`; everything mounted below it
// is unmounted whatever happens (its logs stay when a measurement failed).
gate::BuildSamples measure_in(const std::string &scratch, gate::MeasureOptions mo)
{
	fs::create_directories(scratch);
	std::string dir = scratch + "/rfuse-gate.XXXXXX";
	if (!mkdtemp(dir.data()))
		throw std::runtime_error("mkdtemp " + dir + " failed");
	mo.scratch_dir = dir;
	gate::BuildSamples out;
	try {
		out = gate::measure(mo);
	} catch (const std::exception &e) {
		harness::unmount_all_under(dir);
		throw std::runtime_error(std::string(e.what()) + " (logs under " + dir + "/logs)");
	}
	// Never remove_all through a live mount.
	if (harness::unmount_all_under(dir) == 0)
		fs::remove_all(dir);
	return out;
}

std::string last_line(const std::string &text)
{
	size_t end = text.find_last_not_of("\n");
	if (end == std::string::npos)
		return "";
	size_t start = text.rfind('\n', end);
	return text.substr(start == std::string::npos ? 0 : start + 1, end + 1 - (start == std::string::npos ? 0 : start + 1));
}

// The reference build's bin directory: `given`, else what `builder COMMIT
// OUT_DIR` prints last; "" with `why` set when there is none.
std::string reference_bin_dir(const std::string &given, const std::string &builder, const std::string &commit,
			      const std::string &out_dir, std::string &why)
{
	if (!given.empty())
		return given;
	if (builder.empty()) {
		why = "no reference build was given (--reference-bin-dir) and building one is off";
		return "";
	}
	if (commit.empty()) {
		why = "the baseline records no git commit to build";
		return "";
	}
	std::cerr << "rfuse-gate: building the baseline's commit " << commit.substr(0, 12) << " as the reference ("
		  << builder << ")\n";
	bench::ProcessResult p = bench::run_process({builder, commit, out_dir}, {}, std::chrono::minutes(30));
	if (p.exit_code != 0) {
		std::string err = p.err.size() > 3000 ? p.err.substr(p.err.size() - 3000) : p.err;
		why = "building the baseline's commit failed (" + p.describe() + "):\n" + err;
		return "";
	}
	std::string dir = last_line(p.out);
	if (dir.empty() || !fs::is_directory(dir))
		why = builder + " printed no bin directory";
	return fs::is_directory(dir) ? dir : "";
}

} // namespace

int main(int argc, char **argv)
{
	CLI::App app{"rfuse-gate: CI performance regression gate (exit 0 pass, 1 regression, 2 could not run)"};
	std::string baseline_path, json_path, bin_dir = own_bin_dir(), source_dir = RFUSE_SOURCE_DIR,
				       scratch = "/tmp";
	std::string baseline_dir, ref_bin_dir, ref_builder = source_dir + "/harness/gate/build-reference.sh", ref_out_dir;
	bool update = false, quick = false, append = false, no_confirm = false;
	int reps = 7, inject_delay_us = 0, confirm_reps = 0;
	double duration_s = 1.0;
	gate::Rule rule;
	std::vector<std::string> metrics, transports;
	app.add_option("--baseline", baseline_path,
		       "baseline file (default: <source>/reports/baselines/<machine class>.json)");
	app.add_option("--baseline-dir", baseline_dir,
		       "where baselines of every machine class live (default: <source>/reports/baselines)");
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
	app.add_option("--transports", transports,
		       "subset of fuse, uring, rfuse (default: the baseline's, or all available)")
		->delimiter(',');
	app.add_option("--json", json_path, "where to write the JSON report (default: <bin>/../gate/report.json)")
		->multi_option_policy(CLI::MultiOptionPolicy::TakeLast); // run.sh passes one, a caller may override it
	app.add_option("--bin-dir", bin_dir, "where the filesystem daemons are");
	app.add_option("--source-dir", source_dir, "the source tree (for reports/baselines and git)");
	app.add_option("--scratch", scratch, "directory for mount points and the tmpfs");
	app.add_option("--inject-delay-us", inject_delay_us,
		       "TEST ONLY: pass -o delay_us=N to nullfs, to prove the gate fails")
		->check(CLI::Range(0, 1000000));
	app.add_flag("--no-confirm", no_confirm,
		     "decide on the comparison with the stored baseline alone (no confirmation against the "
		     "baseline's code measured in this run)");
	app.add_option("--reference-bin-dir", ref_bin_dir,
		       "confirm against the daemons in this directory instead of building the baseline's commit");
	app.add_option("--reference-builder", ref_builder,
		       "command run as `CMD COMMIT OUT_DIR` that builds the baseline's commit and prints its bin "
		       "directory last (\"\" turns building off)");
	app.add_option("--reference-out", ref_out_dir, "OUT_DIR for the builder (default: <bin>/../gate-ref)");
	app.add_option("--confirm-reps", confirm_reps, "repetitions of each build in a confirmation (default: max(reps, 7))")
		->check(CLI::Range(1, 100));
	CLI11_PARSE(app, argc, argv);
	if (quick && app.count("--reps") == 0)
		reps = 5;
	if (confirm_reps == 0)
		confirm_reps = std::max(reps, 7);

	// First signal: stop, unmount by the normal path; second: emergency.
	bench::install_interrupt_handler();
	std::vector<int> cpu_order = bench::cpu_order();
	json env = bench::collect_environment(cpu_order, source_dir);
	const std::string mclass = gate::machine_class(env);
	if (baseline_dir.empty())
		baseline_dir = source_dir + "/reports/baselines";
	if (baseline_path.empty())
		baseline_path = baseline_dir + "/" + mclass + ".json";
	if (json_path.empty())
		json_path = bin_dir + "/../gate/report.json";
	if (ref_out_dir.empty())
		ref_out_dir = bin_dir + "/../gate-ref";

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
		transports = {"fuse", "uring", "rfuse"};
	std::cerr << "rfuse-gate: machine class " << mclass << "\n";
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
	mo.builds = {{"now", bin_dir, inject_delay_us}};
	mo.progress = [](const std::string &s) { std::cerr << "rfuse-gate: " << s << "\n"; };

	std::map<std::string, gate::SampleSet> samples;
	try {
		samples = measure_in(scratch, mo).at("now");
	} catch (const std::exception &e) {
		if (bench::stop_requested()) {
			std::cerr << "rfuse-gate: interrupted\n";
			return 128 + bench::stop_signal();
		}
		return cannot_run(std::string("measurement failed: ") + e.what());
	}
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

	// Stage 1, the screen: this run against the stored baseline's samples.
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
	const std::vector<std::string> flagged = gate::regressed_keys(rows);
	bool regressed = !flagged.empty();
	json report = record;
	report["schema"] = "rfuse-gate-report/2";
	report["baseline"] = {{"path", baseline_path},
			      {"machine_class", baseline.value("machine_class", "")},
			      {"git", baseline.at("environment").value("git", json())},
			      {"settings", baseline.at("settings")}};
	report["rule"] = {{"threshold", rule.threshold}, {"noise_factor", rule.noise_factor}, {"alpha", rule.alpha}};
	report["comparison"] = gate::rows_to_json(rows);

	// Stage 2, the confirmation: a flagged metric is measured again beside
	// the baseline's own code, built here, interleaved in this run, and
	// regresses only when it is worse than that reference by the same rule
	// (README.md: the stored numbers carry the machine's mood of their day).
	json confirmation = {{"ran", false}};
	std::string verdict_note;
	if (regressed && !no_confirm) {
		std::string why;
		std::string commit = baseline.at("environment").value("git", json::object()).value("commit", "");
		std::string ref = reference_bin_dir(ref_bin_dir, ref_builder, commit, ref_out_dir, why);
		if (ref.empty()) {
			verdict_note = " (not confirmed: " + why + ")";
			confirmation["why_not"] = why;
		} else {
			gate::ConfirmPlan plan = gate::plan_confirmation(flagged);
			gate::MeasureOptions mc = mo;
			mc.metrics = plan.metrics;
			mc.transports = plan.transports;
			mc.thread_counts = plan.thread_counts;
			mc.repetitions = confirm_reps;
			mc.builds = {{"reference", ref, 0}, {"now", bin_dir, inject_delay_us}};
			std::cerr << "rfuse-gate: confirming " << flagged.size() << " flagged metric(s) against the "
				  << "reference build " << ref << ", " << confirm_reps << " interleaved repetitions\n";
			gate::BuildSamples ab;
			try {
				ab = measure_in(scratch, mc);
			} catch (const std::exception &e) {
				if (bench::stop_requested()) {
					std::cerr << "rfuse-gate: interrupted\n";
					return 128 + bench::stop_signal();
				}
				return cannot_run(std::string("confirmation failed: ") + e.what());
			}
			auto crows = gate::compare_runs(gate::with_ratios_only(ab.at("reference"), flagged),
							gate::with_ratios_only(ab.at("now"), flagged), rule);
			std::cout << "confirmation: the flagged metrics, this tree against the reference build ("
				  << (ref_bin_dir.empty() ? "the baseline's commit " + commit.substr(0, 12) : ref)
				  << ") measured beside it now:\n"
				  << gate::format_table(crows, "reference");
			regressed = gate::any_regressed(crows);
			if (!regressed)
				verdict_note = " (" + std::to_string(flagged.size()) +
					       " metric(s) worse than the stored baseline but not than the baseline's code "
					       "measured now: the machine changed, not the code)";
			confirmation = {{"ran", true},
					{"reference_bin_dir", ref},
					{"reference_commit", ref_bin_dir.empty() ? json(commit) : json()},
					{"repetitions", confirm_reps},
					{"flagged", flagged},
					{"comparison", gate::rows_to_json(crows)}};
			rows = crows;
		}
	}
	report["confirmation"] = confirmation;
	report["result"] = regressed ? "regressed" : "pass";
	write_json(json_path, report);
	std::string names;
	for (const auto &r : rows)
		if (r.cmp.verdict == gate::Verdict::regressed)
			names += (names.empty() ? "" : ", ") + r.key;
	std::cout << "rfuse-gate: " << (regressed ? "REGRESSION in " + names : std::string("pass")) << verdict_note
		  << " (rule: median worse by > max(" << rule.threshold * 100 << "%, " << rule.noise_factor
		  << " x spread) AND one-sided Mann-Whitney p < " << rule.alpha << ", Holm-corrected"
		  << "; report: " << json_path << ")\n";
	return regressed ? gate::kRegressed : gate::kPass;
}
