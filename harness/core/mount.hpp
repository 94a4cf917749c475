// Mounting a filesystem daemon for a test or a benchmark point, and making
// sure it is gone afterwards on every path: normal return, exception,
// Ctrl-C/SIGTERM of the harness, crash of the daemon, death of the harness
// (the daemon gets SIGTERM from PR_SET_PDEATHSIG and unmounts itself; a
// daemonized one is left to the mount sweep: unmounted, it exits by itself).
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <sys/types.h>
#include <vector>

namespace harness {

struct DaemonSpec {
	std::vector<std::string> argv;          // binary and its options, without the mountpoint
	std::string mountpoint;                 // must exist; absolute
	// Operands that come after the mount point on the command line
	// (nbdfuse MOUNTPOINT URI).
	std::vector<std::string> args_after_mountpoint;
	// Whether a foreground start passes -f; false for a program that always
	// serves in the foreground and does not take -f (nbdfuse).
	bool foreground_flag = true;
	std::map<std::string, std::string> env; // added to the daemon's environment
	std::string log_path;                   // daemon stdout+stderr; empty = a temp file
	std::chrono::milliseconds mount_timeout{std::chrono::seconds(20)};
	// Start it as a user would, without -f: it mounts, forks into the
	// background (libfuse's fuse_daemonize: new session, cwd /, stdio on
	// /dev/null, so the log holds only what it said before) and the process
	// we started exits. This process becomes a child subreaper
	// (PR_SET_CHILD_SUBREAPER, for good) so that the daemon, orphaned,
	// becomes our child: pid(), daemon_alive() and stop() then treat it
	// like a foreground one, exit status included.
	bool daemonize = false;
};

// A mounted daemon. The destructor unmounts and reaps the daemon.
class MountedFs {
public:
	// Starts the daemon in the foreground (-f is appended) unless
	// spec.daemonize, waits for the mount to show up in /proc/self/mountinfo
	// (daemonized: for the started process to exit 0 with the mount there,
	// then finds the daemon). Throws std::runtime_error with the daemon's log
	// tail when it exits or the mount does not appear.
	explicit MountedFs(DaemonSpec spec);
	~MountedFs();
	MountedFs(const MountedFs &) = delete;
	MountedFs &operator=(const MountedFs &) = delete;

	const std::string &mountpoint() const { return spec_.mountpoint; }
	// The process serving the mount (daemonized: the background daemon).
	pid_t pid() const { return pid_; }
	const std::string &fstype() const { return fstype_; }
	const std::string &log_path() const { return spec_.log_path; }

	// True while the daemon process has not exited.
	bool daemon_alive();
	// Unmounts and reaps the daemon; returns its exit status as from
	// waitpid (or -1 when it had to be killed). Idempotent.
	int stop();
	// The last `max_bytes` of the daemon's log.
	std::string log_tail(size_t max_bytes = 4096) const;

private:
	// Daemonized: after the started process (pid_) exited 0, makes pid_ the
	// daemon it left behind. Throws when there is none.
	void adopt_daemon(const std::vector<std::string> &argv);

	DaemonSpec spec_;
	pid_t pid_ = -1;
	int status_ = -1;
	bool reaped_ = false;
	bool unmounted_ = false;
	std::string fstype_;
	int slot_ = -1; // index in the emergency registry
};

// Detaches every mount at or below `dir` (deepest first). For sweeping after
// a test run that was killed. Returns how many it unmounted.
int unmount_all_under(const std::string &dir);

// Installs SIGINT/SIGTERM/SIGHUP handlers that lazily unmount every live
// MountedFs and kill its daemon, then die of the same signal. Idempotent.
void install_emergency_cleanup();

// Unmounts `mountpoint`: umount2, then a lazy detach if it is busy.
// Returns 0 or an errno value.
int unmount_path(const std::string &mountpoint);

} // namespace harness
