// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/rfuse: the daemon's handle on one RFUSE connection. An fd is opened
 * unbound, bound by mount(2) (fd=N), then gives the ring layout
 * (RFUSE_IOC_GET_INFO), the ring memory (mmap), a place to sleep
 * (RFUSE_IOC_WAIT) and the completion call (RFUSE_IOC_COMPLETE).
 * Closing the last reference aborts the connection: every waiting and
 * future request fails, as when a /dev/fuse daemon dies.
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "rfuse_i.h"

struct rfuse_file {
	/* both set once by rfuse_dev_bind(), each holding a reference */
	struct rfuse_chan *chan;
	struct fuse_conn *fc;
};

static DEFINE_MUTEX(rfuse_bind_mutex);

static int rfuse_dev_open(struct inode *inode, struct file *file)
{
	struct rfuse_file *rf;

	rf = kzalloc(sizeof(*rf), GFP_KERNEL);
	if (!rf)
		return -ENOMEM;
	file->private_data = rf;
	return stream_open(inode, file);
}

int rfuse_dev_bind(struct file *file, struct rfuse_chan *chan,
		   struct fuse_conn *fc)
{
	struct rfuse_file *rf = file->private_data;
	int err = -EBUSY;

	mutex_lock(&rfuse_bind_mutex);
	if (!rf->chan) {
		kref_get(&chan->ref);
		rf->fc = fuse_conn_get(fc);
		/* fc before chan: readers test chan with acquire */
		smp_store_release(&rf->chan, chan);
		err = 0;
	}
	mutex_unlock(&rfuse_bind_mutex);
	return err;
}

static struct rfuse_chan *rfuse_file_chan(struct file *file)
{
	struct rfuse_file *rf = file->private_data;

	/* pairs with smp_store_release() in rfuse_dev_bind() */
	return smp_load_acquire(&rf->chan);
}

static int rfuse_dev_release(struct inode *inode, struct file *file)
{
	struct rfuse_file *rf = file->private_data;

	if (rf->chan) {
		fuse_abort_conn(rf->fc);
		fuse_conn_put(rf->fc);
		rfuse_chan_put(rf->chan);
	}
	kfree(rf);
	return 0;
}

/* Maps one ring: offset RFUSE_RING_MMAP_OFFSET(ring), length <= ring_bytes. */
static int rfuse_dev_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct rfuse_chan *chan = rfuse_file_chan(file);
	u64 off = (u64)vma->vm_pgoff << PAGE_SHIFT;
	u64 ring_id = off >> RFUSE_RING_MMAP_SHIFT;

	if (!chan)
		return -ENODEV;
	if (ring_id >= chan->nr_rings ||
	    (off & ((1ULL << RFUSE_RING_MMAP_SHIFT) - 1)))
		return -EINVAL;
	if (vma->vm_end - vma->vm_start > chan->info.ring_bytes)
		return -EINVAL;
	return remap_vmalloc_range(vma, chan->rings[ring_id].shm, 0);
}

static long rfuse_dev_ioctl(struct file *file, unsigned int cmd,
			    unsigned long arg)
{
	struct rfuse_file *rf = file->private_data;
	struct rfuse_chan *chan = rfuse_file_chan(file);
	void __user *uarg = (void __user *)arg;

	if (!chan)
		return -ENODEV;

	switch (cmd) {
	case RFUSE_IOC_GET_INFO:
		if (copy_to_user(uarg, &chan->info, sizeof(chan->info)))
			return -EFAULT;
		return 0;
	case RFUSE_IOC_WAIT: {
		struct rfuse_wait w;

		if (copy_from_user(&w, uarg, sizeof(w)))
			return -EFAULT;
		if (w.flags)
			return -EINVAL;
		return rfuse_ring_wait(chan, rf->fc, w.ring);
	}
	case RFUSE_IOC_COMPLETE: {
		struct rfuse_complete c;

		if (copy_from_user(&c, uarg, sizeof(c)))
			return -EFAULT;
		return rfuse_ring_complete(chan, c.ring, c.slot, c.unique);
	}
	default:
		return -ENOTTY;
	}
}

const struct file_operations rfuse_dev_fops = {
	.owner		= THIS_MODULE,
	.open		= rfuse_dev_open,
	.release	= rfuse_dev_release,
	.mmap		= rfuse_dev_mmap,
	.unlocked_ioctl	= rfuse_dev_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= no_llseek,
};
