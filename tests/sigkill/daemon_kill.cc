// daemon_kill: SIGKILL a FUSE daemon at a random moment under load, again
// and again, over one transport (fuse: classic /dev/fuse; uring: FUSE over
// io_uring; rfuse: rfuse.ko's ring channels). Each cycle mounts MemFS
// (memfs-rfuse with RFUSE_TRANSPORT) through harness::MountedFs, starts fio
// (random reads and writes, buffered and O_DIRECT with libaio) and
// processes doing metadata operations on the mount, waits a random time
// (from right after the mount to two seconds) and kills the daemon with
// SIGKILL. Then:
//   - every caller (fio, the metadata processes) returns within the bound
//     (--bound-s, default 10 s), with errors as it may;
//   - the daemon's process is gone (reaped) within the bound;
//   - the mount unmounts (a plain umount, not a lazy one);
//   - fusectl has no entry left for the connection after the unmount;
//   - rfuse: /sys/class/misc/rfuse's slots_in_use, arg_slots_in_use and
//     channels are back to 0 (run_rfuse_test.sh then unloads the module).
// Every process started here is ended by its PID on every path.
//
//   daemon_kill --transport T[,T...] [--kills N] [--seed S] [--bound-s S]
// T: fuse, uring or rfuse; N kills of each. RFUSE_KILLS=N overrides --kills
// (the long form: 50). Exit 0: every kill passed; 1: a check failed; 77: no
// transport could run here (uring without enable_uring); 2: bad usage.
#include "librfuse_test_util.hpp"
#include "mountinfo.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

int failures = 0;

void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	std::fprintf(stderr, "daemon_kill: FAIL: ");
	std::vfprintf(stderr, fmt, ap);
	std::fprintf(stderr, "\n");
	va_end(ap);
	failures++;
}

