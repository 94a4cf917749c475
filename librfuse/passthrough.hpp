// FUSE passthrough (Linux 6.9+), opt-in with RFUSE_PASSTHROUGH=1, for
// filesystems that keep the backing file's descriptor in fi->fh (StackFS):
// a successful OPEN/CREATE reply gets FOPEN_PASSTHROUGH and a backing_id, so
// the kernel does the file's reads and writes on the backing file itself.
// The kernel allows one backing file per inode, so backing ids are per
// inode (nodeid), counted by open files: the first open registers a
// read-write reopen of its fd (FUSE_DEV_IOC_BACKING_OPEN; the fd itself may
// be write-only), later ones reuse the id, the last RELEASE drops it.
// libfuse 3.14 knows nothing of this: like the io_uring flag, it is patched
// into the replies by the transports' writev hooks. Needs CAP_SYS_ADMIN; a
// refused BACKING_OPEN leaves that open normal.
#pragma once

#include <linux/fuse.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace rfuse::detail {

class Passthrough {
public:
	explicit Passthrough(int dev_fd) : dev_fd_(dev_fd) {}
	~Passthrough();

	// INIT: `kernel_flags` from the request (flags | flags2 << 32); patches
	// libfuse's reply (a modifiable copy of `len` bytes) when the kernel
	// offers passthrough. Returns whether it did.
	bool patch_init(std::uint64_t kernel_flags, fuse_init_out *reply, size_t len);
	// A successful reply to a request `opcode` on inode `nodeid`; `payload`
	// is the reply after its fuse_out_header (modifiable). Attaches the
	// backing file for OPEN/CREATE.
	void on_reply(std::uint32_t opcode, std::uint64_t nodeid, char *payload, size_t len);
	// A request arrived: a RELEASE drops the backing id of its fh.
	void on_request(const fuse_in_header &in, const void *op_args, size_t op_len);

	bool active() const { return active_; }
	std::uint64_t opens() const { return opens_.load(std::memory_order_relaxed); }
	std::uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }

private:
	int dev_fd_;
	bool active_ = false; // the kernel accepted passthrough in INIT
	struct Backing {
		int id;
		unsigned open_files;
	};
	std::mutex lock_;
	std::unordered_map<std::uint64_t, Backing> backing_of_node_;
	std::unordered_map<std::uint64_t, std::uint64_t> node_of_fh_;
	std::atomic<std::uint64_t> opens_{0};
	std::atomic<std::uint64_t> refused_{0};
};

} // namespace rfuse::detail
