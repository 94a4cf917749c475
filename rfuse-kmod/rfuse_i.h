/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rfuse.ko internals: a FUSE transport with per-CPU ring channels in memory
 * shared with the daemon, under the stock fuse.ko's VFS layer (the way
 * virtio_fs plugs in). Requests leave fuse's input queue through our
 * struct fuse_iqueue_ops and go into ring slots; replies are copied back
 * from the slots and ended with fuse_request_end().
 *
 * Lock order: fiq->lock -> ring->lock -> fud->pq.lock -> ring->aux_lock.
 * Nothing here is taken from interrupt context.
 */
#ifndef _RFUSE_I_H
#define _RFUSE_I_H

#include "rfuse_compat.h"

#include <linux/cpumask.h>
#include <linux/kref.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/fs_context.h>

#include "fuse_i.h"
#include "uapi/rfuse.h"

/*
 * Kernel-private state of a header slot, in the low bits of slot->state;
 * the high bits count allocations of the slot (generation), so a stale
 * compare-and-swap by a caller whose slot was recycled fails.
 *
 *   FREE -> FILLING (allocated, being written; daemon cannot see it)
 *   FILLING -> POLLING (published; the caller spins on its done flag)
 *   FILLING -> ASLEEP (published; completion must come by ioctl)
 *   POLLING -> ASLEEP (poll window over, caller sleeps)
 *   POLLING/ASLEEP -> CLAIMED (exactly one completer won the cmpxchg)
 *   CLAIMED -> FREE (slot released by the completer)
 */
enum rfuse_slot_state {
	RFUSE_SLOT_FREE,
	RFUSE_SLOT_FILLING,
	RFUSE_SLOT_POLLING,
	RFUSE_SLOT_ASLEEP,
	RFUSE_SLOT_CLAIMED,
};

#define RFUSE_STATE_BITS	4
#define RFUSE_STATE_MASK	((1U << RFUSE_STATE_BITS) - 1)

/* Layout of a header slot: control, inline request, inline reply. */
#define RFUSE_SLOT_SIZE		4096U
#define RFUSE_SLOT_IN_OFF	64U
#define RFUSE_SLOT_OUT_OFF	2048U
#define RFUSE_SLOT_IN_ROOM	(RFUSE_SLOT_OUT_OFF - RFUSE_SLOT_IN_OFF)
#define RFUSE_SLOT_OUT_ROOM	(RFUSE_SLOT_SIZE - RFUSE_SLOT_OUT_OFF)
#define RFUSE_NO_ARG_SLOT	(-1)

/* the upper bound keeps a typo from making callers spin for seconds */
#define RFUSE_MAX_POLL_US	10000U

struct rfuse_slot {
	atomic_t state;		/* generation << RFUSE_STATE_BITS | state */
	/* The fields below are written only by the allocator of the slot. */
	struct fuse_req *req;	/* valid while in flight on a live connection */
	u64 unique;
	int arg_slot;
	u32 in_off;
	u32 in_len;
	u32 out_off;
	u32 out_cap;
};

struct rfuse_ring {
	struct rfuse_chan *chan;
	unsigned int id;

	/* slot bitmaps, pending producer index, fud pointer */
	spinlock_t lock;
	unsigned long *slot_map;
	unsigned long *arg_map;
	struct rfuse_slot *slots;
	unsigned int slots_used;
	u32 pending_head;
	/* fuse device whose processing queue holds our in-flight requests */
	struct fuse_dev *fud;

	/* forget and interrupt producers */
	spinlock_t aux_lock;
	u32 forget_head;
	u32 intr_head;

	/* daemon workers sleeping in RFUSE_IOC_WAIT (exclusive waiters) */
	wait_queue_head_t waitq;
	/*
	 * CPUs some daemon worker of this ring is confined to (affinity of
	 * one CPU), as seen in RFUSE_IOC_WAIT; bits are never cleared. A
	 * caller on one of them does not spin: see rfuse_wait_mode().
	 */
	cpumask_var_t worker_cpus;

	/* the shared memory, vmalloc_user() */
	void *shm;
	struct rfuse_ring_ctl *ctl;
	u32 *pending;
	struct rfuse_forget_entry *forgets;
	u64 *intrs;
};

/* One per connection; fc->iq.priv. */
struct rfuse_chan {
	struct kref ref;		/* fc (iq.priv) + the bound daemon file */
	struct fuse_conn *fc;		/* valid while the fc holds its ref */
	struct rfuse_info info;		/* layout, as given to the daemon */
	unsigned int nr_rings;
	struct rfuse_ring *rings;
	unsigned int *cpu_ring;		/* nr_cpu_ids entries */
	u64 poll_ns;
	atomic_t rr_next;		/* round robin for spread requests */
	/*
	 * Pins rfuse.ko while the chan (and fc->iq.ops) lives: an internal
	 * file whose fops' .owner is this module. Its last fput() drops the
	 * module reference in __fput(), in core code after the free has
	 * returned, so no module_put() here returns into unloaded text.
	 */
	struct file *pin;

	/* requests that must be ended outside the submission context */
	spinlock_t end_lock;
	struct list_head end_list;
	struct work_struct end_work;
};

/* Counters shown in /sys/class/misc/rfuse/ (all mounts together). */
struct rfuse_stats {
	atomic_long_t slots_in_use;
	atomic_long_t arg_slots_in_use;
	atomic_long_t requests;
	atomic_long_t inline_completions;
	atomic_long_t ioctl_completions;
	atomic_long_t bad_replies;
	atomic_long_t stale_completions;
	atomic_long_t channels;
};

extern struct rfuse_stats rfuse_stats;
extern const struct fuse_iqueue_ops rfuse_fiq_ops;
extern const struct file_operations rfuse_dev_fops;
extern struct file_system_type rfuse_fs_type;
extern struct workqueue_struct *rfuse_wq;

/* module parameters (main.c) */
extern unsigned int rfuse_poll_us;
extern unsigned int rfuse_ring_slots;
extern unsigned int rfuse_arg_slots;
extern unsigned int rfuse_max_pages;
extern unsigned int rfuse_bg_spread_backlog;

/* ring.c */
struct rfuse_chan *rfuse_chan_create(unsigned int nr_rings, unsigned int poll_us);
void rfuse_chan_put(struct rfuse_chan *chan);
int rfuse_chan_alloc_devs(struct rfuse_chan *chan);
void rfuse_chan_install_devs(struct rfuse_chan *chan, struct fuse_conn *fc);
void rfuse_chan_free_devs(struct rfuse_chan *chan);
int rfuse_ring_wait(struct rfuse_chan *chan, struct fuse_conn *fc,
		    unsigned int ring_id);
void rfuse_chan_dispatch(struct rfuse_chan *chan);
int rfuse_ring_complete(struct rfuse_chan *chan, unsigned int ring_id,
			unsigned int slot_id, u64 unique);

/* dev.c */
int rfuse_dev_bind(struct file *file, struct rfuse_chan *chan,
		   struct fuse_conn *fc);

#endif /* _RFUSE_I_H */
