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

struct fuse_out_header; // <linux/fuse.h>

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

// One line on stderr, prefixed "librfuse: " (and remembered, see below).
void log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// Puts librfuse's log function under libfuse's (once): libfuse still prints
// as before, and its errors are remembered too (messages.cc).
void capture_libfuse_messages();
// How many messages were remembered so far; the newest one if any came
// after `mark`, else "". Why a mount failed, whichever layer said so.
std::uint64_t message_mark();
std::string last_message_since(std::uint64_t mark);

// Builds the transport named in `opts` (no fallback here). Null with a
// one-line message in *error for a name this build cannot serve.
std::unique_ptr<Transport> make_transport(const TransportOptions &opts, std::string *error);
// Classic /dev/fuse through libfuse's own loops.
std::unique_ptr<Transport> make_fuse_transport(const TransportOptions &opts);
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

// Requests libfuse answers with fuse_reply_none(), i.e. never: FORGET and
// BATCH_FORGET (normally on /dev/fuse, but a forced FORGET, which fuse.ko
// sends for a READDIRPLUS entry it cannot link, is an ordinary request that
// comes through a ring) and FUSE_NOTIFY_REPLY (a retrieve's answer). A
// transport that hands requests over in slots or ring entries must end them
// itself with a bare header: the kernel's caller waits for that.
inline bool is_never_answered(std::uint32_t opcode)
{
	return is_forget(opcode) || opcode == 41 /* FUSE_NOTIFY_REPLY */;
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

// Where write_stats_file() writes: RFUSE_STATS_FILE once checked
// (TransportOptions::from_env), "" for nowhere.
void set_stats_file(const std::string &path);
// Writes the statistics file now, when there is one.
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
// register an IoOwner per device fd, and one set of hooks dispatches.
//
// All four hooks are installed, splice ones included: libfuse 3.14 offers a
// filesystem FUSE_CAP_SPLICE_READ/WRITE/MOVE only when the custom io has
// them, and a filesystem that asks for them unconditionally (fuse-overlayfs
// does) would otherwise fail INIT with "requested capabilities 0x380 that
// are not supported by kernel". Each transport honours them its own way.
class IoOwner {
public:
	virtual ~IoOwner() = default;
	virtual ssize_t on_read(int fd, void *buf, size_t len) = 0;
	virtual ssize_t on_writev(int fd, struct iovec *iov, int count) = 0;
	// libfuse's splice path for replies (FUSE_CAP_SPLICE_WRITE, at least two
	// pages of data, fuse_reply_data() & co.): the whole reply, `len` bytes
	// with its fuse_out_header first, waits in the pipe `pipe_fd`. Must
	// consume all of it and return len, or -1 with errno. The default reads
	// it into memory and hands it to on_writev().
	virtual ssize_t on_splice_send(int pipe_fd, int fd, size_t len, unsigned flags);
	// libfuse's own loops with FUSE_CAP_SPLICE_READ: one request from the
	// device `fd` into the pipe `pipe_fd` (at most `len` bytes). The default
	// fails with ENOSYS: the transport's requests never pass libfuse's
	// receive.
	virtual ssize_t on_splice_receive(int fd, int pipe_fd, size_t len, unsigned flags);

	// The first reply written on the connection answers the kernel's INIT
	// (nothing else is sent before INIT is answered): its error, 0 when
	// INIT succeeded, kNoReplyYet before. The hooks record it.
	static constexpr int kNoReplyYet = 1;
	int init_reply_error() const { return init_reply_error_.load(std::memory_order_acquire); }
	void note_reply(const void *out_header);
	// How often the splice hooks moved a reply / a request (the hooks count).
	std::atomic<std::uint64_t> spliced_replies{0};
	std::atomic<std::uint64_t> spliced_requests{0};

protected:
	// The default on_splice_send(): the reply from the pipe into memory,
	// then on_writev(). `header` is its fuse_out_header when the caller
	// already took that from the pipe (then `len` counts it still).
	ssize_t forward_spliced_reply(int pipe_fd, int fd, size_t len, const fuse_out_header *header);

private:
	std::atomic<int> init_reply_error_{kNoReplyYet};
};
// Hooks for fuse_session_custom_io() that call the owner of their fd, or
// the most recently registered owner for an fd nobody registered (a device
// fd cloned by libfuse's clone_fd option).
const fuse_custom_io *dispatching_io();
void register_io_owner(int fd, IoOwner *owner);
void unregister_io_owner(int fd);

// Reads exactly `len` bytes from the pipe `pipe_fd` (libfuse's are
// non-blocking; what it spliced is all there). False with errno otherwise.
bool read_pipe(int pipe_fd, void *dst, size_t len);
// Drops `len` bytes from the pipe (a reply that cannot be delivered).
void drain_pipe(int pipe_fd, size_t len);
// on_splice_receive() for transports that read /dev/fuse: moves one request
// from `dev_fd` into `pipe_fd` as splice(2) would, but through a staging
// pipe of the calling thread so that `observe` sees the request's first
// bytes (up to a page; at least its fuse_in_header and op header) for the
// statistics and passthrough. The payload beyond that page is moved, not
// copied. Returns the request's length, or -1 with errno as splice(2).
ssize_t splice_request_observed(int dev_fd, int pipe_fd, size_t len,
				const std::function<void(const char *head, size_t head_len)> &observe);

// What the uring and rfuse transports say when a program reads requests
// itself (fuse_session_receive_buf(): pyfuse3, qemu-storage-daemon) instead
// of running one of libfuse's loops, which is where they serve: they
// cannot, and the program's read fails with EOPNOTSUPP.
std::string own_receive_loop_refusal(const char *transport);

// Transport::mount() of the transports that mount classic FUSE (fuse,
// uring): libfuse's own mount, with `owner` registered for the device fd
// (*fd from then on, even when this fails: the caller unregisters) and the
// hooks installed, and a Passthrough in *passthrough when opts.passthrough
// (RFUSE_PASSTHROUGH=1).
int mount_dev_fuse(fuse_session *se, const char *mountpoint, const TransportOptions &opts, IoOwner *owner,
		   int *fd, std::unique_ptr<Passthrough> *passthrough);

} // namespace rfuse::detail
