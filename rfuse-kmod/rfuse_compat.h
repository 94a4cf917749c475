/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel version differences rfuse.ko depends on, in one place.
 *
 * rfuse.ko plugs under fuse.ko through struct fuse_iqueue_ops and the
 * symbols virtio_fs uses; both are internal to fs/fuse and change between
 * releases. Built and tested: Debian 12's 6.1 LTS (6.1.0-N-amd64).
 * Known differences for the next LTS (6.12, bookworm-backports):
 *  - fuse_iqueue_ops became send_forget / send_interrupt / send_req
 *    (6.11): the request arrives as an argument with fiq->lock NOT held,
 *    and fuse_request_assign_unique() replaces fuse_get_unique().
 *  - struct fuse_args_pages uses folios (struct fuse_folio_desc) (6.13).
 *  - fuse_dev_install()/fuse_dev_alloc() and the pq layout are unchanged.
 * Until those are ported the build stops here instead of miscompiling.
 */
#ifndef _RFUSE_COMPAT_H
#define _RFUSE_COMPAT_H

#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0) || \
	LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
#error "rfuse.ko supports Linux 6.1 only for now (see the comment above)"
#endif

#endif /* _RFUSE_COMPAT_H */
