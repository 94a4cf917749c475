// The libfuse3 entry points librfuse interposes. A program linked with
// librfuse ahead of -lfuse3, or run with LD_PRELOAD=librfuse.so, binds its
// (and libfuse's own, through the PLT) calls of fuse_session_mount / _loop /
// _loop_mt / _unmount / _destroy to the definitions here. They choose a
// transport per session and reach libfuse's real ones through dlvsym().
//
// Symbol versions mirror libfuse3.so.3 (objdump -T): the version script
// librfuse.map declares the nodes, the symver attributes below bind each
// definition to its name@version.
#include "librfuse_internal.hpp"

#include <dlfcn.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

namespace rfuse::detail {
namespace {

template <typename Fn>
void resolve(Fn *slot, const char *name, const char *version)
{
	void *sym = dlvsym(RTLD_NEXT, name, version);
	if (sym == nullptr) {
		std::fprintf(stderr, "librfuse: cannot find libfuse3's %s@%s (%s): is libfuse3.so.3 loaded?\n",
			     name, version, dlerror());
		std::abort();
	}
	*slot = reinterpret_cast<Fn>(sym);
}

struct Session {
	std::unique_ptr<Transport> transport;
	SessionReport report; // requested, mountpoint, loop entry, librfuse's own fallback
};

// Sessions librfuse mounted. Leaked on purpose: the atexit stats writer and
// late destroy calls may run after static destructors.
struct SessionTable {
	std::mutex lock;
	std::map<fuse_session *, std::shared_ptr<Session>> sessions;
	std::vector<SessionReport> finished; // destroyed sessions, for the final report
};
SessionTable &table()
{
	static SessionTable *t = new SessionTable;
	return *t;
}

// The arguments each session was created with, until it is mounted.
struct CreationArgs {
	std::mutex lock;
	std::map<fuse_session *, std::vector<std::string>> args;
};
CreationArgs &creation_args()
{
	static CreationArgs *c = new CreationArgs;
	return *c;
}

fuse_session *new_session(fuse_args *args, const fuse_lowlevel_ops *op, size_t op_size, void *userdata)
{
	std::vector<std::string> copy;
	for (int i = 0; args != nullptr && i < args->argc; ++i)
		copy.emplace_back(args->argv[i] != nullptr ? args->argv[i] : "");
	fuse_session *se = real().session_new(args, op, op_size, userdata);
	if (se != nullptr) {
		std::lock_guard<std::mutex> g(creation_args().lock);
		creation_args().args[se] = std::move(copy);
	}
	return se;
}

std::vector<std::string> take_creation_args(fuse_session *se)
{
	std::lock_guard<std::mutex> g(creation_args().lock);
	auto it = creation_args().args.find(se);
	if (it == creation_args().args.end())
		return {};
	std::vector<std::string> out = std::move(it->second);
	creation_args().args.erase(it);
	return out;
}

std::shared_ptr<Session> find_session(fuse_session *se)
{
	std::lock_guard<std::mutex> g(table().lock);
	auto it = table().sessions.find(se);
	return it == table().sessions.end() ? nullptr : it->second;
}

// Every transport owns the custom-io hooks of its device fd.
const IoOwner *io_owner(const Transport &t)
{
	return dynamic_cast<const IoOwner *>(&t);
}

// The transport's statistics and what its hooks counted.
TransportStats stats_of(const Transport &t)
{
	TransportStats s = t.stats();
	if (const IoOwner *io = io_owner(t)) {
		s.spliced_replies = io->spliced_replies.load(std::memory_order_relaxed);
		s.spliced_requests = io->spliced_requests.load(std::memory_order_relaxed);
	}
	return s;
}

// A refused mount still leaves a statistics file saying why.
void record_refusal(const std::shared_ptr<Session> &session, const std::string &error)
{
	session->report.error = error;
	SessionReport r = session->report;
	r.stats.used = "none";
	{
		std::lock_guard<std::mutex> g(table().lock);
		table().finished.push_back(std::move(r));
	}
	start_stats_reporting();
	write_stats_file();
}

int mount_session(fuse_session *se, const char *mountpoint)
{
	capture_libfuse_messages();
	auto session = std::make_shared<Session>();
	session->report.mountpoint = mountpoint != nullptr ? mountpoint : "";
	TransportOptions opts;
	std::string error;
	bool usable = TransportOptions::from_env(&opts, &error);
	session->report.requested = opts.name;
	set_stats_file(opts.stats_file);
	if (!usable) {
		// Nothing is mounted or changed; the statistics say why when
		// RFUSE_STATS_FILE itself is usable.
		log("%s: not mounting", error.c_str());
		record_refusal(session, error);
		return -1;
	}
	opts.session_args = take_creation_args(se);

	session->transport = make_transport(opts, &error);
	if (!session->transport) {
		log("%s", error.c_str());
		record_refusal(session, error);
		return -1;
	}
	if (std::string why = session->transport->probe(); !why.empty()) {
		if (!opts.fallback) {
			log("transport %s is unavailable: %s (set RFUSE_FALLBACK=1 to use classic FUSE instead)",
			    opts.name.c_str(), why.c_str());
			record_refusal(session, "transport " + opts.name + " is unavailable: " + why);
			return -1;
		}
		log("transport %s is unavailable: %s; RFUSE_FALLBACK=1: using classic FUSE (/dev/fuse)",
		    opts.name.c_str(), why.c_str());
		session->report.fallback_reason = why;
		session->transport = make_fuse_transport(opts);
	}
	// Before the mount shows up: whoever sees it may send SIGUSR1 at once.
	start_stats_reporting();
	std::uint64_t mark = message_mark();
	if (session->transport->mount(se, mountpoint) != 0) {
		// libfuse or the transport said why on stderr already.
		std::string why = last_message_since(mark);
		error = std::string("mounting ") + session->transport->name() + " on " + session->report.mountpoint +
			" failed" + (why.empty() ? "" : ": " + why);
		if (why.empty())
			log("%s", error.c_str());
		record_refusal(session, error);
		return -1;
	}
	session->report.mounted = true;
	{
		std::lock_guard<std::mutex> g(table().lock);
		table().sessions[se] = session;
	}
	write_stats_file();
	return 0;
}

// After the loop: when libfuse refused the kernel's INIT (a capability the
// filesystem wants and the kernel lacks...) or serving ended in an error,
// say so on stderr and in the statistics, with the last message libfuse or
// librfuse printed since `mark`. A transport's own refusal (its stats'
// error) already says why. Returns what the loop returns: libfuse's own
// loops return the INIT error, ours do the same.
int note_serving_outcome(Session &session, int rc, std::uint64_t mark)
{
	int init_error = 0;
	if (const IoOwner *io = io_owner(*session.transport))
		init_error = io->init_reply_error() == IoOwner::kNoReplyYet ? 0 : io->init_reply_error();
	std::string error;
	if (init_error < 0)
		error = "the mount on " + session.report.mountpoint + " failed: libfuse answered the kernel's INIT with " +
			std::strerror(-init_error);
	else if (rc < 0 && rc != -EINTR && rc != Transport::kServeWithLibfuse &&
		 session.transport->stats().error.empty())
		error = std::string("serving ended with an error (") + std::strerror(-rc) + ")";
	if (error.empty())
		return rc;
	if (std::string why = last_message_since(mark); !why.empty())
		error += ": " + why;
	log("%s", error.c_str());
	{
		std::lock_guard<std::mutex> g(table().lock);
		session.report.error = error;
	}
	return rc == 0 && init_error < 0 ? init_error : rc;
}

// Runs the program's loop on the session's transport; `libfuse_loop` is
// libfuse's own loop exactly as the program asked for it.
int run_loop(fuse_session *se, const char *entry, unsigned max_threads,
	     const std::function<int()> &libfuse_loop)
{
	// libfuse's own loops call each other through the PLT (_mt_32 calls
	// _mt_312): the loop already serving with libfuse stays as it is.
	thread_local fuse_session *serving_with_libfuse = nullptr;
	if (serving_with_libfuse == se)
		return libfuse_loop();
	std::shared_ptr<Session> session = find_session(se);
	if (!session)
		return libfuse_loop(); // not mounted through us (e.g. mounted before we were loaded)
	{
		std::lock_guard<std::mutex> g(table().lock);
		session->report.loop_entry = entry;
	}
	start_stats_thread();
	std::uint64_t mark = message_mark();
	int rc = session->transport->loop(se, max_threads);
	if (rc == Transport::kServeWithLibfuse) {
		write_stats_file(); // the transport in use is settled now
		serving_with_libfuse = se;
		rc = libfuse_loop();
		serving_with_libfuse = nullptr;
	}
	rc = note_serving_outcome(*session, rc, mark);
	write_stats_file();
	return rc;
}

void unmount_session(fuse_session *se)
{
	std::shared_ptr<Session> session = find_session(se);
	if (!session) {
		real().session_unmount(se);
		return;
	}
	session->transport->unmount(se);
	{
		std::lock_guard<std::mutex> g(table().lock);
		session->report.mounted = false;
	}
	write_stats_file();
}

void destroy_session(fuse_session *se)
{
	std::shared_ptr<Session> session = find_session(se);
	if (session) {
		// libfuse's destroy unmounts a still-mounted session; the transport
		// goes first so its threads and rings are gone before the fd.
		if (session->report.mounted)
			unmount_session(se);
		SessionReport final_report = session->report;
		final_report.stats = stats_of(*session->transport);
		{
			std::lock_guard<std::mutex> g(table().lock);
			table().sessions.erase(se);
			table().finished.push_back(std::move(final_report));
		}
		session.reset(); // joins whatever the transport still runs
		write_stats_file();
	}
	take_creation_args(se); // a session destroyed without being mounted
	real().session_destroy(se);
}

} // namespace

const RealLibfuse &real()
{
	static const RealLibfuse r = [] {
		RealLibfuse x {};
		resolve(&x.session_mount, "fuse_session_mount", "FUSE_3.0");
		resolve(&x.session_unmount, "fuse_session_unmount", "FUSE_3.0");
		resolve(&x.session_loop, "fuse_session_loop", "FUSE_3.0");
		resolve(&x.session_loop_mt_31, "fuse_session_loop_mt_31", "FUSE_3.2");
		resolve(&x.session_loop_mt_32, "fuse_session_loop_mt_32", "FUSE_3.2");
		resolve(&x.session_loop_mt_312, "fuse_session_loop_mt_312", "FUSE_3.12");
		resolve(&x.session_destroy, "fuse_session_destroy", "FUSE_3.0");
		resolve(&x.session_new, "fuse_session_new", "FUSE_3.0");
		return x;
	}();
	return r;
}

std::vector<SessionReport> collect_sessions()
{
	std::vector<std::shared_ptr<Session>> live;
	std::vector<SessionReport> out;
	{
		std::lock_guard<std::mutex> g(table().lock);
		out = table().finished;
		for (auto &[se, s] : table().sessions) {
			live.push_back(s);
			out.push_back(s->report);
		}
	}
	size_t first_live = out.size() - live.size();
	for (size_t i = 0; i < live.size(); ++i)
		out[first_live + i].stats = stats_of(*live[i]->transport);
	return out;
}

} // namespace rfuse::detail

