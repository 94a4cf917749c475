#include "nullfs.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

namespace nullfs {
namespace {

// Reads are answered from this buffer. It is never written, so it stays in
// .bss and every page of it maps the kernel's shared zero page.
constexpr size_t kZeroChunk = 128 * 1024;
constexpr int kMaxZeroChunks = 64; // 8 MiB, above any max_read the kernel asks for
char zero_chunk[kZeroChunk];

NullFs *self(fuse_req_t req)
{
	return static_cast<NullFs *>(fuse_req_userdata(req));
}

// 64-bit FNV-1a followed by a final mix, over the parent and the name.
uint64_t hash_name(fuse_ino_t parent, std::string_view name)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (int i = 0; i < 8; ++i) {
		h ^= (parent >> (8 * i)) & 0xff;
		h *= 0x100000001b3ULL;
	}
	for (unsigned char c : name) {
		h ^= c;
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

void reply_entry(fuse_req_t req, fuse_ino_t ino)
{
	fuse_entry_param e = self(req)->entry(ino);
	fuse_reply_entry(req, &e);
}

// Checks shared by the operations that name an entry in a directory.
int check_parent(fuse_ino_t parent)
{
	if (NullFs::is_file(parent))
		return ENOTDIR;
	if (!NullFs::is_dir(parent))
		return ENOENT;
	return 0;
}

void nf_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	NullFs *fs = self(req);
	fs->delay();
	if (int err = check_parent(parent))
		return (void)fuse_reply_err(req, err);
	if (!NullFs::is_dir_name(name))
		return reply_entry(req, NullFs::file_ino(parent, name));
	if (fuse_ino_t ino = fs->dirs().find(parent, name))
		return reply_entry(req, ino);
	// A negative entry the kernel may cache like a positive one.
	fuse_entry_param e{};
	e.entry_timeout = fs->config().entry_timeout;
	fuse_reply_entry(req, &e);
}

void nf_forget(fuse_req_t req, fuse_ino_t, uint64_t)
{
	self(req)->delay();
	fuse_reply_none(req);
}

void nf_forget_multi(fuse_req_t req, size_t, fuse_forget_data *)
{
	self(req)->delay();
	fuse_reply_none(req);
}

void nf_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info *)
{
	NullFs *fs = self(req);
	fs->delay();
	if (!NullFs::is_dir(ino) && !NullFs::is_file(ino))
		return (void)fuse_reply_err(req, ENOENT);
	struct stat st;
	fs->fill_attr(ino, &st);
	fuse_reply_attr(req, &st, fs->config().attr_timeout);
}

// Accepted and forgotten: the attributes stay what they always are.
void nf_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *, int, fuse_file_info *fi)
{
	nf_getattr(req, ino, fi);
}

void nf_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t)
{
	self(req)->delay();
	if (int err = check_parent(parent))
		return (void)fuse_reply_err(req, err);
	if (!S_ISREG(mode))
		return (void)fuse_reply_err(req, EPERM);
	reply_entry(req, NullFs::file_ino(parent, name));
}

void nf_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t)
{
	NullFs *fs = self(req);
	fs->delay();
	if (int err = check_parent(parent))
		return (void)fuse_reply_err(req, err);
	if (!NullFs::is_dir_name(name))
		return (void)fuse_reply_err(req, EEXIST); // it exists as a file
	fuse_ino_t ino = fs->new_dir_ino();
	if (!fs->dirs().insert(parent, name, ino))
		return (void)fuse_reply_err(req, EEXIST);
	reply_entry(req, ino);
}

void nf_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	NullFs *fs = self(req);
	fs->delay();
	if (int err = check_parent(parent))
		return (void)fuse_reply_err(req, err);
	if (NullFs::is_dir_name(name))
		return (void)fuse_reply_err(req, fs->dirs().find(parent, name) ? EISDIR : ENOENT);
	fuse_reply_err(req, 0);
}

