// SPDX-License-Identifier: GPL-2.0
/*
 * Ring channels: how a FUSE request leaving fuse's input queue travels
 * through a slot of a per-CPU ring shared with the daemon, and how its reply
 * comes back (inline, while the caller polls, or through RFUSE_IOC_COMPLETE).
 *
 * Requests that find no free slot stay on fiq->pending, exactly where
 * /dev/fuse keeps unread requests: the caller sleeps in fuse's
 * request_wait_answer() (a fatal signal can still take the request back)
 * and a slot freed later pulls them out, oldest first.
 *
 * A request in a slot sits on the processing list of the ring's fuse_dev
 * with FR_SENT set, so fuse's abort ends it. Whoever completes a slot
 * takes the request off that list under pq.lock while pq.connected holds;
 * afterwards nobody else can end it. After an abort the slot's req pointer
 * is never dereferenced again.
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/hash.h>
#include <linux/highmem.h>
#include <linux/log2.h>
#include <linux/sched/clock.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "rfuse_i.h"

#define CREATE_TRACE_POINTS
#include "rfuse_trace.h"

#define RFUSE_FORGET_ENTRIES	256U

static inline unsigned int rfuse_make_state(unsigned int gen,
					    enum rfuse_slot_state st)
{
	return (gen << RFUSE_STATE_BITS) | st;
}

static inline enum rfuse_slot_state rfuse_state_of(unsigned int state)
{
	return state & RFUSE_STATE_MASK;
}

static inline struct rfuse_slot_ctl *rfuse_slot_ctl(struct rfuse_ring *ring,
						    unsigned int slot_id)
{
	return ring->shm + ring->chan->info.slots_off +
	       (size_t)slot_id * RFUSE_SLOT_SIZE;
}

static inline unsigned int rfuse_arg_off(struct rfuse_chan *chan,
					 unsigned int arg_id)
{
	return chan->info.args_off + arg_id * chan->info.arg_slot_size;
}

static inline struct rfuse_ring *rfuse_cpu_ring(struct rfuse_chan *chan)
{
	return &chan->rings[chan->cpu_ring[raw_smp_processor_id()]];
}

/* Requests published but not yet taken by a daemon worker. */
static unsigned int rfuse_ring_backlog(struct rfuse_ring *ring)
{
	u32 tail = READ_ONCE(ring->ctl->pending_tail);
	u32 backlog = READ_ONCE(ring->pending_head) - tail;

	/* a bogus tail from the daemon only skews balancing */
	return min_t(u32, backlog, ring->chan->info.nr_slots);
}

static bool rfuse_ring_has_work(struct rfuse_ring *ring)
{
	struct rfuse_ring_ctl *ctl = ring->ctl;

	return READ_ONCE(ring->pending_head) != READ_ONCE(ctl->pending_tail) ||
	       READ_ONCE(ring->forget_head) != READ_ONCE(ctl->forget_tail) ||
	       READ_ONCE(ring->intr_head) != READ_ONCE(ctl->intr_tail);
}

static void rfuse_wake_ring(struct rfuse_ring *ring)
{
	/* the new head before the wait queue check */
	smp_mb();
	/*
	 * Pairs with set_current_state() in rfuse_ring_wait(): either the
	 * waiter sees the new head or we see it on the wait queue.
	 */
	if (waitqueue_active(&ring->waitq))
		wake_up(&ring->waitq);
}

/* Free room in a daemon-consumed ring of @size entries. */
static u32 rfuse_room(u32 head, u32 daemon_tail, u32 size)
{
	u32 used = head - daemon_tail;

	/* a tail the kernel never produced: give the daemon nothing more */
	return used <= size ? size - used : 0;
}

/*
 * Takes up to @max forgets off fiq's forget list (fiq->lock held), oldest
 * first, as a NULL-terminated chain.
 */
static struct fuse_forget_link *rfuse_dequeue_forgets(struct fuse_iqueue *fiq,
						      unsigned int max)
{
	struct fuse_forget_link *head = fiq->forget_list_head.next;
	struct fuse_forget_link **next = &head;
	unsigned int count;

	for (count = 0; *next && count < max; count++)
		next = &(*next)->next;
	fiq->forget_list_head.next = *next;
	*next = NULL;
	if (!fiq->forget_list_head.next)
		fiq->forget_list_tail = &fiq->forget_list_head;
	return head;
}

/*
 * Moves queued forgets and interrupts into @ring while it has room. Those
 * that do not fit stay queued in fiq; the next RFUSE_IOC_WAIT retries.
 * Returns whether anything was published.
 */
static bool rfuse_ring_fill_aux(struct rfuse_ring *ring, struct fuse_iqueue *fiq)
{
	struct rfuse_info *info = &ring->chan->info;
	struct fuse_forget_link *link, *next;
	struct fuse_req *req, *tmp;
	bool published = false;
	u32 room, head;

	lockdep_assert_held(&fiq->lock);
	spin_lock(&ring->aux_lock);

	head = ring->forget_head;
	room = rfuse_room(head, READ_ONCE(ring->ctl->forget_tail),
			  info->forget_entries);
	if (room && fiq->forget_list_head.next) {
		link = rfuse_dequeue_forgets(fiq, room);
		for (; link; link = next) {
			struct rfuse_forget_entry *e;

			e = &ring->forgets[head++ & (info->forget_entries - 1)];
			WRITE_ONCE(e->nodeid, link->forget_one.nodeid);
			WRITE_ONCE(e->nlookup, link->forget_one.nlookup);
			next = link->next;
			kfree(link);
		}
		ring->forget_head = head;
		/* entries before the head the daemon acquires */
		smp_store_release(&ring->ctl->forget_head, head);
		published = true;
	}

	head = ring->intr_head;
	room = rfuse_room(head, READ_ONCE(ring->ctl->intr_tail),
			  info->intr_entries);
	list_for_each_entry_safe(req, tmp, &fiq->interrupts, intr_entry) {
		if (!room)
			break;
		list_del_init(&req->intr_entry);
		WRITE_ONCE(ring->intrs[head++ & (info->intr_entries - 1)],
			   req->in.h.unique);
		room--;
	}
	if (head != ring->intr_head) {
		ring->intr_head = head;
		/* entries before the head the daemon acquires */
		smp_store_release(&ring->ctl->intr_head, head);
		published = true;
	}

	spin_unlock(&ring->aux_lock);
	return published;
}

