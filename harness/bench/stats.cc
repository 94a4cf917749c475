#include "stats.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace bench {

Summary summarize(std::vector<double> values)
{
	Summary s;
	s.n = static_cast<int>(values.size());
	if (values.empty())
		return s;
	std::sort(values.begin(), values.end());
	s.min = values.front();
	s.max = values.back();
	size_t mid = values.size() / 2;
	s.median = values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
	s.mean = std::accumulate(values.begin(), values.end(), 0.0) / s.n;
	if (s.n >= 2) {
		double sq = 0;
		for (double v : values)
			sq += (v - s.mean) * (v - s.mean);
		s.stddev = std::sqrt(sq / (s.n - 1));
	}
	return s;
}

} // namespace bench

namespace bench {

double percentile(const std::vector<double> &sorted, double q)
{
	double rank = std::clamp(q, 0.0, 1.0) * static_cast<double>(sorted.size() - 1);
	size_t lo = static_cast<size_t>(std::floor(rank));
	size_t hi = std::min(lo + 1, sorted.size() - 1);
	return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - static_cast<double>(lo));
}

Distribution distribution(std::vector<double> samples)
{
	Distribution d;
	d.n = static_cast<int>(samples.size());
	if (samples.empty())
		return d;
	std::sort(samples.begin(), samples.end());
	d.min = samples.front();
	d.max = samples.back();
	d.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / d.n;
	d.p50 = percentile(samples, 0.50);
	d.p90 = percentile(samples, 0.90);
	d.p99 = percentile(samples, 0.99);
	d.p99_9 = percentile(samples, 0.999);
	return d;
}

} // namespace bench
