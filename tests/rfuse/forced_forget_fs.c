/*
 * forced_forget_fs: a libfuse3 low-level filesystem (built against libfuse3
 * only) whose READDIRPLUS lists one entry the kernel cannot link (mode 0 is
 * no file type), so that fuse.ko sends FUSE_FORGET for it as a forced
 * request that expects no reply (fuse_force_forget() in fs/fuse/readdir.c).
 * libfuse answers a FORGET with fuse_reply_none(). Over /dev/fuse the
 * kernel ends such a request as soon as the daemon has read it; a transport
 * that hands requests over in slots or ring entries must end it itself, or
 * the getdents() that sent it waits (uninterruptibly after a signal) until
 * the daemon exits. forced_forget_test.sh runs it.
 */
#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif
#include <fuse_lowlevel.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void ff_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	memset(&st, 0, sizeof(st));
	st.st_ino = ino;
	st.st_mode = S_IFDIR | 0755;
	st.st_nlink = 2;
	fuse_reply_attr(req, &st, 1.0);
}

static void ff_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent;
	(void)name;
	fuse_reply_err(req, ENOENT);
}

static void ff_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	fuse_reply_open(req, fi);
}

static void ff_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	char buf[4096];
	size_t n = 0;

	(void)ino;
	(void)fi;
	if (off == 0) {
		struct fuse_entry_param e;

		memset(&e, 0, sizeof(e));
		e.ino = 5;
		e.attr.st_ino = 5;
		e.attr.st_mode = 0; /* no file type: fuse_direntplus_link() fails */
		e.attr_timeout = e.entry_timeout = 1.0;
		n = fuse_add_direntry_plus(req, buf, size < sizeof(buf) ? size : sizeof(buf), "bad", &e, 1);
	}
	fuse_reply_buf(req, buf, n);
}

static void ff_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fprintf(stderr, "forced_forget_fs: FORGET %lu (nlookup %lu)\n", (unsigned long)ino, (unsigned long)nlookup);
	fuse_reply_none(req);
}

static const struct fuse_lowlevel_ops ops = {
	.getattr = ff_getattr,
	.lookup = ff_lookup,
	.opendir = ff_opendir,
	.readdirplus = ff_readdirplus,
	.forget = ff_forget,
};

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts;
	struct fuse_session *se;
	int rc;

	if (fuse_parse_cmdline(&args, &opts) != 0 || !opts.mountpoint)
		return 2;
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!se || fuse_session_mount(se, opts.mountpoint) != 0)
		return 1;
	rc = fuse_session_loop(se);
	fuse_session_unmount(se);
	fuse_session_destroy(se);
	return rc;
}
