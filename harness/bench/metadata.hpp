// fxmark-style metadata microbenchmarks (Min et al., ATC '16), run inside
// the harness. Name = M (metadata) + W/R (write/read) + operation + sharing:
//   MWCL  create files, each thread in its own directory
//   MWCM  create files, all threads in one shared directory
//   MWUL  unlink files, each thread in its own directory
//   MWUM  unlink files, all threads in one shared directory
//   MRDL  read a directory, each thread its own
//   MRDM  read a directory, all threads the same one
//   MRPL  open/close a file, each thread its own 5-deep private path
//   MRPM  open/close random files of one shared directory
//   MRPH  open/close the same file from every thread
// Directories are named *.d (NullFS treats only such names as directories).
// One "work" is one create, unlink, full directory scan, or open+close.
// Threads are pinned one per CPU, set up untimed, start together at a
// barrier and run for a fixed time. Creates and unlinks are bounded by
// files_per_thread per thread (the unlink pool; for creates, a bound on
// what a fast run leaves behind): a thread that reaches it stops early, and
// each thread's rate is its works over its own active time.
#pragma once

#include "timed_threads.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

namespace bench {

struct MetadataParams {
	std::string op;           // MWCL, ...
	std::string dir;          // an empty directory on the filesystem under test
	std::vector<int> cpus;    // one thread per entry, pinned to it
	double duration_s = 1;
	int files_per_thread = 1000; // MWUL/MWUM pool, MWCL/MWCM bound
	int dir_entries = 100;       // MRDL/MRDM/MRPM directory size
	// Called about every 10 ms while the threads run; returning true stops
	// them early (interrupt, daemon death).
	std::function<bool()> should_stop;
	TimedWindow window; // the timed part, for its CPU cost
};

struct MetadataThread {
	int cpu = -1;
	long long works = 0;
	double elapsed_s = 0;
	bool exhausted = false; // reached files_per_thread before the time was up
};

struct MetadataResult {
	bool ok = false;
	std::string error; // the first failing call of any thread, or setup failure
	std::vector<MetadataThread> threads;
	double works_per_sec = 0;             // sum over threads
	double works_per_sec_per_thread = 0;  // mean over threads
	double setup_s = 0;
};

const std::vector<std::string> &metadata_ops();

MetadataResult run_metadata(const MetadataParams &params);

nlohmann::json to_json(const MetadataThread &t);

} // namespace bench
