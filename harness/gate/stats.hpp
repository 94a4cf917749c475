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

// Robust relative spread of a sample: 1.4826 * MAD / median (the standard
// deviation over the median for normal data); 0 when the median is 0.
double relative_spread(const std::vector<double> &values);

struct Rule {
	double threshold = 0.15;   // practical: median worse by more than this fraction...
	double noise_factor = 2.0; // ...or than this many baseline relative spreads, if more
	double alpha = 0.05;       // statistical: one-sided Mann-Whitney p below this
};

enum class Verdict { ok, regressed, improved, no_data };
std::string to_string(Verdict v);

struct Comparison {
	double base_median = 0, now_median = 0;
	double change = 0;   // (now - base) / base, signed; the metric's own direction
	double worse = 0;    // now/base - 1 for a time, base/now - 1 for a rate (negative: better)
	double limit = 0;    // the practical threshold applied: max(threshold, noise_factor * spread)
	double p_worse = 1;  // one-sided p that now is worse than base
	double p_better = 1; // one-sided p that now is better
	// The same after Holm's correction over every metric of the run (so the
	// gate as a whole, not each metric, has a 5% false alarm rate); the
	// verdict uses these.
	double p_worse_adj = 1, p_better_adj = 1;
	Verdict verdict = Verdict::no_data;
	std::string note;    // why no_data
};

// Regressed when now's median is worse than the baseline's by more than
// the limit, max(rule.threshold, rule.noise_factor * relative_spread(base)), AND the Mann-Whitney test says now is worse at p < alpha;
// improved symmetrically; otherwise ok. no_data when a sample is empty or the
// baseline median is 0 (no relative change).
// p-values are those of this one metric (p_*_adj = p_*) until
// apply_holm() adjusts a family of comparisons.
Comparison compare(const std::vector<double> &base, const std::vector<double> &now, bool higher_is_better,
		   const Rule &rule);

// Holm-Bonferroni adjusted p-values, in the input's order:
// sorted ascending, p_(i) * (m - i), made monotone, capped at 1.
std::vector<double> holm_adjust(const std::vector<double> &p);

// Adjusts p_worse and p_better over all comparisons that have data and
// decides their verdicts again with the adjusted values.
void apply_holm(std::vector<Comparison *> &family, const Rule &rule);

} // namespace gate