/* Forgets and interrupts: the current CPU's ring first, then the others. */
static void __maybe_unused rfuse_fill_aux_and_unlock(struct fuse_iqueue *fiq)
	__releases(fiq->lock)
{
	struct rfuse_chan *chan = fiq->priv;
	unsigned int first = chan->cpu_ring[raw_smp_processor_id()];
	unsigned int i;

	for (i = 0; i < chan->nr_rings; i++) {
		struct rfuse_ring *ring = &chan->rings[(first + i) % chan->nr_rings];

		if (!fiq->forget_list_head.next && list_empty(&fiq->interrupts))
			break;
		if (rfuse_ring_fill_aux(ring, fiq))
			rfuse_wake_ring(ring);
	}
	spin_unlock(&fiq->lock);
}

/*
 * Whether @req, published with @unique, is still on @fud's processing list
 * where rfuse_send() put it, i.e. still ours to end. Not so once an abort
 * ended it, or a FUSE_NOTIFY_RESEND from the daemon (6.9+) moved it back to
 * fiq->pending for fuse to send again. Only list entries are dereferenced:
 * @req itself may be freed. Called with fud->pq.lock held.
 */
static bool rfuse_pq_holds(struct fuse_dev *fud, struct fuse_req *req,
			   u64 unique)
{
	struct fuse_req *r;

	if (!fud->pq.connected)
		return false;
	list_for_each_entry(r, &fud->pq.processing[hash_long(unique, FUSE_PQ_HASH_BITS)],
			    list) {
		if (r == req && r->in.h.unique == unique)
			return true;
	}
	return false;
}

/*
 * An interrupt for a request that was signalled before it reached a slot
 * (fuse's request_wait_answer() only queues one once FR_SENT is set): it
 * is queued on fiq->interrupts as fuse's queue_interrupt() would, so one
 * that finds every interrupt ring full waits there like the others (the
 * next fill or RFUSE_IOC_WAIT retries it) instead of being dropped.
 * Published at @state, the request may have been ended and freed since;
 * it is touched only while its slot still holds it unclaimed (a completer
 * detaches it under ring->lock) and it is still on its processing list (an
 * abort or a resend takes it under pq.lock). Queued, fuse_request_end()
 * unlinks it.
 */
static void rfuse_queue_interrupt(struct rfuse_ring *ring,
				  unsigned int slot_id, unsigned int state,
				  struct fuse_req *req)
{
	struct fuse_iqueue *fiq = rfuse_fc_iq(ring->chan->fc);
	struct rfuse_slot *slot = &ring->slots[slot_id];
	unsigned int now;
	enum rfuse_slot_state st;
	struct fuse_dev *fud;
	bool queued = false;

	spin_lock(&fiq->lock);
	spin_lock(&ring->lock);
	now = atomic_read(&slot->state);
	st = rfuse_state_of(now);
	fud = ring->fud;
	if ((now >> RFUSE_STATE_BITS) == (state >> RFUSE_STATE_BITS) &&
	    (st == RFUSE_SLOT_POLLING || st == RFUSE_SLOT_ASLEEP) && fud) {
		spin_lock(&fud->pq.lock);
		if (rfuse_pq_holds(fud, req, slot->unique) &&
		    list_empty(&req->intr_entry)) {
			list_add_tail(&req->intr_entry, &fiq->interrupts);
			queued = true;
		}
		spin_unlock(&fud->pq.lock);
	}
	spin_unlock(&ring->lock);
	if (queued)
		rfuse_fill_aux_and_unlock(fiq);
	else
		spin_unlock(&fiq->lock);
}

static void rfuse_end_work(struct work_struct *work)
{
	struct rfuse_chan *chan = container_of(work, struct rfuse_chan, end_work);
	struct fuse_req *req, *next;
	LIST_HEAD(to_end);

	spin_lock(&chan->end_lock);
	list_splice_init(&chan->end_list, &to_end);
	spin_unlock(&chan->end_lock);

	list_for_each_entry_safe(req, next, &to_end, list) {
		list_del_init(&req->list);
		fuse_request_end(req);
	}
	rfuse_chan_put(chan);
}

/*
 * Ends a request that never reached the daemon. Submission may run under
 * fc->bg_lock (flush_bg_queue), where fuse_request_end() would deadlock,
 * so it always goes through a work item.
 */
static void rfuse_defer_end(struct rfuse_chan *chan, struct fuse_req *req,
			    int error)
{
	req->out.h.error = error;
	spin_lock(&chan->end_lock);
	list_add_tail(&req->list, &chan->end_list);
	spin_unlock(&chan->end_lock);
	kref_get(&chan->ref);
	if (!queue_work(rfuse_wq, &chan->end_work))
		rfuse_chan_put(chan);
}

/* Bytes a request needs: in (header + args) and out (header + args). */
static void rfuse_req_sizes(struct fuse_req *req, u32 *in_len, u32 *out_cap)
{
	struct fuse_args *args = req->args;

	*in_len = req->in.h.len;
	*out_cap = sizeof(struct fuse_out_header) +
		   fuse_len_args(args->out_numargs, args->out_args);
}

/*
 * Places the request's bytes: inline in the header slot when they fit,
 * else in an argument slot. Returns whether an argument slot is needed,
 * or -E2BIG when the request can never fit.
 */
static int rfuse_plan(struct rfuse_chan *chan, u32 in_len, u32 out_cap,
		      u32 *in_rel, u32 *out_rel, bool *in_inline, bool *out_inline)
{
	u32 arg_size = chan->info.arg_slot_size;

	*in_inline = in_len <= RFUSE_SLOT_IN_ROOM;
	*out_inline = out_cap <= RFUSE_SLOT_OUT_ROOM;
	*in_rel = 0;
	*out_rel = 0;
	if (!*in_inline && !*out_inline) {
		/* both large (ioctl): share the argument slot */
		*out_rel = ALIGN(in_len, 64);
		if ((u64)*out_rel + out_cap > arg_size)
			return -E2BIG;
		return 1;
	}
	if ((!*in_inline && in_len > arg_size) ||
	    (!*out_inline && out_cap > arg_size))
		return -E2BIG;
	return !*in_inline || !*out_inline;
}

/*
 * Takes a header slot (and an argument slot if @need_arg) of @ring.
 * Returns the slot id or -1. Called with fiq->lock held.
 */
