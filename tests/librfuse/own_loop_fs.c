/* A low-level libfuse3 filesystem that runs its own receive loop
 * (fuse_session_receive_buf + fuse_session_process_buf, as pyfuse3 and
 * qemu-storage-daemon do) instead of one of libfuse's loops. Built against
 * libfuse3 only; the interposition tests run it under
 * LD_PRELOAD=librfuse.so. One read-only file, /hello. */
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char kText[] = "hello from a program with its own loop\n";
#define HELLO_INO 2

static void fill_attr(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = sizeof(kText) - 1;
	}
}

static void ol_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (parent != FUSE_ROOT_ID || strcmp(name, "hello") != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	struct fuse_entry_param e;
	memset(&e, 0, sizeof(e));
	e.ino = HELLO_INO;
	fill_attr(HELLO_INO, &e.attr);
	fuse_reply_entry(req, &e);
}

static void ol_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	if (ino != FUSE_ROOT_ID && ino != HELLO_INO) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	struct stat st;
	fill_attr(ino, &st);
	fuse_reply_attr(req, &st, 1.0);
}

static void ol_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	size_t len = sizeof(kText) - 1;
	if (ino != HELLO_INO || (size_t)off >= len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	fuse_reply_buf(req, kText + off, size < len - (size_t)off ? size : len - (size_t)off);
}

static const struct fuse_lowlevel_ops ol_ops = {
	.lookup = ol_lookup,
	.getattr = ol_getattr,
	.read = ol_read,
};

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts;
	int rc = 1;
	if (fuse_parse_cmdline(&args, &opts) != 0 || opts.mountpoint == NULL)
		return 2;
	struct fuse_session *se = fuse_session_new(&args, &ol_ops, sizeof(ol_ops), NULL);
	if (se == NULL)
		goto out_args;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, opts.mountpoint) != 0)
		goto out_handlers;
	fuse_daemonize(opts.foreground);

	struct fuse_buf buf = {.mem = NULL};
	int res = 0;
	while (!fuse_session_exited(se)) {
		res = fuse_session_receive_buf(se, &buf);
		if (res == -EINTR)
			continue;
		if (res <= 0)
			break;
		fuse_session_process_buf(se, &buf);
	}
	free(buf.mem);
	rc = res < 0 ? 1 : 0;
	fuse_session_unmount(se);
out_handlers:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_args:
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	return rc;
}
