// The gate's statistics: a one-sided Mann-Whitney U test of a run's samples
// against the baseline's, and the decision rule that turns it plus a
// practical threshold into a verdict (README.md says why both are needed).
#pragma once

#include <string>
#include <vector>

namespace gate {

// p-value of the one-sided Mann-Whitney U test with alternative "values in
// `x` tend to be smaller than values in `y`". Ties get midranks. Exact (the
// permutation distribution of the rank sum given the tie pattern) when
// x.size() + y.size() <= 100, else the normal approximation with tie and
// continuity correction. 1.0 when either sample is empty.
double mann_whitney_p_less(const std::vector<double> &x, const std::vector<double> &y);

// The smallest p-value the test can give for samples of these sizes
// (1 / C(n_x + n_y, n_x)): below alpha or the statistical half of the rule
// can never fire.
double mann_whitney_min_p(size_t n_x, size_t n_y);

double median(std::vector<double> values);

struct Rule {
	double threshold = 0.15; // practical: median worse by more than this fraction
	double alpha = 0.05;     // statistical: one-sided Mann-Whitney p below this
};

enum class Verdict { ok, regressed, improved, no_data };
std::string to_string(Verdict v);

struct Comparison {
	double base_median = 0, now_median = 0;
	double change = 0;   // (now - base) / base, signed; the metric's own direction
	double worse = 0;    // fraction by which now is worse (negative: better)
	double p_worse = 1;  // one-sided p that now is worse than base
	double p_better = 1; // one-sided p that now is better
	Verdict verdict = Verdict::no_data;
	std::string note;    // why no_data
};

// Regressed when now's median is worse than the baseline's by more than
// rule.threshold AND the Mann-Whitney test says now is worse at p < alpha;
// improved symmetrically; otherwise ok. no_data when a sample is empty or the
// baseline median is 0 (no relative change).
Comparison compare(const std::vector<double> &base, const std::vector<double> &now, bool higher_is_better,
		   const Rule &rule);

} // namespace gate