static int rfuse_ring_alloc(struct rfuse_ring *ring, bool need_arg,
			    int *arg_id)
{
	struct rfuse_info *info = &ring->chan->info;
	struct rfuse_slot *slot;
	unsigned int id, arg = 0, gen;

	spin_lock(&ring->lock);
	id = find_first_zero_bit(ring->slot_map, info->nr_slots);
	if (id >= info->nr_slots)
		goto full;
	if (need_arg) {
		arg = find_first_zero_bit(ring->arg_map, info->nr_arg_slots);
		if (arg >= info->nr_arg_slots)
			goto full;
		__set_bit(arg, ring->arg_map);
		atomic_long_inc(&rfuse_stats.arg_slots_in_use);
	}
	__set_bit(id, ring->slot_map);
	ring->slots_used++;
	slot = &ring->slots[id];
	gen = (atomic_read(&slot->state) >> RFUSE_STATE_BITS) + 1;
	atomic_set(&slot->state, rfuse_make_state(gen, RFUSE_SLOT_FILLING));
	slot->arg_slot = need_arg ? arg : RFUSE_NO_ARG_SLOT;
	spin_unlock(&ring->lock);
	atomic_long_inc(&rfuse_stats.slots_in_use);
	*arg_id = slot->arg_slot;
	return id;
full:
	spin_unlock(&ring->lock);
	return -1;
}

static void rfuse_dispatch_pending(struct rfuse_chan *chan);

static void rfuse_slot_release(struct rfuse_ring *ring, unsigned int slot_id)
{
	struct rfuse_slot *slot = &ring->slots[slot_id];
	unsigned int gen;

	spin_lock(&ring->lock);
	if (slot->arg_slot != RFUSE_NO_ARG_SLOT) {
		__clear_bit(slot->arg_slot, ring->arg_map);
		atomic_long_dec(&rfuse_stats.arg_slots_in_use);
		slot->arg_slot = RFUSE_NO_ARG_SLOT;
	}
	slot->req = NULL;
	gen = atomic_read(&slot->state) >> RFUSE_STATE_BITS;
	atomic_set(&slot->state, rfuse_make_state(gen, RFUSE_SLOT_FREE));
	__clear_bit(slot_id, ring->slot_map);
	ring->slots_used--;
	spin_unlock(&ring->lock);
	atomic_long_dec(&rfuse_stats.slots_in_use);
}

/*
 * After a slot was freed: a submitter that found every slot taken left its
 * request on fiq->pending after failing under ring->lock; that lock orders
 * its list_add before our check, so the request is seen here.
 */
static void rfuse_slot_freed(struct rfuse_ring *ring)
{
	if (!list_empty(&rfuse_fc_iq(ring->chan->fc)->pending))
		rfuse_dispatch_pending(ring->chan);
}

/* Copies the request (header, arguments, page payload) into the slot. */
static void rfuse_copy_request(struct fuse_req *req, void *dst)
{
	struct fuse_args *args = req->args;
	unsigned int i;

	memcpy(dst, &req->in.h, sizeof(req->in.h));
	dst += sizeof(req->in.h);
	for (i = 0; i < args->in_numargs; i++) {
		const struct fuse_in_arg *arg = &args->in_args[i];

		if (i == args->in_numargs - 1 && args->in_pages) {
			struct fuse_args_pages *ap =
				container_of(args, struct fuse_args_pages, args);
			unsigned int left = arg->size, p, len, off;

			for (p = 0; p < rfuse_ap_count(ap) && left; p++) {
				unsigned int n;

				rfuse_ap_desc(ap, p, &len, &off);
				n = min(left, len);
				rfuse_ap_read(ap, p, off, dst, n);
				dst += n;
				left -= n;
			}
			if (left)
				memset(dst, 0, left);
			dst += left;
		} else {
			memcpy(dst, arg->value, arg->size);
			dst += arg->size;
		}
	}
}

/*
 * Checks the daemon's reply and copies it into the request's out args.
 * Everything is read from shared memory once; lengths come from the
 * kernel's own copy of the slot layout. Returns 0 or -EIO.
 */
static int rfuse_copy_reply(struct rfuse_ring *ring, struct rfuse_slot *slot,
			    struct fuse_req *req)
{
	struct fuse_args *args = req->args;
	const void *src = ring->shm + slot->out_off;
	const struct fuse_out_header *shared = src;
	struct fuse_out_header oh;
	unsigned int i, nbytes;

	/*
	 * One load per field: a plain memcpy() would let the compiler read a
	 * field again from the shared page after checking it.
	 */
	oh.len = READ_ONCE(shared->len);
	oh.error = READ_ONCE(shared->error);
	oh.unique = READ_ONCE(shared->unique);
	if (oh.unique != slot->unique)
		return -EIO;
	/* like /dev/fuse: no kernel-internal error codes (ERESTARTSYS...) */
	if (oh.error <= -512 || oh.error > 0)
		return -EIO;
	if (oh.error) {
		if (oh.len != sizeof(oh))
			return -EIO;
		req->out.h = oh;
		return 0;
	}
	nbytes = oh.len;
	if (nbytes < sizeof(oh) || nbytes > slot->out_cap)
		return -EIO;
	if (nbytes < slot->out_cap) {
		struct fuse_arg *last;
		unsigned int missing = slot->out_cap - nbytes;

		if (!args->out_argvar || !args->out_numargs)
			return -EIO;
		last = &args->out_args[args->out_numargs - 1];
		if (missing > last->size)
			return -EIO;
		last->size -= missing;
	}

	src += sizeof(oh);
	for (i = 0; i < args->out_numargs; i++) {
		struct fuse_arg *arg = &args->out_args[i];

		if (i == args->out_numargs - 1 && args->out_pages) {
			struct fuse_args_pages *ap =
				container_of(args, struct fuse_args_pages, args);
			bool zeroing = args->page_zeroing;
			unsigned int left = arg->size, p, len, off;

			for (p = 0; p < rfuse_ap_count(ap) && (left || zeroing); p++) {
				unsigned int n;

				rfuse_ap_desc(ap, p, &len, &off);
				n = min(left, len);
				if (zeroing)
					rfuse_ap_zero_short(ap, p, n);
				if (n)
					rfuse_ap_write(ap, p, off, src, n);
				src += n;
				left -= n;
			}
		} else {
			memcpy(arg->value, src, arg->size);
			src += arg->size;
		}
	}
	req->out.h = oh;
	return 0;
}

/*
 * Takes the request of a claimed slot off the ring's processing list.
 * False when an abort or a resend got there first: then the request is not
 * ours (a resent one is dispatched again, to another slot).
 */
