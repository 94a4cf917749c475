// The custom-io hooks librfuse installs: they find the transport serving
// the fd and hand it the read, the reply, or libfuse's splice of either.
// Also the splice helpers the transports share.
#include "librfuse_internal.hpp"

#include <ctime>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <linux/fuse.h>
#include <unistd.h>
#include <vector>

namespace rfuse::detail {
namespace {

struct OwnerSlot {
	std::atomic<int> fd{-1};
	std::atomic<IoOwner *> owner{nullptr};
};
std::array<OwnerSlot, 16> g_slots; // sessions per process: a few at most
std::atomic<IoOwner *> g_last_owner{nullptr};

IoOwner *owner_of(int fd)
{
	for (OwnerSlot &s : g_slots)
		if (s.fd.load(std::memory_order_acquire) == fd)
			return s.owner.load(std::memory_order_acquire);
	return g_last_owner.load(std::memory_order_acquire);
}

ssize_t hook_read(int fd, void *buf, size_t len, void *)
{
	IoOwner *o = owner_of(fd);
	return o != nullptr ? o->on_read(fd, buf, len) : ::read(fd, buf, len);
}

ssize_t hook_writev(int fd, struct iovec *iov, int count, void *)
{
	IoOwner *o = owner_of(fd);
	if (o == nullptr)
		return ::writev(fd, iov, count);
	if (count > 0 && iov[0].iov_len >= sizeof(fuse_out_header))
		o->note_reply(iov[0].iov_base);
	return o->on_writev(fd, iov, count);
}

// A splice from fdin to fdout through owner `o`'s `move` (counted in its
// `count`), or a plain splice(2) for an fd nobody owns.
ssize_t splice_through(IoOwner *o, ssize_t (IoOwner::*move)(int, int, size_t, unsigned),
		       std::atomic<std::uint64_t> IoOwner::*count, int fdin, int fdout, size_t len, unsigned flags)
{
	if (o == nullptr)
		return splice(fdin, nullptr, fdout, nullptr, len, flags);
	ssize_t n = (o->*move)(fdin, fdout, len, flags);
	if (n > 0)
		(o->*count).fetch_add(1, std::memory_order_relaxed);
	return n;
}

// libfuse passes no offsets (both ends are pipes or devices).
ssize_t hook_splice_send(int fdin, off_t *, int fdout, off_t *, size_t len, unsigned flags, void *)
{
	return splice_through(owner_of(fdout), &IoOwner::on_splice_send, &IoOwner::spliced_replies, fdin, fdout,
			      len, flags);
}

ssize_t hook_splice_receive(int fdin, off_t *, int fdout, off_t *, size_t len, unsigned flags, void *)
{
	return splice_through(owner_of(fdin), &IoOwner::on_splice_receive, &IoOwner::spliced_requests, fdin, fdout,
			      len, flags);
}

size_t page_bytes()
{
	static const size_t p = static_cast<size_t>(sysconf(_SC_PAGESIZE));
	return p;
}

// Grows a pipe to hold `len` bytes, as far as this process may (like
// libfuse's own pipes: up to /proc/sys/fs/pipe-max-size without
// CAP_SYS_RESOURCE). Returns its size.
size_t grow_pipe(int fd, size_t len)
{
	int size = fcntl(fd, F_GETPIPE_SZ);
	if (size >= 0 && static_cast<size_t>(size) >= len)
		return static_cast<size_t>(size);
	int grown = fcntl(fd, F_SETPIPE_SZ, static_cast<int>(len));
	if (grown < 0) {
		long max = 0;
		std::ifstream("/proc/sys/fs/pipe-max-size") >> max;
		grown = max > 0 ? fcntl(fd, F_SETPIPE_SZ, static_cast<int>(max)) : -1;
	}
	return grown > 0 ? static_cast<size_t>(grown) : static_cast<size_t>(std::max(size, 0));
}

// The staging pipe of splice_request_observed(), one per thread (libfuse's
// own pipes are per thread too).
struct StagingPipe {
	int fd[2] = {-1, -1};
	size_t size = 0;

