/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel version differences rfuse.ko depends on, in one place.
 *
 * rfuse.ko plugs under fuse.ko through struct fuse_iqueue_ops and the
 * symbols virtio_fs uses; both are internal to fs/fuse and change between
 * releases. Supported: the kernel lines of rfuse-kmod/kernels.json, built
 * and tested against Debian's packages of exactly those versions:
 *
 *  6.1  (Debian 12): fuse_iqueue_ops wake_*_and_unlock, called with
 *       fiq->lock held after fuse queued the request (unique assigned);
 *       fuse_args_pages holds pages.
 *  6.12 (LTS): fuse_iqueue_ops send_forget / send_interrupt / send_req,
 *       called without fiq->lock; the transport queues and numbers the
 *       request (fuse_get_unique()); fuse_args_pages holds pages or folios
 *       (uses_folios).
 *  7.3: as 6.12, plus struct fuse_chan between the connection and its
 *       devices (fc->chan->iq, fuse_chan_new(), fuse_chan_abort(),
 *       fuse_dev_put()); the fuse_fs_context no longer carries the device
 *       fd; fuse_args_pages holds folios only.
 *
 * Any other kernel stops the build here: fuse's internals are not an API,
 * and a module built against a guess would corrupt memory, not fail.
 */
#ifndef _RFUSE_COMPAT_H
#define _RFUSE_COMPAT_H

#include <linux/version.h>
#include <linux/highmem.h>
#include <linux/mm.h>

#define RFUSE_KV_IS(a, b) \
	(LINUX_VERSION_MAJOR == (a) && LINUX_VERSION_PATCHLEVEL == (b))

#if RFUSE_KV_IS(6, 1)
#define RFUSE_FIQ_SEND		0
#define RFUSE_HAVE_FCHAN	0
#define RFUSE_AP_FOLIOS		0	/* pages */
#elif RFUSE_KV_IS(6, 12)
#define RFUSE_FIQ_SEND		1
#define RFUSE_HAVE_FCHAN	0
#define RFUSE_AP_FOLIOS		1	/* pages or folios, by uses_folios */
#elif RFUSE_KV_IS(7, 3)
#define RFUSE_FIQ_SEND		1
#define RFUSE_HAVE_FCHAN	1
#define RFUSE_AP_FOLIOS		2	/* folios */
#else
#error "rfuse.ko supports Linux 6.1, 6.12 and 7.3 only (Debian's kernels in rfuse-kmod/kernels.json); this kernel's fuse internals are unknown"
#endif

#include "fuse_i.h"
#if RFUSE_HAVE_FCHAN
#include "fuse_dev_i.h"
#include "dev.h"
/* fuse's max_pages ceiling became the sysctl fuse_max_pages_limit (default 256) */
#define RFUSE_MAX_MAX_PAGES	256U
#else
#define RFUSE_MAX_MAX_PAGES	FUSE_MAX_MAX_PAGES
#endif

/* A device that cannot seek: 6.12 dropped no_llseek for a NULL llseek. */
#if RFUSE_FIQ_SEND
#define RFUSE_NO_LLSEEK		NULL
#else
#define RFUSE_NO_LLSEEK		no_llseek
#endif

/* vm_flags of a VMA being mapped: vm_flags_mod() from 6.3 on. */
static inline void rfuse_vm_flags_mod(struct vm_area_struct *vma,
				      vm_flags_t set, vm_flags_t clear)
{
#if RFUSE_FIQ_SEND
	vm_flags_mod(vma, set, clear);
#else
	vma->vm_flags = (vma->vm_flags | set) & ~clear;
#endif
}

/* The connection's input queue. */
static inline struct fuse_iqueue *rfuse_fc_iq(struct fuse_conn *fc)
{
#if RFUSE_HAVE_FCHAN
	return &fc->chan->iq;
#else
	return &fc->iq;
#endif
}