static bool rfuse_detach(struct rfuse_ring *ring, struct fuse_req *req,
			 u64 unique)
{
	struct fuse_dev *fud;
	bool ours = false;

	spin_lock(&ring->lock);
	fud = ring->fud;
	if (fud) {
		spin_lock(&fud->pq.lock);
		if (rfuse_pq_holds(fud, req, unique)) {
			list_del_init(&req->list);
			clear_bit(FR_SENT, &req->flags);
			ours = true;
		}
		spin_unlock(&fud->pq.lock);
	}
	spin_unlock(&ring->lock);
	return ours;
}

/* Finishes a slot whose state this thread moved to CLAIMED. */
static void rfuse_complete_claimed(struct rfuse_ring *ring, unsigned int slot_id,
				   bool inline_done)
{
	struct rfuse_slot *slot = &ring->slots[slot_id];
	struct rfuse_slot_ctl *sc = rfuse_slot_ctl(ring, slot_id);
	struct fuse_req *req = slot->req;
	int err;

	/* pairs with the daemon's release store of done */
	smp_rmb();
	if (!rfuse_detach(ring, req, slot->unique)) {
		rfuse_slot_release(ring, slot_id);
		rfuse_slot_freed(ring);
		return;
	}
	err = rfuse_copy_reply(ring, slot, req);
	if (err) {
		req->out.h.error = err;
		atomic_long_inc(&rfuse_stats.bad_replies);
	} else if (req->in.h.opcode == FUSE_INIT) {
		rfuse_init_reply_fixup(req->args);
	}
	trace_rfuse_req_completed(ring->id, slot_id, slot->unique, inline_done,
				  req->out.h.error, READ_ONCE(sc->fetched_ns),
				  READ_ONCE(sc->replied_ns));
	atomic_long_inc(inline_done ? &rfuse_stats.inline_completions :
				      &rfuse_stats.ioctl_completions);
	rfuse_slot_release(ring, slot_id);
	rfuse_slot_freed(ring);
	fuse_request_end(req);
}

/*
 * Writes the request into its slot and publishes it. With @polling the
 * caller (the request's waiter) will spin on the slot; otherwise the
 * daemon is told to complete it by ioctl. Returns the slot's state word.
 */
static unsigned int rfuse_send(struct rfuse_ring *ring, unsigned int slot_id,
			       struct fuse_req *req, bool polling)
{
	struct rfuse_slot *slot = &ring->slots[slot_id];
	struct rfuse_slot_ctl *sc = rfuse_slot_ctl(ring, slot_id);
	unsigned int state, mask = ring->chan->info.pending_entries - 1;
	u64 unique = req->in.h.unique;
	bool sent = false, interrupted = false;
	struct fuse_dev *fud;
	u32 opcode = req->in.h.opcode;

	rfuse_copy_request(req, ring->shm + slot->in_off);
	WRITE_ONCE(sc->done, 0);
	WRITE_ONCE(sc->waiter_asleep, !polling);
	WRITE_ONCE(sc->in_off, slot->in_off);
	WRITE_ONCE(sc->in_len, slot->in_len);
	WRITE_ONCE(sc->out_off, slot->out_off);
	WRITE_ONCE(sc->out_cap, slot->out_cap);
	WRITE_ONCE(sc->unique, unique);
	WRITE_ONCE(sc->caller_cpu, raw_smp_processor_id());
	WRITE_ONCE(sc->fetched_ns, 0);
	WRITE_ONCE(sc->replied_ns, 0);
	slot->req = req;
	slot->unique = unique;
	state = rfuse_make_state(atomic_read(&slot->state) >> RFUSE_STATE_BITS,
				 polling ? RFUSE_SLOT_POLLING : RFUSE_SLOT_ASLEEP);

	spin_lock(&ring->lock);
	fud = ring->fud;
	if (fud) {
		spin_lock(&fud->pq.lock);
		if (fud->pq.connected) {
			unsigned int hash = hash_long(unique, FUSE_PQ_HASH_BITS);

			list_add_tail(&req->list, &fud->pq.processing[hash]);
			set_bit(FR_SENT, &req->flags);
			/* pairs with request_wait_answer(): FR_INTERRUPTED, then FR_SENT */
			smp_mb__after_atomic();
			interrupted = test_bit(FR_INTERRUPTED, &req->flags);
			sent = true;
		}
		spin_unlock(&fud->pq.lock);
	}
	if (sent) {
		atomic_set(&slot->state, state);
		WRITE_ONCE(ring->pending[ring->pending_head & mask], slot_id);
		ring->pending_head++;
		/* slot contents, then the entry, then the head */
		smp_store_release(&ring->ctl->pending_head, ring->pending_head);
	}
	spin_unlock(&ring->lock);

	if (!sent) {
		rfuse_slot_release(ring, slot_id);
		rfuse_defer_end(ring->chan, req, -ECONNABORTED);
		return 0;
	}
	atomic_long_inc(&rfuse_stats.requests);
	trace_rfuse_req_queued(ring->id, slot_id, opcode, unique, polling);
	rfuse_wake_ring(ring);
	if (interrupted)
		rfuse_queue_interrupt(ring, slot_id, state, req);
	return state;
}

/*
 * Where a request goes: the current CPU's ring; background requests move
 * on (round robin) when that ring's daemon workers lag behind by
 * rfuse_bg_spread_backlog requests; any request moves on when a ring is
 * full. Takes the slot(s); returns the ring or NULL when all are full.
 */
static struct rfuse_ring *rfuse_pick_ring(struct rfuse_chan *chan,
					  struct fuse_req *req, bool need_arg,
					  int *slot_id, int *arg_id)
{
	struct rfuse_ring *home = rfuse_cpu_ring(chan);
	unsigned int first = home->id, i;

	if (test_bit(FR_BACKGROUND, &req->flags) && chan->nr_rings > 1 &&
	    rfuse_ring_backlog(home) >= READ_ONCE(rfuse_bg_spread_backlog))
		first = (unsigned int)atomic_inc_return(&chan->rr_next) % chan->nr_rings;

	for (i = 0; i < chan->nr_rings; i++) {
		struct rfuse_ring *ring = &chan->rings[(first + i) % chan->nr_rings];

		*slot_id = rfuse_ring_alloc(ring, need_arg, arg_id);
		if (*slot_id >= 0)
			return ring;
	}
	return NULL;
}

