#include "gate.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <fstream>
#include <cstdio>
#include <sstream>

namespace gate {

using nlohmann::json;

std::string machine_class(const json &env)
{
	std::string release = env.at("kernel").at("release").get<std::string>();
	// major.minor: up to the second dot.
	size_t first = release.find('.');
	size_t second = first == std::string::npos ? std::string::npos : release.find_first_not_of("0123456789", first + 1);
	std::string major_minor = release.substr(0, second);
	return std::to_string(env.at("cpu").at("usable").get<int>()) + "cpu-" +
	       env.at("virtualization").at("kind").get<std::string>() + "-" + major_minor;
}

std::string ratio_prefix(const std::string &transport)
{
	return "ratio_" + transport + "_vs_fuse";
}

std::map<std::string, SampleSet> within_run_ratios(const std::map<std::string, SampleSet> &samples)
{
	std::map<std::string, SampleSet> ratios;
	for (const auto &[key, other] : samples) {
		size_t a = key.find('/'), b = key.rfind('/');
		if (a == std::string::npos || a == b || key.compare(0, 6, "ratio_") == 0)
			continue;
		std::string metric = key.substr(0, a), transport = key.substr(a + 1, b - a - 1),
			    threads = key.substr(b + 1);
		if (transport == "fuse")
			continue;
		auto fuse = samples.find(metric + "/fuse/" + threads);
		if (fuse == samples.end())
			continue;
		SampleSet r;
		r.unit = "ratio";
		r.higher_is_better = other.higher_is_better;
		for (size_t i = 0; i < other.values.size() && i < fuse->second.values.size(); i++)
			if (fuse->second.values[i] != 0)
				r.values.push_back(other.values[i] / fuse->second.values[i]);
		ratios[ratio_prefix(transport) + "/" + metric + "/" + threads] = r;
	}
	return ratios;
}

json to_json(const Settings &s)
{
	return {{"duration_s", s.duration_s},		{"repetitions", s.repetitions},
		{"metrics", s.metrics},			{"transports", s.transports},
		{"thread_counts", s.thread_counts},	{"inject_delay_us", s.inject_delay_us}};
}

namespace {

// The box's load when the record was made: other jobs move the numbers.
double load_average()
{
	std::ifstream f("/proc/loadavg");
	double v = 0;
	f >> v;
	return v;
}

} // namespace

json make_record(const std::string &mclass, const json &environment, const Settings &settings,
		 const std::map<std::string, SampleSet> &samples)
{
	json rec;
	rec["schema"] = kBaselineSchema;
	rec["machine_class"] = mclass;
	rec["environment"] = environment;
	rec["settings"] = to_json(settings);
	char created[32];
	std::time_t t = std::time(nullptr);
	std::strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
	rec["created"] = created;
	rec["loadavg_1min"] = load_average();
	json &js = rec["samples"];
	js = json::object();
	for (const auto &[key, s] : samples)
		js[key] = {{"unit", s.unit}, {"higher_is_better", s.higher_is_better}, {"values", s.values}};
	return rec;
}

std::map<std::string, SampleSet> samples_from_record(const json &rec)
{
	std::map<std::string, SampleSet> out;
	for (const auto &[key, s] : rec.at("samples").items()) {
		SampleSet set;
		set.unit = s.at("unit").get<std::string>();
		set.higher_is_better = s.at("higher_is_better").get<bool>();
		set.values = s.at("values").get<std::vector<double>>();
		out[key] = set;
	}
	return out;
}

namespace {

json session_summary(const json &rec)
{
	return {{"created", rec.value("created", "")},
		{"git", rec.at("environment").value("git", json())},
		{"settings", rec.at("settings")}};
}

} // namespace

json append_session(const json &old, const json &session)
{
	json out = session;
	json sessions = old.value("sessions", json::array({session_summary(old)}));
	sessions.push_back(session_summary(session));
	out["sessions"] = sessions;
	for (const auto &[key, s] : old.at("samples").items()) {
		if (!out["samples"].contains(key)) {
			out["samples"][key] = s;
			continue;
		}
		auto &values = out["samples"][key]["values"];
		json merged = s.at("values");
		for (const auto &v : values)
			merged.push_back(v);
		values = merged;
	}
	return out;
}

std::string incompatibility(const json &baseline, const std::string &now_class, const Settings &settings)
{
	if (baseline.value("schema", "") != kBaselineSchema)
		return "not a rfuse-gate baseline (schema is not " + std::string(kBaselineSchema) + ")";
	std::string base_class = baseline.value("machine_class", "");
	if (base_class != now_class)
		return "the baseline was recorded on machine class '" + base_class + "' but this machine is '" +
		       now_class + "'; absolute numbers do not carry across CPU counts, VMs or kernels. " +
		       "Record a baseline for this class with --update-baseline";
	const json &bs = baseline.at("settings");
	if (bs.at("duration_s").get<double>() != settings.duration_s)
		return "the baseline measured for " + bs.at("duration_s").dump() + " s per sample, this run for " +
		       json(settings.duration_s).dump() + " s";
	if (bs.value("inject_delay_us", 0) != 0)
		return "the baseline was recorded with an injected delay (test only)";
	return "";
}

std::vector<Row> compare_runs(const std::map<std::string, SampleSet> &base, const std::map<std::string, SampleSet> &now,
			      const Rule &rule)
{
	std::vector<Row> rows;
	for (const auto &[key, s] : now) {
		Row r;
		r.key = key;
		r.unit = s.unit;
		r.higher_is_better = s.higher_is_better;
		r.n_now = s.values.size();
		auto b = base.find(key);
		std::vector<double> none;
		const std::vector<double> &bv = b == base.end() ? none : b->second.values;
		r.n_base = bv.size();
		r.cmp = compare(bv, s.values, s.higher_is_better, rule);
		if (b == base.end())
			r.cmp.note = "not in the baseline";
		rows.push_back(r);
	}
	std::vector<Comparison *> family;
	for (auto &r : rows)
		family.push_back(&r.cmp);
	apply_holm(family, rule);
	return rows;
}

bool any_regressed(const std::vector<Row> &rows)
{
	for (const auto &r : rows)
		if (r.cmp.verdict == Verdict::regressed)
			return true;
	return false;
}

std::vector<std::string> regressed_keys(const std::vector<Row> &rows)
{
	std::vector<std::string> keys;
	for (const auto &r : rows)
		if (r.cmp.verdict == Verdict::regressed)
			keys.push_back(r.key);
	return keys;
}

namespace {

template <typename T> void add_unique(std::vector<T> &v, const T &x)
{
	if (std::find(v.begin(), v.end(), x) == v.end())
		v.push_back(x);
}

} // namespace

ConfirmPlan plan_confirmation(const std::vector<std::string> &keys)
{
	ConfirmPlan plan;
	for (const auto &key : keys) {
		// "<metric>/<transport>/t<N>" or "ratio_<transport>_vs_fuse/<metric>/t<N>"
		size_t a = key.find('/'), b = key.rfind('/');
		if (a == std::string::npos || a == b || key.compare(b + 1, 1, "t") != 0)
			throw std::invalid_argument("not a gate metric key: " + key);
		std::string first = key.substr(0, a), middle = key.substr(a + 1, b - a - 1);
		int threads = std::stoi(key.substr(b + 2));
		const std::string suffix = "_vs_fuse";
		if (first.compare(0, 6, "ratio_") == 0 && first.size() > 6 + suffix.size() &&
		    first.compare(first.size() - suffix.size(), suffix.size(), suffix) == 0) {
			add_unique(plan.metrics, middle);
			add_unique(plan.transports, std::string("fuse"));
			add_unique(plan.transports, first.substr(6, first.size() - 6 - suffix.size()));
		} else {
			add_unique(plan.metrics, first);
			add_unique(plan.transports, middle);
		}
		add_unique(plan.thread_counts, threads);
	}
	return plan;
}

std::map<std::string, SampleSet> with_ratios_only(const std::map<std::string, SampleSet> &samples,
						  const std::vector<std::string> &keys)
{
	std::map<std::string, SampleSet> all = samples, out;
	auto ratios = within_run_ratios(samples);
	all.insert(ratios.begin(), ratios.end());
	for (const auto &k : keys)
		if (auto it = all.find(k); it != all.end())
			out.insert(*it);
	return out;
}

std::string format_table(const std::vector<Row> &rows, const std::string &base_label)
{
	std::ostringstream o;
	char line[512];
	std::snprintf(line, sizeof line, "%-48s %-8s %12s %12s %8s %7s %8s  %s\n", "metric", "unit", base_label.c_str(), "now",
		      "change", "limit", "p(Holm)", "verdict");
	o << line;
	for (const auto &r : rows) {
		const Comparison &c = r.cmp;
		if (c.verdict == Verdict::no_data) {
			std::snprintf(line, sizeof line, "%-48s %-8s %12s %12.4g %8s %7s %8s  %s (%s)\n", r.key.c_str(),
				      r.unit.c_str(), "-", c.now_median, "-", "-", "-", to_string(c.verdict).c_str(),
				      c.note.c_str());
		} else {
			std::snprintf(line, sizeof line, "%-48s %-8s %12.4g %12.4g %+7.1f%% %6.0f%% %8.4f  %s\n", r.key.c_str(),
				      r.unit.c_str(), c.base_median, c.now_median, 100 * c.change, 100 * c.limit,
				      c.worse > 0 ? c.p_worse_adj : c.p_better_adj, to_string(c.verdict).c_str());
		}
		o << line;
	}
	return o.str();
}

json rows_to_json(const std::vector<Row> &rows)
{
	json out = json::array();
	for (const auto &r : rows) {
		const Comparison &c = r.cmp;
		out.push_back({{"metric", r.key},
			       {"unit", r.unit},
			       {"higher_is_better", r.higher_is_better},
			       {"n_baseline", r.n_base},
			       {"n_now", r.n_now},
			       {"baseline_median", c.base_median},
			       {"now_median", c.now_median},
			       {"change", c.change},
			       {"limit", c.limit},
			       {"p_worse", c.p_worse},
			       {"p_better", c.p_better},
			       {"p_worse_holm", c.p_worse_adj},
			       {"p_better_holm", c.p_better_adj},
			       {"verdict", to_string(c.verdict)},
			       {"note", c.note}});
	}
	return out;
}

} // namespace gate
