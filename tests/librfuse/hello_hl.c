/* A minimal high-level libfuse3 filesystem (fuse_main), built against
 * libfuse3 only: the interposition tests run it under
 * LD_PRELOAD=librfuse.so. Two read-only files: /hello, and /pattern
 * (kPatternSize bytes, byte i = pattern_byte(i)), large enough that a read
 * of it takes libfuse's splice path when FUSE_CAP_SPLICE_WRITE is wanted.
 * Options of its own: -o want_caps=N adds N (hex with 0x) to the
 * capabilities it asks for in init, unconditionally, as some filesystems
 * do (fuse-overlayfs asks for the splice ones). */
#define FUSE_USE_VERSION 312
#include <fuse.h>

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char kName[] = "hello";
static const char kText[] = "hello from a fuse_main() filesystem\n";
static const char kPatternName[] = "pattern";
static const size_t kPatternSize = 1024 * 1024 + 123;

static struct {
	const char *want_caps;
} options;

static const struct fuse_opt hl_opts[] = {
	{"want_caps=%s", offsetof(__typeof__(options), want_caps), 0},
	FUSE_OPT_END,
};

static unsigned char pattern_byte(size_t i)
{
	return (unsigned char)(i * 7 + i / 4096);
}

static void *hl_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)cfg;
	if (options.want_caps != NULL)
		conn->want |= (unsigned)strtoul(options.want_caps, NULL, 0);
	return NULL;
}

static int hl_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	memset(st, 0, sizeof(*st));
	if (strcmp(path, "/") == 0) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	if (strcmp(path + 1, kName) == 0 || strcmp(path + 1, kPatternName) == 0) {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = strcmp(path + 1, kName) == 0 ? (off_t)(sizeof(kText) - 1) : (off_t)kPatternSize;
		return 0;
	}
	return -ENOENT;
}

static int hl_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	(void)off;
	(void)fi;
	(void)flags;
	if (strcmp(path, "/") != 0)
		return -ENOENT;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	fill(buf, kName, NULL, 0, 0);
	fill(buf, kPatternName, NULL, 0, 0);
	return 0;
}

static int hl_open(const char *path, struct fuse_file_info *fi)
{
	if (strcmp(path + 1, kName) != 0 && strcmp(path + 1, kPatternName) != 0)
		return -ENOENT;
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	return 0;
}

static int hl_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	if (strcmp(path + 1, kPatternName) == 0) {
		if ((size_t)off >= kPatternSize)
			return 0;
		if (size > kPatternSize - (size_t)off)
			size = kPatternSize - (size_t)off;
		for (size_t i = 0; i < size; i++)
			buf[i] = (char)pattern_byte((size_t)off + i);
		return (int)size;
	}
	if (strcmp(path + 1, kName) != 0)
		return -ENOENT;
	size_t len = sizeof(kText) - 1;
	if ((size_t)off >= len)
		return 0;
	if (size > len - (size_t)off)
		size = len - (size_t)off;
	memcpy(buf, kText + off, size);
	return (int)size;
}

static const struct fuse_operations hl_ops = {
	.init = hl_init,
	.getattr = hl_getattr,
	.open = hl_open,
	.read = hl_read,
	.readdir = hl_readdir,
};

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	if (fuse_opt_parse(&args, &options, hl_opts, NULL) != 0)
		return 1;
	int rc = fuse_main(args.argc, args.argv, &hl_ops, NULL);
	fuse_opt_free_args(&args);
	return rc;
}