void nf_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	NullFs *fs = self(req);
	fs->delay();
	if (int err = check_parent(parent))
		return (void)fuse_reply_err(req, err);
	if (!NullFs::is_dir_name(name))
		return (void)fuse_reply_err(req, ENOTDIR);
	fuse_ino_t ino = fs->dirs().find(parent, name);
	if (ino == 0)
		return (void)fuse_reply_err(req, ENOENT);
	// The kernel holds the victim's lock, so no child can appear meanwhile.
	if (fs->dirs().has_children(ino))
		return (void)fuse_reply_err(req, ENOTEMPTY);
	fs->dirs().erase(parent, name);
	fuse_reply_err(req, 0);
}

void nf_symlink(fuse_req_t req, const char *, fuse_ino_t, const char *)
{
	self(req)->delay();
	fuse_reply_err(req, EPERM);
}

// Directories move in the table (keeping their inode, so what was created
// inside them moves along); renames of files are accepted and forgotten. The
// kernel holds the locks of both parents, which serialises this with every
// other operation on either name.
int rename_entry(NullFs *fs, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		 const char *newname, unsigned flags)
{
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return EINVAL;
	if (int err = check_parent(parent))
		return err;
	if (int err = check_parent(newparent))
		return err;
	DirTable &dirs = fs->dirs();
	fuse_ino_t src = NullFs::is_dir_name(name) ? dirs.find(parent, name) : 0;
	fuse_ino_t dst = NullFs::is_dir_name(newname) ? dirs.find(newparent, newname) : 0;
	if (NullFs::is_dir_name(name) && src == 0)
		return ENOENT;
	bool dst_is_file = !NullFs::is_dir_name(newname);
	if (src == 0) { // a file
		if (dst != 0)
			return EISDIR;
		if ((flags & RENAME_EXCHANGE) && !dst_is_file)
			return ENOENT;
		return (flags & RENAME_NOREPLACE) && dst_is_file ? EEXIST : 0;
	}
	if (dst_is_file)
		return ENOTDIR;
	if (flags & RENAME_EXCHANGE) {
		if (dst == 0)
			return ENOENT;
		dirs.erase(parent, name);
		dirs.erase(newparent, newname);
		dirs.insert(parent, name, dst);
		dirs.insert(newparent, newname, src);
		return 0;
	}
	if (dst == src)
		return 0;
	if (dst != 0) {
		if (flags & RENAME_NOREPLACE)
			return EEXIST;
		if (dirs.has_children(dst))
			return ENOTEMPTY;
		dirs.erase(newparent, newname);
	}
	dirs.erase(parent, name);
	dirs.insert(newparent, newname, src);
	return 0;
}

void nf_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
	       const char *newname, unsigned flags)
{
	NullFs *fs = self(req);
	fs->delay();
	fuse_reply_err(req, rename_entry(fs, parent, name, newparent, newname, flags));
}

void nf_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *)
{
	self(req)->delay();
	if (!NullFs::is_file(ino))
		return (void)fuse_reply_err(req, EPERM);
	if (int err = check_parent(newparent))
		return (void)fuse_reply_err(req, err);
	reply_entry(req, ino);
}

void nf_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi)
{
	self(req)->delay();
	if (!NullFs::is_file(ino))
		return (void)fuse_reply_err(req, NullFs::is_dir(ino) ? EISDIR : ENOENT);
	fuse_reply_open(req, fi);
}

void nf_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t, fuse_file_info *fi)
{
	NullFs *fs = self(req);
	fs->delay();
	if (int err = check_parent(parent))
		return (void)fuse_reply_err(req, err);
	fuse_entry_param e = fs->entry(NullFs::file_ino(parent, name));
	fuse_reply_create(req, &e, fi);
}