double ms_since(Clock::time_point t)
{
	return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

std::string slurp(const std::string &path)
{
	std::string s;
	test_support::read_file(path, s);
	return s;
}

// Where each thread of `pid` waits in the kernel, for a report.
std::string stacks_of(pid_t pid)
{
	std::string out;
	std::string task = "/proc/" + std::to_string(pid) + "/task";
	DIR *d = opendir(task.c_str());
	if (d == nullptr)
		return "(gone)";
	while (dirent *e = readdir(d)) {
		if (e->d_name[0] == '.')
			continue;
		std::string t = task + "/" + e->d_name;
		out += "  thread " + std::string(e->d_name) + " (" + slurp(t + "/wchan") + "):\n" + slurp(t + "/stack");
	}
	closedir(d);
	return out;
}

long rfuse_counter(const char *name)
{
	std::ifstream in(std::string("/sys/class/misc/rfuse/") + name);
	long v = -1;
	in >> v;
	return v;
}

// fusectl, where a connection has a directory named after its device
// number while its superblock lives. Mounted where it already is, else
// in our scratch directory (fusectl has one instance: the same view).
class FuseCtl {
public:
	explicit FuseCtl(const std::string &scratch)
	{
		for (const fs_common::MountEntry &e : fs_common::read_mounts())
			if (e.fstype == "fusectl") {
				dir_ = e.mountpoint;
				return;
			}
		std::string mine = scratch + "/fusectl";
		mkdir(mine.c_str(), 0755);
		if (::mount("fusectl", mine.c_str(), "fusectl", 0, nullptr) == 0) {
			dir_ = mine;
			mounted_ = true;
		} else {
			why_ = std::string("cannot mount fusectl: ") + std::strerror(errno);
		}
	}
	~FuseCtl()
	{
		if (mounted_)
			umount2(dir_.c_str(), MNT_DETACH);
	}
	FuseCtl(const FuseCtl &) = delete;
	FuseCtl &operator=(const FuseCtl &) = delete;
	bool usable() const { return !dir_.empty(); }
	const std::string &why() const { return why_; }
	// fusectl names a connection after the kernel's dev_t (major << 20 | minor).
	static std::string id_of(const std::string &mnt)
	{
		struct stat st {};
		if (stat(mnt.c_str(), &st) != 0)
			return {};
		return std::to_string((static_cast<unsigned long>(major(st.st_dev)) << 20) | minor(st.st_dev));
	}
	bool has(const std::string &id) const { return !id.empty() && access((dir_ + "/" + id).c_str(), F_OK) == 0; }
	// Requests the connection has in flight or queued, or -1.
	long waiting(const std::string &id) const
	{
		std::ifstream in(dir_ + "/" + id + "/waiting");
		long v = -1;
		in >> v;
		return v;
	}

private:
	std::string dir_, why_;
	bool mounted_ = false;
};

// A metadata caller: creates, writes, stats, renames, lists and removes in
// its own directory until the mount fails it with ENOTCONN/ECONNABORTED
// (the daemon is gone), then exits 0.
[[noreturn]] void metadata_caller(const std::string &mnt, int id, std::uint64_t seed)
{
	std::mt19937_64 rng(seed);
	std::string dir = mnt + "/meta" + std::to_string(id);
	mkdir(dir.c_str(), 0755);
	char buf[4096] = {};
	int bad_in_a_row = 0;
	for (long i = 0;; i++) {
		std::string a = dir + "/f" + std::to_string(rng() % 16), b = dir + "/g" + std::to_string(rng() % 16);
		int rc = 0;
		switch (rng() % 8) {
		case 0: {
			int fd = open(a.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
			rc = fd;
			if (fd >= 0) {
				rc = int(write(fd, buf, 1 + rng() % sizeof(buf)));
				if (rc >= 0 && rng() % 4 == 0)
					rc = fsync(fd);
				close(fd);
			}
			break;
		}
		case 1: {
			struct stat st {};
			rc = stat(a.c_str(), &st);
			break;
		}
		case 2: rc = rename(a.c_str(), b.c_str()); break;
		case 3: {
			DIR *d = opendir(dir.c_str());
			rc = d ? 0 : -1;
			for (int n = 0; d && n < 1000 && readdir(d); n++) {
			}
			if (d)
				closedir(d);
			break;
		}
		case 4: rc = unlink(b.c_str()); break;
		case 5: rc = mkdir((dir + "/d" + std::to_string(rng() % 4)).c_str(), 0755); break;
		case 6: rc = rmdir((dir + "/d" + std::to_string(rng() % 4)).c_str()); break;
		default: rc = truncate(a.c_str(), off_t(rng() % 100000)); break;
		}
		if (rc >= 0) {
			bad_in_a_row = 0;
			continue;
		}
		if (errno == ENOTCONN || errno == ECONNABORTED)
			_exit(0);
		// ENOENT, EEXIST, ENOTEMPTY are the script's own; a dead mount says ENOTCONN
		if (++bad_in_a_row > 100000)
			_exit(3);
	}
}

// Ends the series: what is left cannot be cleaned up by another kill.
struct Fatal : std::runtime_error {
	using std::runtime_error::runtime_error;
};

struct Options {
	std::string transport;
	int kills = 5;
	std::uint64_t seed = 0;
	int bound_s = 10;
};

struct Totals {
	int passed = 0;
	double slowest_caller_ms = 0, slowest_daemon_ms = 0;
	std::vector<double> caller_ms;
	std::vector<long> waiting; // requests in flight at the kill (fusectl)
	std::map<pid_t, int> status; // exit status of each caller reaped
};

pid_t spawn(const std::vector<std::string> &argv, const std::string &log)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	std::vector<char *> a;
	for (const std::string &s : argv)
		a.push_back(const_cast<char *>(s.c_str()));
	a.push_back(nullptr);
	execvp(a[0], a.data());
	_exit(127);
}

// Waits for every pid until `deadline`; leaves in `pids` those still running.
void reap_until(std::vector<pid_t> &pids, Clock::time_point deadline, Totals &t, Clock::time_point killed)
{
	while (!pids.empty()) {
		for (std::size_t i = 0; i < pids.size();) {
			int status = 0;
			if (waitpid(pids[i], &status, WNOHANG) == pids[i]) {
				t.status[pids[i]] = status;
				double ms = ms_since(killed);
				t.slowest_caller_ms = std::max(t.slowest_caller_ms, ms);
				t.caller_ms.push_back(ms);
				pids.erase(pids.begin() + long(i));
			} else {
				i++;
			}
		}
		if (pids.empty() || Clock::now() > deadline)
			break;
		std::this_thread::sleep_for(2ms);
	}
}

// The callers still running when a kill cycle ends, on any path: SIGKILL
// and reap each by its PID.
struct Reaper {
	std::vector<pid_t> &live;
	~Reaper()
	{
		for (pid_t p : live) {
			kill(p, SIGKILL);
			waitpid(p, nullptr, 0);
		}
	}
};

void one_kill(const Options &o, int cycle, std::mt19937_64 &rng, const test_support::ScratchDir &dir,
	      FuseCtl &ctl, Totals &t)
{
	const int failures_before = failures;
	const std::string mnt = dir / "mnt", stats = dir / "stats.json";
	mkdir(mnt.c_str(), 0755);
	unlink(stats.c_str());
	harness::DaemonSpec spec;
	spec.argv = {test_support::binary("memfs-rfuse"), "-o", "size=268435456"};
	spec.mountpoint = mnt;
	spec.env = rfuse_test::transport_env(o.transport, stats);
	spec.log_path = dir / "daemon.log";
	harness::MountedFs fs(spec);

	// the transport is the one asked for (librfuse's statistics say which)
	auto until = Clock::now() + 10s;
	while (access(stats.c_str(), F_OK) != 0 && Clock::now() < until)
		std::this_thread::sleep_for(2ms);
	try {
		std::string used = rfuse_test::read_stats(stats).value("transport_used", "");
		if (used != o.transport)
			fail("kill %d: the daemon serves over %s, not %s", cycle, used.c_str(), o.transport.c_str());
	} catch (const std::exception &e) {
		fail("kill %d: %s", cycle, e.what());
	}
	const std::string conn = FuseCtl::id_of(mnt);
	if (ctl.usable() && !ctl.has(conn))
		fail("kill %d: fusectl has no entry %s for the mounted connection", cycle, conn.c_str());

	// the load: fio (buffered and O_DIRECT random I/O) and metadata callers
	std::vector<pid_t> callers, live;
	Reaper reaper {live};
	callers.push_back(spawn({"fio", "--thread", "--time_based", "--runtime=120", "--directory=" + mnt,
				 "--name=buffered", "--filename=buffered.dat", "--rw=randrw", "--bs=4k", "--size=4m",
				 "--ioengine=psync", "--fsync=64", "--name=direct", "--filename=direct.dat",
				 "--rw=randrw", "--bs=16k", "--size=4m", "--ioengine=libaio", "--iodepth=8", "--direct=1"},
				dir / "fio.log"));
	for (int i = 0; i < 2; i++) {
		std::uint64_t seed = rng();
		pid_t p = fork();
		if (p == 0)
			metadata_caller(mnt, i, seed);
		if (p > 0)
			callers.push_back(p);
	}
	if (callers.front() < 0 || callers.size() < 3)
		fail("kill %d: fork: %s", cycle, std::strerror(errno));
	callers.erase(std::remove(callers.begin(), callers.end(), pid_t(-1)), callers.end());
	live = callers;
	// a random moment: now and then right after the mount (INIT, the first
	// requests), mostly somewhere in the first two seconds of load
	auto delay = rng() % 8 == 0 ? std::chrono::microseconds(rng() % 50000)
				    : std::chrono::microseconds(50000 + rng() % 1950000);
	std::this_thread::sleep_for(delay);
	const pid_t daemon = fs.pid();
	if (ctl.usable())
		t.waiting.push_back(ctl.waiting(conn));
	auto killed = Clock::now();
	if (kill(daemon, SIGKILL) != 0)
		fail("kill %d: kill(%d, SIGKILL): %s", cycle, daemon, std::strerror(errno));

	// every caller returns within the bound
	reap_until(live, killed + std::chrono::seconds(o.bound_s), t, killed);
	const double callers_ms = ms_since(killed);
	const std::vector<pid_t> stuck = live;
	for (pid_t p : stuck)
		fail("kill %d (%.0f ms into the load): caller %d has not returned %d s after the SIGKILL:\n%s", cycle,
		     std::chrono::duration<double, std::milli>(delay).count(), p, o.bound_s, stacks_of(p).c_str());
	for (pid_t p : stuck)
		kill(p, SIGKILL);
	reap_until(live, Clock::now() + 10s, t, killed);
	if (!live.empty())
		throw Fatal("callers survive SIGKILL; giving up");
	// fio ran (exec worked); the metadata callers ended on the dead mount's ENOTCONN
	for (std::size_t i = 0; i < callers.size(); i++) {
		int st = t.status[callers[i]];
		bool ok = i == 0 ? !(WIFEXITED(st) && WEXITSTATUS(st) == 127) : WIFEXITED(st) && WEXITSTATUS(st) == 0;
		if (!ok && std::find(stuck.begin(), stuck.end(), callers[i]) == stuck.end())
			fail("kill %d: %s %d ended with status 0x%x", cycle, i == 0 ? "fio" : "metadata caller", callers[i], st);
	}
	// the daemon is gone
	while (fs.daemon_alive() && ms_since(killed) < o.bound_s * 1000.0)
		std::this_thread::sleep_for(2ms);
	if (fs.daemon_alive())
		fail("kill %d: the daemon %d still exists %d s after SIGKILL:\n%s", cycle, daemon, o.bound_s,
		     stacks_of(daemon).c_str());
	double daemon_ms = ms_since(killed);
	if (!fs.daemon_alive())
		t.slowest_daemon_ms = std::max(t.slowest_daemon_ms, daemon_ms);
	// the mount unmounts, and its connection goes with it
	if (umount2(mnt.c_str(), 0) != 0)
		fail("kill %d: umount after the daemon died: %s", cycle, std::strerror(errno));
	fs.stop();
	if (fs_common::is_mountpoint(mnt))
		fail("kill %d: still mounted after stop()", cycle);
	if (ctl.usable()) {
		auto end = Clock::now() + 10s;
		while (ctl.has(conn) && Clock::now() < end)
			std::this_thread::sleep_for(5ms);
		if (ctl.has(conn))
			fail("kill %d: fusectl still has connection %s after the unmount", cycle, conn.c_str());
	}
	if (o.transport == "rfuse") {
		for (const char *c : {"slots_in_use", "arg_slots_in_use", "channels"}) {
			auto end = Clock::now() + 10s;
			while (rfuse_counter(c) != 0 && Clock::now() < end)
				std::this_thread::sleep_for(5ms);
			if (rfuse_counter(c) != 0)
				fail("kill %d: /sys/class/misc/rfuse/%s is %ld after the unmount", cycle, c, rfuse_counter(c));
		}
	}
	std::printf("daemon_kill: %s kill %d at %.0f ms: %ld requests in flight, callers back after %.0f ms, daemon gone "
		    "after %.0f ms\n",
		    o.transport.c_str(), cycle, std::chrono::duration<double, std::milli>(delay).count(), t.waiting.empty() ? -1L : t.waiting.back(),
		    callers_ms, daemon_ms);
	std::fflush(stdout);
	if (failures == failures_before)
		t.passed++;
	else
		std::fprintf(stderr, "daemon_kill: kill %d: fio said:\n%s\ndaemon log:\n%s\n", cycle,
			     slurp(dir / "fio.log").substr(0, 4000).c_str(), fs.log_tail(2000).c_str());
}

[[noreturn]] void usage(const std::string &why)
{
	std::fprintf(stderr,
		     "daemon_kill: %s\nusage: daemon_kill --transport fuse|uring|rfuse[,...] [--kills N] [--seed S] "
		     "[--bound-s S]\n",
		     why.c_str());
	std::exit(2);
}

// Every kill of one transport; false when it cannot run here.
bool kill_series(Options o, std::mt19937_64 &rng)
{
	std::unique_ptr<rfuse_test::UringSwitch> uring;
	if (o.transport == "uring") {
		uring = std::make_unique<rfuse_test::UringSwitch>(true);
		if (!uring->usable()) {
			std::printf("daemon_kill: uring skipped: %s\n", uring->why().c_str());
			return false;
		}
	}
	if (o.transport == "rfuse" && access("/dev/rfuse", F_OK) != 0) {
		fail("no /dev/rfuse (run through run_rfuse_test.sh)");
		return true;
	}
	test_support::ScratchDir dir("kill-" + o.transport);
	FuseCtl ctl(dir.path());
	if (!ctl.usable())
		std::printf("daemon_kill: no fusectl check: %s\n", ctl.why().c_str());
	Totals t;
	auto start = Clock::now();
	for (int k = 0; k < o.kills; k++) {
		try {
			one_kill(o, k, rng, dir, ctl, t);
		} catch (const Fatal &e) {
			fail("kill %d: %s", k, e.what());
			break;
		} catch (const std::exception &e) {
			fail("kill %d: %s", k, e.what());
		}
	}
	std::sort(t.caller_ms.begin(), t.caller_ms.end());
	double median = t.caller_ms.empty() ? 0 : t.caller_ms[t.caller_ms.size() / 2];
	std::sort(t.waiting.begin(), t.waiting.end());
	if (!t.waiting.empty())
		std::printf("daemon_kill: %s: requests in flight at the kill: %ld (median), %ld (most)\n",
			    o.transport.c_str(), t.waiting[t.waiting.size() / 2], t.waiting.back());
	std::printf("daemon_kill: %s: %d of %d kills passed in %.1f s; callers returned %.0f ms (median) and %.0f ms "
		    "(slowest) after SIGKILL; the daemon was gone after %.0f ms at most\n",
		    o.transport.c_str(), t.passed, o.kills, ms_since(start) / 1000, median, t.slowest_caller_ms,
		    t.slowest_daemon_ms);
	std::fflush(stdout);
	return true;
}

} // namespace

