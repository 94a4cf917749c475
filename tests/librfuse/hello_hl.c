/* A minimal high-level libfuse3 filesystem (fuse_main), built against
 * libfuse3 only: the interposition tests run it under
 * LD_PRELOAD=librfuse.so. One read-only file, /hello. */
#define FUSE_USE_VERSION 312
#include <fuse.h>

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static const char kName[] = "hello";
static const char kText[] = "hello from a fuse_main() filesystem\n";

static int hl_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	memset(st, 0, sizeof(*st));
	if (strcmp(path, "/") == 0) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	if (strcmp(path + 1, kName) == 0) {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = sizeof(kText) - 1;
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
	return 0;
}

static int hl_open(const char *path, struct fuse_file_info *fi)
{
	if (strcmp(path + 1, kName) != 0)
		return -ENOENT;
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	return 0;
}

static int hl_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)fi;
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
	.getattr = hl_getattr,
	.open = hl_open,
	.read = hl_read,
	.readdir = hl_readdir,
};

int main(int argc, char *argv[])
{
	return fuse_main(argc, argv, &hl_ops, NULL);
}
