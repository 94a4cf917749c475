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
