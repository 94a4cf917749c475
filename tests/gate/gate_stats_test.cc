// Unit tests of the gate's statistics, decision rule, ratios and baseline
// compatibility checks (no mounts).
#include "gate.hpp"
#include "stats.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace {

using gate::Rule;
using gate::Verdict;

TEST(MannWhitney, ExactCompleteSeparation)
{
	// 4 vs 4, every x below every y: only 1 of C(8,4)=70 splits is as extreme.
	EXPECT_NEAR(gate::mann_whitney_p_less({1, 2, 3, 4}, {5, 6, 7, 8}), 1.0 / 70, 1e-12);
	// The other direction: every split is at least as small.
	EXPECT_NEAR(gate::mann_whitney_p_less({5, 6, 7, 8}, {1, 2, 3, 4}), 1.0, 1e-12);
	EXPECT_NEAR(gate::mann_whitney_min_p(4, 4), 1.0 / 70, 1e-12);
	EXPECT_NEAR(gate::mann_whitney_min_p(5, 7), 1.0 / 792, 1e-12);
}

TEST(MannWhitney, ExactKnownValue)
{
	// x = {1, 3}, y = {2, 4, 5}: U_x = 1 (one pair x > y). Of the C(5,2)=10
	// rank pairs, those with rank sum <= 4 are {1,2},{1,3}: p = 2/10.
	EXPECT_NEAR(gate::mann_whitney_p_less({1, 3}, {2, 4, 5}), 0.2, 1e-12);
	// Same with the 3 vs 3 table value: U = 0 -> 1/20, U = 1 -> 2/20.
	EXPECT_NEAR(gate::mann_whitney_p_less({1, 2, 3}, {4, 5, 6}), 0.05, 1e-12);
	EXPECT_NEAR(gate::mann_whitney_p_less({1, 2, 4}, {3, 5, 6}), 0.10, 1e-12);
}

TEST(MannWhitney, TiesUseMidranks)
{
	// All equal: every split has the same rank sum, p = 1 both ways.
	EXPECT_NEAR(gate::mann_whitney_p_less({7, 7, 7}, {7, 7, 7}), 1.0, 1e-12);
	// x = {1, 2}, y = {2, 3}: midranks 1, 2.5, 2.5, 4; x's sum is 3.5. Of the 6
	// pairs, sums are 3.5, 3.5, 5, 5, 6.5, 6.5: p = 2/6.
	EXPECT_NEAR(gate::mann_whitney_p_less({1, 2}, {2, 3}), 2.0 / 6, 1e-12);
}

TEST(MannWhitney, NormalApproximationForLargeSamples)
{
	std::vector<double> x, y;
	for (int i = 0; i < 60; i++) {
		x.push_back(i);
		y.push_back(i + 30);
	}
	double p = gate::mann_whitney_p_less(x, y);
	EXPECT_LT(p, 1e-6);
	EXPECT_GT(gate::mann_whitney_p_less(y, x), 0.999);
	// Identical samples: about one half.
	EXPECT_NEAR(gate::mann_whitney_p_less(x, x), 0.5, 0.05);
}

TEST(MannWhitney, EmptyIsNoEvidence)
{
	EXPECT_EQ(gate::mann_whitney_p_less({}, {1, 2}), 1.0);
	EXPECT_EQ(gate::mann_whitney_p_less({1}, {}), 1.0);
}

TEST(Median, OddEvenEmpty)
{
	EXPECT_EQ(gate::median({3, 1, 2}), 2);
	EXPECT_EQ(gate::median({4, 1, 2, 3}), 2.5);
	EXPECT_EQ(gate::median({}), 0);
}

const std::vector<double> kBase = {100, 101, 99, 100, 102};

TEST(DecisionRule, ClearRegressionOfAThroughput)
{
	auto c = gate::compare(kBase, {70, 71, 69, 70, 72}, true, Rule{});
	EXPECT_EQ(c.verdict, Verdict::regressed);
	EXPECT_NEAR(c.change, -0.30, 1e-9);
	EXPECT_LT(c.p_worse, 0.05);
}

TEST(DecisionRule, LatencyUpIsWorse)
{
	auto up = gate::compare(kBase, {130, 131, 129, 130, 132}, false, Rule{});
	EXPECT_EQ(up.verdict, Verdict::regressed);
	auto down = gate::compare(kBase, {70, 71, 69, 70, 72}, false, Rule{});
	EXPECT_EQ(down.verdict, Verdict::improved);
}

TEST(DecisionRule, SignificantButSmallIsOk)
{
	// 5% worse with no overlap: statistically clear, practically not.
	auto c = gate::compare(kBase, {95, 95.5, 94, 95, 96}, true, Rule{});
	EXPECT_LT(c.p_worse, 0.05);
	EXPECT_EQ(c.verdict, Verdict::ok);
}

