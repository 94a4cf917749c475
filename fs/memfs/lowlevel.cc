#include "lowlevel.hpp"

#include "fs_main.hpp"

#include <cstddef>
#include <vector>

namespace memfs {

const char kOptionsHelp[] =
	"    -o size=BYTES          capacity (suffix K, M, G, T; default: half of RAM)\n"
	"    -o max_inodes=N        most inodes (suffix K, M, G, T; default: RAM pages / 2)\n"
	"    -o entry_timeout=S     seconds the kernel caches names (default 1.0)\n"
	"    -o attr_timeout=S      seconds the kernel caches attributes (default 1.0)\n"
	"    -o writeback           enable the kernel's writeback cache (default off)\n";

namespace {

Mount &mount_of(fuse_req_t req)
{
	return *static_cast<Mount *>(fuse_req_userdata(req));
}

Filesystem &fs_of(fuse_req_t req)
{
	return mount_of(req).fs;
}

Caller caller_of(fuse_req_t req)
{
	const fuse_ctx *ctx = fuse_req_ctx(req);
	return Caller{ctx->uid, ctx->gid};
}

// The entry for a reply that hands the kernel a lookup reference on `st`.
fuse_entry_param entry_of(fuse_req_t req, const struct stat &st)
{
	const Options &o = mount_of(req).opts;
	fuse_entry_param e {};
	e.ino = st.st_ino;
	e.attr = st;
	e.attr_timeout = o.attr_timeout;
	e.entry_timeout = o.entry_timeout;
	return e;
}

// Every reply goes out after the Filesystem call returned, with no lock
// held: the kernel may forget the inode the moment it has the reply.
void reply_entry(fuse_req_t req, int err, const struct stat &st)
{
	if (err != 0) {
		fuse_reply_err(req, err);
		return;
	}
	fuse_entry_param e = entry_of(req, st);
	if (fuse_reply_entry(req, &e) != 0) {
		// The kernel never got the reference: give it back.
		fs_of(req).forget(st.st_ino, 1);
	}
}

void op_init(void *userdata, fuse_conn_info *conn)
{
	const Options &o = static_cast<Mount *>(userdata)->opts;
	// The kernel clears set-user-ID/set-group-ID on write, truncate and
	// chown itself (by a SETATTR of the mode), exactly as on tmpfs.
	conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	if (o.writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct stat st;
	int err = fs_of(req).lookup(parent, name, &st);
	reply_entry(req, err, st);
}

void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fs_of(req).forget(ino, nlookup);
	fuse_reply_none(req);
}

void op_forget_multi(fuse_req_t req, size_t count, fuse_forget_data *forgets)
{
	Filesystem &fs = fs_of(req);
	for (size_t i = 0; i < count; ++i)
		fs.forget(forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info *)
{
	struct stat st;
	int err = fs_of(req).getattr(ino, &st);
	if (err != 0)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, &st, mount_of(req).opts.attr_timeout);
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, fuse_file_info *)
{
	struct stat st;
	int err = fs_of(req).setattr(ino, *attr, to_set, &st);
	if (err != 0)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, &st, mount_of(req).opts.attr_timeout);
}

void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	std::string target;
	int err = fs_of(req).readlink(ino, &target);
	if (err != 0)
		fuse_reply_err(req, err);
	else
		fuse_reply_readlink(req, target.c_str());
}

void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct stat st;
	int err = fs_of(req).mknod(parent, name, mode, rdev, caller_of(req), &st);
	reply_entry(req, err, st);
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct stat st;
	int err = fs_of(req).mkdir(parent, name, mode, caller_of(req), &st);
	reply_entry(req, err, st);
}

void op_symlink(fuse_req_t req, const char *target, fuse_ino_t parent, const char *name)
{
	struct stat st;
	int err = fs_of(req).symlink(target, parent, name, caller_of(req), &st);
	reply_entry(req, err, st);
}

void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct stat st;
	int err = fs_of(req).link(ino, newparent, newname, &st);
	reply_entry(req, err, st);
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, fs_of(req).unlink(parent, name));
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, fs_of(req).rmdir(parent, name));
}

