#include "mount.hpp"

#include "mountinfo.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace harness {
namespace {

// Registry read by the signal handler: fixed storage, no allocation.
struct Live {
	std::atomic<pid_t> pid{0};
	char mountpoint[PATH_MAX];
};
constexpr int kMaxLive = 64;
std::array<Live, kMaxLive> g_live;

int register_live(pid_t pid, const std::string &mp)
{
	for (int i = 0; i < kMaxLive; ++i) {
		pid_t expect = 0;
		if (g_live[i].pid.compare_exchange_strong(expect, -1)) {
			std::snprintf(g_live[i].mountpoint, sizeof(g_live[i].mountpoint), "%s", mp.c_str());
			g_live[i].pid.store(pid);
			return i;
		}
	}
	return -1;
}

void unregister_live(int slot)
{
	if (slot >= 0)
		g_live[slot].pid.store(0);
}

void emergency_handler(int sig)
{
	for (Live &l : g_live) {
		pid_t pid = l.pid.load();
		if (pid <= 0)
			continue;
		umount2(l.mountpoint, MNT_DETACH);
		kill(pid, SIGKILL);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

bool is_root() { return geteuid() == 0; }

std::string read_whole(const std::string &path)
{
	std::ifstream in(path, std::ios::binary);
	std::stringstream ss;
	ss << in.rdbuf();
	return ss.str();
}

// A daemonized daemon is the grandchild of this process: the subreaper flag
// makes it our child once the process we started has exited.
void become_subreaper()
{
	static std::atomic<bool> done{false};
	if (!done.exchange(true) && prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
		throw std::runtime_error(std::string("PR_SET_CHILD_SUBREAPER: ") + std::strerror(errno));
}

// The newest child of this process whose command line is exactly `argv`, or
// -1. (A zombie shows an empty command line and never matches.)
pid_t find_child_running(const std::vector<std::string> &argv)
{
	std::string want;
	for (const std::string &a : argv)
		want.append(a).push_back('\0');
	const long self = getpid();
	pid_t found = -1;
	unsigned long long found_start = 0;
	DIR *proc = opendir("/proc");
	if (proc == nullptr)
		return -1;
	while (dirent *e = readdir(proc)) {
		char *end = nullptr;
		long pid = std::strtol(e->d_name, &end, 10);
		if (*end != '\0' || pid <= 0)
			continue;
		const std::string dir = std::string("/proc/") + e->d_name;
		// stat: "pid (comm) state ppid ... starttime(22) ..."; comm may hold anything but ')'.
		std::string stat = read_whole(dir + "/stat");
		size_t paren = stat.rfind(')');
		if (paren == std::string::npos)
			continue;
		std::istringstream fields(stat.substr(paren + 1));
		std::string field;
		long ppid = 0;
		unsigned long long start = 0;
		for (int n = 3; n <= 22 && fields >> field; ++n) {
			if (n == 4)
				ppid = std::strtol(field.c_str(), nullptr, 10);
			else if (n == 22)
				start = std::strtoull(field.c_str(), nullptr, 10);
		}
		if (ppid != self || read_whole(dir + "/cmdline") != want)
			continue;
		if (found < 0 || start >= found_start) {
			found = static_cast<pid_t>(pid);
			found_start = start;
		}
	}
	closedir(proc);
	return found;
}

} // namespace

int unmount_path(const std::string &mp)
{
	if (is_root()) {
		if (umount2(mp.c_str(), 0) == 0)
			return 0;
		int err = errno;
		if (err == EBUSY && umount2(mp.c_str(), MNT_DETACH) == 0)
			return 0;
		return err;
	}
	// Unprivileged: fusermount3 is the only way. -z detaches if busy.
	std::string cmd = "fusermount3 -u -z -q '" + mp + "' 2>/dev/null";
	return std::system(cmd.c_str()) == 0 ? 0 : EPERM;
}

int unmount_all_under(const std::string &dir)
{
	std::vector<std::string> victims;
	for (const fs_common::MountEntry &e : fs_common::read_mounts())
		if (e.mountpoint == dir || e.mountpoint.rfind(dir + "/", 0) == 0)
			victims.push_back(e.mountpoint);
	std::sort(victims.begin(), victims.end(),
		  [](const std::string &a, const std::string &b) { return a.size() > b.size(); });
	int n = 0;
	for (const std::string &mp : victims)
		if (unmount_path(mp) == 0)
			++n;
	return n;
}

void install_emergency_cleanup()
{
	static std::atomic<bool> done{false};
	if (done.exchange(true))
		return;
	struct sigaction sa {};
	sa.sa_handler = emergency_handler;
	sigemptyset(&sa.sa_mask);
	for (int sig : {SIGINT, SIGTERM, SIGHUP})
		sigaction(sig, &sa, nullptr);
}

MountedFs::MountedFs(DaemonSpec spec) : spec_(std::move(spec))
{
	if (spec_.argv.empty())
		throw std::invalid_argument("MountedFs: empty daemon command");
	char *real = realpath(spec_.mountpoint.c_str(), nullptr);
	if (real == nullptr)
		throw std::runtime_error("mount point " + spec_.mountpoint + ": " + std::strerror(errno));
	spec_.mountpoint = real;
	std::free(real);
	if (fs_common::is_mountpoint(spec_.mountpoint))
		throw std::runtime_error("mount point " + spec_.mountpoint + " is already in use");
	if (spec_.log_path.empty()) {
		char tmpl[] = "/tmp/rfuse-daemon-XXXXXX.log";
		int fd = mkstemps(tmpl, 4);
		if (fd < 0)
			throw std::runtime_error(std::string("mkstemps: ") + std::strerror(errno));
		close(fd);
		spec_.log_path = tmpl;
	}

	std::vector<std::string> args = spec_.argv;
	if (!spec_.daemonize && spec_.foreground_flag)
		args.push_back("-f");
	args.push_back(spec_.mountpoint);
	args.insert(args.end(), spec_.args_after_mountpoint.begin(), spec_.args_after_mountpoint.end());
	std::vector<char *> cargv;
	for (std::string &a : args)
		cargv.push_back(a.data());
	cargv.push_back(nullptr);

	install_emergency_cleanup();
	if (spec_.daemonize)
		become_subreaper();
	pid_t parent = getpid();
	pid_ = fork();
	if (pid_ < 0)
		throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
	if (pid_ == 0) {
		// The daemon unmounts itself when libfuse's handler sees SIGTERM.
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		int fd = open(spec_.log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, STDIN_FILENO);
		for (const auto &[k, v] : spec_.env)
			setenv(k.c_str(), v.c_str(), 1);
		execvp(cargv[0], cargv.data());
		std::fprintf(stderr, "exec %s: %s\n", cargv[0], std::strerror(errno));
		_exit(127);
	}
	slot_ = register_live(pid_, spec_.mountpoint);

	auto deadline = std::chrono::steady_clock::now() + spec_.mount_timeout;
	for (;;) {
		fstype_ = fs_common::mount_type(spec_.mountpoint);
		// Daemonized, the process we started exits 0 once it has mounted.
		if (!fstype_.empty() && !spec_.daemonize)
			return;
		if (!daemon_alive()) {
			if (spec_.daemonize && WIFEXITED(status_) && WEXITSTATUS(status_) == 0) {
				adopt_daemon(args);
				return;
			}
			std::string msg = "daemon " + spec_.argv[0] + " exited before mounting (" +
					  (WIFEXITED(status_) ? "status " + std::to_string(WEXITSTATUS(status_))
							      : "signal " + std::to_string(WTERMSIG(status_))) +
					  "): " + log_tail(1024);
			unregister_live(slot_);
			throw std::runtime_error(msg);
		}
		if (std::chrono::steady_clock::now() > deadline) {
			std::string msg = "mount of " + spec_.mountpoint + " did not appear within " +
					  std::to_string(spec_.mount_timeout.count()) + " ms: " + log_tail(1024);
			stop();
			// A daemon forked by the process just stopped is our child now.
			if (pid_t daemon = spec_.daemonize ? find_child_running(args) : -1; daemon > 0) {
				kill(daemon, SIGKILL);
				waitpid(daemon, nullptr, 0);
			}
			throw std::runtime_error(msg);
		}
		std::this_thread::sleep_for(std::chrono::milliseconds(5));
	}
}

void MountedFs::adopt_daemon(const std::vector<std::string> &argv)
{
	fstype_ = fs_common::mount_type(spec_.mountpoint);
	pid_t daemon = find_child_running(argv);
	if (fstype_.empty() || daemon < 0) {
		std::string msg = "daemon " + spec_.argv[0] + " exited 0 but left " +
				  (fstype_.empty() ? std::string("no mount on ") + spec_.mountpoint
						   : "no daemon process behind the mount") +
				  ": " + log_tail(1024);
		stop();
		throw std::runtime_error(msg);
	}
	pid_ = daemon;
	status_ = -1;
	reaped_ = false;
	if (slot_ >= 0)
		g_live[slot_].pid.store(daemon);
}

MountedFs::~MountedFs()
{
	stop();
}

bool MountedFs::daemon_alive()
{
	if (reaped_)
		return false;
	pid_t r = waitpid(pid_, &status_, WNOHANG);
	if (r == pid_) {
		reaped_ = true;
		return false;
	}
	return true;
}

int MountedFs::stop()
{
	if (!unmounted_) {
		unmounted_ = true;
		if (fs_common::is_mountpoint(spec_.mountpoint))
			unmount_path(spec_.mountpoint);
	}
	if (!reaped_) {
		// After the unmount the daemon sees ENODEV and exits by itself; give
		// it a moment, then SIGTERM, then SIGKILL.
		const std::pair<int, int> steps[] = {{0, 2000}, {SIGTERM, 3000}, {SIGKILL, 10000}};
		for (auto [sig, wait_ms] : steps) {
			if (sig != 0)
				kill(pid_, sig);
			for (int waited = 0; waited < wait_ms && daemon_alive(); waited += 5)
				std::this_thread::sleep_for(std::chrono::milliseconds(5));
			if (reaped_)
				break;
		}
		if (!reaped_) {
			waitpid(pid_, &status_, 0);
			reaped_ = true;
		}
	}
	unregister_live(slot_);
	slot_ = -1;
	return status_;
}

std::string MountedFs::log_tail(size_t max_bytes) const
{
	std::string s = read_whole(spec_.log_path);
	if (s.size() > max_bytes)
		s = s.substr(s.size() - max_bytes);
	return s;
}

} // namespace harness