using namespace rfuse::detail;

// The exported definitions. Internal names are local (librfuse.map); the
// symver attributes give them libfuse's names and versions.
extern "C" {

__attribute__((symver("fuse_session_new@@FUSE_3.0")))
fuse_session *rfuse_session_new(fuse_args *args, const fuse_lowlevel_ops *op, size_t op_size, void *userdata)
{
	return new_session(args, op, op_size, userdata);
}

__attribute__((symver("fuse_session_mount@@FUSE_3.0")))
int rfuse_session_mount(fuse_session *se, const char *mountpoint)
{
	return mount_session(se, mountpoint);
}

__attribute__((symver("fuse_session_unmount@@FUSE_3.0")))
void rfuse_session_unmount(fuse_session *se)
{
	unmount_session(se);
}

__attribute__((symver("fuse_session_destroy@@FUSE_3.0")))
void rfuse_session_destroy(fuse_session *se)
{
	destroy_session(se);
}

__attribute__((symver("fuse_session_loop@@FUSE_3.0")))
int rfuse_session_loop(fuse_session *se)
{
	return run_loop(se, "fuse_session_loop@FUSE_3.0", 1,
			[se] { return real().session_loop(se); });
}

// API < 3.2 programs: fuse_session_loop_mt@FUSE_3.0 is the same function.
__attribute__((symver("fuse_session_loop_mt_31@@FUSE_3.2"), symver("fuse_session_loop_mt@FUSE_3.0")))
int rfuse_session_loop_mt_31(fuse_session *se, int clone_fd)
{
	return run_loop(se, "fuse_session_loop_mt_31@FUSE_3.2", 0,
			[se, clone_fd] { return real().session_loop_mt_31(se, clone_fd); });
}

// API 3.2 .. 3.11 programs (struct fuse_loop_config_v1).
__attribute__((symver("fuse_session_loop_mt_32@@FUSE_3.2"), symver("fuse_session_loop_mt@FUSE_3.2")))
int rfuse_session_loop_mt_32(fuse_session *se, void *config_v1)
{
	return run_loop(se, "fuse_session_loop_mt_32@FUSE_3.2", 0,
			[se, config_v1] { return real().session_loop_mt_32(se, config_v1); });
}

// API 3.12+ programs bind fuse_session_loop_mt@FUSE_3.12; libfuse's own
// fuse_loop_mt() calls fuse_session_loop_mt_312.
__attribute__((symver("fuse_session_loop_mt_312@@FUSE_3.12"), symver("fuse_session_loop_mt@@FUSE_3.12")))
int rfuse_session_loop_mt_312(fuse_session *se, fuse_loop_config *config)
{
	return run_loop(se, "fuse_session_loop_mt_312@FUSE_3.12", 0,
			[se, config] { return real().session_loop_mt_312(se, config); });
}

} // extern "C"