TEST(DecisionRule, LargeButNotSignificantIsOk)
{
	// Median 30% worse, but the samples overlap wildly.
	auto c = gate::compare({100, 20, 180, 60, 140}, {70, 10, 200, 40, 150}, true, Rule{});
	EXPECT_GT(-c.change, 0.15);
	EXPECT_GE(c.p_worse, 0.05);
	EXPECT_EQ(c.verdict, Verdict::ok);
}

TEST(DecisionRule, ThresholdIsStrict)
{
	// Exactly at the threshold is not beyond it (1.25 is exact in binary).
	auto at = gate::compare({100, 100, 100, 100}, {125, 125, 125, 125}, false, Rule{0.25, 2.0, 0.05});
	EXPECT_EQ(at.worse, 0.25);
	EXPECT_EQ(at.verdict, Verdict::ok);
	auto beyond = gate::compare({100, 100, 100, 100}, {126, 126, 126, 126}, false, Rule{0.25, 2.0, 0.05});
	EXPECT_EQ(beyond.verdict, Verdict::regressed);
}

TEST(DecisionRule, WorseIsSymmetricForRatesAndTimes)
{
	// Half the throughput and twice the latency are both "100% worse".
	auto rate = gate::compare({100, 100, 100, 100}, {50, 50, 50, 50}, true, Rule{});
	auto time = gate::compare({100, 100, 100, 100}, {200, 200, 200, 200}, false, Rule{});
	EXPECT_DOUBLE_EQ(rate.worse, 1.0);
	EXPECT_DOUBLE_EQ(time.worse, 1.0);
	EXPECT_DOUBLE_EQ(rate.change, -0.5);
	// A rate that drops to 0 is infinitely worse.
	auto zero = gate::compare({100, 100, 100, 100}, {0, 0, 0, 0}, true, Rule{});
	EXPECT_EQ(zero.verdict, Verdict::regressed);
}

TEST(DecisionRule, TooFewSamplesCannotFlag)
{
	// 3 vs 3: the smallest p is 1/20 = alpha, never below it.
	auto c = gate::compare({100, 100, 100}, {10, 10, 10}, true, Rule{});
	EXPECT_NEAR(c.p_worse, 0.05, 1e-12);
	EXPECT_EQ(c.verdict, Verdict::ok);
}

TEST(DecisionRule, NoData)
{
	EXPECT_EQ(gate::compare({}, {1, 2}, true, Rule{}).verdict, Verdict::no_data);
	EXPECT_EQ(gate::compare({1, 2}, {}, true, Rule{}).verdict, Verdict::no_data);
	EXPECT_EQ(gate::compare({0, 0}, {1, 2}, true, Rule{}).verdict, Verdict::no_data);
}

TEST(Ratios, PairedByRepetition)
{
	std::map<std::string, gate::SampleSet> s;
	s["m/fuse/t1"] = {"IOPS", true, {100, 200}};
	s["m/uring/t1"] = {"IOPS", true, {150, 200}};
	s["m/uring/t2"] = {"IOPS", true, {1, 1}}; // no fuse counterpart
	auto r = gate::within_run_ratios(s);
	ASSERT_EQ(r.size(), 1u);
	const auto &ratio = r.at("ratio_uring_vs_fuse/m/t1");
	EXPECT_EQ(ratio.values, (std::vector<double>{1.5, 1.0}));
	EXPECT_TRUE(ratio.higher_is_better);
}

TEST(Ratios, EveryTransportAgainstFuse)
{
	std::map<std::string, gate::SampleSet> s;
	s["lat/fuse/t2"] = {"us", false, {10, 20}};
	s["lat/rfuse/t2"] = {"us", false, {5, 30}};
	s["lat/uring/t2"] = {"us", false, {2, 4}};
	auto r = gate::within_run_ratios(s);
	ASSERT_EQ(r.size(), 2u);
	EXPECT_EQ(r.at("ratio_rfuse_vs_fuse/lat/t2").values, (std::vector<double>{0.5, 1.5}));
	EXPECT_EQ(r.at("ratio_uring_vs_fuse/lat/t2").values, (std::vector<double>{0.2, 0.2}));
	EXPECT_FALSE(r.at("ratio_rfuse_vs_fuse/lat/t2").higher_is_better);
	// Ratios are never taken of ratios.
	s.insert(r.begin(), r.end());
	EXPECT_EQ(gate::within_run_ratios(s).size(), 2u);
}

