// The gate itself, apart from measuring: the machine class a baseline
// belongs to, the baseline file, the within-run ratios, the comparison of a
// run against a baseline and the table and JSON that report it.
#pragma once

#include "measure.hpp"
#include "stats.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

namespace gate {

// Exit codes of rfuse-gate.
inline constexpr int kPass = 0;      // nothing regressed (or baseline written)
inline constexpr int kRegressed = 1; // at least one metric regressed
inline constexpr int kCannotRun = 2; // no baseline, other machine class, mount failed, bad flags

inline constexpr const char *kBaselineSchema = "rfuse-gate-baseline/1";

// "<usable CPUs>cpu-<native|vm|vm-guest>-<kernel major.minor>", from
// bench::collect_environment(): e.g. "2cpu-native-6.18".
std::string machine_class(const nlohmann::json &environment);

// Within-run ratios <transport>/fuse ("ratio_<transport>_vs_fuse/<metric>/t<N>")
// for every other transport, metric and thread count measured over both
// and fuse, one per repetition (same repetition paired): the machine's
// speed of the moment cancels out. Same unit-less direction as the metric.
std::map<std::string, SampleSet> within_run_ratios(const std::map<std::string, SampleSet> &samples);
std::string ratio_prefix(const std::string &transport); // "ratio_<transport>_vs_fuse"

struct Settings {
	double duration_s = 1;
	int repetitions = 5;
	std::vector<std::string> metrics, transports;
	std::vector<int> thread_counts;
	int inject_delay_us = 0;
};
nlohmann::json to_json(const Settings &s);

// The whole record of one run (also the baseline file's format).
nlohmann::json make_record(const std::string &machine_class, const nlohmann::json &environment,
			   const Settings &settings, const std::map<std::string, SampleSet> &samples);

std::map<std::string, SampleSet> samples_from_record(const nlohmann::json &record);

// `old` with `session`'s samples appended key by key and `session`'s
// environment and settings added to "sessions" (the newest environment
// becomes the record's).
nlohmann::json append_session(const nlohmann::json &old, const nlohmann::json &session);

// "" when `baseline` may be compared with a run of `now_class` and
// `settings`, else why not (other machine class, other duration, ...).
std::string incompatibility(const nlohmann::json &baseline, const std::string &now_class, const Settings &settings);

struct Row {
	std::string key, unit;
	bool higher_is_better = true;
	size_t n_base = 0, n_now = 0;
	Comparison cmp;
};

// Every key measured now, compared with the baseline's samples of the same
// key (no_data when the baseline lacks it).
std::vector<Row> compare_runs(const std::map<std::string, SampleSet> &base, const std::map<std::string, SampleSet> &now,
			      const Rule &rule);

bool any_regressed(const std::vector<Row> &rows);
std::vector<std::string> regressed_keys(const std::vector<Row> &rows);

// What a confirmation must measure to decide `keys` again: their metrics,
// transports (a uring/fuse ratio needs both) and thread counts.
struct ConfirmPlan {
	std::vector<std::string> metrics, transports;
	std::vector<int> thread_counts;
};
ConfirmPlan plan_confirmation(const std::vector<std::string> &keys);

// `samples` with the within-run ratios added, restricted to `keys`.
std::map<std::string, SampleSet> with_ratios_only(const std::map<std::string, SampleSet> &samples,
						  const std::vector<std::string> &keys);
// `base_label` heads the column of the medians compared against.
std::string format_table(const std::vector<Row> &rows, const std::string &base_label = "baseline");
nlohmann::json rows_to_json(const std::vector<Row> &rows);

} // namespace gate
