// The `fuse` transport: classic /dev/fuse served by libfuse's own mount,
// loops and unmount. The only addition is a pair of custom-io hooks that are
// plain read(2)/writev(2) plus a request counter for the statistics file
// (libfuse then leaves splice off, which it does by default anyway).
#include "librfuse_internal.hpp"

#include <linux/fuse.h>
#include <sys/uio.h>
#include <unistd.h>

namespace rfuse::detail {
namespace {

class FuseTransport final : public Transport, public IoOwner {
public:
	~FuseTransport() override
	{
		if (fd_ >= 0)
			unregister_io_owner(fd_);
	}

	const char *name() const override { return "fuse"; }

	int mount(fuse_session *se, const char *mountpoint) override
	{
		if (real().session_mount(se, mountpoint) != 0)
			return -1;
		fd_ = fuse_session_fd(se);
		register_io_owner(fd_, this);
		if (int rc = fuse_session_custom_io(se, dispatching_io(), fd_); rc != 0) {
			log("fuse_session_custom_io failed (%d)", rc);
			real().session_unmount(se);
			return -1;
		}
		return 0;
	}

	int loop(fuse_session *, unsigned) override { return kServeWithLibfuse; }

	void unmount(fuse_session *se) override { real().session_unmount(se); }

	TransportStats stats() const override
	{
		return TransportStats{"fuse", {}, 0, requests_.load(std::memory_order_relaxed), {},
				      forgets_.load(std::memory_order_relaxed)};
	}

	ssize_t on_read(int fd, void *buf, size_t len) override
	{
		ssize_t n = ::read(fd, buf, len);
		if (n >= static_cast<ssize_t>(sizeof(fuse_in_header))) {
			requests_.fetch_add(1, std::memory_order_relaxed);
			if (is_forget(static_cast<const fuse_in_header *>(buf)->opcode))
				forgets_.fetch_add(1, std::memory_order_relaxed);
		}
		return n;
	}

	ssize_t on_writev(int fd, struct iovec *iov, int count) override
	{
		return ::writev(fd, iov, count);
	}

private:
	int fd_ = -1;
	std::atomic<std::uint64_t> requests_{0};
	std::atomic<std::uint64_t> forgets_{0};
};

} // namespace

std::unique_ptr<Transport> make_fuse_transport()
{
	return std::make_unique<FuseTransport>();
}

} // namespace rfuse::detail
