// Plumbing shared by librfuse's pieces: the real libfuse entry points we
// interpose, the per-session bookkeeping, logging and the statistics file.
#pragma once

#include "transport.hpp"

#include <fuse_lowlevel.h>
#include <semaphore.h>
#include <functional>

#include <atomic>
#include <cstdarg>
#include <sys/types.h>
#include <sys/uio.h>
#include <memory>
#include <string>
#include <vector>

namespace rfuse::detail {

class Passthrough;

// libfuse3's own implementations, found with dlvsym(RTLD_NEXT, ...): the
// next definition after librfuse in the lookup order, whether librfuse is
// linked ahead of -lfuse3 or preloaded.
struct RealLibfuse {
	int (*session_mount)(fuse_session *, const char *);
	void (*session_unmount)(fuse_session *);
	int (*session_loop)(fuse_session *);
	int (*session_loop_mt_31)(fuse_session *, int);
	int (*session_loop_mt_32)(fuse_session *, void *);  // struct fuse_loop_config_v1 *
	int (*session_loop_mt_312)(fuse_session *, fuse_loop_config *);
	void (*session_destroy)(fuse_session *);
	fuse_session *(*session_new)(fuse_args *, const fuse_lowlevel_ops *, size_t, void *);
};
// Resolves every pointer on first use; exits the process with a message when
// libfuse3 is missing (nothing sensible can run without it).
const RealLibfuse &real();

// Blocks until the session is told to exit (libfuse's signal handler, or
// fuse_session_exit() from anywhere) or `gone()` turns true; `wake` is posted
// by whoever sees the kernel side go away. Wakes at least every 200 ms.
void wait_for_session_end(fuse_session *se, sem_t *wake, const std::function<bool()> &gone);

// One line on stderr, prefixed "librfuse: ".
void log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// Builds the transport named in `opts` (no fallback here). Null with a
// one-line message in *error for a name this build cannot serve.
std::unique_ptr<Transport> make_transport(const TransportOptions &opts, std::string *error);
// Classic /dev/fuse through libfuse's own loops.
std::unique_ptr<Transport> make_fuse_transport();
std::unique_ptr<Transport> make_uring_transport(const TransportOptions &opts);

// What the statistics file says about one session.
struct SessionReport {
	std::string requested;       // RFUSE_TRANSPORT (or the default)
	std::string mountpoint;
	std::string loop_entry;      // which interposed loop the program called
	std::string fallback_reason; // set when librfuse itself fell back before mounting
	std::string error;           // set when librfuse refused the mount
	bool mounted = false;
	TransportStats stats;
};
// A snapshot of every session librfuse mounted in this process.
std::vector<SessionReport> collect_sessions();

// FORGET and BATCH_FORGET: the kernel sends them over /dev/fuse whatever
// the transport, and no reply follows.
inline bool is_forget(std::uint32_t opcode)
{
	return opcode == 2 /* FUSE_FORGET */ || opcode == 42 /* FUSE_BATCH_FORGET */;
}

inline bool is_data(std::uint32_t opcode)
{
	return opcode == 15 /* FUSE_READ */ || opcode == 16 /* FUSE_WRITE */;
}

// The request counters of the transports that read /dev/fuse (fuse, uring).
struct RequestCounters {
	std::atomic<std::uint64_t> dev_fuse{0};         // requests read from /dev/fuse
	std::atomic<std::uint64_t> dev_fuse_forgets{0}; // ... of them FORGET / BATCH_FORGET
	std::atomic<std::uint64_t> data{0};             // READ and WRITE, over any path

	// A request read from /dev/fuse (at least a fuse_in_header).
	void count_dev_fuse(const void *request);
	// Puts the counters, and the passthrough's when there is one, into *s.
	void report(const Passthrough *passthrough, TransportStats *s) const;
};

// Writes the statistics file (RFUSE_STATS_FILE) now, when it is set.
// Safe to call from any thread; not from a signal handler.
void write_stats_file();
// Installs the SIGUSR1 handler and the atexit hook, once (at mount: the
// mount's observers may signal at once).
void start_stats_reporting();
// Starts the thread that writes the file for SIGUSR1 (at loop start: in
// the process that serves, after any fuse_daemonize() fork).
void start_stats_thread();

// The custom-io hooks libfuse calls for every device read and reply pass
// only the fd (their userdata argument is the filesystem's). So transports
// register an IoOwner per device fd, and one pair of hooks dispatches.
class IoOwner {
public:
	virtual ~IoOwner() = default;
	virtual ssize_t on_read(int fd, void *buf, size_t len) = 0;
	virtual ssize_t on_writev(int fd, struct iovec *iov, int count) = 0;
};
// Hooks for fuse_session_custom_io() that call the owner of their fd, or
// the most recently registered owner for an fd nobody registered (a device
// fd cloned by libfuse's clone_fd option).
const fuse_custom_io *dispatching_io();
void register_io_owner(int fd, IoOwner *owner);
void unregister_io_owner(int fd);

// Transport::mount() of the transports that mount classic FUSE (fuse,
// uring): libfuse's own mount, with `owner` registered for the device fd
// (*fd from then on, even when this fails: the caller unregisters) and the
// hooks installed, and a Passthrough in *passthrough when RFUSE_PASSTHROUGH=1.
int mount_dev_fuse(fuse_session *se, const char *mountpoint, IoOwner *owner, int *fd,
		   std::unique_ptr<Passthrough> *passthrough);

} // namespace rfuse::detail
