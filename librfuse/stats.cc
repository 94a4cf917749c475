// The statistics file: which transport a process asked for and really
// used, why it fell back, and how many requests went over each path.
// Written (atomically: temp file + rename) to $RFUSE_STATS_FILE after a
// mount, when the transport in use is settled, at unmount, at destroy, at
// exit, and whenever the process gets SIGUSR1 (if the program has no
// SIGUSR1 handler of its own).
#include "librfuse_internal.hpp"
#include "passthrough.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <pthread.h>
#include <thread>
#include <unistd.h>

namespace rfuse::detail {
namespace {

double share(std::uint64_t part, std::uint64_t whole)
{
	return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole);
}

nlohmann::json session_json(const SessionReport &r)
{
	const TransportStats &s = r.stats;
	std::uint64_t total = s.ring_requests + s.dev_fuse_requests;
	std::string fallback_reason = !r.fallback_reason.empty() ? r.fallback_reason : s.fallback_reason;
	return {
		{"transport_requested", r.requested},
		{"transport_used", s.used},
		{"fallback", !fallback_reason.empty()},
		{"fallback_reason", fallback_reason},
		{"error", !r.error.empty() ? r.error : s.error},
		{"mountpoint", r.mountpoint},
		{"mounted", r.mounted},
		{"loop", r.loop_entry},
		{"requests",
		 {{"ring", s.ring_requests},
		  {"dev_fuse", s.dev_fuse_requests},
		  {"dev_fuse_forgets", s.dev_fuse_forgets},
		  {"read_write", s.data_requests},
		  {"total", total}}},
		{"ring_share", share(s.ring_requests, total)},
		// FORGETs always use /dev/fuse: the share of what a ring can carry.
		{"ring_share_without_forgets", share(s.ring_requests, total - s.dev_fuse_forgets)},
		{"requests_per_ring", s.per_ring},
		{"passthrough", {{"opens", s.passthrough_opens}, {"refused", s.passthrough_refused}}},
		{"splice", {{"replies", s.spliced_replies}, {"requests", s.spliced_requests}}},
	};
}

std::mutex &write_lock()
{
	static std::mutex *m = new std::mutex;
	return *m;
}

int g_wake_pipe[2] = {-1, -1};

void on_sigusr1(int)
{
	int saved = errno;
	char c = 1;
	ssize_t n = write(g_wake_pipe[1], &c, 1); // async-signal-safe; the thread does the work
	(void)n;
	errno = saved;
}

void stats_thread()
{
	char c;
	while (read(g_wake_pipe[0], &c, 1) > 0 || errno == EINTR)
		write_stats_file();
}

} // namespace

void RequestCounters::count_dev_fuse(const void *request)
{
	dev_fuse.fetch_add(1, std::memory_order_relaxed);
	std::uint32_t opcode = static_cast<const fuse_in_header *>(request)->opcode;
	if (is_forget(opcode))
		dev_fuse_forgets.fetch_add(1, std::memory_order_relaxed);
	else if (is_data(opcode))
		data.fetch_add(1, std::memory_order_relaxed);
}

void RequestCounters::report(const Passthrough *passthrough, TransportStats *s) const
{
	s->dev_fuse_requests = dev_fuse.load(std::memory_order_relaxed);
	s->dev_fuse_forgets = dev_fuse_forgets.load(std::memory_order_relaxed);
	s->data_requests = data.load(std::memory_order_relaxed);
	if (passthrough != nullptr) {
		s->passthrough_opens = passthrough->opens();
		s->passthrough_refused = passthrough->refused();
	}
}

namespace {

// The checked RFUSE_STATS_FILE ("" until a mount has checked it).
std::mutex &path_lock()
{
	static std::mutex *m = new std::mutex;
	return *m;
}
std::string &stats_path()
{
	static std::string *p = new std::string;
	return *p;
}

} // namespace

void set_stats_file(const std::string &path)
{
	std::lock_guard<std::mutex> g(path_lock());
	stats_path() = path;
}

void write_stats_file()
{
	std::string path;
	{
		std::lock_guard<std::mutex> g(path_lock());
		path = stats_path();
	}
	if (path.empty())
		return;
	std::vector<SessionReport> sessions = collect_sessions();
	if (sessions.empty())
		return;
	nlohmann::json doc = session_json(sessions.back()); // the newest session, flat
	doc["pid"] = static_cast<long>(getpid());
	nlohmann::json all = nlohmann::json::array();
	for (const SessionReport &r : sessions)
		all.push_back(session_json(r));
	doc["sessions"] = all;

	std::lock_guard<std::mutex> g(write_lock());
	std::string tmp = path + ".tmp" + std::to_string(getpid());
	{
		std::ofstream out(tmp, std::ios::trunc);
		out << doc.dump(2) << "\n";
		if (!out) {
			log("cannot write statistics file %s", tmp.c_str());
			return;
		}
	}
	if (std::rename(tmp.c_str(), path.c_str()) != 0)
		log("cannot rename %s to %s", tmp.c_str(), path.c_str());
}

void start_stats_reporting()
{
	static std::once_flag once;
	std::call_once(once, [] {
		std::atexit([] { write_stats_file(); });
		struct sigaction old {};
		if (sigaction(SIGUSR1, nullptr, &old) != 0 || old.sa_handler != SIG_DFL)
			return; // the program uses SIGUSR1 itself: leave it alone
		if (pipe2(g_wake_pipe, O_CLOEXEC) != 0)
			return;
		struct sigaction sa {};
		sa.sa_handler = on_sigusr1;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGUSR1, &sa, nullptr);
	});
}

void start_stats_thread()
{
	// Per process: fuse_daemonize() forks between mount and loop, and a
	// thread started before the fork would not exist in the daemon.
	static std::mutex lock;
	static pid_t started_in = 0;
	std::lock_guard<std::mutex> g(lock);
	if (g_wake_pipe[0] < 0 || started_in == getpid())
		return;
	started_in = getpid();
	// The thread must not take the program's signals (SIGTERM & co.).
	sigset_t all, prev;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &prev);
	std::thread(stats_thread).detach();
	pthread_sigmask(SIG_SETMASK, &prev, nullptr);
}

} // namespace rfuse::detail
