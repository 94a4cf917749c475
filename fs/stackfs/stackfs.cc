#include "stackfs.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <memory>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

namespace stackfs {
namespace {

StackFs *self(fuse_req_t req)
{
	return static_cast<StackFs *>(fuse_req_userdata(req));
}

Inode *inode_of(fuse_req_t req, fuse_ino_t ino)
{
	return self(req)->inode(ino);
}

// "self/fd/N" (below StackFs::proc_fd()) and "/proc/self/fd/N" for an O_PATH
// descriptor: how a file held only by O_PATH is reopened for I/O or named
// for the calls that have no *at() form (xattrs, truncate, chmod).
struct FdName {
	char text[24];
	explicit FdName(int fd) { std::snprintf(text, sizeof(text), "self/fd/%d", fd); }
};
struct FdPath {
	char text[32];
	explicit FdPath(int fd) { std::snprintf(text, sizeof(text), "/proc/self/fd/%d", fd); }
};

// A per-thread buffer for read and readdir replies: no allocation per request.
char *thread_buffer(size_t size)
{
	thread_local std::unique_ptr<char[]> data;
	thread_local size_t capacity = 0;
	if (size > capacity) {
		data.reset(new char[size]);
		capacity = size;
	}
	return data.get();
}

void reply_errno(fuse_req_t req, int rc)
{
	fuse_reply_err(req, rc == -1 ? errno : 0);
}

void set_open_flags(StackFs *fs, fuse_file_info *fi)
{
	switch (fs->config().cache) {
	case CacheMode::kNever: fi->direct_io = 1; break;
	case CacheMode::kAlways: fi->keep_cache = 1; break;
	case CacheMode::kAuto: break;
	}
}

// Looks `name` up in `dir` and counts one lookup of what it finds.
int make_entry(StackFs *fs, Inode *dir, const char *name, fuse_entry_param *e)
{
	*e = {};
	int fd = openat(dir->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (fstatat(fd, "", &e->attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) {
		int err = errno;
		close(fd);
		return err;
	}
	e->ino = reinterpret_cast<fuse_ino_t>(fs->table().acquire(fd, e->attr));
	e->attr_timeout = fs->config().attr_timeout;
	e->entry_timeout = fs->config().entry_timeout;
	return 0;
}

void reply_new_entry(fuse_req_t req, Inode *dir, const char *name)
{
	fuse_entry_param e;
	if (int err = make_entry(self(req), dir, name, &e))
		return (void)fuse_reply_err(req, err);
	fuse_reply_entry(req, &e);
}

// StackFS creates as root; a new entry then gets the caller's owner, and
// the caller's group unless the directory is set-group-ID (the source has
// already given it the directory's group), as a local filesystem would.
// `fd` is an open descriptor of the new file, or -1 to go by name.
int give_to_caller(fuse_req_t req, Inode *dir, int fd, const char *name, mode_t mode)
{
	const fuse_ctx *ctx = fuse_req_ctx(req);
	if (geteuid() != 0 || (ctx->uid == 0 && ctx->gid == 0))
		return 0;
	struct stat dst;
	if (fstatat(dir->fd, "", &dst, AT_EMPTY_PATH) != 0)
		return errno;
	gid_t gid = (dst.st_mode & S_ISGID) ? static_cast<gid_t>(-1) : ctx->gid;
	int rc = fd >= 0 ? fchown(fd, ctx->uid, gid) : fchownat(dir->fd, name, ctx->uid, gid, AT_SYMLINK_NOFOLLOW);
	if (rc != 0)
		return errno;
	// chown cleared set-user/group-ID bits of a non-directory; put back what was asked.
	if (!S_ISDIR(mode) && !S_ISLNK(mode) && (mode & (S_ISUID | S_ISGID))) {
		rc = fd >= 0 ? fchmod(fd, mode & 07777) : fchmodat(dir->fd, name, mode & 07777, 0);
		if (rc != 0)
			return errno;
	}
	return 0;
}

void sf_init(void *, fuse_conn_info *)
{
}

void sf_destroy(void *userdata)
{
	static_cast<StackFs *>(userdata)->table().clear();
}

void sf_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	StackFs *fs = self(req);
	fuse_entry_param e;
	int err = make_entry(fs, fs->inode(parent), name, &e);
	if (err == ENOENT && fs->config().entry_timeout > 0) {
		// A negative entry, cached like a positive one.
		e = {};
		e.entry_timeout = fs->config().entry_timeout;
		return (void)fuse_reply_entry(req, &e);
	}
	if (err != 0)
		return (void)fuse_reply_err(req, err);
	fuse_reply_entry(req, &e);
}

void forget_one(StackFs *fs, fuse_ino_t ino, uint64_t nlookup)
{
	if (ino != FUSE_ROOT_ID)
		fs->table().forget(fs->inode(ino), nlookup);
}

void sf_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	forget_one(self(req), ino, nlookup);
	fuse_reply_none(req);
}

void sf_forget_multi(fuse_req_t req, size_t count, fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; ++i)
		forget_one(self(req), forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

void sf_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info *)
{
	struct stat st;
	if (fstatat(inode_of(req, ino)->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0)
		return (void)fuse_reply_err(req, errno);
	fuse_reply_attr(req, &st, self(req)->config().attr_timeout);
}

// Through the open file when the kernel names one (ftruncate, futimens),
// else through the inode's O_PATH descriptor.
int apply_setattr(Inode *in, const struct stat *attr, int valid, fuse_file_info *fi)
{
	int fd = fi != nullptr ? static_cast<int>(fi->fh) : -1;
	if (valid & FUSE_SET_ATTR_MODE) {
		int rc = fd >= 0 ? fchmod(fd, attr->st_mode) : chmod(FdPath(in->fd).text, attr->st_mode);
		if (rc != 0)
			return errno;
	}
	if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t uid = (valid & FUSE_SET_ATTR_UID) ? attr->st_uid : static_cast<uid_t>(-1);
		gid_t gid = (valid & FUSE_SET_ATTR_GID) ? attr->st_gid : static_cast<gid_t>(-1);
		if (fchownat(in->fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0)
			return errno;
	}
	if (valid & FUSE_SET_ATTR_SIZE) {
		int rc = fd >= 0 ? ftruncate(fd, attr->st_size) : truncate(FdPath(in->fd).text, attr->st_size);
		if (rc != 0)
			return errno;
	}
	if (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		timespec ts[2];
		ts[0].tv_sec = 0;
		ts[0].tv_nsec = UTIME_OMIT;
		ts[1] = ts[0];
		if (valid & FUSE_SET_ATTR_ATIME_NOW)
			ts[0].tv_nsec = UTIME_NOW;
		else if (valid & FUSE_SET_ATTR_ATIME)
			ts[0] = attr->st_atim;
		if (valid & FUSE_SET_ATTR_MTIME_NOW)
			ts[1].tv_nsec = UTIME_NOW;
		else if (valid & FUSE_SET_ATTR_MTIME)
			ts[1] = attr->st_mtim;
		int rc = fd >= 0 ? futimens(fd, ts)
				 : utimensat(in->fd, "", ts, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
		if (rc != 0)
			return errno;
	}
	return 0;
}

void sf_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid, fuse_file_info *fi)
{
	if (int err = apply_setattr(inode_of(req, ino), attr, valid, fi))
		return (void)fuse_reply_err(req, err);
	sf_getattr(req, ino, fi);
}

void sf_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char target[PATH_MAX + 1];
	ssize_t n = readlinkat(inode_of(req, ino)->fd, "", target, sizeof(target));
	if (n < 0)
		return (void)fuse_reply_err(req, errno);
	if (static_cast<size_t>(n) >= sizeof(target))
		return (void)fuse_reply_err(req, ENAMETOOLONG);
	target[n] = '\0';
	fuse_reply_readlink(req, target);
}

void sf_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	Inode *dir = inode_of(req, parent);
	if (mknodat(dir->fd, name, mode, rdev) != 0)
		return (void)fuse_reply_err(req, errno);
	if (int err = give_to_caller(req, dir, -1, name, mode))
		return (void)fuse_reply_err(req, err);
	reply_new_entry(req, dir, name);
}

void sf_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	Inode *dir = inode_of(req, parent);
	if (mkdirat(dir->fd, name, mode) != 0)
		return (void)fuse_reply_err(req, errno);
	if (int err = give_to_caller(req, dir, -1, name, S_IFDIR | mode))
		return (void)fuse_reply_err(req, err);
	reply_new_entry(req, dir, name);
}

