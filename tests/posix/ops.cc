#include "ops.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <set>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

namespace posix {
namespace {

std::vector<std::string> g_trace;

template <class T> Res<T> fail()
{
	Res<T> r;
	r.err = errno;
	return r;
}

Status status_of(long long rc)
{
	if (rc < 0)
		return fail<long long>();
	return Status{rc, 0};
}

const char *rel(const std::string &name)
{
	return name.empty() ? "." : name.c_str();
}

std::string q(const std::string &name)
{
	return fmt::format("\"{}\"", name);
}

std::string mode_name(mode_t mode)
{
	return fmt::format("0{:o}", mode);
}

std::string time_name(const struct timespec &ts)
{
	if (ts.tv_nsec == UTIME_NOW)
		return "UTIME_NOW";
	if (ts.tv_nsec == UTIME_OMIT)
		return "UTIME_OMIT";
	return fmt::format("{}.{:09}", ts.tv_sec, ts.tv_nsec);
}

bool same_err(int a, int b, std::string *why)
{
	if (a == b)
		return true;
	*why = "outcomes differ";
	return false;
}

} // namespace

void trace_clear()
{
	g_trace.clear();
}

const std::vector<std::string> &trace()
{
	return g_trace;
}

void trace_note(std::string what)
{
	// Bounded: a loop of thousands of calls keeps only its last ones.
	if (g_trace.size() >= 64)
		g_trace.erase(g_trace.begin(), g_trace.begin() + 32);
	g_trace.push_back(std::move(what));
}

std::string errno_name(int err)
{
	if (err == 0)
		return "0";
	const char *n = strerrorname_np(err);
	return fmt::format("{} ({})", n != nullptr ? n : std::to_string(err), std::strerror(err));
}

std::string open_flags_name(int flags)
{
	std::string s;
	switch (flags & O_ACCMODE) {
	case O_RDONLY: s = "O_RDONLY"; break;
	case O_WRONLY: s = "O_WRONLY"; break;
	default: s = "O_RDWR"; break;
	}
	static const std::pair<int, const char *> names[] = {
		{O_CREAT, "O_CREAT"},       {O_EXCL, "O_EXCL"},         {O_TRUNC, "O_TRUNC"},
		{O_APPEND, "O_APPEND"},     {O_DIRECTORY, "O_DIRECTORY"}, {O_NOFOLLOW, "O_NOFOLLOW"},
		{O_NONBLOCK, "O_NONBLOCK"}, {O_SYNC, "O_SYNC"},         {O_DIRECT, "O_DIRECT"},
		{O_PATH, "O_PATH"},
	};
	int rest = flags & ~O_ACCMODE & ~O_CLOEXEC & ~O_LARGEFILE;
	for (auto [bit, name] : names) {
		if ((rest & bit) == bit) {
			s += std::string("|") + name;
			rest &= ~bit;
		}
	}
	if (rest != 0)
		s += fmt::format("|0{:o}", rest);
	return s;
}

std::string quoted(std::string_view data, size_t max)
{
	std::string s = "\"";
	for (size_t i = 0; i < data.size() && i < max; ++i) {
		unsigned char c = static_cast<unsigned char>(data[i]);
		if (c == '"' || c == '\\')
			s += fmt::format("\\{}", static_cast<char>(c));
		else if (c >= 0x20 && c < 0x7f)
			s.push_back(static_cast<char>(c));
		else
			s += fmt::format("\\x{:02x}", c);
	}
	s += data.size() > max ? "\"..." : "\"";
	return s;
}

std::string pattern(size_t len, uint64_t seed, uint64_t off)
{
	std::string out(len, '\0');
	for (size_t i = 0; i < len; ++i) {
		uint64_t pos = off + i;
		// splitmix64 of (seed, 8-byte block); byte = one lane of it.
		uint64_t z = seed * 0x9e3779b97f4a7c15ULL + (pos >> 3) + 1;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		z ^= z >> 31;
		out[i] = static_cast<char>(z >> (8 * (pos & 7)));
	}
	return out;
}

// ---- File ----

File::File(File &&o) noexcept : fd_(o.fd_), name_(std::move(o.name_))
{
	o.fd_ = -1;
}

File &File::operator=(File &&o) noexcept
{
	if (this != &o) {
		if (fd_ >= 0)
			::close(fd_);
		fd_ = o.fd_;
		name_ = std::move(o.name_);
		o.fd_ = -1;
	}
	return *this;
}

File::~File()
{
	if (fd_ >= 0)
		::close(fd_);
}

Res<std::string> File::pread(size_t n, off_t off)
{
	trace_note(fmt::format("pread({}, {}, {})", name_, n, off));
	std::string buf(n, '\0');
	ssize_t got = ::pread(fd_, buf.data(), n, off);
	if (got < 0)
		return fail<std::string>();
	buf.resize(static_cast<size_t>(got));
	return {std::move(buf), 0};
}

Res<std::string> File::read(size_t n)
{
	trace_note(fmt::format("read({}, {})", name_, n));
	std::string buf(n, '\0');
	ssize_t got = ::read(fd_, buf.data(), n);
	if (got < 0)
		return fail<std::string>();
	buf.resize(static_cast<size_t>(got));
	return {std::move(buf), 0};
}

Status File::pwrite(std::string_view data, off_t off)
{
	trace_note(fmt::format("pwrite({}, {} ({} bytes), {})", name_, quoted(data, 16), data.size(), off));
	return status_of(::pwrite(fd_, data.data(), data.size(), off));
}

Status File::write(std::string_view data)
{
	trace_note(fmt::format("write({}, {} ({} bytes))", name_, quoted(data, 16), data.size()));
	return status_of(::write(fd_, data.data(), data.size()));
}

Status File::lseek(off_t off, int whence)
{
	static const char *names[] = {"SEEK_SET", "SEEK_CUR", "SEEK_END", "SEEK_DATA", "SEEK_HOLE"};
	trace_note(fmt::format("lseek({}, {}, {})", name_, off,
			       whence >= 0 && whence <= 4 ? names[whence] : std::to_string(whence)));
	return status_of(::lseek(fd_, off, whence));
}

Res<struct stat> File::fstat()
{
	trace_note(fmt::format("fstat({})", name_));
	Res<struct stat> r;
	if (::fstat(fd_, &r.val) != 0)
		return fail<struct stat>();
	return r;
}

Status File::ftruncate(off_t len)
{
	trace_note(fmt::format("ftruncate({}, {})", name_, len));
	return status_of(::ftruncate(fd_, len));
}

Status File::fallocate(int mode, off_t off, off_t len)
{
	trace_note(fmt::format("fallocate({}, 0x{:x}, {}, {})", name_, mode, off, len));
	return status_of(::fallocate(fd_, mode, off, len));
}

Status File::fsync()
{
	trace_note(fmt::format("fsync({})", name_));
	return status_of(::fsync(fd_));
}

Status File::fchmod(mode_t mode)
{
	trace_note(fmt::format("fchmod({}, {})", name_, mode_name(mode)));
	return status_of(::fchmod(fd_, mode));
}

Res<std::string> File::read_all()
{
	trace_note(fmt::format("read {} to EOF", name_));
	std::string out;
	char buf[65536];
	for (;;) {
		ssize_t got = ::pread(fd_, buf, sizeof(buf), static_cast<off_t>(out.size()));
		if (got < 0)
			return fail<std::string>();
		if (got == 0)
			break;
		out.append(buf, static_cast<size_t>(got));
	}
	return {std::move(out), 0};
}

Status File::close()
{
	trace_note(fmt::format("close({})", name_));
	int fd = fd_;
	fd_ = -1;
	return status_of(::close(fd));
}

// ---- Dir ----

Dir::Dir(std::string path) : path_(std::move(path))
{
	fd_ = ::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

Dir::Dir(Dir &&o) noexcept : path_(std::move(o.path_)), fd_(o.fd_)
{
	o.fd_ = -1;
}

Dir &Dir::operator=(Dir &&o) noexcept
{
	if (this != &o) {
		if (fd_ >= 0)
			::close(fd_);
		path_ = std::move(o.path_);
		fd_ = o.fd_;
		o.fd_ = -1;
	}
	return *this;
}

Dir::~Dir()
{
	if (fd_ >= 0)
		::close(fd_);
}

std::string Dir::path_of(const std::string &name) const
{
	return name.empty() ? path_ : path_ + "/" + name;
}

Res<File> Dir::open(const std::string &name, int flags, mode_t mode)
{
	trace_note((flags & O_CREAT) ? fmt::format("open({}, {}, {})", q(name), open_flags_name(flags), mode_name(mode))
				     : fmt::format("open({}, {})", q(name), open_flags_name(flags)));
	int fd = ::openat(fd_, rel(name), flags | O_CLOEXEC, mode);
	if (fd < 0)
		return fail<File>();
	return {File(fd, name), 0};
}

Status Dir::mkdir(const std::string &name, mode_t mode)
{
	trace_note(fmt::format("mkdir({}, {})", q(name), mode_name(mode)));
	return status_of(::mkdirat(fd_, rel(name), mode));
}

Status Dir::rmdir(const std::string &name)
{
	trace_note(fmt::format("rmdir({})", q(name)));
	return status_of(::unlinkat(fd_, rel(name), AT_REMOVEDIR));
}

Status Dir::unlink(const std::string &name)
{
	trace_note(fmt::format("unlink({})", q(name)));
	return status_of(::unlinkat(fd_, rel(name), 0));
}

Status Dir::link(const std::string &from, const std::string &to)
{
	trace_note(fmt::format("link({}, {})", q(from), q(to)));
	return status_of(::linkat(fd_, rel(from), fd_, rel(to), 0));
}

Status Dir::symlink(const std::string &target, const std::string &name)
{
	trace_note(fmt::format("symlink({}, {})", quoted(target), q(name)));
	return status_of(::symlinkat(target.c_str(), fd_, rel(name)));
}

Res<std::string> Dir::readlink(const std::string &name)
{
	trace_note(fmt::format("readlink({})", q(name)));
	std::string buf(8192, '\0');
	ssize_t got = ::readlinkat(fd_, rel(name), buf.data(), buf.size());
	if (got < 0)
		return fail<std::string>();
	buf.resize(static_cast<size_t>(got));
	return {std::move(buf), 0};
}

Status Dir::rename(const std::string &from, const std::string &to, unsigned flags)
{
	std::string fl = flags == 0 ? "" : flags == RENAME_NOREPLACE ? ", RENAME_NOREPLACE"
					  : flags == RENAME_EXCHANGE  ? ", RENAME_EXCHANGE"
								      : fmt::format(", 0x{:x}", flags);
	trace_note(fmt::format("rename({}, {}{})", q(from), q(to), fl));
	return status_of(::renameat2(fd_, rel(from), fd_, rel(to), flags));
}

Status Dir::truncate(const std::string &name, off_t len)
{
	trace_note(fmt::format("truncate({}, {})", q(name), len));
	return status_of(::truncate(path_of(name).c_str(), len));
}

Status Dir::chmod(const std::string &name, mode_t mode)
{
	trace_note(fmt::format("chmod({}, {})", q(name), mode_name(mode)));
	return status_of(::fchmodat(fd_, rel(name), mode, 0));
}

Status Dir::chown(const std::string &name, uid_t uid, gid_t gid)
{
	trace_note(fmt::format("chown({}, {}, {})", q(name), static_cast<int>(uid), static_cast<int>(gid)));
	return status_of(::fchownat(fd_, rel(name), uid, gid, 0));
}

Status Dir::lchown(const std::string &name, uid_t uid, gid_t gid)
{
	trace_note(fmt::format("lchown({}, {}, {})", q(name), static_cast<int>(uid), static_cast<int>(gid)));
	return status_of(::fchownat(fd_, rel(name), uid, gid, AT_SYMLINK_NOFOLLOW));
}

Status Dir::utimens(const std::string &name, const struct timespec *times, int flags)
{
	trace_note(times == nullptr ? fmt::format("utimensat({}, NULL)", q(name))
				    : fmt::format("utimensat({}, [{}, {}]{})", q(name), time_name(times[0]),
						  time_name(times[1]),
						  (flags & AT_SYMLINK_NOFOLLOW) ? ", AT_SYMLINK_NOFOLLOW" : ""));
	return status_of(::utimensat(fd_, rel(name), times, flags));
}

Res<struct stat> Dir::stat(const std::string &name)
{
	trace_note(fmt::format("stat({})", q(name)));
	Res<struct stat> r;
	if (::fstatat(fd_, rel(name), &r.val, 0) != 0)
		return fail<struct stat>();
	return r;
}

Res<struct stat> Dir::lstat(const std::string &name)
{
	trace_note(fmt::format("lstat({})", q(name)));
	Res<struct stat> r;
	if (::fstatat(fd_, rel(name), &r.val, AT_SYMLINK_NOFOLLOW) != 0)
		return fail<struct stat>();
	return r;
}

Status Dir::mknod(const std::string &name, mode_t mode, dev_t dev)
{
	trace_note(fmt::format("mknod({}, {}, {})", q(name), mode_name(mode), dev));
	return status_of(::mknodat(fd_, rel(name), mode, dev));
}

Status Dir::setxattr(const std::string &name, const std::string &key, std::string_view value, int flags)
{
	std::string fl = flags == 0 ? "0" : flags == XATTR_CREATE ? "XATTR_CREATE"
					  : flags == XATTR_REPLACE ? "XATTR_REPLACE"
								   : std::to_string(flags);
	trace_note(fmt::format("lsetxattr({}, {}, {} ({} bytes), {})", q(name), q(key), quoted(value, 16),
			       value.size(), fl));
	return status_of(::lsetxattr(path_of(name).c_str(), key.c_str(), value.data(), value.size(), flags));
}

Res<std::string> Dir::getxattr(const std::string &name, const std::string &key, size_t bufsize)
{
	trace_note(fmt::format("lgetxattr({}, {}, buf[{}])", q(name), q(key), bufsize));
	std::string buf(bufsize, '\0');
	ssize_t got = ::lgetxattr(path_of(name).c_str(), key.c_str(), buf.data(), bufsize);
	if (got < 0)
		return fail<std::string>();
	buf.resize(static_cast<size_t>(got));
	return {std::move(buf), 0};
}

Status Dir::getxattr_size(const std::string &name, const std::string &key)
{
	trace_note(fmt::format("lgetxattr({}, {}, NULL, 0)", q(name), q(key)));
	return status_of(::lgetxattr(path_of(name).c_str(), key.c_str(), nullptr, 0));
}

Res<Names> Dir::listxattr(const std::string &name, size_t bufsize)
{
	trace_note(fmt::format("llistxattr({}, buf[{}])", q(name), bufsize));
	std::string buf(bufsize, '\0');
	ssize_t got = ::llistxattr(path_of(name).c_str(), buf.data(), bufsize);
	if (got < 0)
		return fail<Names>();
	Res<Names> r;
	for (size_t at = 0; at < static_cast<size_t>(got);) {
		size_t end = buf.find('\0', at);
		if (end == std::string::npos || end >= static_cast<size_t>(got))
			end = static_cast<size_t>(got);
		r.val.push_back(buf.substr(at, end - at));
		at = end + 1;
	}
	std::sort(r.val.begin(), r.val.end());
	return r;
}

Status Dir::listxattr_size(const std::string &name)
{
	trace_note(fmt::format("llistxattr({}, NULL, 0)", q(name)));
	return status_of(::llistxattr(path_of(name).c_str(), nullptr, 0));
}

Status Dir::removexattr(const std::string &name, const std::string &key)
{
	trace_note(fmt::format("lremovexattr({}, {})", q(name), q(key)));
	return status_of(::lremovexattr(path_of(name).c_str(), key.c_str()));
}

Res<struct statvfs> Dir::statvfs()
{
	trace_note("fstatvfs(dir)");
	Res<struct statvfs> r;
	if (::fstatvfs(fd_, &r.val) != 0)
		return fail<struct statvfs>();
	return r;
}

Res<Dirents> Dir::list(const std::string &name, size_t bufsize)
{
	trace_note(fmt::format("getdents64({}, buf[{}]) to the end", q(name), bufsize));
	int dfd = ::openat(fd_, rel(name), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return fail<Dirents>();
	Res<Dirents> r;
	std::vector<char> buf(bufsize);
	for (;;) {
		long got = ::syscall(SYS_getdents64, dfd, buf.data(), buf.size());
		if (got < 0) {
			r.err = errno;
			break;
		}
		if (got == 0)
			break;
		for (long at = 0; at < got;) {
			// struct linux_dirent64: ino, off, reclen, type, name.
			const char *rec = buf.data() + at;
			unsigned short reclen;
			std::memcpy(&reclen, rec + 16, sizeof(reclen));
			r.val.push_back({std::string(rec + 19), static_cast<unsigned char>(rec[18])});
			at += reclen;
		}
	}
	::close(dfd);
	return r;
}

Status Dir::write_file(const std::string &name, std::string_view content, mode_t mode)
{
	trace_note(fmt::format("write file {} := {} ({} bytes)", q(name), quoted(content, 16), content.size()));
	int fd = ::openat(fd_, rel(name), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return fail<long long>();
	size_t done = 0;
	while (done < content.size()) {
		ssize_t n = ::write(fd, content.data() + done, content.size() - done);
		if (n <= 0) {
			int err = n < 0 ? errno : EIO;
			::close(fd);
			return Status{0, err};
		}
		done += static_cast<size_t>(n);
	}
	if (::close(fd) != 0)
		return fail<long long>();
	return Status{static_cast<long long>(done), 0};
}

Res<std::string> Dir::read_file(const std::string &name)
{
	trace_note(fmt::format("read file {}", q(name)));
	int fd = ::openat(fd_, rel(name), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail<std::string>();
	std::string out;
	char buf[65536];
	for (;;) {
		ssize_t n = ::read(fd, buf, sizeof(buf));
		if (n < 0) {
			int err = errno;
			::close(fd);
			return {std::string(), err};
		}
		if (n == 0)
			break;
		out.append(buf, static_cast<size_t>(n));
	}
	::close(fd);
	return {std::move(out), 0};
}

// ---- comparing ----

/*
 * Differences from tmpfs that are on purpose, all in this one place.
 * These are not compared between reference and subject:
 *  - st_dev, st_ino: each filesystem numbers its own inodes (identity is
 *    still checked where it matters: hard links share st_ino *within* a side).
 *  - st_blocks, st_blksize: allocation is the filesystem's business; a FUSE
 *    daemon may report what its own storage uses.
 *  - st_atime: depends on relatime/noatime and on kernel caching; only set
 *    explicitly (utimensat) values are checked.
 *  - st_mtime, st_ctime absolute values: the two sides run at different
 *    moments; tests check relations instead (advanced after a write/chmod,
 *    equal to what utimensat set).
 *  - st_size of directories: tmpfs reports 20 bytes per entry, others their
 *    own number; POSIX leaves it unspecified.
 *  - statfs/statvfs numbers (sizes, free counts, fsid, flags): only sanity
 *    relations are checked, plus f_namemax equal.
 *  - readdir order, d_ino and d_off: only the set of (name, d_type) pairs is
 *    compared.
 *  - SEEK_DATA/SEEK_HOLE offsets: a filesystem may report a hole as data;
 *    checked is that what is reported as a hole reads as zeros and that no
 *    written data lies in a reported hole.
 *  - file descriptor numbers: only success or errno of open is compared.
 */
std::string stat_differences(const struct stat &ref, const struct stat &sub)
{
	std::string d;
	auto field = [&](const char *name, auto a, auto b, bool octal = false) {
		if (a != b)
			d += octal ? fmt::format(" {}: 0{:o} vs 0{:o};", name, a, b)
				   : fmt::format(" {}: {} vs {};", name, a, b);
	};
	field("st_mode", ref.st_mode, sub.st_mode, true);
	field("st_nlink", ref.st_nlink, sub.st_nlink);
	field("st_uid", ref.st_uid, sub.st_uid);
	field("st_gid", ref.st_gid, sub.st_gid);
	if (!S_ISDIR(ref.st_mode) || !S_ISDIR(sub.st_mode))
		field("st_size", ref.st_size, sub.st_size);
	if (S_ISCHR(ref.st_mode) || S_ISBLK(ref.st_mode))
		field("st_rdev", ref.st_rdev, sub.st_rdev);
	return d;
}

bool same(const Status &a, const Status &b, std::string *why)
{
	if (!same_err(a.err, b.err, why))
		return false;
	if (a.ok() && a.val != b.val) {
		*why = "return values differ";
		return false;
	}
	return true;
}

bool same(const Res<File> &a, const Res<File> &b, std::string *why)
{
	return same_err(a.err, b.err, why);
}

bool same(const Res<std::string> &a, const Res<std::string> &b, std::string *why)
{
	if (!same_err(a.err, b.err, why))
		return false;
	if (a.ok() && a.val != b.val) {
		size_t i = 0;
		while (i < a.val.size() && i < b.val.size() && a.val[i] == b.val[i])
			++i;
		*why = fmt::format("data differ: {} vs {} bytes, first difference at byte {}", a.val.size(),
				   b.val.size(), i);
		if (i < a.val.size() && i < b.val.size())
			*why += fmt::format(" (0x{:02x} vs 0x{:02x})", static_cast<unsigned char>(a.val[i]),
					    static_cast<unsigned char>(b.val[i]));
		return false;
	}
	return true;
}

bool same(const Res<struct stat> &a, const Res<struct stat> &b, std::string *why)
{
	if (!same_err(a.err, b.err, why))
		return false;
	if (!a.ok())
		return true;
	std::string d = stat_differences(a.val, b.val);
	if (!d.empty()) {
		*why = "stat differs (reference vs subject):" + d;
		return false;
	}
	return true;
}

bool same(const Res<Names> &a, const Res<Names> &b, std::string *why)
{
	if (!same_err(a.err, b.err, why))
		return false;
	if (a.ok() && a.val != b.val) {
		*why = "name lists differ";
		return false;
	}
	return true;
}

bool same(const Res<Dirents> &a, const Res<Dirents> &b, std::string *why)
{
	if (!same_err(a.err, b.err, why))
		return false;
	if (!a.ok())
		return true;
	Dirents x = a.val, y = b.val;
	std::sort(x.begin(), x.end());
	std::sort(y.begin(), y.end());
	if (x == y)
		return true;
	std::vector<Dirent> only_ref, only_sub;
	std::set_difference(x.begin(), x.end(), y.begin(), y.end(), std::back_inserter(only_ref));
	std::set_difference(y.begin(), y.end(), x.begin(), x.end(), std::back_inserter(only_sub));
	*why = fmt::format("directory listings differ ({} vs {} entries); only in reference:", x.size(), y.size());
	for (size_t i = 0; i < only_ref.size() && i < 10; ++i)
		*why += fmt::format(" {}(type {})", only_ref[i].name, only_ref[i].type);
	*why += "; only in subject:";
	for (size_t i = 0; i < only_sub.size() && i < 10; ++i)
		*why += fmt::format(" {}(type {})", only_sub[i].name, only_sub[i].type);
	return false;
}

bool same(const Res<struct statvfs> &a, const Res<struct statvfs> &b, std::string *why)
{
	if (!same_err(a.err, b.err, why))
		return false;
	if (a.ok() && a.val.f_namemax != b.val.f_namemax) {
		*why = fmt::format("f_namemax differs: {} vs {}", a.val.f_namemax, b.val.f_namemax);
		return false;
	}
	return true;
}

std::string describe(const Status &r)
{
	return r.ok() ? fmt::format("ok, returned {}", r.val) : "failed with " + errno_name(r.err);
}

std::string describe(const Res<File> &r)
{
	return r.ok() ? "ok (opened)" : "failed with " + errno_name(r.err);
}

std::string describe(const Res<std::string> &r)
{
	return r.ok() ? fmt::format("ok, {} bytes {}", r.val.size(), quoted(r.val, 24))
		      : "failed with " + errno_name(r.err);
}

std::string describe(const Res<struct stat> &r)
{
	if (!r.ok())
		return "failed with " + errno_name(r.err);
	const struct stat &s = r.val;
	return fmt::format("ok, mode 0{:o} nlink {} uid {} gid {} size {}", s.st_mode, s.st_nlink, s.st_uid,
			   s.st_gid, s.st_size);
}

std::string describe(const Res<Names> &r)
{
	if (!r.ok())
		return "failed with " + errno_name(r.err);
	std::string s = fmt::format("ok, {} names [", r.val.size());
	for (size_t i = 0; i < r.val.size() && i < 10; ++i)
		s += (i ? ", " : "") + quoted(r.val[i]);
	return s + (r.val.size() > 10 ? ", ...]" : "]");
}

std::string describe(const Res<Dirents> &r)
{
	if (!r.ok())
		return "failed with " + errno_name(r.err);
	return fmt::format("ok, {} entries", r.val.size());
}

std::string describe(const Res<struct statvfs> &r)
{
	if (!r.ok())
		return "failed with " + errno_name(r.err);
	const struct statvfs &s = r.val;
	return fmt::format("ok, bsize {} blocks {} bfree {} bavail {} files {} ffree {} namemax {}", s.f_bsize,
			   s.f_blocks, s.f_bfree, s.f_bavail, s.f_files, s.f_ffree, s.f_namemax);
}

} // namespace posix
