// RawDaemon: a FUSE daemon in a thread of a test that mounts with a raw
// /dev/rfuse fd and answers from the shared memory itself, so that a test
// decides exactly when and how each request ends (rfuse_kmod_test's review
// tests) or answers with garbage on purpose (rfuse_fuzz). INIT does not
// negotiate FUSE_MAX_PAGES (fuse keeps its default max_pages); it asks for
// big writes and parallel lookups in a directory. Unless the test's handler
// answers them, the root and an empty regular file "f" (ino 2) exist.
//
// The daemon keeps its own consumer index of each pending ring (what it
// stores in pending_tail): a test may write anything into the shared
// memory, pending_tail included, without losing requests. What the kernel
// wrote into a slot is checked before it is used (ids, offsets, lengths
// inside the ring); a slot that fails is counted in malformed() and skipped.
// A pending ring can only run over when a test lets the kernel end requests
// the daemon has not taken yet (a done flag set on someone else's slot lets
// its poller take it, and the slot comes back at once): then the daemon
// also looks for requests in the ring's slots whose unique it has not seen.
#pragma once

#include "librfuse/rfuse/rfuse_abi.hpp"

#include <linux/fuse.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <stdexcept>
#include <string>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace rfuse_test {

struct RawReq {
	unsigned ring = 0;
	std::uint32_t slot = 0;
	rfuse_slot_ctl *sc = nullptr;
	fuse_in_header ih {};
	const std::uint8_t *arg = nullptr; // after the in header
	std::uint32_t arg_len = 0;         // in_len less the in header
	fuse_out_header *oh = nullptr;
	std::uint8_t *out = nullptr; // reply payload
	std::uint32_t out_cap = 0;
	std::uint32_t asleep_at_pickup = 0; // waiter_asleep when the daemon took it
};

class RawDaemon {
public:
	enum class Act { Default, Reply, Hold };
	using Handler = std::function<Act(RawDaemon &, RawReq &)>;
	// Called by the serving thread after every pass over the rings (busy
	// or idle): late completions, ring games, notifications.
	using Tick = std::function<void(RawDaemon &)>;

	RawDaemon(const std::string &mnt, const std::string &extra_opts, Handler handler, Tick tick = {})
		: mnt_(mnt), handler_(std::move(handler)), tick_(std::move(tick))
	{
		using namespace std::chrono_literals;
		fd_ = open("/dev/rfuse", O_RDWR);
		if (fd_ < 0)
			throw std::runtime_error(std::string("open /dev/rfuse: ") + std::strerror(errno));
		std::string opts = "fd=" + std::to_string(fd_) + ",rootmode=40000,user_id=0,group_id=0" + extra_opts;
		if (::mount("raw", mnt.c_str(), "rfuse", 0, opts.c_str()) != 0) {
			int err = errno;
			close(fd_);
			throw std::runtime_error(std::string("mount: ") + std::strerror(err));
		}
		mounted_ = true;
		try {
			if (ioctl(fd_, RFUSE_IOC_GET_INFO, &info_) != 0)
				throw std::runtime_error(std::string("RFUSE_IOC_GET_INFO: ") + std::strerror(errno));
			for (unsigned r = 0; r < info_.nr_rings; r++) {
				void *p = mmap(nullptr, info_.ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd_,
					       off_t(RFUSE_RING_MMAP_OFFSET(r)));
				if (p == MAP_FAILED)
					throw std::runtime_error(std::string("mmap: ") + std::strerror(errno));
				rings_.push_back(rfuse::abi::make_ring_view(info_, p));
				tails_.push_back(rfuse::abi::load_relaxed(rings_.back().ctl->pending_tail));
			}
			seen_.assign(std::size_t(info_.nr_rings) * info_.nr_slots, 0);
			thread_ = std::thread([this] { serve(); });
			auto end = std::chrono::steady_clock::now() + 20s;
			while (!initialized_.load() && std::chrono::steady_clock::now() < end)
				std::this_thread::sleep_for(1ms);
			if (!initialized_.load())
				throw std::runtime_error("INIT never came");
		} catch (...) {
			cleanup();
			throw;
		}
	}
	~RawDaemon() { cleanup(); }
	RawDaemon(const RawDaemon &) = delete;
	RawDaemon &operator=(const RawDaemon &) = delete;

