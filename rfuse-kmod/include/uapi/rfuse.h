/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note OR BSD-2-Clause */
/*
 * RFUSE: the shared-memory ABI between rfuse.ko and a FUSE daemon.
 *
 * A mount of type "rfuse" carries the FUSE protocol of <linux/fuse.h> over
 * per-CPU ring channels instead of /dev/fuse reads and writes. The daemon
 * opens /dev/rfuse, passes the fd in the mount options (fd=N), asks for the
 * layout with RFUSE_IOC_GET_INFO and maps each ring with mmap() at offset
 * RFUSE_RING_MMAP_OFFSET(ring): MAP_SHARED only (else EINVAL), never
 * executable (PROT_EXEC: EPERM; mprotect() cannot add it), and a fork()ed
 * child does not inherit the mapping. Everything in a ring's memory is
 * named by logical ids (ring index, slot index, byte offsets from the ring
 * base); no kernel address or kernel lock lives there. The kernel reads any
 * value the daemon may write exactly once and checks it.
 *
 * Ring memory (offsets from RFUSE_IOC_GET_INFO, all page aligned):
 *   ctl_off      struct rfuse_ring_ctl: producer/consumer indexes
 *   pending_off  __u32[pending_entries]: header slot ids, kernel -> daemon
 *   forget_off   struct rfuse_forget_entry[forget_entries]: kernel -> daemon
 *   intr_off     __u64[intr_entries]: uniques of interrupted requests
 *   slots_off    header slots, slot_size bytes each: struct rfuse_slot_ctl
 *                then inline room for small requests and replies
 *   args_off     argument slots, arg_slot_size bytes each, for payloads
 *                that do not fit inline (reads, writes, readdir, ...)
 *
 * Request life (header slot s of ring r):
 *  1. The kernel fills slot s (request bytes at in_off, in_len bytes: a
 *     struct fuse_in_header and its arguments), sets done = 0, then stores
 *     s at pending[head % pending_entries] and releases head + 1.
 *  2. A daemon worker acquires pending_head, takes the entries between
 *     pending_tail and it (advancing pending_tail with compare-and-swap when
 *     several workers share a ring) and processes the request in place.
 *  3. The reply (struct fuse_out_header + data, at most out_cap bytes) goes
 *     to out_off. Then the daemon stores done = 1 with release semantics,
 *     issues a full memory barrier, and reads waiter_asleep: when it is
 *     non-zero it must call RFUSE_IOC_COMPLETE { r, s, unique }.
 *     The kernel side stores waiter_asleep = 1, issues a full barrier and
 *     reads done, so at least one side sees the other (no lost wake-up).
 *     Optionally, for tracing only, the daemon first stores the
 *     CLOCK_MONOTONIC time (ns) at which it took the request in fetched_ns
 *     and the time at which its reply was complete in replied_ns; the
 *     kernel zeroes both in step 1 and only reports them in the
 *     rfuse_req_completed tracepoint (0: not recorded), never acting on
 *     them.
 *  4. Forgets and interrupts carry no reply: the daemon advances
 *     forget_tail / intr_tail after consuming entries.
 * Polling: a caller whose CPU has no worker of the ring pinned to it (the
 * kernel notes the CPU of a worker pinned to one CPU when it enters
 * RFUSE_IOC_WAIT) spins on done for info.poll_us before it sleeps; a caller
 * on such a worker's CPU only lets that worker run (when waking it
 * preempted the caller) and otherwise sleeps at once. A worker may poll its
 * ring for poll_us before RFUSE_IOC_WAIT, but should not after serving a
 * request whose caller_cpu is its own CPU: that caller needs the CPU.
 * Daemon workers that find nothing to do call RFUSE_IOC_WAIT { r }, which
 * sleeps until ring r has work; it fails with ENODEV once the connection
 * is gone (unmounted or aborted): the daemon should then exit; EINTR on a
 * signal. RFUSE_IOC_COMPLETE fails with EINVAL, changing nothing, for a
 * slot or unique not in flight (also when the polling caller already took
 * the reply: harmless). The kernel fails a request with EIO when its reply
 * is malformed: wrong unique, error outside -511..0, an error with a
 * payload, or a length other than what the request allows.
 *
 * Notifications (FUSE_NOTIFY_*: struct fuse_out_header with unique 0 and
 * the code in error, then the argument, as on /dev/fuse) are write()n to
 * the bound /dev/rfuse fd; fuse.ko applies them, and its errors (EINVAL for
 * a malformed one, ENOENT for an unknown inode or entry) are write()'s.
 * write() takes nothing else: a non-zero unique fails with EINVAL (replies
 * go into slots), an fd no mount has bound fails with ENODEV. The
 * FUSE_NOTIFY_REPLY request that answers FUSE_NOTIFY_RETRIEVE arrives in a
 * slot like any request, with the daemon's notify_unique; it has no reply
 * in FUSE, but here the daemon must still end it with a bare struct
 * fuse_out_header (error 0) to give the slot back.
 *
 * Closing the /dev/rfuse fd aborts the connection (ENOTCONN for new
 * requests, ECONNABORTED for those in flight), as when a /dev/fuse daemon
 * dies. Counters: /sys/class/misc/rfuse/. Tracepoints: rfuse:*.
 */