void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
	       const char *newname, unsigned int flags)
{
	fuse_reply_err(req, fs_of(req).rename(parent, name, newparent, newname, flags));
}

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi)
{
	int err = fs_of(req).open(ino, fi->flags);
	if (err != 0)
		fuse_reply_err(req, err);
	else if (fuse_reply_open(req, fi) != 0)
		fs_of(req).release(ino);
}

void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, fuse_file_info *fi)
{
	Filesystem &fs = fs_of(req);
	struct stat st;
	int err = fs.create(parent, name, mode, fi->flags, caller_of(req), &st);
	if (err != 0) {
		fuse_reply_err(req, err);
		return;
	}
	fuse_entry_param e = entry_of(req, st);
	if (fuse_reply_create(req, &e, fi) != 0) {
		fs.release(st.st_ino);
		fs.forget(st.st_ino, 1);
	}
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info *)
{
	thread_local std::vector<char> buf;
	if (buf.size() < size)
		buf.resize(size);
	size_t n = 0;
	int err = off < 0 ? EINVAL : fs_of(req).read(ino, static_cast<uint64_t>(off), size, buf.data(), &n);
	if (err != 0)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf.data(), n);
}

void op_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size, off_t off, fuse_file_info *)
{
	size_t n = 0;
	int err = off < 0 ? EINVAL : fs_of(req).write(ino, static_cast<uint64_t>(off), data, size, &n);
	if (err != 0)
		fuse_reply_err(req, err);
	else
		fuse_reply_write(req, n);
}

void op_ok(fuse_req_t req, fuse_ino_t, fuse_file_info *)
{
	fuse_reply_err(req, 0);
}

void op_fsync(fuse_req_t req, fuse_ino_t, int, fuse_file_info *)
{
	fuse_reply_err(req, 0);
}

void op_release(fuse_req_t req, fuse_ino_t ino, fuse_file_info *)
{
	fuse_reply_err(req, fs_of(req).release(ino));
}

void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi)
{
	int err = fs_of(req).opendir(ino);
	if (err != 0)
		fuse_reply_err(req, err);
	else if (fuse_reply_open(req, fi) != 0)
		fs_of(req).releasedir(ino);
}

void reply_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	thread_local std::vector<char> buf;
	if (buf.size() < size)
		buf.resize(size);
	const Options &o = mount_of(req).opts;
	size_t used = 0;
	auto emit = [&](const DirEntryView &e) {
		// Names are NUL-terminated (see DirEntryView).
		size_t room = size - used;
		size_t need;
		if (plus) {
			fuse_entry_param p {};
			p.attr = e.attr;
			// "." and ".." carry no lookup reference: ino 0 tells
			// the kernel not to make an entry of them.
			if (!e.is_dot) {
				p.ino = e.attr.st_ino;
				p.attr_timeout = o.attr_timeout;
				p.entry_timeout = o.entry_timeout;
			}
			need = fuse_add_direntry_plus(req, buf.data() + used, room, e.name.data(), &p,
						      static_cast<off_t>(e.next_off));
		} else {
			need = fuse_add_direntry(req, buf.data() + used, room, e.name.data(), &e.attr,
						 static_cast<off_t>(e.next_off));
		}
		if (need > room)
			return false;
		used += need;
		return true;
	};
	int err = off < 0 ? EINVAL : fs_of(req).readdir(ino, static_cast<uint64_t>(off), plus, emit);
	if (err != 0)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf.data(), used);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info *)
{
	reply_readdir(req, ino, size, off, false);
}

void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info *)
{
	reply_readdir(req, ino, size, off, true);
}

void op_releasedir(fuse_req_t req, fuse_ino_t ino, fuse_file_info *)
{
	fuse_reply_err(req, fs_of(req).releasedir(ino));
}

void op_statfs(fuse_req_t req, fuse_ino_t)
{
	struct statvfs sv;
	fs_of(req).statfs(&sv);
	fuse_reply_statfs(req, &sv);
}

void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
		 int flags)
{
	fuse_reply_err(req, fs_of(req).setxattr(ino, name, std::string_view(value, size), flags));
}

// getxattr and listxattr: `fill` is the Filesystem call, given a buffer
// of `size` bytes; size 0 asks only for the length.
template <typename Fill>
void reply_xattr(fuse_req_t req, size_t size, Fill &&fill)
{
	thread_local std::vector<char> buf;
	if (buf.size() < size)
		buf.resize(size);
	size_t len = 0;
	int err = fill(buf.data(), &len);
	if (err != 0)
		fuse_reply_err(req, err);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else
		fuse_reply_buf(req, buf.data(), len);
}

