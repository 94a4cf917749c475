// Summary statistics over the repetitions of one point.
#pragma once

#include <vector>

namespace bench {

struct Summary {
	int n = 0;
	double median = 0, min = 0, max = 0, mean = 0;
	double stddev = 0; // sample standard deviation (n-1); 0 when n < 2
};

// Summarises `values`; n == 0 when empty.
Summary summarize(std::vector<double> values);

} // namespace bench

namespace bench {

// The distribution of many samples of one measurement (per-operation
// latencies, per-call stage durations). Percentiles interpolate linearly
// between the two nearest ranks, so p50 is the usual median.
struct Distribution {
	int n = 0;
	double min = 0, max = 0, mean = 0;
	double p50 = 0, p90 = 0, p99 = 0, p99_9 = 0;
};

// q in [0, 1]; `sorted` ascending and not empty.
double percentile(const std::vector<double> &sorted, double q);

// n == 0 when empty.
Distribution distribution(std::vector<double> samples);

} // namespace bench
