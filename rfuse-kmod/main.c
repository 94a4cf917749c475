// SPDX-License-Identifier: GPL-2.0
/*
 * rfuse.ko: FUSE over per-CPU ring channels (after RFUSE, FAST '24), as a
 * transport under the stock fuse.ko. Registers the "rfuse" filesystem type
 * and /dev/rfuse; module parameters set the defaults of new mounts.
 */
#include <linux/miscdevice.h>
#include <linux/module.h>

#include "rfuse_i.h"

unsigned int rfuse_poll_us = 50;
module_param_named(poll_us, rfuse_poll_us, uint, 0644);
MODULE_PARM_DESC(poll_us, "Poll window in microseconds for new mounts (0 = never poll, default 50)");

unsigned int rfuse_ring_slots = 64;
module_param_named(ring_slots, rfuse_ring_slots, uint, 0444);
MODULE_PARM_DESC(ring_slots, "Header slots (requests in flight) per ring (default 64)");

unsigned int rfuse_arg_slots = 16;
module_param_named(arg_slots, rfuse_arg_slots, uint, 0444);
MODULE_PARM_DESC(arg_slots, "Argument slots for large payloads per ring (default 16)");

unsigned int rfuse_max_pages = 32;
module_param_named(max_pages, rfuse_max_pages, uint, 0444);
MODULE_PARM_DESC(max_pages, "Largest request payload in pages (default 32 = 128 KiB)");

unsigned int rfuse_bg_spread_backlog = 2;
module_param_named(bg_spread_backlog, rfuse_bg_spread_backlog, uint, 0644);
MODULE_PARM_DESC(bg_spread_backlog,
		 "Unpicked requests on the local ring before background requests spread to other rings (default 2)");

struct rfuse_stats rfuse_stats;
struct workqueue_struct *rfuse_wq;

#define RFUSE_STAT_ATTR(name)						\
static ssize_t name##_show(struct device *dev,				\
			   struct device_attribute *attr, char *buf)	\
{									\
	return sysfs_emit(buf, "%ld\n",					\
			  atomic_long_read(&rfuse_stats.name));		\
}									\
static DEVICE_ATTR_RO(name)

RFUSE_STAT_ATTR(slots_in_use);
RFUSE_STAT_ATTR(arg_slots_in_use);
RFUSE_STAT_ATTR(requests);
RFUSE_STAT_ATTR(inline_completions);
RFUSE_STAT_ATTR(ioctl_completions);
RFUSE_STAT_ATTR(bad_replies);
RFUSE_STAT_ATTR(stale_completions);
RFUSE_STAT_ATTR(channels);

static struct attribute *rfuse_stat_attrs[] = {
	&dev_attr_slots_in_use.attr,
	&dev_attr_arg_slots_in_use.attr,
	&dev_attr_requests.attr,
	&dev_attr_inline_completions.attr,
	&dev_attr_ioctl_completions.attr,
	&dev_attr_bad_replies.attr,
	&dev_attr_stale_completions.attr,
	&dev_attr_channels.attr,
	NULL,
};
ATTRIBUTE_GROUPS(rfuse_stat);

static struct miscdevice rfuse_miscdev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= RFUSE_DEVICE_NAME,
	.fops	= &rfuse_dev_fops,
	.groups	= rfuse_stat_groups,
	.mode	= 0600,
};

static int __init rfuse_init(void)
{
	int err;

	if (!rfuse_ring_slots || rfuse_ring_slots > 4096 || !rfuse_arg_slots ||
	    rfuse_arg_slots > 1024 || !rfuse_max_pages ||
	    rfuse_max_pages > RFUSE_MAX_MAX_PAGES) {
		pr_err("rfuse: ring_slots 1..4096, arg_slots 1..1024, max_pages 1..%u\n",
		       RFUSE_MAX_MAX_PAGES);
		return -EINVAL;
	}
	/*
	 * Requests ended here may be writeback's (FUSE_WRITE of dirty pages):
	 * memory reclaim can wait on them, so the queue needs its rescuer.
	 */
	rfuse_wq = alloc_workqueue("rfuse", WQ_UNBOUND | WQ_MEM_RECLAIM, 0);
	if (!rfuse_wq)
		return -ENOMEM;
	err = misc_register(&rfuse_miscdev);
	if (err)
		goto err_wq;
	err = register_filesystem(&rfuse_fs_type);
	if (err)
		goto err_misc;
	pr_info("rfuse: ABI %u, %u slots and %u argument slots of %u pages per ring\n",
		RFUSE_ABI_VERSION, rfuse_ring_slots, rfuse_arg_slots,
		rfuse_max_pages);
	return 0;

err_misc:
	misc_deregister(&rfuse_miscdev);
err_wq:
	destroy_workqueue(rfuse_wq);
	return err;
}

static void __exit rfuse_exit(void)
{
	unregister_filesystem(&rfuse_fs_type);
	misc_deregister(&rfuse_miscdev);
	destroy_workqueue(rfuse_wq);
}

module_init(rfuse_init);
module_exit(rfuse_exit);

MODULE_AUTHOR("RFUSE suite");
MODULE_DESCRIPTION("FUSE over per-CPU ring channels shared with the daemon");
MODULE_LICENSE("GPL");
MODULE_SOFTDEP("pre: fuse");
