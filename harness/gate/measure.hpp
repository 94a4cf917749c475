// The gate's fixed measurements. Each configuration (metric, transport,
// thread count) yields one sample per repetition; repetitions are
// interleaved round-robin over all configurations so that drift of a shared
// machine hits every configuration alike.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace gate {

struct MetricDef {
	std::string name;      // "nullfs_getattr_latency"
	std::string short_name; // CLI selector: getattr, randread, mwcl, seqread
	std::string fs;        // nullfs, memfs, stackfs
	std::string unit;
	bool higher_is_better = true;
	std::string how;       // one line for the report
};

const std::vector<MetricDef> &metric_defs();
const MetricDef &metric_def(const std::string &name);

// One build of the filesystem daemons under test. The gate measures its own
// build; a confirmation measures a reference build beside it, interleaved.
struct Build {
	std::string label;       // "now", "reference": names mounts, logs, results
	std::string bin_dir;     // where <fs>-fuse and <fs>-rfuse are
	int inject_delay_us = 0; // test only: -o delay_us=N for nullfs
};

struct MeasureOptions {
	std::vector<std::string> metrics;    // MetricDef::name, in this order
	std::vector<std::string> transports; // fuse, uring
	std::vector<int> thread_counts;      // e.g. {1, all CPUs}
	std::vector<int> cpu_order;
	int repetitions = 5;
	double duration_s = 1.0;
	std::vector<Build> builds; // at least one
	std::string scratch_dir;   // mount points and the stackfs tmpfs go below it
	std::function<void(const std::string &)> progress;
};

// "<metric>/<transport>/t<threads>"
std::string sample_key(const std::string &metric, const std::string &transport, int threads);

struct SampleSet {
	std::string unit;
	bool higher_is_better = true;
	std::vector<double> values; // one per repetition, in order
};

// Samples by key, per build label.
using BuildSamples = std::map<std::string, std::map<std::string, SampleSet>>;

// Runs every repetition; every repetition visits every (build, filesystem,
// transport) daemon, the builds of one configuration next to each other.
// Throws std::runtime_error when a mount or a measurement fails (the gate
// then exits 2).
BuildSamples measure(const MeasureOptions &opts);

// FUSE over io_uring is one kernel-wide switch that the kernel reads at
// mount time, and other programs (tests) flip it. The gate turns it on
// before each uring mount and puts the value it found back when done.
class UringSwitch {
public:
	UringSwitch();
	~UringSwitch();
	UringSwitch(const UringSwitch &) = delete;
	UringSwitch &operator=(const UringSwitch &) = delete;
	// "" when it is on (now), else why it cannot be.
	std::string ensure_on();

private:
	std::string original_; // "" when the parameter is absent
	bool changed_ = false;
};

// "" when `transport` can run here (uring: its switch is on or we may turn
// it on), else why not.
std::string transport_unavailable(const std::string &transport, const std::string &bin_dir);

} // namespace gate
