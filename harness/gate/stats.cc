#include "stats.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

namespace gate {

namespace {

// Doubled midranks (integers) of the pooled sample, x first then y.
std::vector<long> doubled_midranks(const std::vector<double> &pooled)
{
	std::vector<size_t> order(pooled.size());
	std::iota(order.begin(), order.end(), 0);
	std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return pooled[a] < pooled[b]; });
	std::vector<long> rank2(pooled.size());
	for (size_t i = 0; i < order.size();) {
		size_t j = i;
		while (j + 1 < order.size() && pooled[order[j + 1]] == pooled[order[i]])
			j++;
		// Ranks i+1..j+1 share their mean; doubled it is i+j+2.
		for (size_t k = i; k <= j; k++)
			rank2[order[k]] = static_cast<long>(i + j + 2);
		i = j + 1;
	}
	return rank2;
}

// P(rank sum of a random n-subset <= observed), all subsets equally likely:
// dp[k][s] counts k-subsets of the ranks seen so far with doubled sum s.
double exact_lower_tail(const std::vector<long> &rank2, size_t n, long observed)
{
	long total = std::accumulate(rank2.begin(), rank2.end(), 0L);
	std::vector<std::vector<double>> dp(n + 1, std::vector<double>(total + 1, 0.0));
	dp[0][0] = 1;
	for (long r : rank2)
		for (size_t k = n; k >= 1; k--)
			for (long s = total; s >= r; s--)
				dp[k][s] += dp[k - 1][s - r];
	double below = 0, all = 0;
	for (long s = 0; s <= total; s++) {
		all += dp[n][s];
		if (s <= observed)
			below += dp[n][s];
	}
	return below / all;
}

} // namespace

double mann_whitney_p_less(const std::vector<double> &x, const std::vector<double> &y)
{
	if (x.empty() || y.empty())
		return 1.0;
	std::vector<double> pooled(x);
	pooled.insert(pooled.end(), y.begin(), y.end());
	std::vector<long> rank2 = doubled_midranks(pooled);
	long observed = std::accumulate(rank2.begin(), rank2.begin() + static_cast<long>(x.size()), 0L);
	const double n1 = static_cast<double>(x.size()), n2 = static_cast<double>(y.size());
	if (pooled.size() <= 100)
		return exact_lower_tail(rank2, x.size(), observed);

	// Normal approximation: U = R1 - n1(n1+1)/2, variance with tie correction.
	const double n = n1 + n2;
	double u = observed / 2.0 - n1 * (n1 + 1) / 2;
	double ties = 0;
	std::vector<double> sorted(pooled);
	std::sort(sorted.begin(), sorted.end());
	for (size_t i = 0; i < sorted.size();) {
		size_t j = i;
		while (j < sorted.size() && sorted[j] == sorted[i])
			j++;
		double t = static_cast<double>(j - i);
		ties += t * t * t - t;
		i = j;
	}
	double var = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)));
	if (var <= 0)
		return 1.0;
	double z = (u - n1 * n2 / 2 + 0.5) / std::sqrt(var);
	return 0.5 * std::erfc(-z / std::sqrt(2.0));
}

double mann_whitney_min_p(size_t n_x, size_t n_y)
{
	// 1 / C(n_x + n_y, n_x), computed in logs to stay finite.
	double log_c = std::lgamma(n_x + n_y + 1.0) - std::lgamma(n_x + 1.0) - std::lgamma(n_y + 1.0);
	return std::exp(-log_c);
}

double median(std::vector<double> values)
{
	if (values.empty())
		return 0;
	std::sort(values.begin(), values.end());
	size_t n = values.size();
	return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

double relative_spread(const std::vector<double> &values)
{
	double m = median(values);
	if (values.empty() || m == 0)
		return 0;
	std::vector<double> dev;
	for (double v : values)
		dev.push_back(std::fabs(v - m));
	return 1.4826 * median(dev) / std::fabs(m);
}

std::string to_string(Verdict v)
{
	switch (v) {
	case Verdict::ok:
		return "ok";
	case Verdict::regressed:
		return "REGRESSED";
	case Verdict::improved:
		return "improved";
	case Verdict::no_data:
		break;
	}
	return "no-data";
}

namespace {

void decide(Comparison &c, const Rule &rule)
{
	if (c.worse > c.limit && c.p_worse_adj < rule.alpha)
		c.verdict = Verdict::regressed;
	else if (-c.worse > c.limit && c.p_better_adj < rule.alpha)
		c.verdict = Verdict::improved;
	else
		c.verdict = Verdict::ok;
}

} // namespace

Comparison compare(const std::vector<double> &base, const std::vector<double> &now, bool higher_is_better,
		   const Rule &rule)
{
	Comparison c;
	c.base_median = median(base);
	c.now_median = median(now);
	if (base.empty() || now.empty()) {
		c.note = base.empty() ? "no baseline samples" : "not measured";
		return c;
	}
	if (c.base_median == 0) {
		c.note = "baseline median is 0";
		return c;
	}
	c.change = (c.now_median - c.base_median) / c.base_median;
	// "Worse by x" is the same for both directions: each operation takes
	// (1 + x) times as long, so throughput and latency limits match.
	if (higher_is_better)
		c.worse = c.now_median > 0 ? c.base_median / c.now_median - 1 : HUGE_VAL;
	else
		c.worse = c.now_median / c.base_median - 1;
	c.p_worse = higher_is_better ? mann_whitney_p_less(now, base) : mann_whitney_p_less(base, now);
	c.p_better = higher_is_better ? mann_whitney_p_less(base, now) : mann_whitney_p_less(now, base);
	c.limit = std::max(rule.threshold, rule.noise_factor * relative_spread(base));
	c.p_worse_adj = c.p_worse;
	c.p_better_adj = c.p_better;
	decide(c, rule);
	return c;
}

std::vector<double> holm_adjust(const std::vector<double> &p)
{
	std::vector<size_t> order(p.size());
	std::iota(order.begin(), order.end(), 0);
	std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
	std::vector<double> adj(p.size());
	double running = 0;
	for (size_t i = 0; i < order.size(); i++) {
		double m_left = static_cast<double>(p.size() - i);
		running = std::max(running, std::min(1.0, p[order[i]] * m_left));
		adj[order[i]] = running;
	}
	return adj;
}

void apply_holm(std::vector<Comparison *> &family, const Rule &rule)
{
	std::vector<Comparison *> with_data;
	for (Comparison *c : family)
		if (c->verdict != Verdict::no_data)
			with_data.push_back(c);
	std::vector<double> worse, better;
	for (Comparison *c : with_data) {
		worse.push_back(c->p_worse);
		better.push_back(c->p_better);
	}
	worse = holm_adjust(worse);
	better = holm_adjust(better);
	for (size_t i = 0; i < with_data.size(); i++) {
		with_data[i]->p_worse_adj = worse[i];
		with_data[i]->p_better_adj = better[i];
		decide(*with_data[i], rule);
	}
}

} // namespace gate