void sf_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	Inode *dir = inode_of(req, parent);
	if (symlinkat(link, dir->fd, name) != 0)
		return (void)fuse_reply_err(req, errno);
	if (int err = give_to_caller(req, dir, -1, name, S_IFLNK | 0777))
		return (void)fuse_reply_err(req, err);
	reply_new_entry(req, dir, name);
}

void sf_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	Inode *in = inode_of(req, ino);
	Inode *dir = inode_of(req, newparent);
	// AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; /proc/self/fd works without it
	// (but not for symlinks, which it would follow).
	int rc = linkat(in->fd, "", dir->fd, newname, AT_EMPTY_PATH);
	if (rc != 0 && errno == ENOENT && !S_ISLNK(in->type))
		rc = linkat(AT_FDCWD, FdPath(in->fd).text, dir->fd, newname, AT_SYMLINK_FOLLOW);
	if (rc != 0)
		return (void)fuse_reply_err(req, errno);
	reply_new_entry(req, dir, newname);
}

void sf_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	reply_errno(req, unlinkat(inode_of(req, parent)->fd, name, 0));
}

void sf_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	reply_errno(req, unlinkat(inode_of(req, parent)->fd, name, AT_REMOVEDIR));
}

void sf_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
	       const char *newname, unsigned int flags)
{
	reply_errno(req, renameat2(inode_of(req, parent)->fd, name, inode_of(req, newparent)->fd,
				   newname, flags));
}