	~StagingPipe()
	{
		if (fd[0] >= 0) {
			close(fd[0]);
			close(fd[1]);
		}
	}
	// Whether it exists and holds `len` bytes.
	bool ready(size_t len)
	{
		if (fd[0] < 0 && pipe2(fd, O_CLOEXEC | O_NONBLOCK) != 0)
			return false;
		if (size < len)
			size = grow_pipe(fd[0], len);
		return size >= len;
	}
};

// Writes all of buf into the pipe; false with errno otherwise.
bool write_pipe(int pipe_fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = ::write(pipe_fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= static_cast<size_t>(n);
	}
	return true;
}

} // namespace

void IoOwner::note_reply(const void *out_header)
{
	if (init_reply_error_.load(std::memory_order_relaxed) != kNoReplyYet)
		return;
	fuse_out_header out;
	std::memcpy(&out, out_header, sizeof(out));
	if (out.unique == 0)
		return; // a notification, not a reply
	int expect = kNoReplyYet;
	init_reply_error_.compare_exchange_strong(expect, out.error, std::memory_order_acq_rel);
}

ssize_t IoOwner::on_splice_send(int pipe_fd, int fd, size_t len, unsigned)
{
	return forward_spliced_reply(pipe_fd, fd, len, nullptr);
}

ssize_t IoOwner::forward_spliced_reply(int pipe_fd, int fd, size_t len, const fuse_out_header *header)
{
	thread_local std::vector<char> reply;
	constexpr size_t kHeader = sizeof(fuse_out_header);
	if (len < kHeader) {
		drain_pipe(pipe_fd, len);
		errno = EINVAL;
		return -1;
	}
	reply.resize(len);
	if (header != nullptr)
		std::memcpy(reply.data(), header, kHeader);
	if (!read_pipe(pipe_fd, reply.data() + (header != nullptr ? kHeader : 0), len - (header != nullptr ? kHeader : 0)))
		return -1;
	iovec iov[2] = {{reply.data(), kHeader}, {reply.data() + kHeader, len - kHeader}};
	return on_writev(fd, iov, 2);
}

ssize_t IoOwner::on_splice_receive(int, int, size_t, unsigned)
{
	errno = ENOSYS;
	return -1;
}

bool read_pipe(int pipe_fd, void *dst, size_t len)
{
	char *p = static_cast<char *>(dst);
	while (len > 0) {
		ssize_t n = ::read(pipe_fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0 || errno == EAGAIN)
				errno = EIO; // less in the pipe than libfuse said
			return false;
		}
		p += n;
		len -= static_cast<size_t>(n);
	}
	return true;
}

void drain_pipe(int pipe_fd, size_t len)
{
	char sink[4096];
	while (len > 0) {
		ssize_t n = ::read(pipe_fd, sink, std::min(len, sizeof(sink)));
		if (n <= 0 && errno != EINTR)
			return;
		if (n > 0)
			len -= static_cast<size_t>(n);
	}
}

ssize_t splice_request_observed(int dev_fd, int pipe_fd, size_t len,
				const std::function<void(const char *head, size_t head_len)> &observe)
{
	thread_local StagingPipe staging;
	thread_local std::vector<char> head;
	if (!staging.ready(len)) {
		// No pipe big enough for a whole request (libfuse's own would not
		// be either, and it then reads instead of splicing): read it.
		head.resize(len);
		ssize_t n = ::read(dev_fd, head.data(), len);
		if (n <= 0)
			return n;
		observe(head.data(), static_cast<size_t>(n));
		return write_pipe(pipe_fd, head.data(), static_cast<size_t>(n)) ? n : -1;
	}
	ssize_t n = splice(dev_fd, nullptr, staging.fd[1], nullptr, len, 0);
	if (n <= 0)
		return n;
	size_t total = static_cast<size_t>(n);
	size_t head_len = std::min(total, page_bytes());
	head.resize(head_len);
	if (!read_pipe(staging.fd[0], head.data(), head_len)) {
		drain_pipe(staging.fd[0], total);
		return -1;
	}
	observe(head.data(), head_len);
	if (!write_pipe(pipe_fd, head.data(), head_len)) {
		drain_pipe(staging.fd[0], total - head_len);
		return -1;
	}
	for (size_t rest = total - head_len; rest > 0;) {
		ssize_t m = splice(staging.fd[0], nullptr, pipe_fd, nullptr, rest, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (m < 0 && errno == EINTR)
			continue;
		if (m <= 0) {
			int err = m == 0 ? EIO : errno;
			drain_pipe(staging.fd[0], rest);
			errno = err;
			return -1;
		}
		rest -= static_cast<size_t>(m);
	}
	return n;
}

std::string own_receive_loop_refusal(const char *transport)
{
	return std::string("the program reads requests itself (fuse_session_receive_buf) instead of running "
			   "fuse_session_loop*/fuse_loop*/fuse_main, and the ") +
	       transport + " transport serves only through those loops; use RFUSE_TRANSPORT=fuse" +
	       (std::string(transport) == "uring" ? " (or RFUSE_FALLBACK=1)" : "");
}

const fuse_custom_io *dispatching_io()
{
	static const fuse_custom_io io = {
		.writev = hook_writev,
		.read = hook_read,
		.splice_receive = hook_splice_receive,
		.splice_send = hook_splice_send,
	};
	return &io;
}

void register_io_owner(int fd, IoOwner *owner)
{
	for (OwnerSlot &s : g_slots) {
		int expect = -1;
		if (s.fd.load() == fd || s.fd.compare_exchange_strong(expect, fd)) {
			s.owner.store(owner, std::memory_order_release);
			break;
		}
	}
	g_last_owner.store(owner, std::memory_order_release);
}

void unregister_io_owner(int fd)
{
	for (OwnerSlot &s : g_slots) {
		if (s.fd.load() != fd)
			continue;
		IoOwner *owner = s.owner.exchange(nullptr);
		s.fd.store(-1);
		g_last_owner.compare_exchange_strong(owner, nullptr);
	}
}

void wait_for_session_end(fuse_session *se, sem_t *wake, const std::function<bool()> &gone)
{
	while (!fuse_session_exited(se) && !gone()) {
		timespec deadline {};
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_nsec += 200 * 1000 * 1000;
		if (deadline.tv_nsec >= 1000000000) {
			deadline.tv_sec += 1;
			deadline.tv_nsec -= 1000000000;
		}
		sem_timedwait(wake, &deadline);
	}
}

} // namespace rfuse::detail