void nf_read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info *)
{
	NullFs *fs = self(req);
	fs->delay();
	uint64_t file_size = fs->config().file_size;
	uint64_t pos = static_cast<uint64_t>(off);
	size_t n = pos >= file_size ? 0 : static_cast<size_t>(std::min<uint64_t>(size, file_size - pos));
	n = std::min(n, kZeroChunk * kMaxZeroChunks); // a short read, never expected
	iovec iov[kMaxZeroChunks];
	int count = 0;
	for (size_t left = n; left > 0; ++count) {
		size_t chunk = std::min(left, kZeroChunk);
		iov[count].iov_base = zero_chunk;
		iov[count].iov_len = chunk;
		left -= chunk;
	}
	fuse_reply_iov(req, iov, count);
}

void nf_write_buf(fuse_req_t req, fuse_ino_t, fuse_bufvec *bufv, off_t, fuse_file_info *)
{
	self(req)->delay();
	fuse_reply_write(req, fuse_buf_size(bufv));
}

void nf_ok(fuse_req_t req, fuse_ino_t, fuse_file_info *)
{
	self(req)->delay();
	fuse_reply_err(req, 0);
}

void nf_fsync(fuse_req_t req, fuse_ino_t, int, fuse_file_info *)
{
	self(req)->delay();
	fuse_reply_err(req, 0);
}

void nf_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi)
{
	self(req)->delay();
	if (!NullFs::is_dir(ino))
		return (void)fuse_reply_err(req, ENOTDIR);
	fuse_reply_open(req, fi);
}

// Every directory lists as "." (offset 1) and ".." (offset 2).
void nf_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info *)
{
	self(req)->delay();
	char buf[256];
	size = std::min(size, sizeof(buf));
	size_t used = 0;
	struct stat st {};
	st.st_mode = S_IFDIR;
	static const char *const names[] = {".", ".."};
	for (off_t i = std::max<off_t>(off, 0); i < 2; ++i) {
		st.st_ino = i == 0 ? ino : FUSE_ROOT_ID;
		size_t need = fuse_add_direntry(req, buf + used, size - used, names[i], &st, i + 1);
		if (need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
}

void nf_fsyncdir(fuse_req_t req, fuse_ino_t, int, fuse_file_info *)
{
	self(req)->delay();
	fuse_reply_err(req, 0);
}

void nf_statfs(fuse_req_t req, fuse_ino_t)
{
	self(req)->delay();
	struct statvfs sv {};
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_blocks = 1ULL << 40; // 4 PiB, all of it free
	sv.f_bfree = sv.f_blocks;
	sv.f_bavail = sv.f_blocks;
	sv.f_files = 1ULL << 32;
	sv.f_ffree = sv.f_files;
	sv.f_favail = sv.f_files;
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

void nf_access(fuse_req_t req, fuse_ino_t, int)
{
	self(req)->delay();
	fuse_reply_err(req, 0);
}

void nf_fallocate(fuse_req_t req, fuse_ino_t, int, off_t, off_t, fuse_file_info *)
{
	self(req)->delay();
	fuse_reply_err(req, 0);
}

fuse_lowlevel_ops make_operations()
{
	fuse_lowlevel_ops ops{};
	ops.lookup = nf_lookup;
	ops.forget = nf_forget;
	ops.forget_multi = nf_forget_multi;
	ops.getattr = nf_getattr;
	ops.setattr = nf_setattr;
	ops.mknod = nf_mknod;
	ops.mkdir = nf_mkdir;
	ops.unlink = nf_unlink;
	ops.rmdir = nf_rmdir;
	ops.symlink = nf_symlink;
	ops.rename = nf_rename;
	ops.link = nf_link;
	ops.open = nf_open;
	ops.create = nf_create;
	ops.read = nf_read;
	ops.write_buf = nf_write_buf;
	ops.flush = nf_ok;
	ops.release = nf_ok;
	ops.fsync = nf_fsync;
	ops.opendir = nf_opendir;
	ops.readdir = nf_readdir;
	ops.releasedir = nf_ok;
	ops.fsyncdir = nf_fsyncdir;
	ops.statfs = nf_statfs;
	ops.access = nf_access;
	ops.fallocate = nf_fallocate;
	return ops;
}

} // namespace

std::string DirTable::key(fuse_ino_t parent, std::string_view name)
{
	std::string k(sizeof(parent), '\0');
	std::memcpy(k.data(), &parent, sizeof(parent));
	k.append(name);
	return k;
}

DirTable::Shard &DirTable::shard_of(const std::string &key)
{
	return shards_[std::hash<std::string>{}(key) % kShards];
}

fuse_ino_t DirTable::find(fuse_ino_t parent, std::string_view name)
{
	std::string k = key(parent, name);
	Shard &s = shard_of(k);
	std::lock_guard<std::mutex> guard(s.lock);
	auto it = s.dirs.find(k);
	return it == s.dirs.end() ? 0 : it->second;
}

bool DirTable::insert(fuse_ino_t parent, std::string_view name, fuse_ino_t ino)
{
	std::string k = key(parent, name);
	Shard &s = shard_of(k);
	std::lock_guard<std::mutex> guard(s.lock);
	return s.dirs.emplace(std::move(k), ino).second;
}

fuse_ino_t DirTable::erase(fuse_ino_t parent, std::string_view name)
{
	std::string k = key(parent, name);
	Shard &s = shard_of(k);
	std::lock_guard<std::mutex> guard(s.lock);
	auto it = s.dirs.find(k);
	if (it == s.dirs.end())
		return 0;
	fuse_ino_t ino = it->second;
	s.dirs.erase(it);
	return ino;
}

bool DirTable::has_children(fuse_ino_t dir)
{
	for (Shard &s : shards_) {
		std::lock_guard<std::mutex> guard(s.lock);
		for (const auto &[k, ino] : s.dirs) {
			fuse_ino_t parent;
			std::memcpy(&parent, k.data(), sizeof(parent));
			if (parent == dir)
				return true;
		}
	}
	return false;
}

NullFs::NullFs(const Config &cfg) : cfg_(cfg), uid_(geteuid()), gid_(getegid())
{
	clock_gettime(CLOCK_REALTIME, &mount_time_);
}

void NullFs::delay() const
{
	if (cfg_.delay_us == 0)
		return;
	// An absolute deadline: a signal cannot shorten the delay.
	timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	uint64_t ns = static_cast<uint64_t>(until.tv_nsec) + uint64_t{cfg_.delay_us} * 1000;
	until.tv_sec += static_cast<time_t>(ns / 1000000000);
	until.tv_nsec = static_cast<long>(ns % 1000000000);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr) == EINTR) {
	}
}

