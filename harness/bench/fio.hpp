// fio workloads: a job template from workloads/fio/ with ${NAME} parameters
// filled in by the harness, run with --output-format=json, and the parse of
// that JSON into the figures the report keeps.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

namespace bench {

// Replaces every ${NAME} in `text` with vars[NAME]; throws
// std::invalid_argument naming an unknown variable.
std::string render_template(const std::string &text, const std::map<std::string, std::string> &vars);

// The job that lays out a read job's files (run with --create_only=1): the
// same job with every bs= line set to `bs`. fio writes the layout in the
// job's block size, and 4 KiB writes would make the layout of a 4 KiB
// read point through FUSE take minutes; the timed run is unchanged.
std::string layout_job(const std::string &job, const std::string &bs = "1M");

struct Metric {
	double value = 0;
	std::string unit;
};

struct FioResult {
	bool ok = false;
	std::string error;                    // why not ok
	std::map<std::string, Metric> metrics; // e.g. "read.bandwidth" -> MiB/s
	nlohmann::json jobs;                  // fio's "jobs" array as printed
	std::string fio_version;
};

// Parses fio's --output-format=json output (text before the first '{', such
// as fio's own warnings, is ignored). For each direction that moved data:
// <dir>.bandwidth (MiB/s), <dir>.iops (ops/s), <dir>.lat_mean, <dir>.lat_p50,
// <dir>.lat_p99, <dir>.lat_p99_9 (completion latency, us), <dir>.io (MiB).
// Several jobs (no group_reporting) are summed; their latency mean is
// weighted by I/O count and each percentile is the worst job's.
// A job with a non-zero "error" makes the result not ok.
FioResult parse_fio_json(const std::string &text);

// The I/Os fio's "jobs" array says were done (read, write and trim
// total_ios of every job); 0 for anything else.
double fio_total_ios(const nlohmann::json &jobs);

} // namespace bench
