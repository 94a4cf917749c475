// The one pair of custom-io hooks librfuse installs: they find the
// transport serving the fd and hand it the read or the reply.
#include "librfuse_internal.hpp"

#include <ctime>

#include <array>
#include <atomic>
#include <unistd.h>

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
	return o != nullptr ? o->on_writev(fd, iov, count) : ::writev(fd, iov, count);
}

} // namespace

const fuse_custom_io *dispatching_io()
{
	static const fuse_custom_io io = {
		.writev = hook_writev,
		.read = hook_read,
		.splice_receive = nullptr,
		.splice_send = nullptr,
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
