// filebench-style macro workloads, run inside the harness with filebench's
// flowop sequences (filebench's workloads/*.f personalities):
//   fileserver  per iteration: create+write whole file, open+append+close,
//               open+read whole+close, delete, stat (files of mean_file_size,
//               spread 20 per directory, 80% preallocated)
//   webserver   10 x (open+read whole+close) of small files, then an append
//               to a shared log (100% preallocated)
//   varmail     delete; create+append+fsync+close; open+read+append+fsync+close;
//               open+read+close (one flat directory, 80% preallocated)
// Differences from filebench, on purpose: threads are the point's thread
// count, one pinned per CPU (filebench runs 50/100/16 unpinned threads);
// each thread works on its own slice of the fileset (no fileset lock);
// file sizes are fixed at the mean (filebench draws from a gamma
// distribution); appends are uniform in 1..2*append_size-1 bytes.
// One "op" is one flowop; reads never go past the size we wrote (NullFS
// files claim to be huge).
#pragma once

#include "timed_threads.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

namespace bench {

struct MacroParams {
	std::string personality;      // fileserver, webserver, varmail
	std::string dir;              // an empty directory on the filesystem under test
	std::vector<int> cpus;        // one thread per entry, pinned
	double duration_s = 1;
	int files = 1000;             // fileset size (all threads together)
	unsigned long long mean_file_size = 128 * 1024;
	unsigned append_size = 16 * 1024;
	unsigned io_size = 1 << 20;   // read/write chunk
	std::function<bool()> should_stop;
	TimedWindow window; // the timed part, for its CPU cost
};

struct MacroThread {
	int cpu = -1;
	long long ops = 0, iterations = 0;
	unsigned long long bytes_read = 0, bytes_written = 0;
	double elapsed_s = 0;
};

struct MacroResult {
	bool ok = false;
	std::string error;
	std::vector<MacroThread> threads;
	double ops_per_sec = 0;       // flowops, all threads
	double iterations_per_sec = 0;
	double mib_per_sec = 0;       // read + written
	double setup_s = 0;
};

const std::vector<std::string> &macro_personalities();

// Fileset defaults per personality (size, preallocation), as filebench's.
MacroParams macro_defaults(const std::string &personality);

MacroResult run_macro(const MacroParams &params);

nlohmann::json to_json(const MacroThread &t);

} // namespace bench
