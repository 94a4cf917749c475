// The operations a test runs on one side (reference or subject): each
// returns a Res<T> (a value, or the errno of the failed call) and records
// a readable description of itself in the current trace, so a mismatch
// can name the calls that led to it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <vector>

namespace posix {

template <class T> struct Res {
	T val{};
	int err = 0; // 0: the call succeeded
	bool ok() const { return err == 0; }
};

using Status = Res<long long>; // return value of a call that returns a number

struct Dirent {
	std::string name;
	unsigned char type; // DT_*
	bool operator==(const Dirent &) const = default;
	auto operator<=>(const Dirent &) const = default;
};
using Dirents = std::vector<Dirent>;
using Names = std::vector<std::string>;

// The calls made since the trace was last cleared, one per line.
void trace_clear();
const std::vector<std::string> &trace();
void trace_note(std::string what);

std::string errno_name(int err); // "EEXIST"
std::string open_flags_name(int flags);
std::string quoted(std::string_view data, size_t max = 40);

// An open file; closes itself.
class File {
public:
	File() = default;
	explicit File(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
	File(File &&o) noexcept;
	File &operator=(File &&o) noexcept;
	File(const File &) = delete;
	File &operator=(const File &) = delete;
	~File();

	int fd() const { return fd_; }
	const std::string &name() const { return name_; }

	Res<std::string> pread(size_t n, off_t off);
	Res<std::string> read(size_t n);
	Status pwrite(std::string_view data, off_t off);
	Status write(std::string_view data);
	Status lseek(off_t off, int whence);
	Res<struct stat> fstat();
	Status ftruncate(off_t len);
	Status fallocate(int mode, off_t off, off_t len);
	Status fsync();
	Status fchmod(mode_t mode);
	// The whole file from offset 0 to EOF.
	Res<std::string> read_all();
	Status close();

private:
	int fd_ = -1;
	std::string name_;
};

// A directory of one side; names are relative to it ("" is the directory
// itself).
class Dir {
public:
	Dir() = default;
	Dir(std::string path);
	Dir(Dir &&o) noexcept;
	Dir &operator=(Dir &&o) noexcept;
	Dir(const Dir &) = delete;
	Dir &operator=(const Dir &) = delete;
	~Dir();

	int fd() const { return fd_; }
	const std::string &path() const { return path_; }
	std::string path_of(const std::string &name) const;

	Res<File> open(const std::string &name, int flags, mode_t mode = 0);
	Status mkdir(const std::string &name, mode_t mode = 0755);
	Status rmdir(const std::string &name);
	Status unlink(const std::string &name);
	Status link(const std::string &from, const std::string &to);
	Status symlink(const std::string &target, const std::string &name);
	Res<std::string> readlink(const std::string &name);
	Status rename(const std::string &from, const std::string &to, unsigned flags = 0);
	Status truncate(const std::string &name, off_t len);
	Status chmod(const std::string &name, mode_t mode);
	Status chown(const std::string &name, uid_t uid, gid_t gid);
	Status lchown(const std::string &name, uid_t uid, gid_t gid);
	// times == nullptr: both now.
	Status utimens(const std::string &name, const struct timespec *times, int flags = 0);
	Res<struct stat> stat(const std::string &name);
	Res<struct stat> lstat(const std::string &name);
	Status mknod(const std::string &name, mode_t mode, dev_t dev = 0);
	Status setxattr(const std::string &name, const std::string &key, std::string_view value, int flags);
	Res<std::string> getxattr(const std::string &name, const std::string &key, size_t bufsize = 65536);
	Status getxattr_size(const std::string &name, const std::string &key);
	Res<Names> listxattr(const std::string &name, size_t bufsize = 65536);
	Status listxattr_size(const std::string &name);
	Status removexattr(const std::string &name, const std::string &key);
	Res<struct statvfs> statvfs();
	// Every entry getdents64 returns, "." and ".." included, in its order.
	// `bufsize` small forces many getdents64 calls.
	Res<Dirents> list(const std::string &name = "", size_t bufsize = 32768);
	// Creates or truncates `name` and writes `content`; returns bytes written.
	Status write_file(const std::string &name, std::string_view content, mode_t mode = 0644);
	Res<std::string> read_file(const std::string &name);

private:
	std::string path_;
	int fd_ = -1;
};

// Comparing two outcomes. `why` gets what differs when they differ.
bool same(const Status &a, const Status &b, std::string *why);
bool same(const Res<File> &a, const Res<File> &b, std::string *why);
bool same(const Res<std::string> &a, const Res<std::string> &b, std::string *why);
bool same(const Res<struct stat> &a, const Res<struct stat> &b, std::string *why);
bool same(const Res<Names> &a, const Res<Names> &b, std::string *why);
bool same(const Res<Dirents> &a, const Res<Dirents> &b, std::string *why);
bool same(const Res<struct statvfs> &a, const Res<struct statvfs> &b, std::string *why);

std::string describe(const Status &r);
std::string describe(const Res<File> &r);
std::string describe(const Res<std::string> &r);
std::string describe(const Res<struct stat> &r);
std::string describe(const Res<Names> &r);
std::string describe(const Res<Dirents> &r);
std::string describe(const Res<struct statvfs> &r);

// The stat fields that are meant to match between reference and subject;
// "" when they do.
std::string stat_differences(const struct stat &ref, const struct stat &sub);

// A deterministic byte pattern: position `off` of stream `seed`.
std::string pattern(size_t len, uint64_t seed, uint64_t off = 0);

} // namespace posix
