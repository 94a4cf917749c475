// Unit tests of rfuse-bench's pieces that need no mount: the fio JSON
// parser (against real fio output saved from a tmpfs run), the job template
// renderer, the statistics, the thread counts and CPU order, and the
// up-front refusal of bad names and malformed specs.
#include "config.hpp"
#include "cpu.hpp"
#include "cpu_cost.hpp"
#include "fio.hpp"
#include "macro.hpp"
#include "metadata.hpp"
#include "placement.hpp"
#include "stats.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sched.h>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace {

std::string fixture(const std::string &name)
{
	std::ifstream in(std::string(RFUSE_TEST_DATA_DIR) + "/" + name);
	std::stringstream ss;
	ss << in.rdbuf();
	return ss.str();
}

TEST(FioParser, GroupReportedRandRead)
{
	// fio-3.33, randread 4k, 2 jobs x 16 MiB, group_reporting, tmpfs.
	bench::FioResult r = bench::parse_fio_json(fixture("fio-randread-4k-tmpfs.json"));
	ASSERT_TRUE(r.ok) << r.error;
	EXPECT_EQ(r.fio_version, "fio-3.33");
	EXPECT_EQ(r.jobs.size(), 1u);
	EXPECT_DOUBLE_EQ(r.metrics.at("read.bandwidth").value, 906876540.0 / 1048576.0);
	EXPECT_EQ(r.metrics.at("read.bandwidth").unit, "MiB/s");
	EXPECT_DOUBLE_EQ(r.metrics.at("read.iops").value, 221405.405405);
	EXPECT_EQ(r.metrics.at("read.iops").unit, "ops/s");
	EXPECT_DOUBLE_EQ(r.metrics.at("read.io").value, 32.0);
	EXPECT_DOUBLE_EQ(r.metrics.at("read.lat_mean").value, 6470.943237 / 1000.0);
	EXPECT_DOUBLE_EQ(r.metrics.at("read.lat_p50").value, 1.112);
	EXPECT_DOUBLE_EQ(r.metrics.at("read.lat_p99").value, 8.256);
	EXPECT_DOUBLE_EQ(r.metrics.at("read.lat_p99_9").value, 13.888);
	EXPECT_EQ(r.metrics.at("read.lat_p99").unit, "us");
	// A read job moved no written data: no write.* figures.
	EXPECT_EQ(r.metrics.count("write.bandwidth"), 0u);
}

TEST(FioParser, SeparateJobsAreSummed)
{
	// fio-3.33, seq write 128k, 2 jobs x 16 MiB, no group_reporting.
	bench::FioResult r = bench::parse_fio_json(fixture("fio-seqwrite-128k-2jobs-tmpfs.json"));
	ASSERT_TRUE(r.ok) << r.error;
	EXPECT_EQ(r.jobs.size(), 2u);
	EXPECT_DOUBLE_EQ(r.metrics.at("write.bandwidth").value, (1118481066.0 + 2097152000.0) / 1048576.0);
	EXPECT_DOUBLE_EQ(r.metrics.at("write.iops").value, 8533.333333 + 16000.0);
	EXPECT_DOUBLE_EQ(r.metrics.at("write.io").value, 32.0);
	// Mean weighted by I/O count (128 each), percentiles the worst job's.
	EXPECT_DOUBLE_EQ(r.metrics.at("write.lat_mean").value, (113744.125 + 59933.8125) / 2 / 1000.0);
	EXPECT_DOUBLE_EQ(r.metrics.at("write.lat_p50").value, 26.240);
	EXPECT_DOUBLE_EQ(r.metrics.at("write.lat_p99").value, 81.408);
	EXPECT_DOUBLE_EQ(r.metrics.at("write.lat_p99_9").value, 11075.584);
	EXPECT_EQ(r.metrics.count("read.bandwidth"), 0u);
}

TEST(FioParser, SkipsFioChatterBeforeTheJson)
{
	std::string text = "fio: note: both iodepth >= 1 and synchronous I/O engine\n" +
			   fixture("fio-randread-4k-tmpfs.json");
	bench::FioResult r = bench::parse_fio_json(text);
	EXPECT_TRUE(r.ok) << r.error;
}