	int fd() const { return fd_; }
	const rfuse_info &info() const { return info_; }
	unsigned nr_rings() const { return unsigned(rings_.size()); }
	rfuse::abi::RingView &ring(unsigned r) { return rings_[r]; }
	// The daemon's own consumer index of ring r's pending entries (what it
	// last stored in pending_tail); for the serving thread's callbacks.
	std::uint32_t consumed(unsigned r) const { return tails_[r]; }
	// Slots skipped because what the kernel wrote there did not check out,
	// and pending entries lost because the ring ran over.
	long malformed() const { return malformed_.load(); }
	long overruns() const { return overruns_.load(); }
	// Requests found by looking at the slots after an overrun.
	long rescanned() const { return rescanned_.load(); }
	// Requests whose header's unique differed from the slot's (the slot's
	// was used).
	long mismatched() const { return mismatched_.load(); }

	// Stops serving and closes the device: the last reference aborts the
	// connection (waiting and new requests fail). A mapping holds the file
	// too: with `close_first`, the fd goes first and the abort comes with
	// the last munmap(). Idempotent.
	void close_device(bool close_first = false)
	{
		stop_.store(true);
		if (thread_.joinable())
			thread_.join();
		if (close_first && fd_ >= 0) {
			close(fd_);
			fd_ = -1;
		}
		for (auto &r : rings_)
			munmap(r.base, r.bytes);
		rings_.clear();
		if (fd_ >= 0)
			close(fd_);
		fd_ = -1;
	}
	// umount2(flags) of the mount point; 0 or errno. After a success the
	// destructor leaves the mount point alone.
	int unmount(int flags = 0)
	{
		if (!mounted_)
			return 0;
		if (umount2(mnt_.c_str(), flags) != 0)
			return errno;
		mounted_ = false;
		return 0;
	}

	static void reply(RawReq &q, int error, const void *data = nullptr, std::size_t n = 0)
	{
		q.oh->unique = q.ih.unique;
		q.oh->error = error;
		q.oh->len = std::uint32_t(sizeof(fuse_out_header) + n);
		if (n)
			std::memcpy(q.out, data, n);
	}
	// Publishes the reply written into q; the ioctl's result when the
	// kernel asked for one (else 0), -1000 when it did not.
	int finish(const RawReq &q, bool always_ioctl = false)
	{
		rfuse::abi::store_release(q.sc->done, 1);
		std::atomic_thread_fence(std::memory_order_seq_cst);
		if (!always_ioctl && rfuse::abi::load_relaxed(q.sc->waiter_asleep) == 0)
			return -1000;
		rfuse_complete c {q.ring, q.slot, q.ih.unique};
		return ioctl(fd_, RFUSE_IOC_COMPLETE, &c) == 0 ? 0 : errno;
	}

	// What serve() does with a request no handler answered.
	static Act by_default(RawReq &q)
	{
		if (q.ih.opcode == FUSE_INIT) {
			fuse_init_out out {};
			out.major = FUSE_KERNEL_VERSION;
			out.minor = 31;
			out.max_readahead = 128 << 10;
			out.max_write = 128 << 10;
			out.flags = FUSE_BIG_WRITES | FUSE_PARALLEL_DIROPS;
			out.time_gran = 1;
			reply(q, 0, &out, sizeof(out));
			return Act::Reply;
		}
		if (q.ih.opcode == FUSE_GETATTR && (q.ih.nodeid == FUSE_ROOT_ID || q.ih.nodeid == 2)) {
			fuse_attr_out out {};
			out.attr.ino = q.ih.nodeid;
			out.attr.mode = q.ih.nodeid == 2 ? S_IFREG | 0644 : S_IFDIR | 0755;
			out.attr.nlink = q.ih.nodeid == 2 ? 1 : 2;
			out.attr_valid = 3600;
			reply(q, 0, &out, sizeof(out));
			return Act::Reply;
		}
		if (q.ih.opcode == FUSE_LOOKUP && q.arg_len >= 2 && std::strcmp(reinterpret_cast<const char *>(q.arg), "f") == 0) {
			fuse_entry_out out {};
			out.nodeid = 2;
			out.entry_valid = 3600;
			out.attr_valid = 3600;
			out.attr.ino = 2;
			out.attr.mode = S_IFREG | 0644;
			out.attr.nlink = 1;
			reply(q, 0, &out, sizeof(out));
			return Act::Reply;
		}
		reply(q, q.ih.opcode == FUSE_LOOKUP ? -ENOENT : -ENOSYS);
		return Act::Reply;
	}

