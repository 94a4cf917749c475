// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/rfuse: the daemon's handle on one RFUSE connection. An fd is opened
 * unbound, bound by mount(2) (fd=N), then gives the ring layout
 * (RFUSE_IOC_GET_INFO), the ring memory (mmap), a place to sleep
 * (RFUSE_IOC_WAIT) and the completion call (RFUSE_IOC_COMPLETE).
 * write() carries FUSE notifications (unique 0) only: replies travel through
 * the rings.
 * Closing the last reference aborts the connection: every waiting and
 * future request fails, as when a /dev/fuse daemon dies.
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <linux/vmalloc.h>

#include "rfuse_i.h"

struct rfuse_file {
	/* all set once by rfuse_dev_bind(), each holding a reference */
	struct rfuse_chan *chan;
	struct fuse_conn *fc;
	/*
	 * Notifications are handed to fuse.ko's own /dev/fuse write (its
	 * parser is static; the file_operations are exported), which takes
	 * the fuse_dev from file->private_data: notify_file is an internal
	 * file whose private_data is notify_fud, a fuse_dev of this
	 * connection that carries no requests. Both live as long as this
	 * file, so a write cannot outlive them, even after unmount.
	 */
	struct fuse_dev *notify_fud;
	struct file *notify_file;
};

/* never installed in an fd table: the VFS calls nothing of it */
static const struct file_operations rfuse_notify_fops = {
	.owner		= THIS_MODULE,
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
	struct fuse_dev *fud;
	struct file *nf;
	int err = -EBUSY;

	mutex_lock(&rfuse_bind_mutex);
	if (rf->chan)
		goto out;
	err = -ENOMEM;
	fud = rfuse_dev_alloc_install(fc);
	if (!fud)
		goto out;
	nf = anon_inode_getfile("[rfuse-notify]", &rfuse_notify_fops, fud,
				O_WRONLY);
	if (IS_ERR(nf)) {
		err = PTR_ERR(nf);
		rfuse_dev_free(fud);
		goto out;
	}
	rf->notify_fud = fud;
	rf->notify_file = nf;
	kref_get(&chan->ref);
	rf->fc = fuse_conn_get(fc);
	/* the rest before chan: readers test chan with acquire */
	smp_store_release(&rf->chan, chan);
	err = 0;
out:
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
		rfuse_abort(rf->fc);
		/* no write is in flight: it would hold this file */
		fput(rf->notify_file);
		rfuse_dev_free(rf->notify_fud);
		fuse_conn_put(rf->fc);
		rfuse_chan_put(rf->chan);
	}
	kfree(rf);
	return 0;
}

/*
 * Maps one ring: offset RFUSE_RING_MMAP_OFFSET(ring), length <= ring_bytes.
 * Only as shared memory (a private mapping would copy pages on write and
 * silently cut the daemon off), never executable (now or by a later
 * mprotect()), and not inherited by fork()ed children.
 */
static int rfuse_dev_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct rfuse_chan *chan = rfuse_file_chan(file);
	u64 off = (u64)vma->vm_pgoff << PAGE_SHIFT;
	u64 ring_id = off >> RFUSE_RING_MMAP_SHIFT;

	if (!chan)
		return -ENODEV;
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;
	if (ring_id >= chan->nr_rings ||
	    (off & ((1ULL << RFUSE_RING_MMAP_SHIFT) - 1)))
		return -EINVAL;
	if (vma->vm_end - vma->vm_start > chan->info.ring_bytes)
		return -EINVAL;
	rfuse_vm_flags_mod(vma, VM_DONTCOPY, VM_MAYEXEC);
	return remap_vmalloc_range(vma, chan->rings[ring_id].shm, 0);
}

/*
 * A FUSE notification from the daemon (struct fuse_out_header with unique
 * 0 and the notify code in error, then its argument), e.g. from
 * fuse_lowlevel_notify_inval_inode(). fuse.ko checks and applies it, and
 * fails a malformed one with EINVAL. FUSE_NOTIFY_RETRIEVE's answer, a
 * FUSE_NOTIFY_REPLY request, then comes through the rings.
 */
static ssize_t rfuse_dev_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	struct rfuse_file *rf = iocb->ki_filp->private_data;
	struct iov_iter peek = *from;
	struct fuse_out_header oh;
	struct kiocb notify_iocb;
	struct rfuse_chan *chan = rfuse_file_chan(iocb->ki_filp);
	ssize_t ret;

	if (!chan)
		return -ENODEV;
	if (iov_iter_count(from) < sizeof(oh))
		return -EINVAL;
	if (copy_from_iter(&oh, sizeof(oh), &peek) != sizeof(oh))
		return -EFAULT;
	/* replies go into ring slots, never through write() */
	if (oh.unique)
		return -EINVAL;
	init_sync_kiocb(&notify_iocb, rf->notify_file);
	ret = fuse_dev_operations.write_iter(&notify_iocb, from);
	/*
	 * FUSE_NOTIFY_RESEND (6.9+) puts every request the daemon holds back
	 * on fuse's pending queue without telling the transport: publish them
	 * again now (their old slots are no longer theirs: rfuse_pq_holds()).
	 */
	if (ret > 0)
		rfuse_chan_dispatch(chan);
	return ret;
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
	.write_iter	= rfuse_dev_write_iter,
	.mmap		= rfuse_dev_mmap,
	.unlocked_ioctl	= rfuse_dev_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= RFUSE_NO_LLSEEK,
};