TEST(FioParser, JobErrorIsAFailure)
{
	nlohmann::json doc = nlohmann::json::parse(fixture("fio-randread-4k-tmpfs.json"));
	doc["jobs"][0]["error"] = 107;
	bench::FioResult r = bench::parse_fio_json(doc.dump());
	EXPECT_FALSE(r.ok);
	EXPECT_NE(r.error.find("error 107"), std::string::npos) << r.error;
	EXPECT_NE(r.error.find("not connected"), std::string::npos) << r.error;
}

TEST(FioParser, GarbageIsAFailure)
{
	EXPECT_FALSE(bench::parse_fio_json("").ok);
	EXPECT_FALSE(bench::parse_fio_json("fio: failed parsing directory=/x\n").ok);
	EXPECT_FALSE(bench::parse_fio_json("{\"jobs\": [").ok);
	EXPECT_FALSE(bench::parse_fio_json("{\"jobs\": []}").ok);
	bench::FioResult nothing = bench::parse_fio_json("{\"jobs\": [{\"jobname\": \"x\", \"error\": 0}]}");
	EXPECT_FALSE(nothing.ok);
	EXPECT_EQ(nothing.error, "fio moved no data");
}

TEST(Template, LayoutJobWritesInLargeBlocks)
{
	const std::string job = "[global]\nnumjobs=2\nrandrepeat=0\n\n[randread-4k]\nrw=randread\nbs=4k\n"
				"[other]\n  blocksize=128k";
	EXPECT_EQ(bench::layout_job(job),
		  "[global]\nnumjobs=2\nrandrepeat=0\n\n[randread-4k]\nrw=randread\nbs=1M\n[other]\n  bs=1M");
	EXPECT_EQ(bench::layout_job("rw=read\nbs=128k\n", "256k"), "rw=read\nbs=256k\n");
	EXPECT_EQ(bench::layout_job("rw=read\n"), "rw=read\n");
}

TEST(Template, FillsKnownVariablesAndRefusesUnknownOnes)
{
	EXPECT_EQ(bench::render_template("directory=${DIR}\nnumjobs=${N}\n", {{"DIR", "/m"}, {"N", "4"}}),
		  "directory=/m\nnumjobs=4\n");
	EXPECT_EQ(bench::render_template("no vars", {}), "no vars");
	EXPECT_THROW(bench::render_template("x=${NOPE}", {{"DIR", "/m"}}), std::invalid_argument);
	EXPECT_THROW(bench::render_template("x=${DIR", {{"DIR", "/m"}}), std::invalid_argument);
}

TEST(Stats, OddCount)
{
	bench::Summary s = bench::summarize({5, 1, 3});
	EXPECT_EQ(s.n, 3);
	EXPECT_DOUBLE_EQ(s.median, 3);
	EXPECT_DOUBLE_EQ(s.min, 1);
	EXPECT_DOUBLE_EQ(s.max, 5);
	EXPECT_DOUBLE_EQ(s.mean, 3);
	EXPECT_DOUBLE_EQ(s.stddev, 2); // sample stddev: sqrt((4+0+4)/2)
}

TEST(Stats, EvenCountAndEdgeCases)
{
	bench::Summary s = bench::summarize({4, 1, 2, 3});
	EXPECT_DOUBLE_EQ(s.median, 2.5);
	EXPECT_NEAR(s.stddev, 1.2909944487, 1e-9);
	bench::Summary one = bench::summarize({7});
	EXPECT_EQ(one.n, 1);
	EXPECT_DOUBLE_EQ(one.median, 7);
	EXPECT_DOUBLE_EQ(one.stddev, 0);
	EXPECT_EQ(bench::summarize({}).n, 0);
}

TEST(Cpu, ThreadCountsDoubleAndEndWithTheMaximum)
{
	EXPECT_EQ(bench::scaling_thread_counts(1), (std::vector<int>{1}));
	EXPECT_EQ(bench::scaling_thread_counts(2), (std::vector<int>{1, 2}));
	EXPECT_EQ(bench::scaling_thread_counts(6), (std::vector<int>{1, 2, 4, 6}));
	EXPECT_EQ(bench::scaling_thread_counts(8), (std::vector<int>{1, 2, 4, 8}));
	EXPECT_EQ(bench::scaling_thread_counts(40), (std::vector<int>{1, 2, 4, 8, 16, 32, 40}));
}