	// Fills q from what the kernel wrote into slot `slot` of ring r (for
	// a daemon that looks at a slot without a pending entry); false when
	// it does not describe a request inside the ring.
	bool read_slot(unsigned r, std::uint32_t slot, RawReq &q) { return take(r, slot, q); }

private:
	void cleanup()
	{
		close_device();
		if (mounted_)
			umount2(mnt_.c_str(), MNT_DETACH);
		mounted_ = false;
	}

	// Fills q from slot `slot` of ring r; false when the slot's contents
	// do not describe a request inside the ring.
	bool take(unsigned r, std::uint32_t slot, RawReq &q)
	{
		auto &ring = rings_[r];
		if (slot >= info_.nr_slots)
			return false;
		q.ring = r;
		q.slot = slot;
		q.sc = ring.slot(info_, slot);
		q.asleep_at_pickup = rfuse::abi::load_relaxed(q.sc->waiter_asleep);
		std::uint32_t in_off = q.sc->in_off, in_len = q.sc->in_len;
		std::uint32_t out_off = q.sc->out_off, out_cap = q.sc->out_cap;
		if (in_len < sizeof(fuse_in_header) || !ring.contains(in_off, in_len) ||
		    out_cap < sizeof(fuse_out_header) || !ring.contains(out_off, out_cap))
			return false;
		std::memcpy(&q.ih, ring.base + in_off, sizeof(q.ih));
		// the slot's own copy of the unique: request bytes in an argument
		// slot may have been overwritten by a test scribbling on old slots
		std::uint64_t unique = q.sc->unique;
		if (q.ih.unique != unique) {
			mismatched_++;
			q.ih.unique = unique;
		}
		q.arg = ring.base + in_off + sizeof(fuse_in_header);
		q.arg_len = in_len - std::uint32_t(sizeof(fuse_in_header));
		q.oh = reinterpret_cast<fuse_out_header *>(ring.base + out_off);
		q.out = ring.base + out_off + sizeof(fuse_out_header);
		q.out_cap = out_cap;
		return true;
	}

	void handle(RawReq &q)
	{
		seen_[std::size_t(q.ring) * info_.nr_slots + q.slot] = q.ih.unique;
		Act act = handler_ ? handler_(*this, q) : Act::Default;
		if (act == Act::Default)
			act = by_default(q);
		if (act == Act::Reply)
			finish(q);
		if (q.ih.opcode == FUSE_INIT)
			initialized_.store(true);
	}

	// After an overrun: requests in ring r's slots whose pending entry was
	// overwritten (a unique the daemon has not taken from that slot).
	// One that is still being published is taken early: the daemon answers
	// it twice, harmlessly.
	void rescan(unsigned r)
	{
		for (std::uint32_t s = 0; s < info_.nr_slots; s++) {
			std::uint64_t unique = rings_[r].slot(info_, s)->unique;
			RawReq q;
			if (unique == 0 || unique == seen_[std::size_t(r) * info_.nr_slots + s] || !take(r, s, q))
				continue;
			rescanned_++;
			handle(q);
		}
	}

	void serve()
	{
		using namespace std::chrono_literals;
		const std::uint32_t entries = info_.pending_entries;
		while (!stop_.load()) {
			bool idle = true;
			for (unsigned r = 0; r < rings_.size(); r++) {
				auto &ring = rings_[r];
				std::uint32_t head = rfuse::abi::load_acquire(ring.ctl->pending_head);
				std::uint32_t &tail = tails_[r];
				if (head == tail)
					continue;
				idle = false;
				if (head - tail > entries) {
					overruns_ += head - tail - entries;
					tail = head - entries;
					rescan(r);
				}
				std::uint32_t slot = ring.pending[tail & (entries - 1)];
				tail++;
				rfuse::abi::store_release(ring.ctl->pending_tail, tail);
				RawReq q;
				if (!take(r, slot, q)) {
					malformed_++;
					continue;
				}
				handle(q);
			}
			if (tick_)
				tick_(*this);
			if (idle)
				std::this_thread::sleep_for(50us);
		}
	}

	std::string mnt_;
	Handler handler_;
	Tick tick_;
	int fd_ = -1;
	bool mounted_ = false;
	rfuse_info info_ {};
	std::vector<rfuse::abi::RingView> rings_;
	std::vector<std::uint32_t> tails_;
	std::atomic<bool> stop_ {false}, initialized_ {false};
	std::atomic<long> malformed_ {0}, overruns_ {0}, mismatched_ {0}, rescanned_ {0};
	std::vector<std::uint64_t> seen_; // per slot: the unique last taken from it
	std::thread thread_;
};

} // namespace rfuse_test
