#include "config.hpp"

#include "cpu.hpp"
#include "fs_main.hpp"
#include "latency.hpp"

#include <algorithm>
#include <fnmatch.h>
#include <fstream>
#include <set>

namespace bench {
namespace {

using nlohmann::json;

constexpr int kSchemaVersion = 1;

[[noreturn]] void fail(const std::string &msg)
{
	throw ConfigError(msg);
}

// Unknown keys are typos: refuse them rather than silently ignoring them.
void check_keys(const json &obj, const std::set<std::string> &allowed, const std::string &where)
{
	if (!obj.is_object())
		fail(where + ": expected a JSON object");
	for (const auto &[key, value] : obj.items())
		if (!allowed.count(key))
			fail(where + ": unknown key '" + key + "' (valid: " +
			     join(std::vector<std::string>(allowed.begin(), allowed.end())) + ")");
}

template <class T> T get(const json &obj, const std::string &key, const std::string &where, T fallback)
{
	if (!obj.contains(key))
		return fallback;
	try {
		return obj.at(key).get<T>();
	} catch (const json::exception &) {
		fail(where + "." + key + ": wrong type");
	}
}

template <class T> T need(const json &obj, const std::string &key, const std::string &where)
{
	if (!obj.contains(key))
		fail(where + ": missing '" + key + "'");
	return get<T>(obj, key, where, T{});
}

unsigned long long size_of(const json &obj, const std::string &key, const std::string &where)
{
	std::string text = get<std::string>(obj, key, where, "0");
	unsigned long long v = 0;
	if (!fs_common::parse_size(text.c_str(), &v))
		fail(where + "." + key + ": '" + text + "' is not a size (e.g. 64M, 4G)");
	return v;
}

void check_version(const json &doc, const std::string &where)
{
	int v = get<int>(doc, "schema_version", where, -1);
	if (v != kSchemaVersion)
		fail(where + ": schema_version must be " + std::to_string(kSchemaVersion));
}

void check_name(const std::string &name, const std::vector<std::string> &valid, const std::string &what,
		const std::string &where)
{
	if (std::find(valid.begin(), valid.end(), name) == valid.end())
		fail(where + ": unknown " + what + " '" + name + "' (valid: " + join(valid) + ")");
}

template <class M> std::vector<std::string> keys_of(const M &map)
{
	std::vector<std::string> out;
	for (const auto &[k, v] : map)
		out.push_back(k);
	return out;
}

Profile parse_profile(const std::string &name, const json &p)
{
	std::string where = "profiles.json: " + name;
	check_keys(p, {"description", "repetitions", "max_threads", "fio", "metadata", "macro", "latency",
		       "breakdown", "backing", "point_timeout_s", "drop_caches"},
		   where);
	Profile prof;
	prof.name = name;
	prof.raw = p;
	prof.description = get<std::string>(p, "description", where, "");
	prof.repetitions = get<int>(p, "repetitions", where, 1);
	prof.max_threads = get<int>(p, "max_threads", where, 0);
	prof.point_timeout_s = get<double>(p, "point_timeout_s", where, 600);
	prof.drop_caches = get<bool>(p, "drop_caches", where, true);
	if (prof.repetitions < 1 || prof.max_threads < 0 || prof.point_timeout_s <= 0)
		fail(where + ": repetitions >= 1, max_threads >= 0, point_timeout_s > 0");
	json fio = p.value("fio", json::object());
	check_keys(fio, {"total_size", "runtime_s"}, where + ".fio");
	prof.fio_total_size = size_of(fio, "total_size", where + ".fio");
	prof.fio_runtime_s = get<double>(fio, "runtime_s", where + ".fio", 0);
	json md = p.value("metadata", json::object());
	check_keys(md, {"duration_s", "files_per_thread", "dir_entries"}, where + ".metadata");
	prof.metadata_duration_s = get<double>(md, "duration_s", where + ".metadata", 1);
	prof.metadata_files_per_thread = get<int>(md, "files_per_thread", where + ".metadata", 1000);
	prof.metadata_dir_entries = get<int>(md, "dir_entries", where + ".metadata", 100);
	json macro = p.value("macro", json::object());
	check_keys(macro, {"duration_s", "fileserver_files", "webserver_files", "varmail_files"}, where + ".macro");
	prof.macro_duration_s = get<double>(macro, "duration_s", where + ".macro", 1);
	for (const char *name : {"fileserver", "webserver", "varmail"}) {
		prof.macro_files[name] = get<int>(macro, std::string(name) + "_files", where + ".macro", 1000);
		if (prof.macro_files[name] < 1)
			fail(where + ".macro: file counts must be positive");
	}
	if (prof.macro_duration_s <= 0)
		fail(where + ".macro.duration_s must be positive");
	json lat = p.value("latency", json::object());
	check_keys(lat, {"samples", "warmup"}, where + ".latency");
	prof.latency_samples = get<int>(lat, "samples", where + ".latency", 1000);
	prof.latency_warmup = get<int>(lat, "warmup", where + ".latency", 100);
	json bd = p.value("breakdown", json::object());
	check_keys(bd, {"calls", "warmup"}, where + ".breakdown");
	prof.breakdown_calls = get<int>(bd, "calls", where + ".breakdown", 200);
	prof.breakdown_warmup = get<int>(bd, "warmup", where + ".breakdown", 20);
	if (prof.latency_samples < 1 || prof.latency_warmup < 0 || prof.breakdown_calls < 1 ||
	    prof.breakdown_warmup < 0)
		fail(where + ": latency.samples and breakdown.calls must be positive, warmups >= 0");
	json backing = p.value("backing", json::object());
	check_keys(backing, {"ext4_image_size", "tmpfs_size"}, where + ".backing");
	prof.ext4_image_size = size_of(backing, "ext4_image_size", where + ".backing");
	prof.tmpfs_size = size_of(backing, "tmpfs_size", where + ".backing");
	if (prof.fio_total_size == 0 || prof.ext4_image_size == 0 || prof.tmpfs_size == 0 ||
	    prof.metadata_duration_s <= 0 || prof.metadata_files_per_thread < 1 ||
	    prof.metadata_dir_entries < 1)
		fail(where + ": sizes, durations and counts must be positive");
	return prof;
}

} // namespace

std::string join(const std::vector<std::string> &names, const std::string &sep)
{
	std::string out;
	for (const std::string &n : names)
		out += (out.empty() ? "" : sep) + n;
	return out;
}

json read_json_file(const std::string &path)
{
	std::ifstream in(path);
	if (!in)
		fail(path + ": cannot open");
	try {
		return json::parse(in);
	} catch (const json::parse_error &e) {
		fail(path + ": not valid JSON: " + e.what());
	}
}

std::vector<std::string> transport_names()
{
	return {"native", "fuse", "rfuse", "uring", "fuse-passthrough"};
}

std::vector<std::string> backing_names()
{
	return {"ext4", "tmpfs"};
}

// A filesystem given by its command line (FsDef::command): one
// "{mountpoint}", "{options}" only as a whole element, "{source}" only with
// a backing store, and no `args` beside it.
static void check_command(const FsDef &def, const std::string &where)
{
	auto uses_source = [](const std::vector<std::string> &v) {
		return std::any_of(v.begin(), v.end(),
				   [](const std::string &a) { return a.find("{source}") != std::string::npos; });
	};
	if (def.command.empty()) {
		if (def.daemonize || !def.prepare.empty())
			fail(where + ": daemonize and prepare apply to a \"command\" only");
		return;
	}
	if (!def.args.empty())
		fail(where + ": give either \"command\" (a program of yours) or \"args\" (ours), not both");
	if (def.command[0].empty() || def.command[0].front() == '{')
		fail(where + ".command: the first element must be the program");
	if (std::count(def.command.begin(), def.command.end(), "{mountpoint}") != 1)
		fail(where + ".command: needs \"{mountpoint}\" as exactly one element of its own");
	for (const std::string &a : def.command)
		if (a != "{options}" && a.find("{options}") != std::string::npos)
			fail(where + ".command: \"{options}\" must be an element of its own");
	if ((uses_source(def.command) || uses_source(def.prepare)) && !def.needs_backing)
		fail(where + ": \"{source}\" needs \"needs_backing\": true");
	for (const std::string &d : def.prepare)
		if (d.rfind("{source}", 0) != 0)
			fail(where + ".prepare: '" + d + "' must lie under {source}");
}

Catalog Catalog::load(const std::string &dir)
{
	Catalog c;
	c.dir_ = dir;

	json fss = read_json_file(dir + "/filesystems.json");
	check_version(fss, "filesystems.json");
	check_keys(fss, {"schema_version", "description", "filesystems"}, "filesystems.json");
	json fs_list = need<json>(fss, "filesystems", "filesystems.json");
	for (const auto &[name, f] : fs_list.items()) {
		std::string where = "filesystems.json: " + name;
		check_keys(f, {"description", "args", "needs_backing", "native", "command", "daemonize", "prepare"},
			   where);
		FsDef def;
		def.name = name;
		def.description = get<std::string>(f, "description", where, "");
		def.args = get<std::vector<std::string>>(f, "args", where, {});
		def.needs_backing = get<bool>(f, "needs_backing", where, false);
		def.native = get<std::string>(f, "native", where, "");
		def.command = get<std::vector<std::string>>(f, "command", where, {});
		def.daemonize = get<bool>(f, "daemonize", where, false);
		def.prepare = get<std::vector<std::string>>(f, "prepare", where, {});
		if (!def.native.empty() && def.native != "tmpfs" && def.native != "backing")
			fail(where + ".native: must be \"tmpfs\", \"backing\" or \"\"");
		check_command(def, where);
		c.fs_[name] = def;
	}

	json wls = read_json_file(dir + "/workloads.json");
	check_version(wls, "workloads.json");
	check_keys(wls, {"schema_version", "description", "workloads"}, "workloads.json");
	json wl_list = need<json>(wls, "workloads", "workloads.json");
	for (const auto &[name, w] : wl_list.items()) {
		std::string where = "workloads.json: " + name;
		check_keys(w, {"kind", "description", "job", "op", "daemon_args"}, where);
		WorkloadDef def;
		def.name = name;
		def.kind = need<std::string>(w, "kind", where);
		def.description = get<std::string>(w, "description", where, "");
		def.job = get<std::string>(w, "job", where, "");
		def.op = get<std::string>(w, "op", where, "");
		def.daemon_args = get<std::vector<std::string>>(w, "daemon_args", where, {});
		if (def.kind == "fio") {
			if (def.job.empty() || !std::ifstream(dir + "/" + def.job))
				fail(where + ": fio job template '" + def.job + "' not found in " + dir);
		} else if (def.kind == "metadata") {
			static const std::vector<std::string> ops = {"MWCL", "MWCM", "MWUL", "MWUM", "MRDL",
								     "MRDM", "MRPL", "MRPM", "MRPH"};
			check_name(def.op, ops, "metadata op", where);
		} else if (def.kind == "macro") {
			check_name(def.op, {"fileserver", "webserver", "varmail"}, "macro workload", where);
		} else if (def.kind == "latency") {
			check_name(def.op, latency_ops(), "latency op", where);
		} else if (def.kind == "breakdown") {
			check_name(def.op, {"creat"}, "breakdown op", where);
		} else {
			fail(where + ": unknown kind '" + def.kind + "' (valid: fio, metadata, macro, latency, breakdown)");
		}
		c.workloads_[name] = def;
	}

	json profs = read_json_file(dir + "/profiles.json");
	check_version(profs, "profiles.json");
	check_keys(profs, {"schema_version", "description", "profiles"}, "profiles.json");
	json prof_list = need<json>(profs, "profiles", "profiles.json");
	for (const auto &[name, p] : prof_list.items())
		c.profiles_[name] = parse_profile(name, p);
	return c;
}

const FsDef &Catalog::fs(const std::string &name) const
{
	auto it = fs_.find(name);
	if (it == fs_.end())
		fail("unknown filesystem '" + name + "' (valid: " + join(fs_names()) + ")");
	return it->second;
}

const WorkloadDef &Catalog::workload(const std::string &name) const
{
	auto it = workloads_.find(name);
	if (it == workloads_.end())
		fail("unknown workload '" + name + "' (valid: " + join(workload_names()) + ")");
	return it->second;
}

const Profile &Catalog::profile(const std::string &name) const
{
	auto it = profiles_.find(name);
	if (it == profiles_.end())
		fail("unknown profile '" + name + "' (valid: " + join(profile_names()) + ")");
	return it->second;
}

std::vector<std::string> Catalog::fs_names() const { return keys_of(fs_); }
std::vector<std::string> Catalog::workload_names() const { return keys_of(workloads_); }
std::vector<std::string> Catalog::profile_names() const { return keys_of(profiles_); }

Spec Catalog::load_spec(const std::string &path) const
{
	Spec spec;
	spec.path = path;
	spec.raw = read_json_file(path);
	const json &doc = spec.raw;
	check_version(doc, path);
	check_keys(doc, {"schema_version", "name", "description", "groups"}, path);
	spec.name = need<std::string>(doc, "name", path);
	spec.description = get<std::string>(doc, "description", path, "");
	json groups = need<json>(doc, "groups", path);
	if (!groups.is_array() || groups.empty())
		fail(path + ": 'groups' must be a non-empty array");
	std::set<std::string> seen;
	for (size_t i = 0; i < groups.size(); ++i) {
		const json &g = groups[i];
		std::string where = path + ": groups[" + std::to_string(i) + "]";
		check_keys(g, {"name", "figure", "description", "filesystems", "transports", "workloads",
			       "backing", "threads"},
			   where);
		Group grp;
		grp.name = need<std::string>(g, "name", where);
		if (!seen.insert(grp.name).second)
			fail(where + ": duplicate group name '" + grp.name + "'");
		if (grp.name.find('/') != std::string::npos || grp.name.empty())
			fail(where + ": group name must be non-empty and contain no '/'");
		grp.figure = get<std::string>(g, "figure", where, "");
		grp.filesystems = need<std::vector<std::string>>(g, "filesystems", where);
		grp.transports = need<std::vector<std::string>>(g, "transports", where);
		grp.workloads = need<std::vector<std::string>>(g, "workloads", where);
		grp.backing = get<std::string>(g, "backing", where, "ext4");
		grp.threads = g.value("threads", json("scaling"));
		for (const std::string &n : grp.filesystems)
			check_name(n, fs_names(), "filesystem", where);
		for (const std::string &n : grp.transports)
			check_name(n, transport_names(), "transport", where);
		for (const std::string &n : grp.workloads)
			check_name(n, workload_names(), "workload", where);
		check_name(grp.backing, backing_names(), "backing store", where);
		if (grp.filesystems.empty() || grp.transports.empty() || grp.workloads.empty())
			fail(where + ": filesystems, transports and workloads must not be empty");
		bool threads_ok = grp.threads == "max" || grp.threads == "scaling";
		if (grp.threads.is_array()) {
			threads_ok = !grp.threads.empty();
			for (const json &t : grp.threads)
				threads_ok = threads_ok && t.is_number_integer() && t.get<int>() >= 1;
		}
		if (!threads_ok)
			fail(where + ".threads: must be \"max\", \"scaling\" or a list of positive integers");
		spec.groups.push_back(grp);
	}
	return spec;
}

std::vector<Point> expand_points(const Spec &spec, const Catalog &catalog, const Profile &profile,
				 const std::vector<int> &cpu_order, const std::vector<std::string> &filters)
{
	(void)catalog;
	int ncpu = static_cast<int>(cpu_order.size());
	int max_threads = profile.max_threads > 0 ? std::min(profile.max_threads, ncpu) : ncpu;
	std::vector<Point> points;
	for (const Group &g : spec.groups) {
		std::vector<int> counts;
		if (g.threads == "max")
			counts = {max_threads};
		else if (g.threads == "scaling")
			counts = scaling_thread_counts(max_threads);
		else
			for (const json &t : g.threads)
				if (t.get<int>() <= ncpu) // one thread per CPU: more cannot be pinned
					counts.push_back(t.get<int>());
		for (const std::string &fs : g.filesystems)
			for (const std::string &tr : g.transports)
				for (const std::string &wl : g.workloads)
					for (int t : counts) {
						Point p;
						p.group = g.name;
						p.figure = g.figure;
						p.filesystem = fs;
						p.transport = tr;
						p.backing = g.backing;
						p.workload = wl;
						p.threads = t;
						p.cpus.assign(cpu_order.begin(), cpu_order.begin() + t);
						p.id = g.name + "/" + fs + "/" + tr + "/" + wl + "/t" + std::to_string(t);
						bool keep = filters.empty();
						for (const std::string &f : filters)
							keep = keep || fnmatch(f.c_str(), p.id.c_str(), 0) == 0 ||
							       p.id.find(f) != std::string::npos;
						if (keep) {
							p.index = static_cast<int>(points.size());
							points.push_back(p);
						}
					}
	}
	return points;
}

} // namespace bench