/* Whether the connection is still up (unlocked read, a hint). */
static inline bool rfuse_fc_connected(struct fuse_conn *fc)
{
#if RFUSE_HAVE_FCHAN
	return READ_ONCE(fc->chan->connected);
#else
	return READ_ONCE(fc->connected);
#endif
}

/* Ends every request of the connection: fuse's abort. */
static inline void rfuse_abort(struct fuse_conn *fc)
{
#if RFUSE_HAVE_FCHAN
	fuse_chan_abort(fc->chan, false);
#else
	fuse_abort_conn(fc);
#endif
}

/*
 * Sets up @fc with our input queue operations and @priv as fiq->priv.
 * On failure nothing is set up and @priv is not taken.
 */
static inline int rfuse_conn_init(struct fuse_conn *fc, struct fuse_mount *fm,
				  struct user_namespace *user_ns,
				  const struct fuse_iqueue_ops *ops, void *priv)
{
#if RFUSE_HAVE_FCHAN
	struct fuse_chan *fch = fuse_chan_new();

	if (!fch)
		return -ENOMEM;
	fuse_iqueue_init(&fch->iq, ops, priv);
	fuse_conn_init(fc, fm, user_ns, fch);
#else
	fuse_conn_init(fc, fm, user_ns, ops, priv);
#endif
	return 0;
}

/* fuse_fill_super_common() must not install a device: we install ours. */
static inline void rfuse_ctx_no_dev(struct fuse_fs_context *ctx)
{
#if RFUSE_HAVE_FCHAN
	ctx->fud = NULL;
#else
	ctx->fudptr = NULL;
#endif
}

/* A fuse device with its own processing queue, installed on @fc. */
static inline struct fuse_dev *rfuse_dev_alloc_install(struct fuse_conn *fc)
{
#if RFUSE_HAVE_FCHAN
	struct fuse_dev *fud = fuse_dev_alloc();

	if (fud)
		fuse_dev_install(fud, fc->chan);
	return fud;
#else
	return fuse_dev_alloc_install(fc);
#endif
}

static inline void rfuse_dev_install(struct fuse_dev *fud, struct fuse_conn *fc)
{
#if RFUSE_HAVE_FCHAN
	fuse_dev_install(fud, fc->chan);
#else
	fuse_dev_install(fud, fc);
#endif
}

static inline void rfuse_dev_free(struct fuse_dev *fud)
{
#if RFUSE_HAVE_FCHAN
	fuse_dev_put(fud);
#else
	fuse_dev_free(fud);
#endif
}

/*
 * Numbers a request handed to send_req (6.12+: the transport does it, and
 * must not hold fiq->lock: fuse_get_unique() takes it). 6.1 numbered it
 * before queueing.
 */
static inline void rfuse_assign_unique(struct fuse_iqueue *fiq,
				       struct fuse_req *req)
{
#if RFUSE_HAVE_FCHAN
	fuse_request_assign_unique(fiq, req);
#elif RFUSE_FIQ_SEND
	if (req->in.h.opcode != FUSE_NOTIFY_REPLY)
		req->in.h.unique = fuse_get_unique(fiq);
#endif
}

/*
 * struct fuse_iqueue_ops: 6.1 calls the *_and_unlock ones with fiq->lock
 * held and the item already queued on fiq; 6.12+ calls the send ones
 * without the lock. ring.c defines both sets (these names); this picks
 * the kernel's.
 */
#if RFUSE_FIQ_SEND
#define RFUSE_FIQ_OPS_INIT {					\
		.send_forget	= rfuse_send_forget,		\
		.send_interrupt	= rfuse_send_interrupt,		\
		.send_req	= rfuse_send_req,		\
		.release	= rfuse_release_fiq,		\
	}
#else
#define RFUSE_FIQ_OPS_INIT {						\
		.wake_forget_and_unlock		= rfuse_fill_aux_and_unlock,	\
		.wake_interrupt_and_unlock	= rfuse_fill_aux_and_unlock,	\
		.wake_pending_and_unlock	= rfuse_wake_pending_and_unlock, \
		.release			= rfuse_release_fiq,		\
	}