TEST(Cpu, OrderIsAPermutationOfTheUsableCpus)
{
	cpu_set_t set;
	ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
	std::vector<int> order = bench::cpu_order();
	ASSERT_EQ(static_cast<int>(order.size()), CPU_COUNT(&set));
	std::vector<int> sorted = order;
	std::sort(sorted.begin(), sorted.end());
	EXPECT_TRUE(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
	for (int c : order)
		EXPECT_TRUE(CPU_ISSET(c, &set)) << c;
	EXPECT_EQ(bench::cpu_list({3, 0, 5}, 2), "3,0");
}

TEST(Cpu, PinningMovesTheThread)
{
	std::vector<int> order = bench::cpu_order();
	int cpu = order.back();
	cpu_set_t saved;
	ASSERT_EQ(sched_getaffinity(0, sizeof(saved), &saved), 0);
	ASSERT_EQ(bench::pin_current_thread(cpu), 0);
	EXPECT_EQ(sched_getcpu(), cpu);
	ASSERT_EQ(sched_setaffinity(0, sizeof(saved), &saved), 0);
}

// The in-harness workloads on a plain directory: each runs, counts its
// works, and leaves the files it is meant to leave.
class Workload : public ::testing::Test {
protected:
	void SetUp() override
	{
		char tmpl[] = "/tmp/rfuse-bench-wl-XXXXXX";
		ASSERT_NE(mkdtemp(tmpl), nullptr);
		dir_ = tmpl;
	}
	void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }
	std::string dir_;
};

TEST_F(Workload, EveryMetadataOpRunsAndCounts)
{
	std::vector<int> cpus = bench::cpu_order();
	cpus.resize(std::min<size_t>(cpus.size(), 2));
	for (const std::string &op : bench::metadata_ops()) {
		std::string dir = dir_ + "/" + op;
		ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
		bench::MetadataParams p;
		p.op = op;
		p.dir = dir;
		p.cpus = cpus;
		p.duration_s = 0.2;
		p.files_per_thread = 50;
		p.dir_entries = 10;
		bench::MetadataResult r = bench::run_metadata(p);
		ASSERT_TRUE(r.ok) << op << ": " << r.error;
		ASSERT_EQ(r.threads.size(), cpus.size());
		for (size_t t = 0; t < cpus.size(); ++t) {
			EXPECT_EQ(r.threads[t].cpu, cpus[t]);
			EXPECT_GT(r.threads[t].works, 0) << op;
			EXPECT_GT(r.threads[t].elapsed_s, 0) << op;
		}
		EXPECT_GT(r.works_per_sec, 0) << op;
		if (op[1] == 'W') {
			// Creates and unlinks stop at files_per_thread per thread.
			for (const bench::MetadataThread &t : r.threads)
				EXPECT_LE(t.works, 50) << op;
		}
	}
	// MWCL made the files it counted, in private directories.
	bench::MetadataParams p;
	p.op = "MWCL";
	p.dir = dir_ + "/count";
	ASSERT_EQ(mkdir(p.dir.c_str(), 0755), 0);
	p.cpus = {cpus[0]};
	p.duration_s = 0.1;
	bench::MetadataResult r = bench::run_metadata(p);
	ASSERT_TRUE(r.ok) << r.error;
	long long files = 0;
	for (const auto &e : std::filesystem::directory_iterator(p.dir + "/t0.d"))
		files += e.is_regular_file();
	EXPECT_EQ(files, r.threads[0].works);
}

TEST_F(Workload, MetadataErrorsAreReported)
{
	bench::MetadataParams p;
	p.op = "MRPH";
	p.dir = dir_ + "/missing";
	p.cpus = {bench::cpu_order()[0]};
	bench::MetadataResult r = bench::run_metadata(p);
	EXPECT_FALSE(r.ok);
	EXPECT_NE(r.error.find("No such file"), std::string::npos) << r.error;
}

