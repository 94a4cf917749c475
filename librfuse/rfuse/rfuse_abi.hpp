// The kernel's shared-memory ABI (rfuse-kmod/include/uapi/rfuse.h) plus the
// few helpers userspace needs to touch it with the right memory ordering.
#pragma once

#include "../../rfuse-kmod/include/uapi/rfuse.h"

#include <atomic>
#include <cstdint>
#include <ctime>

namespace rfuse::abi {

// Fields the other side writes concurrently are accessed only through these.
inline std::uint32_t load_acquire(const std::uint32_t &v)
{
	return std::atomic_ref<const std::uint32_t>(v).load(std::memory_order_acquire);
}
inline std::uint32_t load_relaxed(const std::uint32_t &v)
{
	return std::atomic_ref<const std::uint32_t>(v).load(std::memory_order_relaxed);
}
inline void store_release(std::uint32_t &v, std::uint32_t x)
{
	std::atomic_ref<std::uint32_t>(v).store(x, std::memory_order_release);
}
inline bool compare_exchange(std::uint32_t &v, std::uint32_t expected, std::uint32_t desired)
{
	return std::atomic_ref<std::uint32_t>(v).compare_exchange_strong(expected, desired,
									 std::memory_order_acq_rel);
}

// Tracing stamps (rfuse_slot_ctl fetched_ns/replied_ns): CLOCK_MONOTONIC,
// the clock of the trace's "mono" timestamps.
inline void stamp_now(__u64 &v)
{
	timespec ts {};
	clock_gettime(CLOCK_MONOTONIC, &ts);
	std::atomic_ref<__u64>(v).store(__u64(ts.tv_sec) * 1000000000ULL + __u64(ts.tv_nsec),
					std::memory_order_relaxed);
}

// One mapped ring, with pointers computed from the kernel's layout.
struct RingView {
	std::uint8_t *base = nullptr;
	std::size_t bytes = 0;
	rfuse_ring_ctl *ctl = nullptr;
	std::uint32_t *pending = nullptr;
	rfuse_forget_entry *forgets = nullptr;
	std::uint64_t *intrs = nullptr;

	rfuse_slot_ctl *slot(const rfuse_info &info, std::uint32_t id) const
	{
		return reinterpret_cast<rfuse_slot_ctl *>(base + info.slots_off +
							  std::size_t(id) * info.slot_size);
	}
	// Whether [off, off + len) lies inside the ring (the daemon checks what
	// the kernel wrote too: a kernel bug must not become a wild write here).
	bool contains(std::uint64_t off, std::uint64_t len) const
	{
		return off <= bytes && len <= bytes - off;
	}
};

inline RingView make_ring_view(const rfuse_info &info, void *base)
{
	RingView v;
	v.base = static_cast<std::uint8_t *>(base);
	v.bytes = info.ring_bytes;
	v.ctl = reinterpret_cast<rfuse_ring_ctl *>(v.base + info.ctl_off);
	v.pending = reinterpret_cast<std::uint32_t *>(v.base + info.pending_off);
	v.forgets = reinterpret_cast<rfuse_forget_entry *>(v.base + info.forget_off);
	v.intrs = reinterpret_cast<std::uint64_t *>(v.base + info.intr_off);
	return v;
}

} // namespace rfuse::abi
