// The data that drives a run: filesystems, workloads and profiles from
// workloads/*.json, the suite spec, and the points they expand to. Every
// name is checked up front; a bad one is a ConfigError that lists the valid
// values (rfuse-bench exits 2 on it).
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace bench {

struct ConfigError : std::runtime_error {
	using std::runtime_error::runtime_error;
};

struct FsDef {
	std::string name;
	std::string description;
	std::vector<std::string> args; // daemon options before -f; "{source}" = backing dir
	bool needs_backing = false;    // stackfs: stacks over a directory of the backing store
	std::string native;            // what "native" runs on: "tmpfs", "backing" or "" (none)
	// A libfuse3 program we did not build (empty: ours, build/bin/<name>-fuse
	// and -rfuse): its whole command line, run as it is for "fuse" and under
	// LD_PRELOAD=librfuse.so for "rfuse" and "uring". Placeholders:
	// "{mountpoint}" (exactly one element), "{source}" (in any element: a
	// directory on the backing store), "{options}" (an element of its own:
	// replaced by the workload's daemon_args, or dropped). The program must
	// stay in the foreground (its -f) unless `daemonize`.
	std::vector<std::string> command;
	bool daemonize = false;           // the command forks into the background
	std::vector<std::string> prepare; // directories made before the mount ("{source}/upper")
};

struct WorkloadDef {
	std::string name;
	std::string kind; // "fio", "metadata", "macro", "latency" or "breakdown"
	std::string description;
	std::string job;  // fio: job template, relative to the workloads dir
	std::string op;   // metadata: MWCL, MWCM, ...; macro: fileserver, webserver, varmail;
	                  // latency: stat, open_close, ...; breakdown: creat
	// Daemon options appended to the filesystem's args for this workload
	// (latency: -o entry_timeout=0,attr_timeout=0 so every op reaches it).
	std::vector<std::string> daemon_args;
};

struct Profile {
	std::string name;
	std::string description;
	nlohmann::json raw; // as written in profiles.json, copied into the report
	int repetitions = 1;
	int max_threads = 0; // 0: the CPUs this process may use
	unsigned long long fio_total_size = 0; // split evenly over the jobs
	double fio_runtime_s = 0;              // upper bound per fio run
	double metadata_duration_s = 1;
	int metadata_files_per_thread = 1000; // MWUL/MWUM pool, MWCL/MWCM bound per thread
	int metadata_dir_entries = 100;       // MRDL/MRDM/MRPM directory size
	double macro_duration_s = 1;
	std::map<std::string, int> macro_files; // fileset size per personality
	unsigned long long ext4_image_size = 0;
	unsigned long long tmpfs_size = 0;
	int latency_samples = 1000;  // timed operations per latency point
	int latency_warmup = 100;    // untimed operations before them
	int breakdown_calls = 200;   // traced creat() calls per breakdown point
	int breakdown_warmup = 20;
	double point_timeout_s = 600;
	bool drop_caches = true;
};

struct Group {
	std::string name;
	std::string figure;
	std::vector<std::string> filesystems, transports, workloads;
	std::string backing;      // "ext4" or "tmpfs": store under stackfs and native
	nlohmann::json threads;   // "max", "scaling" or [1, 2, ...]
};

struct Spec {
	std::string path;
	std::string name;
	std::string description;
	nlohmann::json raw;
	std::vector<Group> groups;
};

struct Point {
	int index = 0; // 0-based, in run order
	std::string id; // group/fs/transport/workload/tN
	std::string group, figure, filesystem, transport, backing, workload;
	int threads = 1;
	std::vector<int> cpus; // thread i runs on cpus[i]
};

class Catalog {
public:
	// Reads filesystems.json, workloads.json and profiles.json from `dir`.
	static Catalog load(const std::string &dir);

	const std::string &dir() const { return dir_; }
	const FsDef &fs(const std::string &name) const;
	const WorkloadDef &workload(const std::string &name) const;
	const Profile &profile(const std::string &name) const;
	std::vector<std::string> fs_names() const;
	std::vector<std::string> workload_names() const;
	std::vector<std::string> profile_names() const;

	// Loads and checks a suite spec against this catalog and the transports.
	Spec load_spec(const std::string &path) const;

private:
	std::string dir_;
	std::map<std::string, FsDef> fs_;
	std::map<std::string, WorkloadDef> workloads_;
	std::map<std::string, Profile> profiles_;
};

std::vector<std::string> transport_names();
std::vector<std::string> backing_names();

// Every point of `spec` under `profile` that matches one of `filters`
// (shell globs on the point id; no filters: all), in run order.
std::vector<Point> expand_points(const Spec &spec, const Catalog &catalog, const Profile &profile,
				 const std::vector<int> &cpu_order,
				 const std::vector<std::string> &filters);

// "a, b, c"
std::string join(const std::vector<std::string> &names, const std::string &sep = ", ");

nlohmann::json read_json_file(const std::string &path);

} // namespace bench