TEST_F(Workload, EveryMacroPersonalityRuns)
{
	std::vector<int> cpus = bench::cpu_order();
	cpus.resize(std::min<size_t>(cpus.size(), 2));
	for (const std::string &name : bench::macro_personalities()) {
		std::string dir = dir_ + "/" + name;
		ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
		bench::MacroParams p = bench::macro_defaults(name);
		p.dir = dir;
		p.cpus = cpus;
		p.duration_s = 0.2;
		p.files = 40;
		bench::MacroResult r = bench::run_macro(p);
		ASSERT_TRUE(r.ok) << name << ": " << r.error;
		for (const bench::MacroThread &t : r.threads) {
			EXPECT_GT(t.iterations, 0) << name;
			EXPECT_GT(t.ops, t.iterations) << name;
			EXPECT_GT(t.bytes_read, 0u) << name;
			EXPECT_GT(t.bytes_written, 0u) << name;
		}
		EXPECT_GT(r.ops_per_sec, 0) << name;
		EXPECT_GT(r.mib_per_sec, 0) << name;
	}
}

class Config : public ::testing::Test {
protected:
	void SetUp() override
	{
		catalog_ = bench::Catalog::load(std::string(RFUSE_SOURCE_DIR) + "/workloads");
		char tmpl[] = "/tmp/rfuse-bench-spec-XXXXXX";
		ASSERT_NE(mkdtemp(tmpl), nullptr);
		dir_ = tmpl;
	}
	void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

	std::string write_spec(const std::string &text)
	{
		std::string path = dir_ + "/spec.json";
		std::ofstream(path) << text;
		return path;
	}

	// The ConfigError's message for this spec.
	std::string refusal(const std::string &text)
	{
		try {
			catalog_.load_spec(write_spec(text));
		} catch (const bench::ConfigError &e) {
			return e.what();
		}
		return "";
	}

	static std::string group(const std::string &fields)
	{
		return R"({"schema_version": 1, "name": "t", "groups": [{"name": "g", )" + fields + "}]}";
	}

	bench::Catalog catalog_;
	std::string dir_;
};

TEST_F(Config, ShippedSuitesAndProfilesLoad)
{
	for (const char *suite : {"quick", "paper"})
		EXPECT_NO_THROW(catalog_.load_spec(std::string(RFUSE_SOURCE_DIR) + "/workloads/suites/" + suite + ".json"))
			<< suite;
	for (const char *profile : {"quick", "standard", "paper"})
		EXPECT_NO_THROW(catalog_.profile(profile)) << profile;
	EXPECT_EQ(catalog_.fs_names(), (std::vector<std::string>{"fuse-overlayfs", "memfs", "nullfs", "stackfs"}));
	// The worked example of README: a program of Debian's, by its command.
	const bench::FsDef &fo = catalog_.fs("fuse-overlayfs");
	EXPECT_EQ(fo.command.front(), "fuse-overlayfs");
	EXPECT_EQ(std::count(fo.command.begin(), fo.command.end(), "{mountpoint}"), 1);
	EXPECT_TRUE(fo.needs_backing);
	EXPECT_EQ(fo.native, "backing");
	EXPECT_TRUE(fo.args.empty());
}

// A catalog in `dir` whose `file` (filesystems.json, workloads.json or
// profiles.json) is `text` and the rest the shipped ones: the ConfigError's
// message, or "".
std::string catalog_refusal(const std::string &dir, const std::string &file, const std::string &text)
{
	const std::string src = std::string(RFUSE_SOURCE_DIR) + "/workloads";
	std::filesystem::remove_all(dir);
	std::filesystem::create_directories(dir);
	for (const char *f : {"filesystems.json", "workloads.json", "profiles.json", "fio"})
		if (file != f)
			std::filesystem::create_symlink(src + "/" + f, dir + "/" + f);
	std::ofstream(dir + "/" + file) << text;
	try {
		bench::Catalog::load(dir);
	} catch (const bench::ConfigError &e) {
		return e.what();
	}
	return "";
}

// filesystems.json with the one entry "myfs": `entry`.
std::string catalog_refusal(const std::string &dir, const std::string &entry)
{
	return catalog_refusal(dir, "filesystems.json",
			       R"({"schema_version": 1, "filesystems": {"myfs": )" + entry + "}}");
}