bool NullFs::is_dir_name(std::string_view name)
{
	return name.size() > 2 && name.ends_with(".d");
}

fuse_ino_t NullFs::file_ino(fuse_ino_t parent, std::string_view name)
{
	return kFileTag | (hash_name(parent, name) & ~(kFileTag | kDirTag));
}

void NullFs::fill_attr(fuse_ino_t ino, struct stat *st) const
{
	*st = {};
	st->st_ino = ino;
	st->st_uid = uid_;
	st->st_gid = gid_;
	st->st_blksize = 4096;
	st->st_atim = st->st_mtim = st->st_ctim = mount_time_;
	if (is_dir(ino)) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		st->st_size = 4096;
		st->st_blocks = 8;
	} else {
		st->st_mode = S_IFREG | 0644;
		st->st_nlink = 1;
		st->st_size = static_cast<off_t>(cfg_.file_size);
		st->st_blocks = static_cast<blkcnt_t>(cfg_.file_size / 512);
	}
}

fuse_entry_param NullFs::entry(fuse_ino_t ino) const
{
	fuse_entry_param e{};
	e.ino = ino;
	e.generation = 1;
	e.attr_timeout = cfg_.attr_timeout;
	e.entry_timeout = cfg_.entry_timeout;
	fill_attr(ino, &e.attr);
	return e;
}

const fuse_lowlevel_ops *operations()
{
	static const fuse_lowlevel_ops ops = make_operations();
	return &ops;
}

} // namespace nullfs