TEST(Confirmation, PlanCoversFlaggedKeysAndRatioOperands)
{
	auto plan = gate::plan_confirmation({"nullfs_randread_4k/fuse/t2", "ratio_rfuse_vs_fuse/memfs_mwcl/t1"});
	EXPECT_EQ(plan.metrics, (std::vector<std::string>{"nullfs_randread_4k", "memfs_mwcl"}));
	EXPECT_EQ(plan.transports, (std::vector<std::string>{"fuse", "rfuse"}));
	EXPECT_EQ(plan.thread_counts, (std::vector<int>{2, 1}));
	EXPECT_THROW(gate::plan_confirmation({"no-slashes"}), std::invalid_argument);

	// The confirmation compares exactly the flagged keys, ratios recomputed per build.
	std::map<std::string, gate::SampleSet> now;
	now["memfs_mwcl/fuse/t1"] = {"works/s", true, {100, 100}};
	now["memfs_mwcl/rfuse/t1"] = {"works/s", true, {300, 200}};
	now["nullfs_randread_4k/fuse/t1"] = {"IOPS", true, {1, 1}};
	auto only = gate::with_ratios_only(now, {"ratio_rfuse_vs_fuse/memfs_mwcl/t1", "memfs_mwcl/fuse/t1"});
	ASSERT_EQ(only.size(), 2u);
	EXPECT_EQ(only.at("ratio_rfuse_vs_fuse/memfs_mwcl/t1").values, (std::vector<double>{3, 2}));
}

nlohmann::json environment(int cpus, const std::string &kind, const std::string &release)
{
	return {{"kernel", {{"release", release}}}, {"cpu", {{"usable", cpus}}}, {"virtualization", {{"kind", kind}}}};
}

TEST(MachineClass, CpusVirtualizationKernel)
{
	EXPECT_EQ(gate::machine_class(environment(2, "native", "6.18.44-fc-v595")), "2cpu-native-6.18");
	EXPECT_EQ(gate::machine_class(environment(16, "vm", "6.1.0-27-amd64")), "16cpu-vm-6.1");
}

TEST(Baseline, RefusesAnotherMachineClass)
{
	gate::Settings settings;
	auto rec = gate::make_record("16cpu-native-6.18", environment(16, "native", "6.18.1"), settings, {});
	EXPECT_EQ(gate::incompatibility(rec, "16cpu-native-6.18", settings), "");
	std::string why = gate::incompatibility(rec, "2cpu-native-6.18", settings);
	EXPECT_NE(why.find("16cpu-native-6.18"), std::string::npos) << why;
	EXPECT_NE(why.find("2cpu-native-6.18"), std::string::npos) << why;
}

TEST(Baseline, RefusesOtherDurationAndInjectedBaselines)
{
	gate::Settings settings;
	auto rec = gate::make_record("c", environment(2, "native", "6.18"), settings, {});
	gate::Settings shorter = settings;
	shorter.duration_s = 0.5;
	EXPECT_NE(gate::incompatibility(rec, "c", shorter), "");
	gate::Settings injected = settings;
	injected.inject_delay_us = 100;
	auto bad = gate::make_record("c", environment(2, "native", "6.18"), injected, {});
	EXPECT_NE(gate::incompatibility(bad, "c", settings), "");
	EXPECT_NE(gate::incompatibility(nlohmann::json{{"schema", "other"}}, "c", settings), "");
}

TEST(Baseline, RecordRoundTrip)
{
	std::map<std::string, gate::SampleSet> s;
	s["m/fuse/t1"] = {"us", false, {1.5, 2.5}};
	auto rec = gate::make_record("c", environment(2, "native", "6.18"), gate::Settings{}, s);
	auto back = gate::samples_from_record(nlohmann::json::parse(rec.dump()));
	ASSERT_EQ(back.count("m/fuse/t1"), 1u);
	EXPECT_EQ(back["m/fuse/t1"].values, (std::vector<double>{1.5, 2.5}));
	EXPECT_FALSE(back["m/fuse/t1"].higher_is_better);
	auto rows = gate::compare_runs(back, s, Rule{});
	ASSERT_EQ(rows.size(), 1u);
	EXPECT_EQ(rows[0].cmp.verdict, Verdict::ok);
	EXPECT_FALSE(gate::any_regressed(rows));
	EXPECT_NE(gate::format_table(rows).find("m/fuse/t1"), std::string::npos);
}

} // namespace

