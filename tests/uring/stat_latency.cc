// uring_stat_latency: a benchmark, not a test (CTest does not run it).
// The stat() round trip (one GETATTR each: MemFS with attr_timeout=0) over
// classic /dev/fuse and over io_uring, with 1 and 2 threads; each point is
// the median of several runs. Needs root (enable_uring, mounts).
//   uring_stat_latency [OPS_PER_THREAD [RUNS]]
#include "librfuse_test_util.hpp"
#include "mount.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sys/stat.h>
#include <thread>
#include <vector>

namespace {

// Mean microseconds per stat() over `threads` threads doing `ops` each.
double run_once(const std::string &file, unsigned threads, unsigned ops)
{
	std::vector<std::thread> pool;
	std::vector<double> per_thread(threads);
	for (unsigned t = 0; t < threads; ++t) {
		pool.emplace_back([&, t] {
			struct stat st {};
			auto start = std::chrono::steady_clock::now();
			for (unsigned i = 0; i < ops; ++i)
				if (stat(file.c_str(), &st) != 0)
					std::abort();
			std::chrono::duration<double, std::micro> d = std::chrono::steady_clock::now() - start;
			per_thread[t] = d.count() / ops;
		});
	}
	for (std::thread &t : pool)
		t.join();
	double sum = 0;
	for (double v : per_thread)
		sum += v;
	return sum / threads;
}

double median(std::vector<double> v)
{
	std::sort(v.begin(), v.end());
	return v[v.size() / 2];
}

} // namespace

int main(int argc, char **argv)
{
	unsigned ops = argc > 1 ? static_cast<unsigned>(std::atoi(argv[1])) : 20000;
	unsigned runs = argc > 2 ? static_cast<unsigned>(std::atoi(argv[2])) : 5;
	rfuse_test::UringSwitch on(true);
	if (!on.usable()) {
		std::fprintf(stderr, "uring_stat_latency: %s\n", on.why().c_str());
		return 1;
	}
	std::printf("stat() round trip, MemFS attr_timeout=0, %u stats per thread, median of %u runs\n", ops, runs);
	std::printf("%-10s %8s %14s %14s\n", "transport", "threads", "median_us", "min..max_us");
	for (const char *transport : {"fuse", "uring"}) {
		rfuse_test::ScratchDir dir("stat-latency");
		std::string mnt = dir / "mnt";
		mkdir(mnt.c_str(), 0755);
		harness::DaemonSpec spec;
		spec.argv = {rfuse_test::binary("memfs-rfuse"), "-o", "attr_timeout=0,entry_timeout=0"};
		spec.mountpoint = mnt;
		spec.env = {{"RFUSE_TRANSPORT", transport}};
		spec.log_path = dir / "daemon.log";
		harness::MountedFs fs(spec);
		std::string file = mnt + "/f";
		if (!rfuse_test::write_and_verify(file, 10, 1).empty())
			return 1;
		run_once(file, 1, ops / 10); // warm up
		for (unsigned threads : {1u, 2u}) {
			std::vector<double> samples;
			for (unsigned r = 0; r < runs; ++r)
				samples.push_back(run_once(file, threads, ops));
			auto [lo, hi] = std::minmax_element(samples.begin(), samples.end());
			std::printf("%-10s %8u %14.2f %7.2f..%-6.2f\n", transport, threads, median(samples), *lo, *hi);
		}
	}
	return 0;
}
