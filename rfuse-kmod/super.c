// SPDX-License-Identifier: GPL-2.0
/*
 * The "rfuse" filesystem type: a FUSE mount whose connection is served by
 * ring channels (ring.c) instead of /dev/fuse. fuse.ko's VFS layer does
 * everything else (fuse_fill_super_common, INIT, inodes, page cache).
 *
 * mount -t rfuse -o fd=N,rootmode=M,user_id=U,group_id=G[,max_read=B]
 *       [,allow_other][,default_permissions][,rings=R][,poll_us=P]
 *       [,subtype=S] src dir      (S shows as type "rfuse.S" in mountinfo)
 * where N is an fd of /dev/rfuse, not bound to another mount yet.
 */
#include <linux/fs_parser.h>
#include <linux/file.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "rfuse_i.h"

struct rfuse_fs_context {
	struct fuse_fs_context fuse;
	int fd;
	bool fd_present;
	struct file *file;
	unsigned int rings;
	unsigned int poll_us;
};

enum {
	OPT_FD,
	OPT_ROOTMODE,
	OPT_USER_ID,
	OPT_GROUP_ID,
	OPT_DEFAULT_PERMISSIONS,
	OPT_ALLOW_OTHER,
	OPT_MAX_READ,
	OPT_RINGS,
	OPT_POLL_US,
	OPT_SUBTYPE,
};

static const struct fs_parameter_spec rfuse_fs_parameters[] = {
	fsparam_u32("fd", OPT_FD),
	fsparam_u32oct("rootmode", OPT_ROOTMODE),
	fsparam_u32("user_id", OPT_USER_ID),
	fsparam_u32("group_id", OPT_GROUP_ID),
	fsparam_flag("default_permissions", OPT_DEFAULT_PERMISSIONS),
	fsparam_flag("allow_other", OPT_ALLOW_OTHER),
	fsparam_u32("max_read", OPT_MAX_READ),
	fsparam_u32("rings", OPT_RINGS),
	fsparam_u32("poll_us", OPT_POLL_US),
	fsparam_string("subtype", OPT_SUBTYPE),
	{}
};

static bool rfuse_valid_rootmode(unsigned int mode)
{
	return S_ISREG(mode) || S_ISDIR(mode);
}