TEST_F(Config, FilesystemCommandsAreChecked)
{
	const std::string d = dir_ + "/workloads";
	EXPECT_EQ(catalog_refusal(d, R"({"command": ["myfs", "-f", "{options}", "{source}", "{mountpoint}"],
		"prepare": ["{source}/x"], "needs_backing": true, "native": "backing"})"), "");
	EXPECT_EQ(catalog_refusal(d, R"({"command": ["/opt/myfs", "{mountpoint}", "extra"], "daemonize": true})"), "");

	std::string e = catalog_refusal(d, R"({"command": ["myfs", "-f"]})");
	EXPECT_NE(e.find("needs \"{mountpoint}\" as exactly one element"), std::string::npos) << e;
	e = catalog_refusal(d, R"({"command": ["myfs", "{mountpoint}", "{mountpoint}"]})");
	EXPECT_NE(e.find("exactly one element"), std::string::npos) << e;
	e = catalog_refusal(d, R"({"command": ["myfs", "-o{options}", "{mountpoint}"]})");
	EXPECT_NE(e.find("\"{options}\" must be an element of its own"), std::string::npos) << e;
	e = catalog_refusal(d, R"({"command": ["myfs", "{source}", "{mountpoint}"]})");
	EXPECT_NE(e.find("needs \"needs_backing\": true"), std::string::npos) << e;
	e = catalog_refusal(d, R"({"command": ["{mountpoint}"]})");
	EXPECT_NE(e.find("the first element must be the program"), std::string::npos) << e;
	e = catalog_refusal(d, R"({"command": ["myfs", "{mountpoint}"], "args": ["-x"]})");
	EXPECT_NE(e.find("not both"), std::string::npos) << e;
	e = catalog_refusal(d, R"({"args": [], "prepare": ["{source}/x"], "needs_backing": true})");
	EXPECT_NE(e.find("apply to a \"command\" only"), std::string::npos) << e;
	e = catalog_refusal(d, R"({"command": ["myfs", "{mountpoint}"], "prepare": ["/etc/x"], "needs_backing": true})");
	EXPECT_NE(e.find("must lie under {source}"), std::string::npos) << e;
	e = catalog_refusal(d, R"({"command": ["myfs", "{mountpoint}"], "cmd": []})");
	EXPECT_NE(e.find("unknown key 'cmd'"), std::string::npos) << e;
}

// profiles.json: the shipped quick profile with one field changed.
TEST_F(Config, MalformedProfilesAreRefused)
{
	const std::string d = dir_ + "/workloads";
	nlohmann::json shipped;
	std::ifstream(std::string(RFUSE_SOURCE_DIR) + "/workloads/profiles.json") >> shipped;
	auto with = [&](const std::string &pointer, const nlohmann::json &value) {
		nlohmann::json doc = shipped;
		doc[nlohmann::json::json_pointer("/profiles/quick" + pointer)] = value;
		return catalog_refusal(d, "profiles.json", doc.dump());
	};
	EXPECT_EQ(with("/repetitions", 2), "");
	std::string e = with("/repetitions", 0);
	EXPECT_NE(e.find("repetitions >= 1"), std::string::npos) << e;
	e = with("/fio/total_size", "64Q");
	EXPECT_NE(e.find("'64Q' is not a size"), std::string::npos) << e;
	e = with("/backing/ext4_image_size", "-1G");
	EXPECT_NE(e.find("is not a size"), std::string::npos) << e;
	e = with("/metadata/duration_s", "2");
	EXPECT_NE(e.find("duration_s: wrong type"), std::string::npos) << e;
	e = with("/macro/fileserver_files", 0);
	EXPECT_NE(e.find("file counts must be positive"), std::string::npos) << e;
	e = with("/latency/samples", 0);
	EXPECT_NE(e.find("latency.samples and breakdown.calls must be positive"), std::string::npos) << e;
	e = with("/fio/blocksize", "4k");
	EXPECT_NE(e.find("unknown key 'blocksize'"), std::string::npos) << e;
	e = catalog_refusal(d, "profiles.json", "{\"schema_version\": 1, \"profiles\": ");
	EXPECT_NE(e.find("profiles.json"), std::string::npos) << e;
	e = catalog_refusal(d, "profiles.json", R"({"schema_version": 2, "profiles": {}})");
	EXPECT_NE(e.find("schema_version must be 1"), std::string::npos) << e;
}

