// Per-operation latency microbenchmarks: one thread, pinned, issues one
// operation at a time and times each with the monotonic clock, so that the
// report holds the distribution (p50/p90/p99) of single requests rather
// than a throughput. Over NullFS mounted with entry_timeout=0 and
// attr_timeout=0 (workloads.json daemon_args) every operation reaches the
// daemon:
//   stat           stat() of one file            (LOOKUP + GETATTR)
//   open_close     open(O_RDONLY) + close()      (LOOKUP + OPEN + FLUSH; RELEASE async)
//   create_unlink  creat() + close() + unlink()
//   pread_4k       4 KiB pread at offsets never read before (page cache misses)
//   pwrite_4k      4 KiB pwrite (FUSE without writeback cache: write-through)
#pragma once

#include "timed_threads.hpp"

#include "stats.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

namespace bench {

struct LatencyParams {
	std::string op;     // one of latency_ops()
	std::string dir;    // a directory on the filesystem under test
	int cpu = -1;       // pin the measuring thread here (-1: not pinned)
	int samples = 1000; // timed operations
	int warmup = 100;   // untimed operations before them
	std::function<bool()> should_stop; // polled every 64 operations
	TimedWindow window;                // begins after the warmup, ends after the samples
};

struct LatencyResult {
	bool ok = false;
	std::string error;
	std::vector<double> samples_us; // in the order measured
	Distribution us;                // over samples_us
	double setup_s = 0;
};

const std::vector<std::string> &latency_ops();

// One latency operation on `dir`, set up (lat-file, 1 GiB sparse; the
// descriptor pread/pwrite use) so that run() does exactly one operation.
// run(i): the i-th operation (i picks the offset or the file name). Both
// throw std::runtime_error "CALL PATH: strerror" on failure.
class LatencyOp {
public:
	static constexpr size_t kBlock = 4096;
	LatencyOp(const std::string &op, const std::string &dir);
	~LatencyOp();
	LatencyOp(const LatencyOp &) = delete;
	LatencyOp &operator=(const LatencyOp &) = delete;
	void run(long long i);

private:
	std::string op_, file_, prefix_;
	int fd_ = -1;
	char buf_[kBlock];
};

LatencyResult run_latency(const LatencyParams &params);

// {p50, p90, p99, p99_9, mean, min, max} in us, and samples (count).
nlohmann::json latency_metrics(const Distribution &us);

} // namespace bench