#ifndef _UAPI_LINUX_RFUSE_H
#define _UAPI_LINUX_RFUSE_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define RFUSE_ABI_VERSION	2
#define RFUSE_DEVICE_NAME	"rfuse"
#define RFUSE_FS_TYPE		"rfuse"

/* mmap() offset of ring r's memory; a mapping covers one whole ring */
#define RFUSE_RING_MMAP_SHIFT	32
#define RFUSE_RING_MMAP_OFFSET(r) ((__u64)(r) << RFUSE_RING_MMAP_SHIFT)

/* Each index lives in its own cache line: one writer per line. */
struct rfuse_ring_ctl {
	/* written by the kernel */
	__u32 pending_head;
	__u32 forget_head;
	__u32 intr_head;
	__u32 cpu;		/* the CPU this ring serves first (for pinning) */
	__u32 kernel_pad[12];
	/* written by the daemon */
	__u32 pending_tail;
	__u32 pending_pad[15];
	__u32 forget_tail;
	__u32 forget_pad[15];
	__u32 intr_tail;
	__u32 intr_pad[15];
};

struct rfuse_forget_entry {
	__u64 nodeid;
	__u64 nlookup;
};

/* At the start of every header slot. */
struct rfuse_slot_ctl {
	__u32 done;		/* daemon: 1 once the reply is complete */
	__u32 waiter_asleep;	/* kernel: 1 -> daemon calls RFUSE_IOC_COMPLETE */
	__u32 in_off;		/* kernel: request bytes, from the ring base */
	__u32 in_len;
	__u32 out_off;		/* kernel: where the reply goes, from the ring base */
	__u32 out_cap;		/* kernel: the largest reply accepted */
	__u64 unique;		/* kernel: the request's unique */
	__u32 caller_cpu;	/* kernel: the CPU that published it */
	__u32 reserved0;
	__u64 fetched_ns;	/* daemon, optional: CLOCK_MONOTONIC at pick-up */
	__u64 replied_ns;	/* daemon, optional: CLOCK_MONOTONIC before done */
	__u32 reserved[2];
};

/* RFUSE_IOC_GET_INFO: the layout of this connection's rings. */
struct rfuse_info {
	__u32 abi_version;	/* RFUSE_ABI_VERSION */
	__u32 nr_rings;
	__u64 ring_bytes;	/* size of one ring's mapping */
	__u32 ctl_off;
	__u32 pending_off;
	__u32 pending_entries;	/* power of two */
	__u32 forget_off;
	__u32 forget_entries;	/* power of two */
	__u32 intr_off;
	__u32 intr_entries;	/* power of two */
	__u32 slots_off;
	__u32 nr_slots;		/* header slots per ring */
	__u32 slot_size;
	__u32 args_off;
	__u32 nr_arg_slots;	/* argument slots per ring */
	__u32 arg_slot_size;
	__u32 poll_us;		/* the mount's poll window */
	__u32 max_pages;	/* largest payload, in pages */
	__u32 reserved[13];
};

struct rfuse_complete {
	__u32 ring;
	__u32 slot;
	__u64 unique;
};

struct rfuse_wait {
	__u32 ring;
	__u32 flags;		/* must be 0 */
};

#define RFUSE_IOC_MAGIC		0xE5
#define RFUSE_IOC_GET_INFO	_IOR(RFUSE_IOC_MAGIC, 1, struct rfuse_info)
#define RFUSE_IOC_WAIT		_IOW(RFUSE_IOC_MAGIC, 2, struct rfuse_wait)
#define RFUSE_IOC_COMPLETE	_IOW(RFUSE_IOC_MAGIC, 3, struct rfuse_complete)

#endif /* _UAPI_LINUX_RFUSE_H */