/*
 * How the waiter of a synchronous request published on @ring waits for it.
 * Spinning only pays when the daemon worker that serves the ring can run
 * meanwhile. A worker confined to the caller's CPU cannot: a caller spinning
 * there would delay the reply by the whole poll window and then sleep
 * anyway, which made RFUSE slower than classic FUSE at one thread. librfuse
 * pins a ring's workers to the ring's CPU and a caller submits to its own
 * CPU's ring, so that is the usual case. There the caller hands its CPU
 * over instead (RFUSE_WAIT_HANDOFF): while the worker its request woke is
 * due to preempt it, it yields to it and takes the reply inline when the
 * worker is done (no RFUSE_IOC_COMPLETE, no wake-up of the caller);
 * otherwise it sleeps at once. A caller on another CPU than the ring's
 * workers (fewer rings than CPUs, workers that float, a full home ring)
 * spins for the window (RFUSE_WAIT_SPIN). The workers' CPUs are what the
 * kernel saw in RFUSE_IOC_WAIT, not what the daemon claims; before a
 * worker's first wait the caller spins. poll_us=0 turns both off.
 * Called with fiq->lock held, so the CPU is the one that chose the ring.
 */
enum rfuse_wait_mode {
	RFUSE_WAIT_SLEEP,
	RFUSE_WAIT_SPIN,
	RFUSE_WAIT_HANDOFF,
};

static enum rfuse_wait_mode rfuse_wait_mode(struct rfuse_ring *ring)
{
	if (!ring->chan->poll_ns)
		return RFUSE_WAIT_SLEEP;
	if (cpumask_test_cpu(raw_smp_processor_id(), ring->worker_cpus))
		return RFUSE_WAIT_HANDOFF;
	return RFUSE_WAIT_SPIN;
}

struct rfuse_own {
	struct fuse_req *req;		/* the caller's own synchronous request */
	struct rfuse_ring *ring;	/* where it went, NULL if still pending */
	unsigned int slot_id;
	unsigned int state;
	enum rfuse_wait_mode mode;
};

/* Requests waiting for an argument slot that one dispatch looks past. */
#define RFUSE_DISPATCH_LOOKAHEAD	64U

/*
 * Moves requests from fiq->pending into slots, oldest first, until the
 * queue is empty or every ring is full. Called with fiq->lock held.
 *
 * When no ring has a free argument slot (long handlers may hold them all),
 * requests that need one stay where they are, in order, and younger ones
 * that need none go ahead into free header slots: they do not compete for
 * what the older ones wait for. Every dispatch starts again at the oldest
 * request, so the argument slot freed next (its header slot with it) goes
 * to the oldest request waiting for one; at most RFUSE_DISPATCH_LOOKAHEAD
 * of those are looked past, to bound the work under fiq->lock.
 */
static void rfuse_dispatch_and_unlock(struct rfuse_chan *chan,
				      struct fuse_iqueue *fiq,
				      struct rfuse_own *own)
	__releases(fiq->lock)
{
	bool no_arg_slot = false;

	for (;;) {
		struct rfuse_ring *ring = NULL;
		struct fuse_req *req, *found = NULL;
		struct rfuse_slot *slot;
		bool in_inline, out_inline, polling;
		u32 in_len, out_cap, in_rel, out_rel;
		int need_arg, slot_id, arg_id;
		unsigned int state, waiting = 0;

		list_for_each_entry(req, &fiq->pending, list) {
			rfuse_req_sizes(req, &in_len, &out_cap);
			need_arg = rfuse_plan(chan, in_len, out_cap, &in_rel,
					      &out_rel, &in_inline, &out_inline);
			/*
			 * A FUSE_NOTIFY_REPLY (FR_ISREPLY clear) takes a slot
			 * too: the daemon ends it with a bare header, as if it
			 * had a reply.
			 */
			if (need_arg < 0) {
				/* too large for any slot */
				found = req;
				break;
			}
			if (need_arg && no_arg_slot) {
				if (++waiting >= RFUSE_DISPATCH_LOOKAHEAD)
					goto out;
				continue;
			}
			ring = rfuse_pick_ring(chan, req, need_arg, &slot_id,
					       &arg_id);
			if (ring) {
				found = req;
				break;
			}
			/* no header slot anywhere: nothing else fits either */
			if (!need_arg)
				goto out;
			no_arg_slot = true;
			waiting++;
		}
		if (!found)
			break;
		req = found;
		list_del_init(&req->list);
		clear_bit(FR_PENDING, &req->flags);
		if (!ring) {
			rfuse_defer_end(chan, req, -EIO);
			continue;
		}
		polling = false;
		if (own && req == own->req) {
			own->mode = rfuse_wait_mode(ring);
			polling = own->mode != RFUSE_WAIT_SLEEP;
		}
		spin_unlock(&fiq->lock);

		slot = &ring->slots[slot_id];
		slot->in_len = in_len;
		slot->out_cap = out_cap;
		slot->in_off = in_inline ? chan->info.slots_off +
			       slot_id * RFUSE_SLOT_SIZE + RFUSE_SLOT_IN_OFF :
			       rfuse_arg_off(chan, arg_id) + in_rel;
		slot->out_off = out_inline ? chan->info.slots_off +
				slot_id * RFUSE_SLOT_SIZE + RFUSE_SLOT_OUT_OFF :
				rfuse_arg_off(chan, arg_id) + out_rel;
		state = rfuse_send(ring, slot_id, req, polling);
		if (polling && state) {
			own->ring = ring;
			own->slot_id = slot_id;
			own->state = state;
		}
		spin_lock(&fiq->lock);
	}
out:
	spin_unlock(&fiq->lock);
}

static void rfuse_dispatch_pending(struct rfuse_chan *chan)
{
	struct fuse_iqueue *fiq = rfuse_fc_iq(chan->fc);

	spin_lock(&fiq->lock);
	if (!fiq->connected) {
		spin_unlock(&fiq->lock);
		return;
	}
	rfuse_dispatch_and_unlock(chan, fiq, NULL);
}

/* Moves whatever waits on fuse's pending queue into free slots. */
void rfuse_chan_dispatch(struct rfuse_chan *chan)
{
	rfuse_dispatch_pending(chan);
}