TEST_F(Config, UnknownNamesAreRefusedWithTheValidOnes)
{
	const std::string ok_rest = R"("transports": ["fuse"], "workloads": ["MWCL"])";
	std::string e = refusal(group(R"("filesystems": ["zfs"], )" + ok_rest));
	EXPECT_NE(e.find("unknown filesystem 'zfs'"), std::string::npos) << e;
	EXPECT_NE(e.find("memfs, nullfs, stackfs"), std::string::npos) << e;

	e = refusal(group(R"("filesystems": ["memfs"], "transports": ["virtio"], "workloads": ["MWCL"])"));
	EXPECT_NE(e.find("unknown transport 'virtio'"), std::string::npos) << e;
	EXPECT_NE(e.find("native, fuse, rfuse, uring"), std::string::npos) << e;

	e = refusal(group(R"("filesystems": ["memfs"], "transports": ["fuse"], "workloads": ["MWXX"])"));
	EXPECT_NE(e.find("unknown workload 'MWXX'"), std::string::npos) << e;
	EXPECT_NE(e.find("MWCL"), std::string::npos) << e;

	try {
		catalog_.profile("huge");
		ADD_FAILURE() << "no error for an unknown profile";
	} catch (const bench::ConfigError &err) {
		EXPECT_NE(std::string(err.what()).find("paper, quick, standard"), std::string::npos) << err.what();
	}
}

TEST_F(Config, MalformedSpecsAreRefused)
{
	const std::string names = R"("filesystems": ["memfs"], "transports": ["fuse"], "workloads": ["MWCL"])";
	EXPECT_NE(refusal("{ not json").find("not valid JSON"), std::string::npos);
	EXPECT_NE(refusal(R"({"schema_version": 2, "name": "t", "groups": []})").find("schema_version"),
		  std::string::npos);
	EXPECT_NE(refusal(R"({"schema_version": 1, "name": "t", "groups": []})").find("non-empty"), std::string::npos);
	EXPECT_NE(refusal(group(names + R"(, "thread": 2)")).find("unknown key 'thread'"), std::string::npos);
	EXPECT_NE(refusal(group(names + R"(, "threads": [0])")).find("positive"), std::string::npos);
	EXPECT_NE(refusal(group(names + R"(, "threads": "all")")).find("threads"), std::string::npos);
	EXPECT_NE(refusal(group(names + R"(, "backing": "xfs")")).find("unknown backing store 'xfs'"),
		  std::string::npos);
	EXPECT_NE(refusal(group(R"("filesystems": "memfs", "transports": ["fuse"], "workloads": ["MWCL"])"))
			  .find("wrong type"),
		  std::string::npos);
	EXPECT_EQ(refusal(group(names)), "");
}