static int rfuse_parse_param(struct fs_context *fsc, struct fs_parameter *param)
{
	struct rfuse_fs_context *ctx = fsc->fs_private;
	struct fs_parse_result result;
	kuid_t kuid;
	kgid_t kgid;
	int opt;

	if (fsc->purpose == FS_CONTEXT_FOR_RECONFIGURE)
		return fsc->oldapi ? 0 : invalfc(fsc, "No changes allowed in reconfigure");

	opt = fs_parse(fsc, rfuse_fs_parameters, param, &result);
	if (opt < 0)
		return opt;

	switch (opt) {
	case OPT_FD:
		ctx->fd = result.uint_32;
		ctx->fd_present = true;
		break;
	case OPT_ROOTMODE:
		if (!rfuse_valid_rootmode(result.uint_32))
			return invalfc(fsc, "Invalid rootmode");
		ctx->fuse.rootmode = result.uint_32;
		ctx->fuse.rootmode_present = true;
		break;
	case OPT_USER_ID:
		kuid = make_kuid(fsc->user_ns, result.uint_32);
		if (!uid_valid(kuid))
			return invalfc(fsc, "Invalid user_id");
		ctx->fuse.user_id = kuid;
		ctx->fuse.user_id_present = true;
		break;
	case OPT_GROUP_ID:
		kgid = make_kgid(fsc->user_ns, result.uint_32);
		if (!gid_valid(kgid))
			return invalfc(fsc, "Invalid group_id");
		ctx->fuse.group_id = kgid;
		ctx->fuse.group_id_present = true;
		break;
	case OPT_DEFAULT_PERMISSIONS:
		ctx->fuse.default_permissions = true;
		break;
	case OPT_ALLOW_OTHER:
		ctx->fuse.allow_other = true;
		break;
	case OPT_MAX_READ:
		ctx->fuse.max_read = result.uint_32;
		break;
	case OPT_RINGS:
		if (!result.uint_32)
			return invalfc(fsc, "rings must be at least 1");
		ctx->rings = result.uint_32;
		break;
	case OPT_POLL_US:
		if (result.uint_32 > RFUSE_MAX_POLL_US)
			return invalfc(fsc, "poll_us must be at most %u",
				       RFUSE_MAX_POLL_US);
		ctx->poll_us = result.uint_32;
		break;
	case OPT_SUBTYPE:
		if (ctx->fuse.subtype)
			return invalfc(fsc, "Multiple subtypes specified");
		ctx->fuse.subtype = param->string;
		param->string = NULL;
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

static int rfuse_fill_super(struct super_block *sb, struct fs_context *fsc)
{
	struct rfuse_fs_context *ctx = fsc->fs_private;
	struct fuse_mount *fm = get_fuse_mount_super(sb);
	struct fuse_conn *fc = fm->fc;
	struct rfuse_chan *chan = rfuse_fc_iq(fc)->priv;
	int err;

	err = rfuse_chan_alloc_devs(chan);
	if (err)
		return err;
	/* rfuse installs its own fuse devices, one per ring */
	rfuse_ctx_no_dev(&ctx->fuse);
	err = fuse_fill_super_common(sb, &ctx->fuse);
	if (err)
		goto err_free_devs;
	err = rfuse_dev_bind(ctx->file, chan, fc);
	if (err)
		goto err_free_devs;
	rfuse_chan_install_devs(chan, fc);
	fuse_send_init(fm);
	return 0;

err_free_devs:
	/* kill_sb skips the connection teardown while s_root is unset */
	rfuse_chan_free_devs(chan);
	return err;
}

static int rfuse_get_tree(struct fs_context *fsc)
{
	struct rfuse_fs_context *ctx = fsc->fs_private;
	struct rfuse_chan *chan;
	struct fuse_conn *fc;
	struct fuse_mount *fm;
	int err;

	if (!ctx->fd_present || !ctx->fuse.rootmode_present ||
	    !ctx->fuse.user_id_present || !ctx->fuse.group_id_present)
		return invalfc(fsc, "fd, rootmode, user_id and group_id are required");

	ctx->file = fget(ctx->fd);
	if (!ctx->file)
		return -EBADF;
	err = -EINVAL;
	/* like fuse: the device must come from the mounter's user namespace */
	if (ctx->file->f_op != &rfuse_dev_fops ||
	    ctx->file->f_cred->user_ns != fsc->user_ns)
		goto out_fput;

	chan = rfuse_chan_create(ctx->rings, ctx->poll_us);
	if (IS_ERR(chan)) {
		err = PTR_ERR(chan);
		goto out_fput;
	}
	err = -ENOMEM;
	fc = kzalloc(sizeof(*fc), GFP_KERNEL);
	fm = kzalloc(sizeof(*fm), GFP_KERNEL);
	if (!fc || !fm ||
	    rfuse_conn_init(fc, fm, fsc->user_ns, &rfuse_fiq_ops, chan)) {
		kfree(fc);
		kfree(fm);
		rfuse_chan_put(chan);
		goto out_fput;
	}
	/* from here on the fuse_conn owns our reference to chan */
	fc->release = fuse_free_conn;
	/*
	 * No request may outgrow an argument slot: cap the limit INIT may
	 * raise max_pages to, and max_pages itself, which stays at fuse's
	 * default (32) when the daemon does not negotiate FUSE_MAX_PAGES.
	 */
	fc->max_pages_limit = min_t(unsigned int, fc->max_pages_limit,
				    chan->info.max_pages);
	fc->max_pages = min_t(unsigned int, fc->max_pages, fc->max_pages_limit);
	chan->fc = fc;

	fsc->s_fs_info = fm;
	err = get_tree_nodev(fsc, rfuse_fill_super);
	if (fsc->s_fs_info)
		fuse_mount_destroy(fm);
out_fput:
	fput(ctx->file);
	ctx->file = NULL;
	return err;
}

static void rfuse_free_fsc(struct fs_context *fsc)
{
	struct rfuse_fs_context *ctx = fsc->fs_private;

	if (ctx)
		kfree(ctx->fuse.subtype);
	kfree(ctx);
}

static const struct fs_context_operations rfuse_context_ops = {
	.free		= rfuse_free_fsc,
	.parse_param	= rfuse_parse_param,
	.get_tree	= rfuse_get_tree,
};

static int rfuse_init_fs_context(struct fs_context *fsc)
{
	struct rfuse_fs_context *ctx;

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return -ENOMEM;
	ctx->fuse.max_read = ~0;
	ctx->fuse.legacy_opts_show = true;
	ctx->poll_us = READ_ONCE(rfuse_poll_us);
	fsc->fs_private = ctx;
	fsc->ops = &rfuse_context_ops;
	return 0;
}

static void rfuse_kill_sb(struct super_block *sb)
{
	struct fuse_mount *fm = get_fuse_mount_super(sb);

	/* without s_root the mount failed before the connection was set up */
	if (sb->s_root && fuse_mount_remove(fm)) {
		fuse_conn_destroy(fm);
		rfuse_chan_free_devs(rfuse_fc_iq(fm->fc)->priv);
	}
	kill_anon_super(sb);
	fuse_mount_destroy(fm);
}

struct file_system_type rfuse_fs_type = {
	.owner		= THIS_MODULE,
	.name		= RFUSE_FS_TYPE,
	.fs_flags	= FS_HAS_SUBTYPE,
	.init_fs_context = rfuse_init_fs_context,
	.parameters	= rfuse_fs_parameters,
	.kill_sb	= rfuse_kill_sb,
};
MODULE_ALIAS_FS(RFUSE_FS_TYPE);