/*
 * Hybrid polling by the waiter of a synchronous request, right after it was
 * published (see rfuse_wait_mode()): spin on the slot's done flag for the
 * poll window, or while the worker takes our CPU (handoff), and complete
 * the request here (no sleep, no wake-up, no syscall in the daemon).
 *
 * Ordering (no lost wake-up):
 *   caller:  waiter_asleep = 1; cmpxchg POLLING->ASLEEP (full barrier);
 *            read done
 *   daemon:  done = 1 (release); full barrier; read waiter_asleep
 * One of the two sees the other's store: either the caller finds done and
 * completes inline, or the daemon finds waiter_asleep and calls
 * RFUSE_IOC_COMPLETE, which wakes the caller through fuse_request_end().
 * Both may happen; the cmpxchg to CLAIMED (with the slot's generation)
 * lets exactly one complete the request.
 */
static void rfuse_poll_own(struct rfuse_chan *chan, struct rfuse_own *own)
{
	struct rfuse_ring *ring = own->ring;
	struct rfuse_slot *slot = &ring->slots[own->slot_id];
	struct rfuse_slot_ctl *sc = rfuse_slot_ctl(ring, own->slot_id);
	unsigned int polling = own->state;
	unsigned int gen = polling >> RFUSE_STATE_BITS;
	unsigned int asleep = rfuse_make_state(gen, RFUSE_SLOT_ASLEEP);
	unsigned int claimed = rfuse_make_state(gen, RFUSE_SLOT_CLAIMED);
	u64 deadline = ktime_get_ns() + chan->poll_ns;

	for (;;) {
		/* pairs with the daemon's release store of done */
		if (smp_load_acquire(&sc->done)) {
			if (atomic_cmpxchg(&slot->state, polling, claimed) == polling)
				rfuse_complete_claimed(ring, own->slot_id, true);
			return;
		}
		if (test_bit(FR_FINISHED, &own->req->flags))
			return;
		if (ktime_get_ns() >= deadline)
			break;
		/* handoff: the worker does not preempt us: sleep so that it runs */
		if (own->mode == RFUSE_WAIT_HANDOFF && !need_resched())
			break;
		/* the worker, or anyone else, may want this CPU */
		if (need_resched())
			cond_resched();
		else
			cpu_relax();
	}

	WRITE_ONCE(sc->waiter_asleep, 1);
	if (atomic_cmpxchg(&slot->state, polling, asleep) != polling)
		return;
	trace_rfuse_waiter_sleeps(ring->id, own->slot_id, own->req->in.h.unique);
	/* the cmpxchg above ordered waiter_asleep before this load */
	if (!smp_load_acquire(&sc->done))
		return;
	if (atomic_cmpxchg(&slot->state, asleep, claimed) == asleep)
		rfuse_complete_claimed(ring, own->slot_id, true);
}

/* fuse_iqueue_ops.wake_pending_and_unlock (6.1): a request was queued */
static void __maybe_unused rfuse_wake_pending_and_unlock(struct fuse_iqueue *fiq)
	__releases(fiq->lock)
{
	struct rfuse_chan *chan = fiq->priv;
	struct rfuse_own own = {};
	struct fuse_req *last;

	/*
	 * A synchronous request is queued by its waiter itself
	 * (__fuse_request_send) with no other lock held, so that thread may
	 * poll. Background ones come from flush_bg_queue() under fc->bg_lock.
	 * Polling reads the request after another thread may have ended it,
	 * so only a waiter holding its own reference polls: of the three
	 * queuers, __fuse_request_send() takes one; fuse_simple_notify_reply()
	 * queues FUSE_NOTIFY_REPLY from the daemon's write() and takes none
	 * (an RFUSE_IOC_COMPLETE or an abort may end and free it at once).
	 */
	last = list_last_entry(&fiq->pending, struct fuse_req, list);
	if (!test_bit(FR_BACKGROUND, &last->flags) &&
	    last->in.h.opcode != FUSE_NOTIFY_REPLY)
		own.req = last;
	rfuse_dispatch_and_unlock(chan, fiq, &own);
	if (own.ring)
		rfuse_poll_own(chan, &own);
}

static void rfuse_release_fiq(struct fuse_iqueue *fiq)
{
	rfuse_chan_put(fiq->priv);
}

/*
 * fuse_iqueue_ops.send_req (6.12+): called without fiq->lock; queues the
 * request on fiq->pending as 6.1's fuse did before its wake_pending, so
 * the rest is the same. Background requests come under fc->bg_lock, where
 * fuse_request_end() must not be called: a dead queue ends them deferred.
 */
static void __maybe_unused rfuse_send_req(struct fuse_iqueue *fiq,
					  struct fuse_req *req)
{
	rfuse_assign_unique(fiq, req);
	spin_lock(&fiq->lock);
	if (fiq->connected) {
		list_add_tail(&req->list, &fiq->pending);
		rfuse_wake_pending_and_unlock(fiq);
		return;
	}
	spin_unlock(&fiq->lock);
	clear_bit(FR_PENDING, &req->flags);
	rfuse_defer_end(fiq->priv, req, -ENOTCONN);
}

/* fuse_iqueue_ops.send_forget (6.12+): queued in fiq, then published. */
static void __maybe_unused rfuse_send_forget(struct fuse_iqueue *fiq,
					     struct fuse_forget_link *link)
{
	spin_lock(&fiq->lock);
	if (!fiq->connected) {
		spin_unlock(&fiq->lock);
		kfree(link);
		return;
	}
	fiq->forget_list_tail->next = link;
	fiq->forget_list_tail = link;
	rfuse_fill_aux_and_unlock(fiq);
}

/*
 * fuse_iqueue_ops.send_interrupt (6.12+): fuse calls it for a request it
 * saw FR_SENT on; queued in fiq unless the request finished meanwhile.
 */
static void __maybe_unused rfuse_send_interrupt(struct fuse_iqueue *fiq,
						struct fuse_req *req)
{
	spin_lock(&fiq->lock);
	if (!list_empty(&req->intr_entry) || !test_bit(FR_SENT, &req->flags)) {
		spin_unlock(&fiq->lock);
		return;
	}
	list_add_tail(&req->intr_entry, &fiq->interrupts);
	/* pairs with the barrier of test_and_set_bit() in fuse_request_end() */
	smp_mb();
	if (test_bit(FR_FINISHED, &req->flags)) {
		list_del_init(&req->intr_entry);
		spin_unlock(&fiq->lock);
		return;
	}
	rfuse_fill_aux_and_unlock(fiq);
}

const struct fuse_iqueue_ops rfuse_fiq_ops = RFUSE_FIQ_OPS_INIT;

