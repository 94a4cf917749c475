// rfuse-latency: the per-operation latency workloads of rfuse-bench
// (latency.hpp) as Google Benchmark benchmarks, for quick runs by hand on a
// directory that is already mounted:
//
//   rfuse-latency --dir=/mnt/nullfs [--cpu=N] [--samples=N] [google benchmark flags]
//
// Each operation is timed on its own (manual time) and every sample kept:
// the p50_us/p90_us/p99_us counters are percentiles over single operations
// (--samples=N of them, default 2000), not over the means of batches. The measuring thread is pinned (--cpu, default the
// first CPU of rfuse-bench's order). The evaluation suite itself runs the
// same operations inside rfuse-bench (workload kind "latency").
#include "cpu.hpp"
#include "latency.hpp"
#include "stats.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::string g_dir;
int g_samples = 2000;

void latency(benchmark::State &state, const std::string &op)
{
	try {
		bench::LatencyOp lat(op, g_dir);
		long long i = 0;
		for (; i < 100; ++i) // warm-up
			lat.run(i);
		std::vector<double> us;
		us.reserve(static_cast<size_t>(g_samples));
		for (auto _ : state) {
			auto t0 = std::chrono::steady_clock::now();
			lat.run(i++);
			auto t1 = std::chrono::steady_clock::now();
			double s = std::chrono::duration<double>(t1 - t0).count();
			state.SetIterationTime(s);
			us.push_back(s * 1e6);
		}
		bench::Distribution d = bench::distribution(us);
		state.counters["p50_us"] = d.p50;
		state.counters["p90_us"] = d.p90;
		state.counters["p99_us"] = d.p99;
	} catch (const std::exception &e) {
		state.SkipWithError(e.what());
	}
}

} // namespace

int main(int argc, char **argv)
{
	int cpu = -1;
	std::vector<char *> rest;
	for (int i = 0; i < argc; ++i) {
		if (std::strncmp(argv[i], "--dir=", 6) == 0)
			g_dir = argv[i] + 6;
		else if (std::strncmp(argv[i], "--samples=", 10) == 0)
			g_samples = std::max(1, std::atoi(argv[i] + 10));
		else if (std::strncmp(argv[i], "--cpu=", 6) == 0)
			cpu = std::atoi(argv[i] + 6);
		else
			rest.push_back(argv[i]);
	}
	if (g_dir.empty()) {
		std::fprintf(stderr, "usage: %s --dir=DIR [--cpu=N] [--samples=N] [benchmark flags]\n", argv[0]);
		return 2;
	}
	if (cpu < 0) {
		std::vector<int> order = bench::cpu_order();
		cpu = order.empty() ? 0 : order[0];
	}
	if (int err = bench::pin_current_thread(cpu)) {
		std::fprintf(stderr, "pinning to CPU %d: %s\n", cpu, std::strerror(err));
		return 1;
	}
	for (const std::string &op : bench::latency_ops())
		benchmark::RegisterBenchmark(op.c_str(), latency, op)
			->UseManualTime()
			->Unit(benchmark::kMicrosecond)
			->Iterations(g_samples);
	int n = static_cast<int>(rest.size());
	benchmark::Initialize(&n, rest.data());
	if (benchmark::ReportUnrecognizedArguments(n, rest.data()))
		return 2;
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	return 0;
}
