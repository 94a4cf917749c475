// The `fuse` transport: classic /dev/fuse served by libfuse's own mount,
// loops and unmount. The only addition is the custom-io hooks: plain
// read(2)/writev(2) plus a request counter for the statistics file, and
// splice as libfuse itself would do it (replies: splice(2) from libfuse's
// pipe to the device; requests: splice through a staging pipe so that the
// counter sees each request's header).
#include "librfuse_internal.hpp"
#include "passthrough.hpp"

#include <cstring>
#include <linux/fuse.h>
#include <mutex>
#include <sys/uio.h>
#include <unordered_map>
#include <vector>
#include <unistd.h>

namespace rfuse::detail {
namespace {

class FuseTransport final : public Transport, public IoOwner {
public:
	explicit FuseTransport(const TransportOptions &opts) : opts_(opts) {}
	~FuseTransport() override
	{
		if (fd_ >= 0)
			unregister_io_owner(fd_);
	}

	const char *name() const override { return "fuse"; }

	int mount(fuse_session *se, const char *mountpoint) override
	{
		return mount_dev_fuse(se, mountpoint, opts_, this, &fd_, &passthrough_);
	}

	int loop(fuse_session *, unsigned) override { return kServeWithLibfuse; }

	void unmount(fuse_session *se) override { real().session_unmount(se); }

	TransportStats stats() const override
	{
		TransportStats s;
		s.used = "fuse";
		counters_.report(passthrough_.get(), &s);
		return s;
	}

	ssize_t on_read(int fd, void *buf, size_t len) override
	{
		ssize_t n = ::read(fd, buf, len);
		if (n > 0)
			observe_request(static_cast<const char *>(buf), static_cast<size_t>(n));
		return n;
	}

	ssize_t on_splice_receive(int fd, int pipe_fd, size_t len, unsigned) override
	{
		return splice_request_observed(fd, pipe_fd, len,
					       [this](const char *head, size_t n) { observe_request(head, n); });
	}

	// Only data replies take this path (OPEN/CREATE/INIT replies, which
	// passthrough patches, are too short to be spliced).
	ssize_t on_splice_send(int pipe_fd, int fd, size_t len, unsigned flags) override
	{
		return splice(pipe_fd, nullptr, fd, nullptr, len, flags);
	}

	ssize_t on_writev(int fd, struct iovec *iov, int count) override
	{
		if (passthrough_)
			return writev_with_passthrough(fd, iov, count);
		return ::writev(fd, iov, count);
	}

private:
	// A request read from the device (`len` bytes of it, at least its
	// headers): counted, and noted for the passthrough.
	void observe_request(const char *buf, size_t len)
	{
		if (len < sizeof(fuse_in_header))
			return;
		counters_.count_dev_fuse(buf);
		if (passthrough_)
			note_for_passthrough(buf, len);
	}

	// Remembers what the passthrough patches need: INIT's flags, which
	// uniques are OPEN/CREATE; RELEASE drops its backing id.
	void note_for_passthrough(const char *buf, size_t len)
	{
		const auto *in = reinterpret_cast<const fuse_in_header *>(buf);
		if (in->opcode == FUSE_INIT && len >= sizeof(*in) + sizeof(fuse_init_in)) {
			const auto *arg = reinterpret_cast<const fuse_init_in *>(in + 1);
			std::uint64_t flags = arg->flags;
			if (flags & FUSE_INIT_EXT)
				flags |= static_cast<std::uint64_t>(arg->flags2) << 32;
			std::lock_guard<std::mutex> g(pending_lock_);
			init_unique_ = in->unique;
			init_flags_ = flags;
		} else if (in->opcode == FUSE_OPEN || in->opcode == FUSE_CREATE) {
			std::lock_guard<std::mutex> g(pending_lock_);
			pending_open_[in->unique] = {in->opcode, in->nodeid};
		} else {
			passthrough_->on_request(*in, in + 1, len - sizeof(*in));
		}
	}

	ssize_t writev_with_passthrough(int fd, struct iovec *iov, int count)
	{
		const auto *out = static_cast<const fuse_out_header *>(iov[0].iov_base);
		std::uint32_t opcode = 0;
		std::uint64_t nodeid = 0;
		{
			std::lock_guard<std::mutex> g(pending_lock_);
			if (out->unique != 0 && out->unique == init_unique_) {
				opcode = FUSE_INIT;
			} else if (auto it = pending_open_.find(out->unique); it != pending_open_.end()) {
				opcode = it->second.first;
				nodeid = it->second.second;
				pending_open_.erase(it);
			}
		}
		if (opcode == 0 || out->error != 0 || count < 2)
			return ::writev(fd, iov, count);
		// One modifiable copy of the reply's payload.
		std::vector<char> payload;
		for (int i = 1; i < count; ++i) {
			const char *p = static_cast<const char *>(iov[i].iov_base);
			payload.insert(payload.end(), p, p + iov[i].iov_len);
		}
		if (opcode == FUSE_INIT) {
			fuse_init_out arg {};
			std::memcpy(&arg, payload.data(), std::min(payload.size(), sizeof(arg)));
			if (passthrough_->patch_init(init_flags_, &arg, payload.size()))
				std::memcpy(payload.data(), &arg, std::min(payload.size(), sizeof(arg)));
		} else {
			passthrough_->on_reply(opcode, nodeid, payload.data(), payload.size());
		}
		iovec patched[2] = {iov[0], {payload.data(), payload.size()}};
		return ::writev(fd, patched, 2);
	}

	TransportOptions opts_;
	int fd_ = -1;
	std::unique_ptr<Passthrough> passthrough_;
	std::mutex pending_lock_;
	// OPEN/CREATE awaiting replies: unique -> (opcode, nodeid)
	std::unordered_map<std::uint64_t, std::pair<std::uint32_t, std::uint64_t>> pending_open_;
	std::uint64_t init_unique_ = 0;
	std::uint64_t init_flags_ = 0;
	RequestCounters counters_;
};

} // namespace

int mount_dev_fuse(fuse_session *se, const char *mountpoint, const TransportOptions &opts, IoOwner *owner,
		   int *fd, std::unique_ptr<Passthrough> *passthrough)
{
	if (real().session_mount(se, mountpoint) != 0)
		return -1;
	*fd = fuse_session_fd(se);
	if (opts.passthrough)
		*passthrough = std::make_unique<Passthrough>(*fd);
	register_io_owner(*fd, owner);
	if (int rc = fuse_session_custom_io(se, dispatching_io(), *fd); rc != 0) {
		log("fuse_session_custom_io failed (%d)", rc);
		real().session_unmount(se);
		return -1;
	}
	return 0;
}

std::unique_ptr<Transport> make_fuse_transport(const TransportOptions &opts)
{
	return std::make_unique<FuseTransport>(opts);
}

} // namespace rfuse::detail