/*
 * RFUSE_IOC_COMPLETE: the daemon finished a slot whose waiter sleeps (or a
 * background request). Only a slot in flight with the same unique is
 * completed; anything else is -EINVAL and changes nothing.
 */
int rfuse_ring_complete(struct rfuse_chan *chan, unsigned int ring_id,
			unsigned int slot_id, u64 unique)
{
	struct rfuse_ring *ring;
	struct rfuse_slot *slot;
	unsigned int state;
	enum rfuse_slot_state st;

	if (ring_id >= chan->nr_rings)
		return -EINVAL;
	ring = &chan->rings[ring_id];
	if (slot_id >= chan->info.nr_slots)
		return -EINVAL;
	slot = &ring->slots[slot_id];

	/* ring->lock keeps the slot from being recycled under us */
	spin_lock(&ring->lock);
	state = atomic_read(&slot->state);
	st = rfuse_state_of(state);
	if ((st != RFUSE_SLOT_POLLING && st != RFUSE_SLOT_ASLEEP) ||
	    slot->unique != unique ||
	    atomic_cmpxchg(&slot->state, state,
			   (state & ~RFUSE_STATE_MASK) | RFUSE_SLOT_CLAIMED) != state) {
		spin_unlock(&ring->lock);
		atomic_long_inc(&rfuse_stats.stale_completions);
		return -EINVAL;
	}
	spin_unlock(&ring->lock);
	rfuse_complete_claimed(ring, slot_id, false);
	return 0;
}

/*
 * Notes the CPU a worker of @ring is pinned to (an affinity of one CPU,
 * which only the worker's own thread changes), for rfuse_wait_mode().
 */
static void rfuse_note_worker_cpu(struct rfuse_ring *ring)
{
	unsigned int cpu;

	if (current->nr_cpus_allowed != 1)
		return;
	cpu = cpumask_first(current->cpus_ptr);
	/* test first: the mask is read by every caller, keep it clean */
	if (cpu < nr_cpu_ids && !cpumask_test_cpu(cpu, ring->worker_cpus))
		cpumask_set_cpu(cpu, ring->worker_cpus);
}

/*
 * RFUSE_IOC_WAIT: a daemon worker sleeps until its ring has work. It also
 * listens on fiq->waitq, which only fuse's abort wakes here. Workers
 * wait exclusively: a new request wakes one of them, not every worker of
 * the ring (they share a CPU, and all but one would find nothing). A woken
 * worker serves everything on its ring before it waits again, and a wake-up
 * that finds a worker already running passes on to the next one.
 */
int rfuse_ring_wait(struct rfuse_chan *chan, struct fuse_conn *fc,
		    unsigned int ring_id)
{
	struct fuse_iqueue *fiq = rfuse_fc_iq(fc);
	struct wait_queue_entry ring_wait, abort_wait;
	struct rfuse_ring *ring;
	int err;

	if (ring_id >= chan->nr_rings)
		return -EINVAL;
	ring = &chan->rings[ring_id];
	rfuse_note_worker_cpu(ring);

	/*
	 * Retry forgets and interrupts that found every ring full. A racy
	 * peek is enough: a new one arriving later fills a ring itself.
	 */
	if (READ_ONCE(fiq->forget_list_head.next) ||
	    !list_empty_careful(&fiq->interrupts)) {
		spin_lock(&fiq->lock);
		if (fiq->connected)
			rfuse_ring_fill_aux(ring, fiq);
		spin_unlock(&fiq->lock);
	}

	init_waitqueue_entry(&ring_wait, current);
	init_waitqueue_entry(&abort_wait, current);
	add_wait_queue_exclusive(&ring->waitq, &ring_wait);
	add_wait_queue(&fiq->waitq, &abort_wait);
	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (!rfuse_fc_connected(fc)) {
			err = -ENODEV;
			break;
		}
		if (rfuse_ring_has_work(ring)) {
			err = 0;
			break;
		}
		if (signal_pending(current)) {
			err = -EINTR;
			break;
		}
		schedule();
	}
	__set_current_state(TASK_RUNNING);
	remove_wait_queue(&fiq->waitq, &abort_wait);
	remove_wait_queue(&ring->waitq, &ring_wait);
	/* a wake-up meant for us may have been all there was: pass it on */
	if (err == -EINTR && rfuse_ring_has_work(ring))
		rfuse_wake_ring(ring);
	return err;
}

/* never installed in an fd table: only its .owner matters */
static const struct file_operations rfuse_pin_fops = {
	.owner		= THIS_MODULE,
};

/*
 * The last reference to a chan can go from code that holds no reference
 * to this module (fuse_conn_put() from a fusectl file, after unmount and
 * the daemon's close), so the chan's own pin must not be dropped by a
 * module_put() here: rmmod could free this code before it returns. The
 * pin file's last fput() defers __fput() (task work at the return to user
 * space, or a kernel worker), which drops the module reference in core
 * code. From a kernel thread that worker may run before we return: our
 * only kernel threads are rfuse_wq's workers, which rfuse_exit() flushes,
 * and kill_sb, which the filesystem type's .owner pins.
 */
static void rfuse_chan_free(struct kref *ref)
{
	struct rfuse_chan *chan = container_of(ref, struct rfuse_chan, ref);
	struct file *pin = chan->pin;
	unsigned int i;

	for (i = 0; chan->rings && i < chan->nr_rings; i++) {
		struct rfuse_ring *ring = &chan->rings[i];

		WARN_ON(ring->fud);
		/* slots an abort left behind */
		atomic_long_sub(ring->slots_used, &rfuse_stats.slots_in_use);
		if (ring->arg_map)
			atomic_long_sub(bitmap_weight(ring->arg_map,
						      chan->info.nr_arg_slots),
					&rfuse_stats.arg_slots_in_use);
		vfree(ring->shm);
		free_cpumask_var(ring->worker_cpus);
		bitmap_free(ring->slot_map);
		bitmap_free(ring->arg_map);
		kfree(ring->slots);
	}
	kfree(chan->rings);
	kfree(chan->cpu_ring);
	kfree(chan);
	atomic_long_dec(&rfuse_stats.channels);
	if (pin)
		fput(pin);
}

void rfuse_chan_put(struct rfuse_chan *chan)
{
	kref_put(&chan->ref, rfuse_chan_free);
}