void sf_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi)
{
	StackFs *fs = self(req);
	int fd = openat(fs->proc_fd(), FdName(fs->inode(ino)->fd).text,
			(fi->flags & ~O_NOFOLLOW) | O_CLOEXEC);
	if (fd < 0)
		return (void)fuse_reply_err(req, errno);
	fi->fh = static_cast<uint64_t>(fd);
	set_open_flags(fs, fi);
	if (fuse_reply_open(req, fi) != 0)
		close(fd); // the open was interrupted: no release will come
}

void sf_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, fuse_file_info *fi)
{
	StackFs *fs = self(req);
	Inode *dir = fs->inode(parent);
	int fd = openat(dir->fd, name, (fi->flags | O_CREAT | O_CLOEXEC) & ~O_NOFOLLOW, mode);
	if (fd < 0)
		return (void)fuse_reply_err(req, errno);
	fuse_entry_param e;
	int err = give_to_caller(req, dir, fd, name, S_IFREG | mode);
	if (err == 0)
		err = make_entry(fs, dir, name, &e);
	if (err != 0) {
		close(fd);
		return (void)fuse_reply_err(req, err);
	}
	fi->fh = static_cast<uint64_t>(fd);
	set_open_flags(fs, fi);
	if (fuse_reply_create(req, &e, fi) != 0) {
		close(fd);
		forget_one(fs, e.ino, 1);
	}
}

