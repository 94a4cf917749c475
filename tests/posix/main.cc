// posix_suite: the POSIX behaviour suite and the fsx-style random test,
// comparing a subject filesystem against a fresh tmpfs.
//
//   posix_suite [gtest flags] --daemon "CMD [OPTS] [{source}]" [--daemon-env K=V]... [--daemonize]
//   posix_suite [gtest flags] --subject-dir DIR
//   posix_suite [gtest flags] --subject-tmpfs
//
// Some flags have an environment twin for wrappers that cannot pass
// arguments (POSIX_SUITE_DAEMON, ..._DAEMON_ENV, ..._DAEMONIZE, ..._SUBJECT_DIR,
// ..._SEED, ..._FSX_OPS, ..._READDIR_ENTRIES); the command line wins. The daemon also
// inherits our environment (e.g. RFUSE_TRANSPORT=uring).
#include "suite_env.hpp"

#include <CLI/CLI.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sys/stat.h>

namespace {

std::string env_or(const char *name, const std::string &fallback)
{
	const char *v = std::getenv(name);
	return v != nullptr && *v != '\0' ? v : fallback;
}

} // namespace

int main(int argc, char **argv)
{
	::testing::InitGoogleTest(&argc, argv);

	posix::SuiteConfig cfg;
	std::vector<std::string> daemon_env;
	std::string seed_text = env_or("POSIX_SUITE_SEED", "");
	try {
		cfg.daemon = env_or("POSIX_SUITE_DAEMON", "");
		cfg.subject_dir = env_or("POSIX_SUITE_SUBJECT_DIR", "");
		daemon_env = posix::split_command(env_or("POSIX_SUITE_DAEMON_ENV", ""));
		cfg.daemonize = env_or("POSIX_SUITE_DAEMONIZE", "0") == "1";
		cfg.fsx_ops = static_cast<unsigned>(std::stoul(env_or("POSIX_SUITE_FSX_OPS", "3000")));
		cfg.readdir_entries = static_cast<unsigned>(std::stoul(env_or("POSIX_SUITE_READDIR_ENTRIES", "10000")));
	} catch (const std::exception &e) {
		std::fprintf(stderr, "posix_suite: bad POSIX_SUITE_* environment: %s\n", e.what());
		return 2;
	}

	CLI::App app{"POSIX behaviour suite: compares a filesystem against tmpfs (gtest flags also apply)"};
	app.add_option("--daemon", cfg.daemon,
		       "FUSE daemon command line without the mount point; {source} becomes a fresh directory "
		       "on a scratch tmpfs (stackfs). Needs -o allow_other,default_permissions for the "
		       "permission tests");
	app.add_option("--daemon-env", daemon_env, "K=V added to the daemon's environment (repeatable)");
	app.add_flag("--daemonize", cfg.daemonize,
		     "start the daemon without -f, so that it forks into the background as it does for users");
	app.add_option("--subject-dir", cfg.subject_dir, "test an already-mounted directory instead");
	app.add_flag("--subject-tmpfs", cfg.subject_tmpfs, "test a second tmpfs (self-check of the suite)");
	app.add_option("--reference-dir", cfg.reference_dir,
		       "use this directory as the reference instead of mounting a tmpfs");
	app.add_option("--seed", seed_text, "fsx seed (default: from the clock; always printed)");
	app.add_option("--fsx-ops", cfg.fsx_ops, "fsx operations")->capture_default_str();
	app.add_option("--fsx-max-len", cfg.fsx_max_len, "fsx maximum file length")
		->check(CLI::Range(4096u, 1u << 30))
		->capture_default_str();
	app.add_option("--fsx-time-limit", cfg.fsx_time_limit_s,
		       "fsx stops (passing) after this many seconds even if ops remain")
		->capture_default_str();
	app.add_flag("!--fsx-no-mmap", cfg.fsx_mmap, "fsx without mmap reads/writes");
	app.add_flag("!--fsx-no-punch", cfg.fsx_punch, "fsx without fallocate punch holes");
	app.add_option("--readdir-entries", cfg.readdir_entries, "entries in the large readdir test")
		->check(CLI::Range(4u, 1000000u))
		->capture_default_str();
	try {
		app.parse(argc, argv);
	} catch (const CLI::ParseError &e) {
		return app.exit(e) == 0 ? 0 : 2; // --help, or a usage error
	}

	for (const std::string &kv : daemon_env) {
		size_t eq = kv.find('=');
		if (eq == std::string::npos || eq == 0) {
			std::fprintf(stderr, "posix_suite: --daemon-env wants K=V, got '%s'\n", kv.c_str());
			return 2;
		}
		cfg.daemon_env[kv.substr(0, eq)] = kv.substr(eq + 1);
	}
	if (!seed_text.empty()) {
		try {
			size_t used = 0;
			cfg.seed = std::stoull(seed_text, &used);
			if (used != seed_text.size() || seed_text[0] == '-')
				throw std::invalid_argument(seed_text);
		} catch (const std::exception &) {
			std::fprintf(stderr, "posix_suite: bad seed '%s'\n", seed_text.c_str());
			return 2;
		}
		cfg.seed_given = true;
	} else {
		cfg.seed = static_cast<uint64_t>(
			std::chrono::system_clock::now().time_since_epoch().count() % 1000000000);
	}

	if (GTEST_FLAG_GET(list_tests))
		return RUN_ALL_TESTS();

	umask(022); // modes given to open/mkdir are compared as created
	int rc = 0;
	try {
		posix::SuiteEnv env(cfg);
		posix::set_suite(&env);
		std::printf("posix_suite: reference %s\nposix_suite: subject %s at %s\nposix_suite: fsx seed %llu "
			    "(rerun with --seed %llu)\n",
			    env.reference_root().c_str(), env.subject_name().c_str(), env.subject_root().c_str(),
			    static_cast<unsigned long long>(cfg.seed), static_cast<unsigned long long>(cfg.seed));
		std::fflush(stdout);
		rc = RUN_ALL_TESTS();
		std::string stop = env.stop_daemon();
		if (!stop.empty()) {
			std::fprintf(stderr, "posix_suite: FAILED: %s\n", stop.c_str());
			rc = 1;
		}
		if (rc != 0 && !env.daemon_log_tail().empty())
			std::fprintf(stderr, "posix_suite: daemon log tail:\n%s\n", env.daemon_log_tail().c_str());
		posix::set_suite(nullptr);
	} catch (const std::exception &e) {
		std::fprintf(stderr, "posix_suite: %s\n", e.what());
		return 1;
	}
	return rc;
}