TEST_F(Config, PointsExpandInOrderAndFilter)
{
	bench::Spec spec = catalog_.load_spec(write_spec(
		group(R"("filesystems": ["memfs", "nullfs"], "transports": ["fuse", "native"],
		         "workloads": ["MWCL", "fio-randread-4k"], "threads": "scaling")")));
	std::vector<int> cpus = {0, 1, 2, 3, 4, 5};
	const bench::Profile &quick = catalog_.profile("quick");
	std::vector<bench::Point> all = bench::expand_points(spec, catalog_, quick, cpus, {});
	ASSERT_EQ(all.size(), 2u * 2 * 2 * 4); // thread counts 1 2 4 6
	EXPECT_EQ(all[0].id, "g/memfs/fuse/MWCL/t1");
	EXPECT_EQ(all[3].id, "g/memfs/fuse/MWCL/t6");
	EXPECT_EQ(all[3].cpus, (std::vector<int>{0, 1, 2, 3, 4, 5}));
	for (size_t i = 0; i < all.size(); ++i)
		EXPECT_EQ(all[i].index, static_cast<int>(i));

	std::vector<bench::Point> some = bench::expand_points(spec, catalog_, quick, cpus, {"*/nullfs/fuse/*", "t6"});
	for (const bench::Point &p : some)
		EXPECT_TRUE(p.id.find("/nullfs/fuse/") != std::string::npos || p.id.find("t6") != std::string::npos)
			<< p.id;
	EXPECT_EQ(some.size(), 8u + 6u); // 8 nullfs/fuse + the other six at t6
}

} // namespace

TEST(Placement, ParsesTaskStatAndStatus)
{
	// A comm with a space and a ')' (what the kernel allows), then fields 3..52.
	const std::string stat = "952 (stackfs) rfuse) S 1 952 952 0 -1 4194368 150 0 0 0 37 12 0 0 20 0 3 0 4242 "
				 "123456 789 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0";
	bench::ThreadSample s;
	ASSERT_TRUE(bench::parse_task_stat(stat, s));
	EXPECT_EQ(s.comm, "stackfs) rfuse");
	EXPECT_EQ(s.cpu_ticks, 49); // utime 37 + stime 12
	EXPECT_EQ(s.last_cpu, 1);   // field 39
	EXPECT_FALSE(bench::parse_task_stat("952 (x) S 1 2", s));
	EXPECT_FALSE(bench::parse_task_stat("no parens", s));
	bench::parse_task_status("Name:\tstackfs\nCpus_allowed_list:\t0\nvoluntary_ctxt_switches:\t812\n"
				 "nonvoluntary_ctxt_switches:\t3\n",
				 s);
	EXPECT_EQ(s.cpus_allowed, "0");
	EXPECT_EQ(s.voluntary, 812);
	EXPECT_EQ(s.involuntary, 3);
}

TEST(Placement, RunDeltasPerThread)
{
	bench::ThreadSample a{10, "main", 0, 100, "0-1", 5, 1};
	bench::ThreadSample w{11, "worker", 1, 40, "1", 10, 0};
	bench::ThreadSample a2 = a, w2 = w, n{12, "late", 1, 30, "1", 2, 0};
	a2.cpu_ticks = 150;
	a2.voluntary = 25;
	w2.cpu_ticks = 240;
	w2.involuntary = 4;
	nlohmann::json j = bench::thread_placement({a, w}, {a2, w2, n}, 100);
	ASSERT_EQ(j["threads"].size(), 3u);
	EXPECT_DOUBLE_EQ(j["threads"][0]["cpu_s"].get<double>(), 0.5);
	EXPECT_EQ(j["threads"][0]["voluntary_switches"], 20);
	EXPECT_EQ(j["threads"][1]["cpu_s"].get<double>(), 2.0);
	EXPECT_EQ(j["threads"][1]["involuntary_switches"], 4);
	EXPECT_EQ(j["threads"][1]["cpus_allowed"], "1");
	EXPECT_TRUE(j["threads"][2]["new"].get<bool>());
	EXPECT_DOUBLE_EQ(j["threads"][2]["cpu_s"].get<double>(), 0.3);
	EXPECT_DOUBLE_EQ(j["cpu_s_by_last_cpu"]["0"].get<double>(), 0.5);
	EXPECT_DOUBLE_EQ(j["cpu_s_by_last_cpu"]["1"].get<double>(), 2.3);
}

TEST(CpuCost, ParsesProcStatAndPidStat)
{
	// user nice system idle iowait irq softirq steal guest guest_nice, USER_HZ 100.
	bench::CpuSplit m;
	ASSERT_TRUE(bench::parse_proc_stat_busy("cpu  1000 20 300 90000 50 7 3 40 0 0\ncpu0 500 10 150 45000 25 3 1 20 0 0\n"
						"intr 1 2 3\n",
						100, m));
	EXPECT_DOUBLE_EQ(m.user_s, 10.2);  // user + nice
	EXPECT_DOUBLE_EQ(m.system_s, 3.1); // system + irq + softirq; idle, iowait, steal are not busy
	EXPECT_FALSE(bench::parse_proc_stat_busy("cpu0 1 2 3 4 5 6 7\n", 100, m)); // no aggregate line
	EXPECT_FALSE(bench::parse_proc_stat_busy("cpu  1 2 3\n", 100, m));
	const std::string stat = "952 (stackfs) rfuse) S 1 952 952 0 -1 4194368 150 0 0 0 37 12 0 0 20 0 3 0 4242 "
				 "123456 789 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0";
	bench::CpuSplit d;
	ASSERT_TRUE(bench::parse_pid_stat_times(stat, 100, d));
	EXPECT_DOUBLE_EQ(d.user_s, 0.37);
	EXPECT_DOUBLE_EQ(d.system_s, 0.12);
	EXPECT_FALSE(bench::parse_pid_stat_times("952 (x) S 1 2", 100, d));
}

TEST(CpuCost, PerOperationFiguresAndTheRest)
{
	bench::CpuCost c;
	c.window_s = 2;
	c.cpus = 2;
	c.machine = {1.5, 1.0};
	c.app = {0.2, 0.8};
	c.daemon = {0.5, 0.25};
	c.other_s = 0.75;
	c.ops = 10000;
	nlohmann::json metrics = nlohmann::json::object();
	c.add_metrics(metrics);
	EXPECT_DOUBLE_EQ(metrics["cpu.us_per_op"]["value"].get<double>(), 250.0);
	EXPECT_DOUBLE_EQ(metrics["cpu.app_us_per_op"]["value"].get<double>(), 100.0);
	EXPECT_DOUBLE_EQ(metrics["cpu.daemon_us_per_op"]["value"].get<double>(), 75.0);
	EXPECT_DOUBLE_EQ(metrics["cpu.other_us_per_op"]["value"].get<double>(), 75.0);
	EXPECT_EQ(metrics["cpu.us_per_op"]["unit"], "us");
	EXPECT_DOUBLE_EQ(metrics["cpu.ops_per_cpu_s"]["value"].get<double>(), 4000.0);
	EXPECT_EQ(metrics["cpu.ops_per_cpu_s"]["unit"], "ops/CPU-s");
	nlohmann::json j = c.to_json();
	EXPECT_DOUBLE_EQ(j["utilization"].get<double>(), 2.5 / 4.0);
	EXPECT_DOUBLE_EQ(j["machine"]["total_s"].get<double>(), 2.5);
	c.ops = 0; // nothing done: no per-operation figures
	nlohmann::json none = nlohmann::json::object();
	c.add_metrics(none);
	EXPECT_TRUE(none.empty());
}

// A thread that spins inside the window is this process's CPU (app), and
// the machine's; the window of two participants ends at the second end().
TEST(CpuCost, MeterSeesTheWorkInItsWindow)
{
	auto spin = [](double s) {
		auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(s);
		volatile unsigned long x = 0;
		while (std::chrono::steady_clock::now() < until)
			x = x + 1;
	};
	bench::CpuMeter meter(getpid(), 2);
	spin(0.2); // before the window: not counted
	bench::TimedWindow w = meter.window();
	w.begin();
	spin(0.3);
	w.end();
	spin(0.1); // still inside: one participant has not ended
	w.end();
	spin(0.2); // after the window
	bench::CpuCost c = meter.cost(1000);
	EXPECT_GE(c.window_s, 0.4);
	EXPECT_LT(c.window_s, 0.6);
	// One spinning thread: at most the window's wall time (the spins
	// outside it not counted), and most of it on a box that is not
	// overloaded.
	EXPECT_GE(c.app.total(), 0.1);
	EXPECT_LE(c.app.total(), c.window_s + 0.03);
	EXPECT_GE(c.machine.total(), c.app.total() - 0.05); // tick rounding
	// The "daemon" here is this process too (the same CPU, at tick precision).
	EXPECT_NEAR(c.daemon.total(), c.app.total(), 0.05);
	EXPECT_EQ(c.cpus, static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)));
	EXPECT_DOUBLE_EQ(c.ops, 1000.0);
}

TEST(FioParser, TotalIos)
{
	bench::FioResult r = bench::parse_fio_json(fixture("fio-randread-4k-tmpfs.json"));
	EXPECT_DOUBLE_EQ(bench::fio_total_ios(r.jobs), 8192.0); // 32 MiB in 4 KiB reads
	bench::FioResult w = bench::parse_fio_json(fixture("fio-seqwrite-128k-2jobs-tmpfs.json"));
	EXPECT_DOUBLE_EQ(bench::fio_total_ios(w.jobs), 256.0); // 2 jobs x 16 MiB in 128 KiB writes
	EXPECT_DOUBLE_EQ(bench::fio_total_ios(nlohmann::json::object()), 0.0);
}

TEST(Placement, SamplesThisProcess)
{
	std::vector<bench::ThreadSample> s = bench::sample_threads(getpid());
	ASSERT_FALSE(s.empty());
	EXPECT_EQ(s[0].tid > 0, true);
	EXPECT_GE(s[0].last_cpu, 0);
	EXPECT_FALSE(s[0].cpus_allowed.empty());
	EXPECT_TRUE(bench::sample_threads(0).empty());
}