void sf_read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info *fi)
{
	char *buf = thread_buffer(size);
	size_t done = 0;
	while (done < size) {
		ssize_t n = pread(static_cast<int>(fi->fh), buf + done, size - done, off + static_cast<off_t>(done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (done == 0)
				return (void)fuse_reply_err(req, errno);
			break;
		}
		if (n == 0)
			break;
		done += static_cast<size_t>(n);
	}
	fuse_reply_buf(req, buf, done);
}

void sf_write_buf(fuse_req_t req, fuse_ino_t, fuse_bufvec *in_buf, off_t off, fuse_file_info *fi)
{
	// Let libfuse move the data (from memory, or from a pipe when splice is on).
	fuse_bufvec out{};
	out.count = 1;
	out.buf[0].size = fuse_buf_size(in_buf);
	out.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
	out.buf[0].fd = static_cast<int>(fi->fh);
	out.buf[0].pos = off;
	ssize_t n = fuse_buf_copy(&out, in_buf, static_cast<fuse_buf_copy_flags>(0));
	if (n < 0)
		return (void)fuse_reply_err(req, static_cast<int>(-n));
	fuse_reply_write(req, static_cast<size_t>(n));
}

void sf_flush(fuse_req_t req, fuse_ino_t, fuse_file_info *fi)
{
	// Closing a duplicate reports the errors some filesystems (NFS) only give at close.
	int dup_fd = dup(static_cast<int>(fi->fh));
	if (dup_fd < 0)
		return (void)fuse_reply_err(req, errno);
	reply_errno(req, close(dup_fd));
}

void sf_release(fuse_req_t req, fuse_ino_t, fuse_file_info *fi)
{
	close(static_cast<int>(fi->fh));
	fuse_reply_err(req, 0);
}

void sf_fsync(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info *fi)
{
	int fd = static_cast<int>(fi->fh);
	reply_errno(req, datasync ? fdatasync(fd) : fsync(fd));
}

// An open directory. The kernel serialises readdir calls on one handle.
struct DirHandle {
	DIR *stream = nullptr;
	off_t offset = 0;         // where `stream` is, as readdir offsets go
	dirent *pending = nullptr; // read from the stream but not yet replied
};

DirHandle *dir_handle(fuse_file_info *fi)
{
	return reinterpret_cast<DirHandle *>(fi->fh);
}

void sf_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi)
{
	StackFs *fs = self(req);
	int fd = openat(fs->inode(ino)->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return (void)fuse_reply_err(req, errno);
	DIR *stream = fdopendir(fd);
	if (stream == nullptr) {
		int err = errno;
		close(fd);
		return (void)fuse_reply_err(req, err);
	}
	auto *d = new DirHandle;
	d->stream = stream;
	fi->fh = reinterpret_cast<uint64_t>(d);
	if (fs->config().cache == CacheMode::kAlways) {
		fi->keep_cache = 1;
		fi->cache_readdir = 1;
	}
	if (fuse_reply_open(req, fi) != 0) {
		closedir(stream);
		delete d;
	}
}

bool is_dot_or_dotdot(const char *name)
{
	return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

// One readdir reply. With `plus`, every entry but "." and ".." is looked up
// and counted; an entry that no longer fits is forgotten again and stays
// pending for the next call.
void read_directory(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info *fi, bool plus)
{
	StackFs *fs = self(req);
	DirHandle *d = dir_handle(fi);
	char *buf = thread_buffer(size);
	if (off != d->offset) {
		seekdir(d->stream, off);
		d->offset = off;
		d->pending = nullptr;
	}
	size_t used = 0;
	int err = 0;
	for (;;) {
		if (d->pending == nullptr) {
			errno = 0;
			d->pending = readdir(d->stream);
			if (d->pending == nullptr) {
				err = errno;
				break;
			}
		}
		const dirent *ent = d->pending;
		off_t next = ent->d_off;
		size_t need;
		if (plus) {
			fuse_entry_param e{};
			bool counted = false;
			if (!is_dot_or_dotdot(ent->d_name) &&
			    make_entry(fs, fs->inode(ino), ent->d_name, &e) == 0) {
				counted = true;
			} else {
				// Node id 0: listed, but the kernel makes no inode of it.
				e = {};
				e.attr.st_ino = ent->d_ino;
				e.attr.st_mode = DTTOIF(ent->d_type);
			}
			need = fuse_add_direntry_plus(req, buf + used, size - used, ent->d_name, &e, next);
			if (need > size - used) {
				if (counted)
					forget_one(fs, e.ino, 1);
				break;
			}
		} else {
			struct stat st {};
			st.st_ino = ent->d_ino;
			st.st_mode = DTTOIF(ent->d_type);
			need = fuse_add_direntry(req, buf + used, size - used, ent->d_name, &st, next);
			if (need > size - used)
				break;
		}
		used += need;
		d->pending = nullptr;
		d->offset = next;
	}
	if (used == 0 && err != 0)
		return (void)fuse_reply_err(req, err);
	fuse_reply_buf(req, buf, used);
}

void sf_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info *fi)
{
	read_directory(req, ino, size, off, fi, false);
}

void sf_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info *fi)
{
	read_directory(req, ino, size, off, fi, true);
}

void sf_releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info *fi)
{
	DirHandle *d = dir_handle(fi);
	closedir(d->stream);
	delete d;
	fuse_reply_err(req, 0);
}

void sf_fsyncdir(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info *fi)
{
	int fd = dirfd(dir_handle(fi)->stream);
	reply_errno(req, datasync ? fdatasync(fd) : fsync(fd));
}

void sf_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;
	if (fstatvfs(inode_of(req, ino)->fd, &sv) != 0)
		return (void)fuse_reply_err(req, errno);
	fuse_reply_statfs(req, &sv);
}

// Extended attributes go by /proc/self/fd/N: following that magic link
// lands on the inode itself, symlinks included.
void sf_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags)
{
	reply_errno(req, setxattr(FdPath(inode_of(req, ino)->fd).text, name, value, size, flags));
}

void sf_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	FdPath path(inode_of(req, ino)->fd);
	if (size == 0) {
		ssize_t n = getxattr(path.text, name, nullptr, 0);
		return n < 0 ? (void)fuse_reply_err(req, errno) : (void)fuse_reply_xattr(req, static_cast<size_t>(n));
	}
	char *buf = thread_buffer(size);
	ssize_t n = getxattr(path.text, name, buf, size);
	if (n < 0)
		return (void)fuse_reply_err(req, errno);
	fuse_reply_buf(req, buf, static_cast<size_t>(n));
}