void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	reply_xattr(req, size,
		    [&](char *buf, size_t *len) { return fs_of(req).getxattr(ino, name, buf, size, len); });
}

void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	reply_xattr(req, size,
		    [&](char *buf, size_t *len) { return fs_of(req).listxattr(ino, buf, size, len); });
}

void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, fs_of(req).removexattr(ino, name));
}

void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	fuse_reply_err(req, fs_of(req).access(ino, mask, caller_of(req)));
}

void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len, fuse_file_info *)
{
	int err = off < 0 || len <= 0
			  ? EINVAL
			  : fs_of(req).fallocate(ino, mode, static_cast<uint64_t>(off), static_cast<uint64_t>(len));
	fuse_reply_err(req, err);
}

void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, fuse_file_info *)
{
	off_t pos = 0;
	int err = fs_of(req).lseek(ino, off, whence, &pos);
	if (err != 0)
		fuse_reply_err(req, err);
	else
		fuse_reply_lseek(req, pos);
}

fuse_lowlevel_ops make_ops()
{
	fuse_lowlevel_ops ops {};
	ops.init = op_init;
	ops.lookup = op_lookup;
	ops.forget = op_forget;
	ops.forget_multi = op_forget_multi;
	ops.getattr = op_getattr;
	ops.setattr = op_setattr;
	ops.readlink = op_readlink;
	ops.mknod = op_mknod;
	ops.mkdir = op_mkdir;
	ops.unlink = op_unlink;
	ops.rmdir = op_rmdir;
	ops.symlink = op_symlink;
	ops.rename = op_rename;
	ops.link = op_link;
	ops.open = op_open;
	ops.read = op_read;
	ops.write = op_write;
	ops.flush = op_ok;
	ops.release = op_release;
	ops.fsync = op_fsync;
	ops.opendir = op_opendir;
	ops.readdir = op_readdir;
	ops.readdirplus = op_readdirplus;
	ops.releasedir = op_releasedir;
	ops.fsyncdir = op_fsync;
	ops.statfs = op_statfs;
	ops.setxattr = op_setxattr;
	ops.getxattr = op_getxattr;
	ops.listxattr = op_listxattr;
	ops.removexattr = op_removexattr;
	ops.access = op_access;
	ops.create = op_create;
	ops.fallocate = op_fallocate;
	ops.lseek = op_lseek;
	return ops;
}

} // namespace

bool parse_options(fuse_args *args, Options *opts, std::string *error)
{
	fs_common::FsOptions raw({"size", "max_inodes", "entry_timeout", "attr_timeout"}, {"writeback"});
	if (!raw.parse(args)) {
		*error = "cannot parse options";
		return false;
	}
	if (const char *size = raw.value("size")) {
		unsigned long long v = 0;
		if (!fs_common::parse_size(size, &v) || v < kPageSize) {
			*error = std::string("invalid size: ") + size;
			return false;
		}
		opts->limits.capacity_bytes = v;
	}
	if (const char *max_inodes = raw.value("max_inodes")) {
		unsigned long long v = 0;
		if (!fs_common::parse_size(max_inodes, &v) || v < 1) {
			*error = std::string("invalid max_inodes: ") + max_inodes;
			return false;
		}
		opts->limits.max_inodes = v;
	}
	const char *entry_timeout = raw.value("entry_timeout");
	if (entry_timeout != nullptr && !fs_common::parse_seconds(entry_timeout, &opts->entry_timeout)) {
		*error = std::string("invalid entry_timeout: ") + entry_timeout;
		return false;
	}
	const char *attr_timeout = raw.value("attr_timeout");
	if (attr_timeout != nullptr && !fs_common::parse_seconds(attr_timeout, &opts->attr_timeout)) {
		*error = std::string("invalid attr_timeout: ") + attr_timeout;
		return false;
	}
	opts->writeback = raw.flag("writeback");
	if (fuse_opt_add_arg(args, "-odefault_permissions") != 0) {
		*error = "out of memory";
		return false;
	}
	return true;
}

const fuse_lowlevel_ops &lowlevel_ops()
{
	static const fuse_lowlevel_ops ops = make_ops();
	return ops;
}

} // namespace memfs
