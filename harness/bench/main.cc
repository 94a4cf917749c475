// rfuse-bench: the evaluation suite's driver.
//   rfuse-bench run --spec workloads/suites/quick.json --profile quick --out reports/runs/ID
//   rfuse-bench list
// Exit codes: see runner.hpp (0 all ok, 2 bad input, 3 some points failed,
// 130 interrupted, 1 harness failure).
#include "config.hpp"
#include "runner.hpp"
#include "transport.hpp"

#include <CLI/CLI.hpp>

#include <climits>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <unistd.h>

#ifndef RFUSE_SOURCE_DIR
#define RFUSE_SOURCE_DIR "."
#endif

namespace {

std::string exe_dir()
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (n <= 0)
		return ".";
	buf[n] = '\0';
	return std::filesystem::path(buf).parent_path().string();
}

std::string default_run_id(const std::string &profile)
{
	std::time_t t = std::time(nullptr);
	char buf[32];
	std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", std::gmtime(&t));
	return std::string(buf) + "-" + profile;
}

int list(const std::string &workloads_dir, const std::string &bin_dir)
{
	bench::Catalog c = bench::Catalog::load(workloads_dir);
	std::printf("filesystems:\n");
	for (const std::string &n : c.fs_names())
		std::printf("  %-10s %s\n", n.c_str(), c.fs(n).description.c_str());
	std::printf("transports (availability here, for memfs):\n");
	for (const std::string &n : bench::transport_names()) {
		const bench::Transport &t = bench::transport(n);
		std::string why = c.fs_names().empty() ? "" : t.unavailable_reason(c.fs("memfs"), bin_dir);
		std::printf("  %-10s %s [%s]\n", n.c_str(), t.description().c_str(),
			    why.empty() ? "available" : ("unavailable: " + why).c_str());
	}
	std::printf("backing stores:\n");
	for (const std::string &n : bench::backing_names())
		std::printf("  %s\n", n.c_str());
	std::printf("workloads:\n");
	for (const std::string &n : c.workload_names())
		std::printf("  %-28s %-8s %s\n", n.c_str(), c.workload(n).kind.c_str(), c.workload(n).description.c_str());
	std::printf("profiles:\n");
	for (const std::string &n : c.profile_names())
		std::printf("  %-10s %s\n", n.c_str(), c.profile(n).description.c_str());
	return 0;
}

} // namespace

int main(int argc, char **argv)
{
	CLI::App app{"rfuse-bench: runs the RFUSE evaluation suite (fio, fxmark-style metadata) "
		     "across filesystems, transports and core counts, and writes a JSON report"};
	app.require_subcommand(1);
	std::string workloads_dir = std::string(RFUSE_SOURCE_DIR) + "/workloads";
	std::string bin_dir = exe_dir();
	app.add_option("--workloads", workloads_dir, "directory with filesystems.json, workloads.json, profiles.json")
		->capture_default_str();
	app.add_option("--bin-dir", bin_dir, "where <fs>-fuse and <fs>-rfuse are")->capture_default_str();

	bench::RunOptions opts;
	opts.scratch_root = "/var/tmp/rfuse-bench";
	opts.source_dir = RFUSE_SOURCE_DIR;
	CLI::App *run = app.add_subcommand("run", "run the points of a suite spec under a profile");
	run->add_option("--spec", opts.spec_path, "suite spec (JSON), e.g. workloads/suites/quick.json")->required();
	run->add_option("--profile", opts.profile, "quick, standard or paper (see list)")->required();
	run->add_option("--out", opts.out_dir, "output directory (default reports/runs/<UTC time>-<profile>)");
	run->add_option("--filter", opts.filters,
			"run only points whose id (group/fs/transport/workload/tN) matches this glob "
			"or contains this text; repeatable");
	run->add_option("--fs", opts.filesystems,
			"run every group of the spec over this filesystem (filesystems.json) instead of its own; "
			"repeatable");
	run->add_option("--scratch", opts.scratch_root, "where mount points and backing stores are created")
		->capture_default_str();
	run->add_option("--inject-daemon-kill-ms", opts.inject_daemon_kill_ms,
			"testing aid: SIGKILL the daemon this many ms into each run")
		->check(CLI::NonNegativeNumber);
	run->add_flag("--dry-run", opts.dry_run, "print the points that would run, run nothing");
	run->add_option("--repetitions", opts.repetitions, "repetitions per point (default: the profile's)")
		->check(CLI::PositiveNumber);
	app.add_subcommand("list", "list the valid filesystem, transport, workload and profile names");

	try {
		app.parse(argc, argv);
	} catch (const CLI::ParseError &e) {
		int rc = app.exit(e);
		return rc == 0 ? 0 : bench::kRunUsage;
	}
	opts.workloads_dir = workloads_dir;
	opts.bin_dir = bin_dir;
	try {
		if (app.got_subcommand("list"))
			return list(workloads_dir, bin_dir);
		if (opts.out_dir.empty())
			opts.out_dir = std::string(RFUSE_SOURCE_DIR) + "/reports/runs/" + default_run_id(opts.profile);
		opts.out_dir = std::filesystem::absolute(opts.out_dir).lexically_normal().string();
		opts.scratch_root = std::filesystem::absolute(opts.scratch_root).lexically_normal().string();
		return bench::run_suite(opts);
	} catch (const bench::ConfigError &e) {
		std::fprintf(stderr, "rfuse-bench: %s\n", e.what());
		return bench::kRunUsage;
	} catch (const std::exception &e) {
		std::fprintf(stderr, "rfuse-bench: %s\n", e.what());
		return bench::kRunHarnessError;
	}
}