void sf_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	FdPath path(inode_of(req, ino)->fd);
	if (size == 0) {
		ssize_t n = listxattr(path.text, nullptr, 0);
		return n < 0 ? (void)fuse_reply_err(req, errno) : (void)fuse_reply_xattr(req, static_cast<size_t>(n));
	}
	char *buf = thread_buffer(size);
	ssize_t n = listxattr(path.text, buf, size);
	if (n < 0)
		return (void)fuse_reply_err(req, errno);
	fuse_reply_buf(req, buf, static_cast<size_t>(n));
}

void sf_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	reply_errno(req, removexattr(FdPath(inode_of(req, ino)->fd).text, name));
}

void sf_fallocate(fuse_req_t req, fuse_ino_t, int mode, off_t off, off_t len, fuse_file_info *fi)
{
	reply_errno(req, fallocate(static_cast<int>(fi->fh), mode, off, len));
}

void sf_lseek(fuse_req_t req, fuse_ino_t, off_t off, int whence, fuse_file_info *fi)
{
	off_t pos = lseek(static_cast<int>(fi->fh), off, whence);
	if (pos < 0)
		return (void)fuse_reply_err(req, errno);
	fuse_reply_lseek(req, pos);
}

void sf_copy_file_range(fuse_req_t req, fuse_ino_t, off_t off_in, fuse_file_info *fi_in, fuse_ino_t,
			off_t off_out, fuse_file_info *fi_out, size_t len, int flags)
{
	ssize_t n = copy_file_range(static_cast<int>(fi_in->fh), &off_in, static_cast<int>(fi_out->fh),
				    &off_out, len, static_cast<unsigned>(flags));
	if (n < 0)
		return (void)fuse_reply_err(req, errno);
	fuse_reply_write(req, static_cast<size_t>(n));
}

fuse_lowlevel_ops make_operations()
{
	fuse_lowlevel_ops ops{};
	ops.init = sf_init;
	ops.destroy = sf_destroy;
	ops.lookup = sf_lookup;
	ops.forget = sf_forget;
	ops.forget_multi = sf_forget_multi;
	ops.getattr = sf_getattr;
	ops.setattr = sf_setattr;
	ops.readlink = sf_readlink;
	ops.mknod = sf_mknod;
	ops.mkdir = sf_mkdir;
	ops.symlink = sf_symlink;
	ops.link = sf_link;
	ops.unlink = sf_unlink;
	ops.rmdir = sf_rmdir;
	ops.rename = sf_rename;
	ops.open = sf_open;
	ops.create = sf_create;
	ops.read = sf_read;
	ops.write_buf = sf_write_buf;
	ops.flush = sf_flush;
	ops.release = sf_release;
	ops.fsync = sf_fsync;
	ops.opendir = sf_opendir;
	ops.readdir = sf_readdir;
	ops.readdirplus = sf_readdirplus;
	ops.releasedir = sf_releasedir;
	ops.fsyncdir = sf_fsyncdir;
	ops.statfs = sf_statfs;
	// No access: the mount always has default_permissions (main.cc), so the
	// kernel answers access() itself and never asks.
	ops.setxattr = sf_setxattr;
	ops.getxattr = sf_getxattr;
	ops.listxattr = sf_listxattr;
	ops.removexattr = sf_removexattr;
	ops.fallocate = sf_fallocate;
	ops.lseek = sf_lseek;
	ops.copy_file_range = sf_copy_file_range;
	return ops;
}

} // namespace

StackFs::StackFs(const Config &cfg) : cfg_(cfg)
{
	root_.fd = open(cfg_.source.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_.fd < 0) {
		error_ = "source " + cfg_.source + ": " + std::strerror(errno);
		return;
	}
	struct stat st;
	if (fstat(root_.fd, &st) != 0) {
		error_ = "source " + cfg_.source + ": " + std::strerror(errno);
		return;
	}
	root_.dev = st.st_dev;
	root_.ino = st.st_ino;
	root_.type = S_IFDIR;
	root_.nlookup = 1;
	// /proc, not /proc/self/fd: "self" is resolved when a path is walked, so
	// a descriptor of /proc/self/fd would name this process's directory for
	// good, and fuse_daemonize() forks after us. The daemon that serves would
	// then look its descriptors up in the dead parent's table: every open of
	// an existing file failed with ENOENT.
	proc_fd_ = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (proc_fd_ < 0)
		error_ = std::string("/proc: ") + std::strerror(errno);
}

StackFs::~StackFs()
{
	table_.clear();
	if (proc_fd_ >= 0)
		close(proc_fd_);
	if (root_.fd >= 0)
		close(root_.fd);
}

const fuse_lowlevel_ops *operations()
{
	static const fuse_lowlevel_ops ops = make_operations();
	return &ops;
}

} // namespace stackfs