#endif

/*
 * What an INIT reply may not turn on over RFUSE: FUSE over io_uring (7.x)
 * would make fuse hold every request back until io_uring queues register
 * on a /dev/fuse file, which an rfuse connection never has.
 */
static inline void rfuse_init_reply_fixup(struct fuse_args *args)
{
#ifdef FUSE_OVER_IO_URING
	struct fuse_init_out *out = args->out_args[0].value;

	if (args->out_numargs && args->out_args[0].size >= sizeof(*out))
		out->flags2 &= ~(u32)(FUSE_OVER_IO_URING >> 32);
#endif
}

/* The page-cache pieces of a request's last argument. */
static inline unsigned int rfuse_ap_count(struct fuse_args_pages *ap)
{
#if RFUSE_AP_FOLIOS == 2
	return ap->num_folios;
#elif RFUSE_AP_FOLIOS == 1
	return ap->uses_folios ? ap->num_folios : ap->num_pages;
#else
	return ap->num_pages;
#endif
}

/* Length and offset of piece @i. */
static inline void rfuse_ap_desc(struct fuse_args_pages *ap, unsigned int i,
				 unsigned int *len, unsigned int *off)
{
#if RFUSE_AP_FOLIOS == 2
	*len = ap->descs[i].length;
	*off = ap->descs[i].offset;
#elif RFUSE_AP_FOLIOS == 1
	if (ap->uses_folios) {
		*len = ap->folio_descs[i].length;
		*off = ap->folio_descs[i].offset;
	} else {
		*len = ap->descs[i].length;
		*off = ap->descs[i].offset;
	}
#else
	*len = ap->descs[i].length;
	*off = ap->descs[i].offset;
#endif
}

/* Copies @n bytes of piece @i (from its offset) to @dst. */
static inline void rfuse_ap_read(struct fuse_args_pages *ap, unsigned int i,
				 unsigned int off, void *dst, unsigned int n)
{
#if RFUSE_AP_FOLIOS == 2
	memcpy_from_folio(dst, ap->folios[i], off, n);
#elif RFUSE_AP_FOLIOS == 1
	if (ap->uses_folios)
		memcpy_from_folio(dst, ap->folios[i], off, n);
	else
		memcpy_from_page(dst, ap->pages[i], off, n);
#else
	memcpy_from_page(dst, ap->pages[i], off, n);
#endif
}

/* Copies @n bytes from @src into piece @i at @off. */
static inline void rfuse_ap_write(struct fuse_args_pages *ap, unsigned int i,
				  unsigned int off, const void *src,
				  unsigned int n)
{
#if RFUSE_AP_FOLIOS == 2
	memcpy_to_folio(ap->folios[i], off, src, n);
#elif RFUSE_AP_FOLIOS == 1
	if (ap->uses_folios)
		memcpy_to_folio(ap->folios[i], off, src, n);
	else
		memcpy_to_page(ap->pages[i], off, src, n);
#else
	memcpy_to_page(ap->pages[i], off, src, n);
#endif
}

/*
 * A reply that fills piece @i only partly (@n bytes) zeroes it first, as
 * fuse's own copy does for page_zeroing requests.
 */
static inline void rfuse_ap_zero_short(struct fuse_args_pages *ap,
				       unsigned int i, unsigned int n)
{
#if RFUSE_AP_FOLIOS
#if RFUSE_AP_FOLIOS == 1
	if (!ap->uses_folios) {
		if (n < PAGE_SIZE)
			clear_highpage(ap->pages[i]);
		return;
	}
#endif
	if (n < folio_size(ap->folios[i]))
		folio_zero_range(ap->folios[i], 0, folio_size(ap->folios[i]));
#else
	if (n < PAGE_SIZE)
		clear_highpage(ap->pages[i]);
#endif
}

#endif /* _RFUSE_COMPAT_H */