namespace {

TEST(DecisionRule, NoisyBaselineRaisesTheLimit)
{
	// Spread: MAD 30 around 100 -> 1.4826 * 0.30 = 44%; limit 2 x that = 89%.
	std::vector<double> noisy = {40, 70, 100, 130, 160, 100, 100};
	EXPECT_NEAR(gate::relative_spread(noisy), 1.4826 * 0.30, 1e-9);
	std::vector<double> now = {60, 60, 61, 59, 60}; // 67% worse (100/60 - 1), p small
	auto c = gate::compare(noisy, now, true, gate::Rule{});
	EXPECT_NEAR(c.limit, 2 * 1.4826 * 0.30, 1e-9);
	EXPECT_EQ(c.verdict, gate::Verdict::ok);
	// The same change against a quiet baseline is a regression.
	auto q = gate::compare({100, 100, 101, 99, 100, 100, 100}, now, true, gate::Rule{});
	EXPECT_NEAR(q.limit, 0.15, 1e-9);
	EXPECT_EQ(q.verdict, gate::Verdict::regressed);
	// noise_factor 0 turns the noise term off.
	auto off = gate::compare(noisy, now, true, gate::Rule{0.15, 0.0, 0.05});
	EXPECT_EQ(off.verdict, gate::Verdict::regressed);
}

} // namespace

namespace {

TEST(Holm, AdjustsInTheInputsOrder)
{
	// Sorted: 0.01*3 = 0.03, 0.02*2 = 0.04, 0.04*1 = 0.04.
	auto adj = gate::holm_adjust({0.04, 0.01, 0.02});
	ASSERT_EQ(adj.size(), 3u);
	EXPECT_NEAR(adj[0], 0.04, 1e-12);
	EXPECT_NEAR(adj[1], 0.03, 1e-12);
	EXPECT_NEAR(adj[2], 0.04, 1e-12);
	// Monotone and capped at 1: 0.3*2 = 0.6, then max(0.6, 0.2*1) = 0.6.
	auto mono = gate::holm_adjust({0.2, 0.3, 0.9});
	EXPECT_NEAR(mono[0], 0.6, 1e-12);
	EXPECT_NEAR(mono[1], 0.6, 1e-12);
	EXPECT_NEAR(mono[2], 0.9, 1e-12);
	EXPECT_NEAR(gate::holm_adjust({0.6, 0.7})[0], 1.0, 1e-12);
	EXPECT_TRUE(gate::holm_adjust({}).empty());
}

TEST(Holm, OneBorderlineMetricAmongManyIsNotARegression)
{
	// 10 baseline vs 5 samples, one of them in the baseline's range: p =
	// 19/3003 < 0.05 alone, but not once corrected for 24 metrics.
	std::vector<double> ten = {100, 101, 102, 103, 104, 105, 106, 107, 108, 109};
	std::map<std::string, gate::SampleSet> base, now;
	base["a/fuse/t1"] = {"IOPS", true, ten};
	now["a/fuse/t1"] = {"IOPS", true, {60, 61, 62, 63, 104.5}};
	for (int i = 0; i < 23; i++) {
		std::string k = "m" + std::to_string(i) + "/fuse/t1";
		base[k] = {"IOPS", true, ten};
		now[k] = {"IOPS", true, {102, 103, 104, 105, 106}};
	}
	auto single = gate::compare(base["a/fuse/t1"].values, now["a/fuse/t1"].values, true, gate::Rule{});
	EXPECT_EQ(single.verdict, gate::Verdict::regressed);
	auto rows = gate::compare_runs(base, now, gate::Rule{});
	EXPECT_FALSE(gate::any_regressed(rows));
	EXPECT_NEAR(rows[0].cmp.p_worse, 19.0 / 3003, 1e-12);
	// With complete separation (p = 1/3003, 24/3003 corrected) it survives.
	now["a/fuse/t1"].values = {60, 61, 62, 63, 64};
	rows = gate::compare_runs(base, now, gate::Rule{});
	EXPECT_TRUE(gate::any_regressed(rows));
}

} // namespace

namespace {

TEST(Baseline, AppendPoolsSessions)
{
	std::map<std::string, gate::SampleSet> a, b;
	a["m/fuse/t1"] = {"us", false, {1, 2}};
	a["only-old/fuse/t1"] = {"us", false, {7}};
	b["m/fuse/t1"] = {"us", false, {3}};
	auto env = environment(2, "native", "6.18");
	auto old = gate::make_record("c", env, gate::Settings{}, a);
	auto pooled = gate::append_session(old, gate::make_record("c", env, gate::Settings{}, b));
	auto s = gate::samples_from_record(pooled);
	EXPECT_EQ(s["m/fuse/t1"].values, (std::vector<double>{1, 2, 3}));
	EXPECT_EQ(s["only-old/fuse/t1"].values, (std::vector<double>{7}));
	EXPECT_EQ(pooled["sessions"].size(), 2u);
	auto again = gate::append_session(pooled, gate::make_record("c", env, gate::Settings{}, b));
	EXPECT_EQ(again["sessions"].size(), 3u);
	EXPECT_EQ(gate::samples_from_record(again)["m/fuse/t1"].values.size(), 4u);
}

} // namespace