int main(int argc, char **argv)
{
	Options o;
	std::string transports;
	o.seed = std::random_device()() ^ std::uint64_t(Clock::now().time_since_epoch().count());
	for (int i = 1; i < argc; i++) {
		std::string a = argv[i];
		if (i + 1 >= argc)
			usage(a + " needs a value");
		std::string v = argv[++i];
		if (a == "--transport")
			transports = v;
		else if (a == "--kills")
			o.kills = std::atoi(v.c_str());
		else if (a == "--seed")
			o.seed = std::strtoull(v.c_str(), nullptr, 0);
		else if (a == "--bound-s")
			o.bound_s = std::atoi(v.c_str());
		else
			usage("unknown argument " + a);
	}
	if (const char *k = std::getenv("RFUSE_KILLS"); k != nullptr && *k)
		o.kills = std::atoi(k);
	std::vector<std::string> list;
	for (std::size_t at = 0; at <= transports.size();) {
		std::size_t comma = std::min(transports.find(',', at), transports.size());
		list.push_back(transports.substr(at, comma - at));
		at = comma + 1;
	}
	for (const std::string &t : list)
		if (t != "fuse" && t != "uring" && t != "rfuse")
			usage("--transport takes fuse, uring or rfuse, or a comma-separated list of them");
	if (o.kills < 1 || o.bound_s < 1)
		usage("--kills and --bound-s must be positive");
	std::printf("daemon_kill: %s, %d kills each, seed %llu\n", transports.c_str(), o.kills,
		    static_cast<unsigned long long>(o.seed));
	std::fflush(stdout);
	signal(SIGPIPE, SIG_IGN);
	std::mt19937_64 rng(o.seed);
	int ran = 0;
	for (const std::string &t : list) {
		o.transport = t;
		ran += kill_series(o, rng);
	}
	if (ran == 0)
		return 77;
	return failures == 0 ? 0 : 1;
}
