// What the POSIX suite runs against: the reference (a fresh tmpfs) and the
// subject (a daemon we mount, an already-mounted directory, or a second
// tmpfs for the self-check), chosen on the command line or by environment.
#pragma once

#include "mount.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace posix {

struct SuiteConfig {
	// Subject, exactly one of these three.
	std::string daemon;       // command line of a FUSE daemon; "{source}" = fresh dir on a scratch tmpfs
	std::string subject_dir;  // an already-mounted directory
	bool subject_tmpfs = false;

	std::map<std::string, std::string> daemon_env; // added to the daemon's environment
	bool daemonize = false;   // start the daemon without -f, as a user would (DaemonSpec::daemonize)
	std::string reference_dir; // use this directory instead of mounting a tmpfs (tests of the suite itself)

	// fsx
	uint64_t seed = 0;
	bool seed_given = false;
	unsigned fsx_ops = 3000;
	unsigned fsx_max_len = 256 * 1024;
	double fsx_time_limit_s = 120;
	bool fsx_mmap = true;
	bool fsx_punch = true;

	unsigned readdir_entries = 10000;
};

// A tmpfs mounted for the lifetime of the object.
class TmpfsMount {
public:
	explicit TmpfsMount(std::string path);
	~TmpfsMount();
	TmpfsMount(const TmpfsMount &) = delete;
	TmpfsMount &operator=(const TmpfsMount &) = delete;
	const std::string &path() const { return path_; }

private:
	std::string path_;
};

// Everything mounted for one run of the suite; destroyed (unmounted, work
// directory removed) when main() returns.
class SuiteEnv {
public:
	explicit SuiteEnv(SuiteConfig cfg);
	~SuiteEnv();
	SuiteEnv(const SuiteEnv &) = delete;
	SuiteEnv &operator=(const SuiteEnv &) = delete;

	const SuiteConfig &config() const { return cfg_; }
	const std::string &reference_root() const { return ref_root_; }
	const std::string &subject_root() const { return sub_root_; }
	// One line for messages: "memfs-fuse ... (fuse.memfs)".
	const std::string &subject_name() const { return subject_name_; }
	// Empty when the subject is healthy; otherwise why not (daemon died).
	std::string subject_health();
	// The daemon's log tail, empty when there is no daemon.
	std::string daemon_log_tail() const;
	// Stops the daemon; returns a message when it did not exit cleanly.
	std::string stop_daemon();

private:
	void cleanup(); // unmounts everything, removes what we made; idempotent

	SuiteConfig cfg_;
	std::string work_dir_;
	std::unique_ptr<TmpfsMount> reference_;
	std::unique_ptr<TmpfsMount> scratch_;
	std::unique_ptr<TmpfsMount> subject_tmpfs_;
	std::unique_ptr<harness::MountedFs> daemon_;
	std::string ref_root_, sub_root_, subject_name_;
	std::vector<std::string> made_dirs_;  // removed at the end, last first
	std::vector<std::string> made_trees_; // ditto, with their contents
};

// The one SuiteEnv of this process; set by main().
SuiteEnv &suite();
void set_suite(SuiteEnv *env);

// Splits a command line into words: blanks separate, '...' and "..."
// quote, backslash escapes the next character.
std::vector<std::string> split_command(const std::string &line);

// Removes `path` and everything below it without following symlinks.
// Returns "" or a description of the first failure.
std::string remove_tree(const std::string &path);

} // namespace posix
