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