static void rfuse_layout(struct rfuse_info *info, unsigned int nr_rings,
			 unsigned int poll_us)
{
	u32 off = PAGE_SIZE;	/* struct rfuse_ring_ctl */

	info->abi_version = RFUSE_ABI_VERSION;
	info->nr_rings = nr_rings;
	info->ctl_off = 0;
	info->nr_slots = rfuse_ring_slots;
	info->slot_size = RFUSE_SLOT_SIZE;
	info->nr_arg_slots = rfuse_arg_slots;
	info->max_pages = rfuse_max_pages;
	info->arg_slot_size = PAGE_ALIGN((rfuse_max_pages + 1) * PAGE_SIZE);
	info->poll_us = poll_us;

	info->pending_entries = roundup_pow_of_two(info->nr_slots);
	info->pending_off = off;
	off += PAGE_ALIGN(info->pending_entries * sizeof(u32));
	info->forget_entries = RFUSE_FORGET_ENTRIES;
	info->forget_off = off;
	off += PAGE_ALIGN(info->forget_entries * sizeof(struct rfuse_forget_entry));
	/* one interrupt per request in flight, twice over */
	info->intr_entries = roundup_pow_of_two(2 * info->nr_slots);
	info->intr_off = off;
	off += PAGE_ALIGN(info->intr_entries * sizeof(u64));
	info->slots_off = off;
	off += info->nr_slots * RFUSE_SLOT_SIZE;
	info->args_off = off;
	off += info->nr_arg_slots * info->arg_slot_size;
	info->ring_bytes = off;
}

static int rfuse_ring_init(struct rfuse_chan *chan, struct rfuse_ring *ring,
			   unsigned int id, unsigned int cpu)
{
	struct rfuse_info *info = &chan->info;

	ring->chan = chan;
	ring->id = id;
	spin_lock_init(&ring->lock);
	spin_lock_init(&ring->aux_lock);
	init_waitqueue_head(&ring->waitq);
	ring->slot_map = bitmap_zalloc(info->nr_slots, GFP_KERNEL);
	ring->arg_map = bitmap_zalloc(info->nr_arg_slots, GFP_KERNEL);
	ring->slots = kcalloc(info->nr_slots, sizeof(*ring->slots), GFP_KERNEL);
	ring->shm = vmalloc_user(info->ring_bytes);
	if (!ring->slot_map || !ring->arg_map || !ring->slots || !ring->shm ||
	    !zalloc_cpumask_var(&ring->worker_cpus, GFP_KERNEL))
		return -ENOMEM;
	ring->ctl = ring->shm + info->ctl_off;
	ring->pending = ring->shm + info->pending_off;
	ring->forgets = ring->shm + info->forget_off;
	ring->intrs = ring->shm + info->intr_off;
	ring->ctl->cpu = cpu;
	return 0;
}

struct rfuse_chan *rfuse_chan_create(unsigned int nr_rings, unsigned int poll_us)
{
	unsigned int online = num_online_cpus(), i, cpu, n = 0;
	struct rfuse_chan *chan;
	int err = -ENOMEM;

	if (!nr_rings || nr_rings > online)
		nr_rings = online;
	chan = kzalloc(sizeof(*chan), GFP_KERNEL);
	if (!chan)
		return ERR_PTR(-ENOMEM);
	chan->pin = anon_inode_getfile("[rfuse-chan]", &rfuse_pin_fops, NULL,
				       O_RDONLY);
	if (IS_ERR(chan->pin)) {
		err = PTR_ERR(chan->pin);
		kfree(chan);
		return ERR_PTR(err);
	}
	atomic_long_inc(&rfuse_stats.channels);
	kref_init(&chan->ref);
	spin_lock_init(&chan->end_lock);
	INIT_LIST_HEAD(&chan->end_list);
	INIT_WORK(&chan->end_work, rfuse_end_work);
	chan->nr_rings = nr_rings;
	poll_us = min(poll_us, RFUSE_MAX_POLL_US);
	chan->poll_ns = (u64)poll_us * NSEC_PER_USEC;
	rfuse_layout(&chan->info, nr_rings, poll_us);

	chan->rings = kcalloc(nr_rings, sizeof(*chan->rings), GFP_KERNEL);
	chan->cpu_ring = kcalloc(nr_cpu_ids, sizeof(*chan->cpu_ring), GFP_KERNEL);
	if (!chan->rings || !chan->cpu_ring)
		goto fail;
	/* online CPUs share rings in turn; later-onlined CPUs by id */
	for_each_possible_cpu(cpu)
		chan->cpu_ring[cpu] = cpu % nr_rings;
	for_each_online_cpu(cpu) {
		chan->cpu_ring[cpu] = n % nr_rings;
		if (n < nr_rings) {
			err = rfuse_ring_init(chan, &chan->rings[n], n, cpu);
			if (err)
				goto fail;
		}
		n++;
	}
	/* CPUs went offline while we counted: rings nobody serves first */
	for (i = n; i < nr_rings; i++) {
		err = rfuse_ring_init(chan, &chan->rings[i], i, 0);
		if (err)
			goto fail;
	}
	return chan;
fail:
	rfuse_chan_put(chan);
	return ERR_PTR(err);
}

int rfuse_chan_alloc_devs(struct rfuse_chan *chan)
{
	unsigned int i;

	for (i = 0; i < chan->nr_rings; i++) {
		chan->rings[i].fud = fuse_dev_alloc();
		if (!chan->rings[i].fud) {
			rfuse_chan_free_devs(chan);
			return -ENOMEM;
		}
	}
	return 0;
}

void rfuse_chan_install_devs(struct rfuse_chan *chan, struct fuse_conn *fc)
{
	unsigned int i;

	for (i = 0; i < chan->nr_rings; i++)
		rfuse_dev_install(chan->rings[i].fud, fc);
}

/*
 * After fuse_conn_destroy() (every request ended, none can start): the
 * fuse devices go, so the chan no longer pins the fuse_conn. Daemon ioctls
 * may still come; they find ring->fud NULL under ring->lock.
 */
void rfuse_chan_free_devs(struct rfuse_chan *chan)
{
	unsigned int i;

	for (i = 0; i < chan->nr_rings; i++) {
		struct rfuse_ring *ring = &chan->rings[i];
		struct fuse_dev *fud;

		spin_lock(&ring->lock);
		fud = ring->fud;
		ring->fud = NULL;
		spin_unlock(&ring->lock);
		if (fud)
			rfuse_dev_free(fud);
	}
}
