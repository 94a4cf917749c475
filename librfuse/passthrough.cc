#include "passthrough.hpp"

#include "librfuse_internal.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/ioctl.h>
#include <unistd.h>

namespace rfuse::detail {
namespace {

// uapi values Debian 12's <linux/fuse.h> (7.38) lacks (7.40, Linux 6.9).
constexpr std::uint64_t kInitExt = 1ULL << 30;
constexpr std::uint64_t kPassthrough = 1ULL << 37;   // FUSE_PASSTHROUGH
constexpr std::uint32_t kFopenPassthrough = 1U << 7; // FOPEN_PASSTHROUGH
constexpr size_t kMaxStackDepthOffset = 36;          // fuse_init_out.max_stack_depth

struct BackingMap { // struct fuse_backing_map
	std::int32_t fd;
	std::uint32_t flags;
	std::uint64_t padding;
};
constexpr unsigned long kIocBackingOpen = _IOW(229, 1, BackingMap);    // FUSE_DEV_IOC_BACKING_OPEN
constexpr unsigned long kIocBackingClose = _IOW(229, 2, std::uint32_t); // FUSE_DEV_IOC_BACKING_CLOSE

// fuse_open_out with 7.40's backing_id in place of the padding.
struct OpenOut {
	std::uint64_t fh;
	std::uint32_t open_flags;
	std::int32_t backing_id;
};
static_assert(sizeof(OpenOut) == sizeof(fuse_open_out));

} // namespace

Passthrough::~Passthrough()
{
	for (auto &[node, b] : backing_of_node_) {
		std::uint32_t arg = static_cast<std::uint32_t>(b.id);
		ioctl(dev_fd_, kIocBackingClose, &arg);
	}
}

bool Passthrough::patch_init(std::uint64_t kernel_flags, fuse_init_out *reply, size_t len)
{
	if (!(kernel_flags & kPassthrough)) {
		log("RFUSE_PASSTHROUGH=1: the kernel does not offer FUSE_PASSTHROUGH; serving without it");
		return false;
	}
	if (len < kMaxStackDepthOffset + sizeof(std::uint32_t) || (reply->flags & FUSE_WRITEBACK_CACHE)) {
		log("RFUSE_PASSTHROUGH=1: not possible with this INIT reply (writeback cache?); serving without it");
		return false;
	}
	reply->flags |= static_cast<std::uint32_t>(kInitExt);
	reply->flags2 |= static_cast<std::uint32_t>(kPassthrough >> 32);
	// Backing files may sit on a filesystem with no stacking below it.
	std::uint32_t depth = 1;
	std::memcpy(reinterpret_cast<char *>(reply) + kMaxStackDepthOffset, &depth, sizeof(depth));
	active_ = true;
	return true;
}

void Passthrough::on_reply(std::uint32_t opcode, std::uint64_t nodeid, char *payload, size_t len)
{
	if (!active_ || (opcode != FUSE_OPEN && opcode != FUSE_CREATE))
		return;
	size_t at = 0;
	if (opcode == FUSE_CREATE) {
		if (len < sizeof(fuse_entry_out))
			return;
		fuse_entry_out entry;
		std::memcpy(&entry, payload, sizeof(entry));
		nodeid = entry.nodeid; // the new file, not the directory
		at = sizeof(fuse_entry_out);
	}
	if (len < at + sizeof(OpenOut))
		return;
	OpenOut out;
	std::memcpy(&out, payload + at, sizeof(out));

	std::lock_guard<std::mutex> g(lock_);
	auto it = backing_of_node_.find(nodeid);
	if (it == backing_of_node_.end()) {
		// The open's own fd may be read- or write-only; the inode's
		// backing file serves every later open too.
		int fd = static_cast<int>(out.fh);
		int rw = open(("/proc/self/fd/" + std::to_string(fd)).c_str(), O_RDWR | O_CLOEXEC);
		BackingMap map {};
		map.fd = rw >= 0 ? rw : fd;
		int id = ioctl(dev_fd_, kIocBackingOpen, &map);
		int err = errno;
		if (rw >= 0)
			close(rw); // the kernel holds its own reference
		if (id <= 0) {
			if (refused_.fetch_add(1, std::memory_order_relaxed) == 0)
				log("FUSE_DEV_IOC_BACKING_OPEN(fd %d): %s; such opens are served without passthrough",
				    fd, std::strerror(err));
			return;
		}
		it = backing_of_node_.emplace(nodeid, Backing{id, 0}).first;
	}
	it->second.open_files++;
	node_of_fh_[out.fh] = nodeid;
	out.open_flags |= kFopenPassthrough;
	out.backing_id = it->second.id;
	std::memcpy(payload + at, &out, sizeof(out));
	opens_.fetch_add(1, std::memory_order_relaxed);
}

void Passthrough::on_request(const fuse_in_header &in, const void *op_args, size_t op_len)
{
	if (!active_ || in.opcode != FUSE_RELEASE || op_len < sizeof(fuse_release_in))
		return;
	fuse_release_in rel;
	std::memcpy(&rel, op_args, sizeof(rel));
	std::lock_guard<std::mutex> g(lock_);
	auto fh = node_of_fh_.find(rel.fh);
	if (fh == node_of_fh_.end())
		return;
	auto it = backing_of_node_.find(fh->second);
	node_of_fh_.erase(fh);
	if (it == backing_of_node_.end() || --it->second.open_files > 0)
		return;
	std::uint32_t arg = static_cast<std::uint32_t>(it->second.id);
	ioctl(dev_fd_, kIocBackingClose, &arg);
	backing_of_node_.erase(it);
}

} // namespace rfuse::detail
