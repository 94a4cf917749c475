// rfuse_fuzz: a hostile daemon against rfuse.ko. While valid callers load
// an rfuse mount from several threads (stat, open, read, write, create,
// readdir, rename, O_DIRECT, Linux AIO, ioctl, ...) and from processes that
// are SIGKILLed at random moments, a daemon that talks raw to /dev/rfuse
// (RawDaemon, raw_daemon.hpp) answers them with random and adversarial
// contents; callers are signalled (FUSE_INTERRUPT) all along:
//
//   replies   header fields (unique, error incl. positive and < -511, len),
//             payload bytes, errors with payloads, replies written into the
//             wrong slot, done flags set early, late, to odd values or
//             without the RFUSE_IOC_COMPLETE the kernel asked for, held and
//             late replies, duplicate and stale completions, completions
//             racing the daemon's from another thread, tracing stamps
//   rings     pending/forget/interrupt tails moved backwards and forwards
//   device    random notifications written to /dev/rfuse (every code,
//             FUSE_NOTIFY_RESEND and newer ones included, random lengths and
//             contents), random ioctls and ioctl structures, random mmaps;
//             after the unmount, the fd's calls must still behave
//   mounts    every mount (an "epoch") with its own ring count, poll window
//             and INIT reply (random flags, sizes; now and then a broken
//             one), ended in one of three ways: the daemon turns honest and
//             every caller must return (a request the kernel lost shows up
//             here), the daemon's fd is closed under load (abort), or
//             umount -f under load
//
// Checks: every caller returns within a bound once its mount ends; unmount
// works; /sys/class/misc/rfuse's slots_in_use, arg_slots_in_use and channels
// are back to 0 after every mount; what the kernel must refuse (completions
// of uniques never in flight, out-of-range rings and slots, bad ioctl
// numbers and pointers, replies written with write(), bad mmaps) is refused
// with the documented errno. The VM rig fails the run on any oops, WARNING,
// hung task or soft lockup, and run_rfuse_test.sh unloads the module after.
//
//   rfuse_fuzz [--seed S] [--replies N] [--threads T] [--epoch-replies M]
//              [--max-seconds S] [--kmod-params 'A|B|...' [--kmod PATH]] [--json FILE]
// Prints the seed first; the same seed replays the same choices (thread
// timing aside). --kmod-params: before each mount, rfuse.ko is reloaded
// (rmmod, insmod PATH) with one of these parameter sets, chosen at random,
// when it differs from the loaded one; PATH defaults, in the VM rig, to this
// build's rfuse.ko for the booted kernel. Exit 0: every check held; 1: a
// check failed; 2: bad usage.
#include "mountinfo.hpp"
#include "tests/rfuse/raw_daemon.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <filesystem>
#include <mutex>
#include <pthread.h>
#include <random>
#include <sched.h>
#include <string>
#include <linux/aio_abi.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using rfuse_test::RawDaemon;
using rfuse_test::RawReq;

// ---- what happened, for the report ----

#define FUZZ_COUNTERS(X)                                                                                   \
	X(replies) X(honest) X(payload_noise) X(bad_unique) X(bad_error) X(bad_len) X(error_with_payload)  \
	X(odd_done) X(done_before_reply) X(scribble_after_done) X(late_complete) X(held) X(duplicate)      \
	X(wrong_slot) X(always_ioctl) X(interrupted_replies) X(init_replies) X(init_broken)               \
	X(tail_games) X(replays) X(forgets) X(interrupts) X(notify_ok) X(notify_err) X(notify_resend)     \
	X(stale_completes) X(ioctls) X(mmaps) X(waits) X(signals) X(ops_ok) X(ops_err) X(ops_eio)         \
	X(epochs) X(end_drain) X(end_abort) X(end_force) X(reloads) X(pending_overruns) X(swept)           \
	X(racing_completes) X(odd_stamps) X(pinned_workers) X(victims_killed) X(header_mismatches)            \
	X(rescanned)

enum Counter {
#define X(n) c_##n,
	FUZZ_COUNTERS(X)
#undef X
	kCounters
};
const char *const kCounterNames[] = {
#define X(n) #n,
	FUZZ_COUNTERS(X)
#undef X
};

std::array<std::atomic<long>, kCounters> counts {};
void bump(Counter c, long n = 1)
{
	counts[c].fetch_add(n, std::memory_order_relaxed);
}

std::mutex fail_lock;
std::vector<std::string> failures;

// A broken check: printed at once and in the summary.
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fail(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	std::vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	std::fprintf(stderr, "rfuse_fuzz: FAIL: %s\n", buf);
	std::lock_guard<std::mutex> g(fail_lock);
	if (failures.size() < 200)
		failures.emplace_back(buf);
}

long counter(const char *name)
{
	std::ifstream in(std::string("/sys/class/misc/rfuse/") + name);
	long v = -1;
	in >> v;
	return v;
}

bool wait_zero(const char *name, std::chrono::milliseconds limit)
{
	auto end = Clock::now() + limit;
	while (counter(name) != 0) {
		if (Clock::now() > end)
			return false;
		std::this_thread::sleep_for(5ms);
	}
	return true;
}

std::string kernel_stack(pid_t tid)
{
	std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/stack");
	std::string s((std::istreambuf_iterator<char>(in)), {});
	return s.empty() ? "(no stack)" : s;
}

double seconds_since(Clock::time_point t)
{
	return std::chrono::duration<double>(Clock::now() - t).count();
}

// ---- the filesystem the honest daemon serves ----
// Root (1) holds files f0..f7 and c0..c7 and directories d0..d3 (10..13),
// each directory files f0..f3. Every name beginning with 'f' or 'c' is a
// file in any directory (its inode number a hash of parent and name), so
// creates, renames and unlinks all succeed and change nothing. Files are
// kFileSize bytes of a pattern.

constexpr std::uint64_t kFileSize = 256 << 10;
constexpr std::uint64_t kFirstDir = 10, kDirs = 4;

bool is_dir(std::uint64_t ino)
{
	return ino == FUSE_ROOT_ID || (ino >= kFirstDir && ino < kFirstDir + kDirs);
}

std::uint64_t lookup_ino(std::uint64_t parent, const char *name, std::size_t len)
{
	if (len == 0)
		return 0;
	if (parent == FUSE_ROOT_ID && len == 2 && name[0] == 'd' && name[1] >= '0' && name[1] < char('0' + kDirs))
		return kFirstDir + std::uint64_t(name[1] - '0');
	if (name[0] != 'f' && name[0] != 'c')
		return 0;
	std::uint64_t h = 1469598103934665603ULL ^ parent;
	for (std::size_t i = 0; i < len; i++)
		h = (h ^ std::uint8_t(name[i])) * 1099511628211ULL;
	return 1000 + h % 1000000;
}

std::vector<std::string> dir_names(std::uint64_t dir)
{
	std::vector<std::string> names = {".", ".."};
	if (dir == FUSE_ROOT_ID) {
		for (int i = 0; i < 8; i++)
			names.push_back("f" + std::to_string(i));
		for (int i = 0; i < 8; i++)
			names.push_back("c" + std::to_string(i));
		for (unsigned i = 0; i < kDirs; i++)
			names.push_back("d" + std::to_string(i));
	} else {
		for (int i = 0; i < 4; i++)
			names.push_back("f" + std::to_string(i));
	}
	return names;
}

// What each mount negotiated and how long the kernel may cache.
struct EpochConf {
	std::uint64_t entry_valid = 0, attr_valid = 0;
	std::uint32_t init_minor = 31;
	std::uint64_t init_flags = 0;
	std::uint32_t max_write = 128 << 10, max_readahead = 128 << 10, max_pages = 32;
	std::uint16_t max_background = 12;
	std::uint32_t unused0 = 0, unused1 = 0; // max_stack_depth, request_timeout on newer kernels
	bool broken_init = false;
};

void fill_attr(fuse_attr &a, std::uint64_t ino)
{
	a = {};
	a.ino = ino;
	if (is_dir(ino)) {
		a.mode = S_IFDIR | 0755;
		a.nlink = 2;
		a.size = 4096;
	} else {
		a.mode = S_IFREG | 0644;
		a.nlink = 1;
		a.size = kFileSize;
		a.blocks = kFileSize / 512;
	}
	a.blksize = 4096;
	a.atime = a.mtime = a.ctime = 1700000000;
}

void fill_entry(fuse_entry_out &e, std::uint64_t ino, const EpochConf &conf)
{
	e = {};
	e.nodeid = ino;
	e.generation = 1;
	e.entry_valid = conf.entry_valid;
	e.attr_valid = conf.attr_valid;
	fill_attr(e.attr, ino);
}

// The name at the end of a request's arguments (after `skip` bytes).
std::string arg_name(const RawReq &q, std::size_t skip)
{
	if (q.arg_len <= skip)
		return {};
	const char *p = reinterpret_cast<const char *>(q.arg) + skip;
	std::size_t max = q.arg_len - skip;
	return std::string(p, strnlen(p, max));
}

// Writes `data` as the reply's payload: all of it for a variable-length
// reply, else exactly out_cap (truncated or padded with zeros), which is
// what the kernel accepts for fixed-size replies whatever its struct sizes.
void put(RawReq &q, const void *data, std::size_t n, bool variable)
{
	std::size_t room = q.out_cap - sizeof(fuse_out_header);
	std::size_t len = variable ? std::min(n, room) : room;
	std::memcpy(q.out, data, std::min(n, len));
	if (len > n)
		std::memset(q.out + n, 0, len - n);
	q.oh->unique = q.ih.unique;
	q.oh->error = 0;
	q.oh->len = std::uint32_t(sizeof(fuse_out_header) + len);
}

void put_error(RawReq &q, int err)
{
	q.oh->unique = q.ih.unique;
	q.oh->error = -err;
	q.oh->len = sizeof(fuse_out_header);
}

void fill_pattern(std::uint8_t *p, std::size_t n, std::uint64_t ino, std::uint64_t off)
{
	for (std::size_t i = 0; i < n; i++)
		p[i] = std::uint8_t((ino + off + i) % 251);
}

std::size_t dirent_size(std::size_t namelen, bool plus)
{
	std::size_t d = (offsetof(fuse_dirent, name) + namelen + 7) & ~std::size_t(7);
	return plus ? sizeof(fuse_entry_out) + d : d;
}

void reply_readdir(RawReq &q, const EpochConf &conf, bool plus)
{
	fuse_read_in in {};
	std::memcpy(&in, q.arg, std::min<std::size_t>(sizeof(in), q.arg_len));
	std::vector<std::string> names = dir_names(q.ih.nodeid);
	std::size_t room = std::min<std::size_t>(in.size, q.out_cap - sizeof(fuse_out_header));
	std::vector<std::uint8_t> buf;
	for (std::size_t i = in.offset; i < names.size(); i++) {
		const std::string &n = names[i];
		std::size_t sz = dirent_size(n.size(), plus);
		if (buf.size() + sz > room)
			break;
		std::size_t at = buf.size();
		buf.resize(at + sz, 0);
		std::uint64_t ino = n == "." ? q.ih.nodeid : n == ".." ? FUSE_ROOT_ID : lookup_ino(q.ih.nodeid, n.data(), n.size());
		if (plus) {
			fuse_entry_out e {};
			if (n != "." && n != "..")
				fill_entry(e, ino, conf);
			std::memcpy(buf.data() + at, &e, sizeof(e));
			at += sizeof(e);
		}
		fuse_dirent d {};
		d.ino = ino;
		d.off = i + 1;
		d.namelen = std::uint32_t(n.size());
		d.type = is_dir(ino) ? DT_DIR : DT_REG;
		std::memcpy(buf.data() + at, &d, offsetof(fuse_dirent, name));
		std::memcpy(buf.data() + at + offsetof(fuse_dirent, name), n.data(), n.size());
	}
	put(q, buf.data(), buf.size(), true);
}

void reply_init(RawReq &q, const EpochConf &conf)
{
	fuse_init_out out {};
	out.major = FUSE_KERNEL_VERSION;
	out.minor = conf.init_minor;
	out.max_readahead = conf.max_readahead;
	out.flags = std::uint32_t(conf.init_flags);
	out.flags2 = std::uint32_t(conf.init_flags >> 32);
	out.max_background = conf.max_background;
	out.congestion_threshold = std::uint16_t(conf.max_background * 3 / 4);
	out.max_write = conf.max_write;
	out.time_gran = 1;
	out.max_pages = std::uint16_t(conf.max_pages);
	out.unused[0] = conf.unused0;
	out.unused[1] = conf.unused1;
	put(q, &out, sizeof(out), true);
}

// The reply an honest daemon writes.
void honest(RawReq &q, const EpochConf &conf)
{
	const std::uint64_t ino = q.ih.nodeid;
	switch (q.ih.opcode) {
	case FUSE_INIT:
		reply_init(q, conf);
		return;
	case FUSE_LOOKUP: {
		std::string name = arg_name(q, 0);
		std::uint64_t child = lookup_ino(ino, name.data(), name.size());
		if (!child || !is_dir(ino))
			return put_error(q, ENOENT);
		fuse_entry_out e;
		fill_entry(e, child, conf);
		return put(q, &e, sizeof(e), false);
	}
	case FUSE_GETATTR:
	case FUSE_SETATTR: {
		fuse_attr_out out {};
		out.attr_valid = conf.attr_valid;
		fill_attr(out.attr, ino);
		return put(q, &out, sizeof(out), false);
	}
	case FUSE_OPEN:
	case FUSE_OPENDIR: {
		fuse_open_out out {};
		out.fh = ino * 7 + 3;
		return put(q, &out, sizeof(out), false);
	}
	case FUSE_CREATE:
	case FUSE_MKNOD:
	case FUSE_MKDIR:
	case FUSE_SYMLINK:
	case FUSE_LINK: {
		std::size_t skip = q.ih.opcode == FUSE_CREATE ? sizeof(fuse_create_in)
				   : q.ih.opcode == FUSE_MKNOD ? sizeof(fuse_mknod_in)
				   : q.ih.opcode == FUSE_MKDIR ? sizeof(fuse_mkdir_in)
				   : q.ih.opcode == FUSE_LINK ? sizeof(fuse_link_in)
							      : 0;
		std::string name = arg_name(q, skip);
		std::uint64_t child = lookup_ino(ino, name.data(), name.size());
		if (q.ih.opcode == FUSE_MKDIR || q.ih.opcode == FUSE_SYMLINK || !child)
			return put_error(q, q.ih.opcode == FUSE_MKDIR ? EEXIST : EPERM);
		struct {
			fuse_entry_out e;
			fuse_open_out o;
		} out {};
		fill_entry(out.e, child, conf);
		out.o.fh = child * 7 + 3;
		return put(q, &out, q.ih.opcode == FUSE_CREATE ? sizeof(out) : sizeof(out.e), false);
	}
	case FUSE_READ: {
		fuse_read_in in {};
		std::memcpy(&in, q.arg, std::min<std::size_t>(sizeof(in), q.arg_len));
		std::size_t room = q.out_cap - sizeof(fuse_out_header);
		std::size_t n = in.offset < kFileSize ? std::min<std::uint64_t>(in.size, kFileSize - in.offset) : 0;
		n = std::min(n, room);
		fill_pattern(q.out, n, ino, in.offset);
		q.oh->unique = q.ih.unique;
		q.oh->error = 0;
		q.oh->len = std::uint32_t(sizeof(fuse_out_header) + n);
		return;
	}
	case FUSE_WRITE: {
		fuse_write_in in {};
		std::memcpy(&in, q.arg, std::min<std::size_t>(sizeof(in), q.arg_len));
		fuse_write_out out {};
		out.size = in.size;
		return put(q, &out, sizeof(out), false);
	}
	case FUSE_READDIR:
	case FUSE_READDIRPLUS:
		if (!is_dir(ino))
			return put_error(q, ENOTDIR);
		return reply_readdir(q, conf, q.ih.opcode == FUSE_READDIRPLUS);
	case FUSE_READLINK:
		return put(q, "f0", 2, true);
	case FUSE_STATFS: {
		fuse_statfs_out out {};
		out.st.blocks = 1 << 20;
		out.st.bfree = out.st.bavail = 1 << 19;
		out.st.files = 1 << 16;
		out.st.ffree = 1 << 15;
		out.st.bsize = out.st.frsize = 4096;
		out.st.namelen = 255;
		return put(q, &out, sizeof(out), false);
	}
	case FUSE_GETXATTR:
		return put_error(q, ENODATA);
	case FUSE_IOCTL: {
		fuse_ioctl_in in {};
		std::memcpy(&in, q.arg, std::min<std::size_t>(sizeof(in), q.arg_len));
		std::size_t room = q.out_cap - sizeof(fuse_out_header);
		std::vector<std::uint8_t> out(std::min<std::size_t>(sizeof(fuse_ioctl_out) + in.out_size, room), 0);
		return put(q, out.data(), out.size(), true);
	}
	case FUSE_LISTXATTR: {
		fuse_getxattr_in in {};
		std::memcpy(&in, q.arg, std::min<std::size_t>(sizeof(in), q.arg_len));
		if (in.size == 0) {
			fuse_getxattr_out out {};
			return put(q, &out, sizeof(out), false);
		}
		return put(q, nullptr, 0, true);
	}
	case FUSE_FLUSH:
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR:
	case FUSE_FSYNC:
	case FUSE_FSYNCDIR:
	case FUSE_UNLINK:
	case FUSE_RMDIR:
	case FUSE_RENAME:
	case FUSE_RENAME2:
	case FUSE_SETXATTR:
	case FUSE_REMOVEXATTR:
	case FUSE_ACCESS:
	case FUSE_FALLOCATE:
	case FUSE_NOTIFY_REPLY:
	case FUSE_DESTROY:
		return put(q, nullptr, 0, true);
	default:
		return put_error(q, ENOSYS);
	}
}

// ---- the hostile daemon ----

// What the daemon did last with each slot (for a report of a stuck one):
// the unique it answered, how, and what RFUSE_IOC_COMPLETE said (-1000: no
// completion asked for, the caller was polling).
class SlotLog {
public:
	SlotLog(unsigned rings, unsigned slots) : slots_(slots), log_(std::size_t(rings) * slots) {}
	void note(unsigned ring, std::uint32_t slot, std::uint64_t unique, Counter action, int rc)
	{
		std::size_t i = std::size_t(ring) * slots_ + slot;
		if (i >= log_.size())
			return;
		log_[i].unique.store(unique, std::memory_order_relaxed);
		log_[i].what.store(int(action) << 16 | (rc & 0xffff), std::memory_order_relaxed);
	}
	std::string describe(unsigned ring, std::uint32_t slot) const
	{
		std::size_t i = std::size_t(ring) * slots_ + slot;
		if (i >= log_.size())
			return "";
		int what = log_[i].what.load(std::memory_order_relaxed);
		char buf[128];
		std::snprintf(buf, sizeof(buf), "; daemon: %s of %llu, COMPLETE %d", kCounterNames[what >> 16],
			      static_cast<unsigned long long>(log_[i].unique.load(std::memory_order_relaxed)),
			      std::int16_t(what & 0xffff));
		return buf;
	}

private:
	struct Entry {
		std::atomic<std::uint64_t> unique {0};
		std::atomic<int> what {0};
	};
	unsigned slots_;
	std::vector<Entry> log_;
};

// Requests the daemon took lately, for another thread to complete at the
// same time as the daemon (or the polling caller) does.
class Recent {
public:
	void add(unsigned ring, std::uint32_t slot, std::uint64_t unique)
	{
		std::lock_guard<std::mutex> g(lock_);
		list_[next_++ % list_.size()] = {ring, slot, unique};
		size_ = std::min<std::size_t>(size_ + 1, list_.size());
	}
	bool pick(std::uint64_t r, rfuse_complete *out)
	{
		std::lock_guard<std::mutex> g(lock_);
		if (size_ == 0)
			return false;
		*out = list_[r % size_];
		return true;
	}

private:
	std::mutex lock_;
	std::array<rfuse_complete, 64> list_ {};
	std::size_t next_ = 0, size_ = 0;
};

enum class Phase { Fuzz, Drain };

struct Held {
	RawReq q;
	Clock::time_point due;
	bool mutate = false;
};

struct Late {
	unsigned ring;
	std::uint32_t slot;
	std::uint64_t unique;
	Clock::time_point due;
};

// A completion the kernel took (COMPLETE returned 0): that unique never
// comes back, so completing it again must fail with EINVAL. Except after a
// FUSE_NOTIFY_RESEND: the request comes again with FUSE_UNIQUE_RESEND set
// in its unique, and a second resend gives it the same unique again (as on
// /dev/fuse), so such a unique may be in flight again, even in the same slot.
constexpr std::uint64_t kUniqueResend = 1ULL << 63;

bool may_return(std::uint64_t unique)
{
	return (unique & kUniqueResend) != 0;
}

struct Done {
	unsigned ring;
	std::uint32_t slot;
	std::uint64_t unique;
	bool claimed_by_us;
};

class Fuzzer {
public:
	Fuzzer(std::uint64_t seed, const EpochConf &conf, Recent &recent, int pin_cpu, SlotLog &log)
		: rng_(seed), conf_(conf), recent_(recent), pin_cpu_(pin_cpu), log_(log)
	{
	}

	std::atomic<Phase> phase {Phase::Fuzz};
	std::atomic<long> replies {0};

	RawDaemon::Act handle(RawDaemon &d, RawReq &q)
	{
		replies++;
		bump(c_replies);
		if (q.ih.opcode == FUSE_INIT) {
			bump(c_init_replies);
			honest(q, conf_);
			if (conf_.broken_init) {
				bump(c_init_broken);
				mutate_header(q);
			}
			return RawDaemon::Act::Reply;
		}
		honest(q, conf_);
		if (phase.load() != Phase::Fuzz) {
			bump(c_honest);
			return RawDaemon::Act::Reply;
		}
		recent_.add(q.ring, q.slot, q.ih.unique);
		// Garbage attributes of the root make it a bad inode for the rest
		// of the mount (every call then fails with EIO before it reaches
		// the daemon): the root's own attributes stay honest.
		const bool root_attr = q.ih.nodeid == FUSE_ROOT_ID && (q.ih.opcode == FUSE_GETATTR || q.ih.opcode == FUSE_SETATTR);
		if (pick(8) == 0) {
			// tracing stamps: the kernel only reports them
			bump(c_odd_stamps);
			q.sc->fetched_ns = rng_();
			q.sc->replied_ns = pick(2) ? 0 : rng_();
		}
		unsigned roll = pick(1000);
		if (roll < 520) {
			note(c_honest);
			publish(d, q, 1, pick(20) == 0);
			return RawDaemon::Act::Hold;
		}
		if (roll < 600) {
			note(c_payload_noise);
			if (!root_attr)
				noise(q);
		} else if (roll < 640) {
			note(c_bad_unique);
			bad_unique(q);
		} else if (roll < 690) {
			note(c_bad_error);
			bad_error(q);
		} else if (roll < 740) {
			note(c_bad_len);
			bad_len(q);
		} else if (roll < 755) {
			note(c_error_with_payload);
			q.oh->error = -EIO;
			q.oh->len = std::uint32_t(sizeof(fuse_out_header) + 1 + pick(q.out_cap));
		} else if (roll < 775) {
			note(c_odd_done);
			static const std::uint32_t odd[] = {2, 0x80000000U, 0xffffffffU, 0x100};
			publish(d, q, odd[pick(4)], false);
			return RawDaemon::Act::Hold;
		} else if (roll < 795) {
			note(c_done_before_reply);
			// the kernel may take the slot's old contents: a stale reply
			fuse_out_header saved = *q.oh;
			q.oh->unique = 0;
			rfuse::abi::store_release(q.sc->done, 1);
			std::atomic_thread_fence(std::memory_order_seq_cst);
			*q.oh = saved;
			publish(d, q, 1, false);
			return RawDaemon::Act::Hold;
		} else if (roll < 815) {
			note(c_scribble_after_done);
			publish(d, q, 1, false);
			mutate_header(q);
			return RawDaemon::Act::Hold;
		} else if (roll < 855) {
			note(c_late_complete);
			rfuse::abi::store_release(q.sc->done, 1);
			late_.push_back({q.ring, q.slot, q.ih.unique, Clock::now() + std::chrono::microseconds(pick(30000))});
			return RawDaemon::Act::Hold;
		} else if (roll < 920) {
			note(c_held);
			held_.push_back({q, Clock::now() + std::chrono::microseconds(pick(50000)), pick(3) == 0});
			return RawDaemon::Act::Hold;
		} else if (roll < 950) {
			note(c_duplicate);
			int rc = publish(d, q, 1, true);
			rfuse_complete c {q.ring, q.slot, q.ih.unique};
			int again = ioctl(d.fd(), RFUSE_IOC_COMPLETE, &c) == 0 ? 0 : errno;
			if (again != EINVAL && !(again == 0 && may_return(q.ih.unique)))
				fail("a second RFUSE_IOC_COMPLETE {%u, %u, %llu} (the first: %d) returned %d, not EINVAL", q.ring,
				     q.slot, static_cast<unsigned long long>(q.ih.unique), rc, again);
			return RawDaemon::Act::Hold;
		} else {
			note(c_wrong_slot);
			wrong_slot(d, q);
			publish(d, q, 1, false);
			return RawDaemon::Act::Hold;
		}
		publish(d, q, 1, pick(10) == 0);
		return RawDaemon::Act::Hold;
	}

	void tick(RawDaemon &d)
	{
		const bool fuzz = phase.load() == Phase::Fuzz;
		const auto now = Clock::now();
		if (pin_cpu_ >= 0) {
			// a worker confined to one CPU: callers there hand their CPU
			// over instead of spinning (rfuse_wait_mode())
			cpu_set_t set;
			CPU_ZERO(&set);
			CPU_SET(pin_cpu_, &set);
			sched_setaffinity(0, sizeof(set), &set);
			pin_cpu_ = -1;
		}
		consume_aux(d);
		for (std::size_t i = 0; i < held_.size();) {
			if (fuzz && held_[i].due > now) {
				i++;
				continue;
			}
			Held h = held_[i];
			held_.erase(held_.begin() + long(i));
			if (h.q.sc->unique != h.q.ih.unique) {
				// ended meanwhile (a done flag set by another action let its
				// poller take it) and the slot reused: its memory is another
				// request's now; only a stale completion is left to try
				rfuse_complete c {h.q.ring, h.q.slot, h.q.ih.unique};
				if (ioctl(d.fd(), RFUSE_IOC_COMPLETE, &c) == 0 && !may_return(c.unique))
					fail("RFUSE_IOC_COMPLETE of slot %u/%u with the unique %llu it held before succeeded",
					     c.ring, c.slot, static_cast<unsigned long long>(c.unique));
				continue;
			}
			if (fuzz && h.mutate)
				mutate_header(h.q, true);
			action_ = c_held;
			publish(d, h.q, 1, false);
		}
		for (std::size_t i = 0; i < late_.size();) {
			if (fuzz && late_[i].due > now) {
				i++;
				continue;
			}
			rfuse_complete c {late_[i].ring, late_[i].slot, late_[i].unique};
			int rc = ioctl(d.fd(), RFUSE_IOC_COMPLETE, &c) == 0 ? 0 : errno;
			log_.note(c.ring, c.slot, c.unique, c_late_complete, rc);
			if (rc != 0 && rc != EINVAL)
				fail("late RFUSE_IOC_COMPLETE: %s", std::strerror(rc));
			late_.erase(late_.begin() + long(i));
		}
		if (!fuzz) {
			restore_tails(d);
			// pending entries lost to an overrun (our own doing: a done flag
			// set on a slot not taken yet lets its poller end it and the
			// kernel reuse it): answer what waits in a slot without one
			if (d.overruns() > 0 && now > next_sweep_) {
				sweep(d);
				next_sweep_ = now + 100ms;
			}
			return;
		}
		if (now > next_tail_game_) {
			tail_game(d);
			next_tail_game_ = now + std::chrono::microseconds(pick(10000));
		}
		if (lies_ && now > restore_at_)
			restore_tails(d);
		if (now > next_replay_) {
			replay(d);
			next_replay_ = now + std::chrono::microseconds(pick(4000));
		}
	}

private:
	unsigned pick(unsigned n) { return n ? unsigned(rng_() % n) : 0; }

	void note(Counter action)
	{
		bump(action);
		action_ = action;
	}

	// done = `done_value`; COMPLETE when the kernel asked (or always).
	// Notes the completion for replays.
	int publish(RawDaemon &d, const RawReq &q, std::uint32_t done_value, bool always_ioctl)
	{
		rfuse::abi::store_release(q.sc->done, done_value);
		std::atomic_thread_fence(std::memory_order_seq_cst);
		if (!always_ioctl && rfuse::abi::load_relaxed(q.sc->waiter_asleep) == 0) {
			log_.note(q.ring, q.slot, q.ih.unique, action_, -1000);
			return -1000;
		}
		if (always_ioctl)
			bump(c_always_ioctl);
		rfuse_complete c {q.ring, q.slot, q.ih.unique};
		int rc = ioctl(d.fd(), RFUSE_IOC_COMPLETE, &c) == 0 ? 0 : errno;
		log_.note(q.ring, q.slot, q.ih.unique, action_, rc);
		if (rc != 0 && rc != EINVAL)
			fail("RFUSE_IOC_COMPLETE {%u, %u}: %s", q.ring, q.slot, std::strerror(rc));
		if (rc == 0) {
			done_.push_back({q.ring, q.slot, q.ih.unique, true});
			if (done_.size() > 256)
				done_.pop_front();
		}
		return rc;
	}

	void noise(RawReq &q)
	{
		std::size_t n = q.oh->len > sizeof(fuse_out_header) ? q.oh->len - sizeof(fuse_out_header) : 0;
		n = std::min<std::size_t>(n, q.out_cap - sizeof(fuse_out_header));
		if (n == 0)
			return;
		if (pick(4) == 0) {
			for (std::size_t i = 0; i < n; i++)
				q.out[i] = std::uint8_t(rng_());
			return;
		}
		for (unsigned k = 1 + pick(8); k; k--)
			q.out[pick(unsigned(n))] = std::uint8_t(rng_());
	}

	void bad_unique(RawReq &q)
	{
		const std::uint64_t u = q.ih.unique;
		const std::uint64_t choices[] = {u + 1, u - 2, u + 2, u ^ (1ULL << 63), 0, rng_(), ~u};
		q.oh->unique = choices[pick(7)];
	}

	void bad_error(RawReq &q)
	{
		const std::int32_t choices[] = {
			std::int32_t(1 + pick(1000)), INT32_MAX, -512, -513, -4095, INT32_MIN, -std::int32_t(1 + pick(511)),
			std::int32_t(rng_()),
		};
		q.oh->error = choices[pick(8)];
		if (pick(2))
			q.oh->len = sizeof(fuse_out_header);
	}

	void bad_len(RawReq &q)
	{
		const std::uint32_t cap = q.out_cap;
		const std::uint32_t choices[] = {0, 8, 15, 16, 17, cap - 1, cap + 1, cap + 4096, 0xffffffffU,
						 std::uint32_t(pick(2 * cap + 1)), 0x80000000U};
		q.oh->len = choices[pick(11)];
	}

	void mutate_header(RawReq &q, bool payload_too = false)
	{
		switch (pick(payload_too ? 4 : 3)) {
		case 0: bad_unique(q); break;
		case 1: bad_error(q); break;
		case 2: bad_len(q); break;
		default:
			if (q.ih.nodeid != FUSE_ROOT_ID)
				noise(q);
			break;
		}
	}

	// A slot's own reply room (the second half of its header slot). Not
	// the out_off the kernel wrote there last: for a slot that has been
	// reused since, that may lie in an argument slot that now holds
	// another request's bytes, which this daemon has yet to read.
	std::uint8_t *out_area(RawDaemon &d, unsigned r, std::uint32_t slot, std::uint32_t *cap)
	{
		*cap = d.info().slot_size / 2;
		return d.ring(r).base + d.info().slots_off + std::size_t(slot) * d.info().slot_size + d.info().slot_size / 2;
	}

	// Writes q's reply into another slot, sets that slot's done flag and
	// completes it with q's unique: the kernel must refuse (no slot but
	// q's holds q's unique). The other slot's own request, if any, may
	// take the reply by polling (then it fails with EIO).
	void wrong_slot(RawDaemon &d, const RawReq &q)
	{
		unsigned r = pick(4) == 0 ? pick(d.nr_rings()) : q.ring;
		std::uint32_t s = pick(d.info().nr_slots);
		if (r == q.ring && s == q.slot)
			s = (s + 1) % d.info().nr_slots;
		if (r == q.ring && s == q.slot)
			return;
		std::uint32_t cap = 0;
		std::uint8_t *dst = out_area(d, r, s, &cap);
		std::memcpy(dst, q.oh, std::min<std::uint32_t>(cap, std::min<std::uint32_t>(q.out_cap, 256)));
		rfuse::abi::store_release(d.ring(r).slot(d.info(), s)->done, 1);
		std::atomic_thread_fence(std::memory_order_seq_cst);
		rfuse_complete c {r, s, q.ih.unique};
		int rc = ioctl(d.fd(), RFUSE_IOC_COMPLETE, &c) == 0 ? 0 : errno;
		if (rc != EINVAL && !(rc == 0 && may_return(q.ih.unique)))
			fail("RFUSE_IOC_COMPLETE of ring %u slot %u with the unique %llu of slot %u/%u: %d, not EINVAL", r, s,
			     static_cast<unsigned long long>(q.ih.unique), q.ring, q.slot, rc);
	}

	// Completes an old request again: EINVAL when our own COMPLETE ended it.
	// Now and then also sets that slot's done flag (its new request, if
	// any, may take a stale reply and fail with EIO).
	void replay(RawDaemon &d)
	{
		if (done_.empty())
			return;
		bump(c_replays);
		const Done &o = done_[pick(unsigned(done_.size()))];
		if (pick(8) == 0)
			rfuse::abi::store_release(d.ring(o.ring).slot(d.info(), o.slot)->done, 1);
		rfuse_complete c {o.ring, o.slot, o.unique};
		int rc = ioctl(d.fd(), RFUSE_IOC_COMPLETE, &c) == 0 ? 0 : errno;
		if (o.claimed_by_us && rc != EINVAL && !(rc == 0 && may_return(o.unique)))
			fail("RFUSE_IOC_COMPLETE of a request already completed {%u, %u, %llu}: %d, not EINVAL", o.ring, o.slot,
			     static_cast<unsigned long long>(o.unique), rc);
	}

	// The daemon's side of the forget and interrupt rings, with our own
	// consumer indexes (the tails in shared memory may be lies for a while).
	void consume_aux(RawDaemon &d)
	{
		const rfuse_info &info = d.info();
		if (forget_tail_.size() != d.nr_rings()) {
			forget_tail_.assign(d.nr_rings(), 0);
			intr_tail_.assign(d.nr_rings(), 0);
		}
		for (unsigned r = 0; r < d.nr_rings(); r++) {
			auto &ring = d.ring(r);
			std::uint32_t head = rfuse::abi::load_acquire(ring.ctl->forget_head);
			if (head - forget_tail_[r] <= info.forget_entries) {
				bump(c_forgets, head - forget_tail_[r]);
				forget_tail_[r] = head;
			} else {
				forget_tail_[r] = head; // a kernel bug would show as a wild head
			}
			head = rfuse::abi::load_acquire(ring.ctl->intr_head);
			std::uint32_t n = head - intr_tail_[r];
			if (n > info.intr_entries)
				n = 0;
			for (std::uint32_t i = 0; i < n; i++) {
				std::uint64_t unique = ring.intrs[(intr_tail_[r] + i) & (info.intr_entries - 1)];
				bump(c_interrupts);
				// as libfuse does: a held request that was interrupted ends with EINTR
				for (std::size_t k = 0; k < held_.size(); k++) {
					if (held_[k].q.ih.unique != unique)
						continue;
					Held h = held_[k];
					held_.erase(held_.begin() + long(k));
					put_error(h.q, EINTR);
					bump(c_interrupted_replies);
					action_ = c_interrupted_replies;
					publish(d, h.q, 1, false);
					break;
				}
			}
			intr_tail_[r] = head;
			if (!lies_) {
				rfuse::abi::store_release(ring.ctl->forget_tail, forget_tail_[r]);
				rfuse::abi::store_release(ring.ctl->intr_tail, intr_tail_[r]);
			}
		}
	}

	void sweep(RawDaemon &d)
	{
		for (unsigned r = 0; r < d.nr_rings(); r++)
			for (std::uint32_t s = 0; s < d.info().nr_slots; s++) {
				rfuse_slot_ctl *sc = d.ring(r).slot(d.info(), s);
				RawReq q;
				if (rfuse::abi::load_acquire(sc->done) != 0 || rfuse::abi::load_relaxed(sc->waiter_asleep) == 0 ||
				    !d.read_slot(r, s, q))
					continue;
				bump(c_swept);
				action_ = c_swept;
				honest(q, conf_);
				publish(d, q, 1, true);
			}
	}

	// Moves a tail the kernel reads backwards, forwards or anywhere for a
	// few milliseconds.
	void tail_game(RawDaemon &d)
	{
		bump(c_tail_games);
		unsigned r = pick(d.nr_rings());
		auto &ctl = *d.ring(r).ctl;
		std::uint32_t *tails[] = {&ctl.pending_tail, &ctl.forget_tail, &ctl.intr_tail};
		std::uint32_t &t = *tails[pick(3)];
		std::uint32_t v = rfuse::abi::load_relaxed(t);
		const std::uint32_t choices[] = {v - 1, v - 1 - pick(4096), v + 1, v + 1 + pick(4096), std::uint32_t(rng_()), v ^ 0x80000000U};
		rfuse::abi::store_release(t, choices[pick(6)]);
		lies_ = true;
		restore_at_ = Clock::now() + std::chrono::microseconds(pick(20000));
	}

	void restore_tails(RawDaemon &d)
	{
		if (!lies_)
			return;
		for (unsigned r = 0; r < d.nr_rings() && r < forget_tail_.size(); r++) {
			auto &ctl = *d.ring(r).ctl;
			rfuse::abi::store_release(ctl.pending_tail, d.consumed(r));
			rfuse::abi::store_release(ctl.forget_tail, forget_tail_[r]);
			rfuse::abi::store_release(ctl.intr_tail, intr_tail_[r]);
		}
		lies_ = false;
	}

	std::mt19937_64 rng_;
	EpochConf conf_;
	Recent &recent_;
	int pin_cpu_;
	SlotLog &log_;
	Counter action_ = c_honest;
	std::vector<Held> held_;
	std::vector<Late> late_;
	std::deque<Done> done_;
	std::vector<std::uint32_t> forget_tail_, intr_tail_;
	bool lies_ = false;
	Clock::time_point restore_at_ {}, next_tail_game_ {}, next_replay_ {}, next_sweep_ {};
};

// ---- the device: notifications, ioctls, mmaps (a thread of its own: a
// notification may wait for a request the serving thread holds) ----

unsigned kernel_version()
{
	utsname u {};
	uname(&u);
	unsigned major = 0, minor = 0;
	std::sscanf(u.release, "%u.%u", &major, &minor);
	return major * 100 + minor;
}

class Chaos {
public:
	Chaos(RawDaemon &d, std::uint64_t seed, Recent &recent) : d_(d), rng_(seed), recent_(recent)
	{
		for (const std::string &n : dir_names(FUSE_ROOT_ID))
			if (n[0] != '.')
				known_.push_back(lookup_ino(FUSE_ROOT_ID, n.data(), n.size()));
		known_.push_back(FUSE_ROOT_ID);
	}

	void run(const std::atomic<bool> &stop)
	{
		tid = pid_t(syscall(SYS_gettid));
		while (!stop.load()) {
			unsigned roll = pick(100);
			if (roll < 35)
				notify_structured();
			else if (roll < 50)
				notify_random();
			else if (roll < 62)
				stale_complete();
			else if (roll < 70)
				racing_complete();
			else if (roll < 85)
				random_ioctl();
			else if (roll < 95)
				mmap_game();
			else
				write_reply();
			std::this_thread::sleep_for(std::chrono::microseconds(pick(4000)));
		}
		finished.store(true);
	}

	std::atomic<bool> finished {false};
	std::atomic<pid_t> tid {0};
	std::atomic<int> doing {0};

private:
	unsigned pick(unsigned n) { return n ? unsigned(rng_() % n) : 0; }
	std::uint64_t some_ino()
	{
		return pick(8) == 0 ? rng_() % 2000000 : known_[pick(unsigned(known_.size()))];
	}

	int write_notification(std::uint32_t code, const void *arg, std::size_t n, std::uint32_t len_override = 0)
	{
		std::vector<std::uint8_t> buf(sizeof(fuse_out_header) + n);
		fuse_out_header oh {std::uint32_t(buf.size()), std::int32_t(code), 0};
		if (len_override)
			oh.len = len_override;
		std::memcpy(buf.data(), &oh, sizeof(oh));
		if (n)
			std::memcpy(buf.data() + sizeof(oh), arg, n);
		doing.store(int(code) + 1);
		ssize_t w = write(d_.fd(), buf.data(), buf.size());
		doing.store(0);
		int err = w < 0 ? errno : 0;
		bump(err ? c_notify_err : c_notify_ok);
		return err;
	}

	void notify_structured()
	{
		const unsigned v = kernel_version();
		switch (pick(10)) {
		case 0: {
			fuse_notify_inval_inode_out a {some_ino(), std::int64_t(pick(4) ? 0 : pick(1 << 20)),
							std::int64_t(pick(4) ? 0 : pick(3) == 0 ? -1 : pick(1 << 20))};
			write_notification(FUSE_NOTIFY_INVAL_INODE, &a, sizeof(a));
			break;
		}
		case 1:
		case 2: {
			std::string name = pick(2) ? "f" + std::to_string(pick(8)) : "d" + std::to_string(pick(5));
			std::uint64_t parent = pick(4) ? FUSE_ROOT_ID : some_ino();
			fuse_notify_delete_out del {parent, lookup_ino(parent, name.data(), name.size()),
						    std::uint32_t(name.size()), 0};
			fuse_notify_inval_entry_out ent {parent, std::uint32_t(name.size()), std::uint32_t(pick(4) == 0)};
			std::vector<std::uint8_t> a(sizeof(del) + name.size() + 1, 0);
			bool is_delete = pick(2);
			std::memcpy(a.data(), is_delete ? static_cast<const void *>(&del) : &ent,
				    is_delete ? sizeof(del) : sizeof(ent));
			std::size_t at = is_delete ? sizeof(del) : sizeof(ent);
			std::memcpy(a.data() + at, name.data(), name.size());
			a.resize(at + name.size() + 1);
			write_notification(is_delete ? FUSE_NOTIFY_DELETE : FUSE_NOTIFY_INVAL_ENTRY, a.data(), a.size());
			break;
		}
		case 3:
		case 4: {
			fuse_notify_store_out s {some_ino(), pick(1 << 19), pick(4) ? pick(8192) : pick(65536), 0};
			std::vector<std::uint8_t> a(sizeof(s) + s.size);
			std::memcpy(a.data(), &s, sizeof(s));
			for (std::size_t i = sizeof(s); i < a.size(); i++)
				a[i] = std::uint8_t(i);
			write_notification(FUSE_NOTIFY_STORE, a.data(), a.size());
			break;
		}
		case 5:
		case 6: {
			fuse_notify_retrieve_out r {rng_(), some_ino(), pick(1 << 19), pick(4) ? pick(8192) : pick(1 << 20), 0};
			write_notification(FUSE_NOTIFY_RETRIEVE, &r, sizeof(r));
			break;
		}
		case 7: {
			fuse_notify_poll_wakeup_out p {rng_()};
			write_notification(FUSE_NOTIFY_POLL, &p, sizeof(p));
			break;
		}
		default:
			// FUSE_NOTIFY_RESEND (6.9+): every request in a slot goes back
			// to fuse's queue and comes again with another unique;
			// FUSE_NOTIFY_INC_EPOCH (6.16+)
			if (v >= 609 || pick(4) == 0) {
				bump(c_notify_resend);
				write_notification(pick(4) ? 7 : 8, nullptr, 0);
			}
			break;
		}
	}

	void notify_random()
	{
		std::size_t n = pick(4) ? pick(64) : pick(9000);
		std::vector<std::uint8_t> a(n);
		for (auto &b : a)
			b = std::uint8_t(rng_());
		std::uint32_t code = pick(4) ? pick(12) : std::uint32_t(rng_());
		std::uint32_t len = pick(4) ? 0 : std::uint32_t(pick(4) ? pick(unsigned(n + 64)) : rng_());
		write_notification(code, a.data(), a.size(), len);
		// shorter than a header: EINVAL
		std::uint8_t tiny[15] = {};
		ssize_t w = write(d_.fd(), tiny, 1 + pick(15));
		if (w != -1 || errno != EINVAL)
			fail("a write shorter than fuse_out_header returned %zd (%s), not EINVAL", w, std::strerror(errno));
	}

	// Replies never travel by write(): a non-zero unique is EINVAL.
	void write_reply()
	{
		fuse_out_header oh {sizeof(fuse_out_header) + 8, 0, rng_() | 1};
		std::uint8_t buf[sizeof(oh) + 8] = {};
		std::memcpy(buf, &oh, sizeof(oh));
		ssize_t w = write(d_.fd(), buf, sizeof(buf));
		if (w != -1 || errno != EINVAL)
			fail("a reply written to /dev/rfuse returned %zd (%s), not EINVAL", w, std::strerror(errno));
	}

	// Uniques the kernel never uses (odd: fuse steps by 2), rings and slots
	// out of range: EINVAL, changing nothing.
	void stale_complete()
	{
		bump(c_stale_completes);
		const rfuse_info &info = d_.info();
		rfuse_complete c {};
		switch (pick(4)) {
		case 0: c = {pick(info.nr_rings), pick(info.nr_slots), rng_() | 1}; break;
		case 1: c = {info.nr_rings + pick(1000), pick(info.nr_slots), rng_()}; break;
		case 2: c = {pick(info.nr_rings), info.nr_slots + pick(1U << 31), rng_()}; break;
		default: c = {std::uint32_t(rng_()), std::uint32_t(rng_()), rng_() | 1}; break;
		}
		if (ioctl(d_.fd(), RFUSE_IOC_COMPLETE, &c) != -1 || errno != EINVAL)
			fail("RFUSE_IOC_COMPLETE {%u, %u, %llu} was not refused with EINVAL (%s)", c.ring, c.slot,
			     static_cast<unsigned long long>(c.unique), std::strerror(errno));
	}

	// A request the daemon took lately, completed from here while the
	// daemon (or its polling caller) may complete it too: one wins, the
	// other gets EINVAL.
	void racing_complete()
	{
		rfuse_complete c {};
		if (!recent_.pick(rng_(), &c))
			return;
		bump(c_racing_completes);
		int rc = ioctl(d_.fd(), RFUSE_IOC_COMPLETE, &c) == 0 ? 0 : errno;
		if (rc != 0 && rc != EINVAL)
			fail("a racing RFUSE_IOC_COMPLETE {%u, %u}: %s", c.ring, c.slot, std::strerror(rc));
	}

	// ioctl numbers the VFS itself serves on any file (FIFREEZE freezes
	// the filesystem the device node lives on...) are left out.
	static bool vfs_ioctl(unsigned cmd)
	{
		unsigned type = _IOC_TYPE(cmd);
		return type == 0 || type == 'T' || type == 'X' || type == 'f' || type == 0x94 || type == 0x15 || type == 0x12;
	}

	void random_ioctl()
	{
		bump(c_ioctls);
		alignas(8) std::uint8_t buf[512];
		for (auto &b : buf)
			b = std::uint8_t(rng_());
		unsigned cmd;
		switch (pick(4)) {
		case 0: cmd = _IOC(pick(4), RFUSE_IOC_MAGIC, pick(8), pick(1 << 14)); break;
		case 1: cmd = _IOC(pick(4), RFUSE_IOC_MAGIC, 1 + pick(3), sizeof(rfuse_complete) + pick(3) * 8); break;
		default: cmd = std::uint32_t(rng_()); break;
		}
		if (vfs_ioctl(cmd))
			return;
		const bool ours = cmd == RFUSE_IOC_GET_INFO || cmd == RFUSE_IOC_WAIT || cmd == RFUSE_IOC_COMPLETE;
		if (cmd == RFUSE_IOC_WAIT) {
			// a valid wait would block: flags != 0 is refused
			rfuse_wait w {std::uint32_t(rng_()), 1 + std::uint32_t(pick(1000))};
			std::memcpy(buf, &w, sizeof(w));
		}
		if (cmd == RFUSE_IOC_COMPLETE) {
			rfuse_complete c {std::uint32_t(rng_()), std::uint32_t(rng_()), rng_() | 1};
			std::memcpy(buf, &c, sizeof(c));
		}
		void *arg = buf;
		bool bad_ptr = pick(4) == 0;
		if (bad_ptr)
			arg = pick(2) ? nullptr : reinterpret_cast<void *>(std::uintptr_t(0x10));
		errno = 0;
		int rc = ioctl(d_.fd(), cmd, arg);
		int err = rc == 0 ? 0 : errno;
		int want = !ours ? ENOTTY : bad_ptr ? EFAULT : cmd == RFUSE_IOC_GET_INFO ? 0 : EINVAL;
		if (err != want)
			fail("ioctl 0x%08x (%s pointer) returned %d (%s), wanted %s", cmd, bad_ptr ? "bad" : "good", rc,
			     std::strerror(err), std::strerror(want));
		if (cmd == RFUSE_IOC_GET_INFO && !bad_ptr) {
			rfuse_info info {};
			std::memcpy(&info, buf, sizeof(info));
			if (std::memcmp(&info, &d_.info(), sizeof(info)) != 0)
				fail("RFUSE_IOC_GET_INFO changed during the mount");
		}
	}

	void mmap_game()
	{
		bump(c_mmaps);
		const rfuse_info &info = d_.info();
		std::uint64_t ring = pick(4) ? pick(info.nr_rings) : info.nr_rings + pick(100);
		std::uint64_t off = RFUSE_RING_MMAP_OFFSET(ring) + (pick(6) == 0 ? std::uint64_t(1 + pick(16)) << 12 : 0);
		std::size_t page = 4096;
		std::size_t len = pick(4) ? page * (1 + pick(unsigned(info.ring_bytes / page)))
					  : info.ring_bytes + page * (1 + pick(4));
		int prot = PROT_READ | (pick(2) ? PROT_WRITE : 0) | (pick(8) == 0 ? PROT_EXEC : 0);
		int flags = pick(6) == 0 ? MAP_PRIVATE : MAP_SHARED;
		int want = 0;
		if (flags == MAP_PRIVATE)
			want = EINVAL;
		else if (prot & PROT_EXEC)
			want = EPERM;
		else if (ring >= info.nr_rings || (off & ((1ULL << RFUSE_RING_MMAP_SHIFT) - 1)))
			want = EINVAL;
		else if (len > info.ring_bytes)
			want = EINVAL;
		void *p = mmap(nullptr, len, prot, flags, d_.fd(), off_t(off));
		int err = p == MAP_FAILED ? errno : 0;
		if (err != want)
			fail("mmap(len %zu, prot %d, %s, ring %llu, offset 0x%llx) gave %s, wanted %s", len, prot,
			     flags == MAP_PRIVATE ? "private" : "shared", static_cast<unsigned long long>(ring),
			     static_cast<unsigned long long>(off), std::strerror(err), std::strerror(want));
		if (p == MAP_FAILED)
			return;
		if (mprotect(p, page, PROT_READ | PROT_EXEC) == 0)
			fail("mprotect(PROT_EXEC) of a ring mapping succeeded");
		munmap(p, len);
	}

	RawDaemon &d_;
	std::mt19937_64 rng_;
	Recent &recent_;
	std::vector<std::uint64_t> known_;
};

// ---- the callers ----

void no_op(int)
{
}

struct CallerState {
	std::atomic<bool> finished {false};
	std::atomic<int> op {-1};
	std::atomic<std::int64_t> since_ns {0};
	std::atomic<pid_t> tid {0};
	pthread_t handle {};
};

const char *const kOpNames[] = {"stat",    "read",     "odirect-read", "write",    "odirect-write", "create",
				"readdir", "rename",   "unlink",       "mkdir",    "truncate",      "statfs",
				"xattr",   "readlink", "fsync-write",  "chmod",    "ioctl",         "aio-direct"};
constexpr int kOps = sizeof(kOpNames) / sizeof(kOpNames[0]);

void caller(const std::string &mnt, std::uint64_t seed, unsigned cpu, const std::atomic<bool> &stop, CallerState &st)
{
	st.tid = pid_t(syscall(SYS_gettid));
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
	std::mt19937_64 rng(seed);
	auto pick = [&](unsigned n) { return unsigned(rng() % n); };
	void *raw = nullptr;
	if (posix_memalign(&raw, 4096, 256 << 10) != 0)
		std::abort();
	std::unique_ptr<char, decltype(&free)> buf(static_cast<char *>(raw), free);
	auto file = [&] {
		switch (pick(4)) {
		case 0: return mnt + "/c" + std::to_string(pick(8));
		case 1: return mnt + "/d" + std::to_string(pick(4)) + "/f" + std::to_string(pick(4));
		case 2: return mnt + "/n" + std::to_string(pick(4));
		default: return mnt + "/f" + std::to_string(pick(8));
		}
	};
	while (!stop.load()) {
		int op = int(pick(kOps));
		st.op.store(op);
		st.since_ns.store(Clock::now().time_since_epoch().count());
		int rc = 0;
		std::string p = file();
		switch (op) {
		case 0: {
			struct stat s {};
			rc = pick(2) ? stat(p.c_str(), &s) : lstat(p.c_str(), &s);
			break;
		}
		case 1:
		case 2: {
			int fd = open(p.c_str(), O_RDONLY | (op == 2 ? O_DIRECT : 0));
			rc = fd;
			if (fd >= 0) {
				std::size_t len = op == 2 ? 4096 * (1 + pick(64)) : 1 + pick(256 << 10);
				off_t off = op == 2 ? off_t(4096) * pick(96) : off_t(pick(384 << 10));
				rc = int(pread(fd, buf.get(), len, off));
				close(fd);
			}
			break;
		}
		case 3:
		case 4:
		case 14: {
			int fd = open(p.c_str(), O_WRONLY | (op == 4 ? O_DIRECT : 0));
			rc = fd;
			if (fd >= 0) {
				std::size_t len = op == 4 ? 4096 * (1 + pick(64)) : 1 + pick(200000);
				off_t off = op == 4 ? off_t(4096) * pick(64) : off_t(pick(300000));
				rc = int(pwrite(fd, buf.get(), len, off));
				if (op == 14 && rc >= 0)
					rc = fsync(fd);
				close(fd);
			}
			break;
		}
		case 5: {
			int fd = open((mnt + "/c" + std::to_string(pick(8))).c_str(),
				      O_CREAT | O_RDWR | (pick(4) == 0 ? O_EXCL : 0) | (pick(4) == 0 ? O_TRUNC : 0), 0644);
			rc = fd;
			if (fd >= 0) {
				rc = int(write(fd, buf.get(), 1 + pick(8192)));
				close(fd);
			}
			break;
		}
		case 6: {
			DIR *d = opendir(pick(2) ? mnt.c_str() : (mnt + "/d" + std::to_string(pick(4))).c_str());
			rc = d ? 0 : -1;
			// a hostile daemon can make a directory endless
			for (int i = 0; d && i < 512 && readdir(d); i++) {
			}
			if (d)
				closedir(d);
			break;
		}
		case 7: {
			std::string to = pick(2) ? file() : mnt + "/d" + std::to_string(pick(4)) + "/c" + std::to_string(pick(4));
			rc = pick(3) ? rename(p.c_str(), to.c_str())
				     : int(syscall(SYS_renameat2, AT_FDCWD, p.c_str(), AT_FDCWD, to.c_str(),
						   pick(2) ? RENAME_NOREPLACE : RENAME_EXCHANGE));
			break;
		}
		case 8: rc = unlink(p.c_str()); break;
		case 9: rc = pick(2) ? mkdir((mnt + "/d" + std::to_string(pick(6))).c_str(), 0755) : rmdir(p.c_str()); break;
		case 10: rc = truncate(p.c_str(), off_t(pick(1 << 20))); break;
		case 11: {
			struct statfs s {};
			rc = statfs(mnt.c_str(), &s);
			break;
		}
		case 12: {
			char v[64];
			rc = pick(2) ? int(getxattr(p.c_str(), "user.x", v, sizeof(v))) : int(listxattr(p.c_str(), v, sizeof(v)));
			break;
		}
		case 13: {
			char v[64];
			rc = int(readlink(p.c_str(), v, sizeof(v)));
			break;
		}
		case 15: rc = chmod(p.c_str(), 0600 | pick(0100)); break;
		case 16: {
			// FUSE_IOCTL: large both ways, the request and its reply share
			// an argument slot (or fit none: EIO)
			int fd = open(p.c_str(), O_RDONLY);
			rc = fd;
			if (fd >= 0) {
				unsigned size = pick(2) ? 1 + pick(64) : 2048 + pick(14000);
				rc = ioctl(fd, _IOC(pick(4), 'x', pick(256), size), buf.get());
				close(fd);
			}
			break;
		}
		default: {
			// Linux AIO on O_DIRECT: asynchronous (background) requests with FUSE_ASYNC_DIO
			int fd = open(p.c_str(), O_RDWR | O_DIRECT);
			rc = fd;
			aio_context_t ctx = 0;
			if (fd >= 0 && syscall(SYS_io_setup, 8, &ctx) == 0) {
				iocb cbs[4] {};
				iocb *list[4];
				for (int i = 0; i < 4; i++) {
					cbs[i].aio_fildes = std::uint32_t(fd);
					cbs[i].aio_lio_opcode = pick(2) ? IOCB_CMD_PREAD : IOCB_CMD_PWRITE;
					cbs[i].aio_buf = reinterpret_cast<std::uintptr_t>(buf.get() + i * (64 << 10));
					cbs[i].aio_nbytes = 4096 * (1 + pick(16));
					cbs[i].aio_offset = std::int64_t(4096) * pick(64);
					list[i] = &cbs[i];
				}
				long n = syscall(SYS_io_submit, ctx, 4, list);
				rc = int(n);
				if (n > 0) {
					io_event ev[4];
					timespec limit {30, 0};
					rc = syscall(SYS_io_getevents, ctx, n, n, ev, &limit) == n ? 0 : -1;
				}
				syscall(SYS_io_destroy, ctx); // waits for what is still in flight
			}
			if (fd >= 0)
				close(fd);
			break;
		}
		}
		if (rc < 0) {
			bump(errno == EIO ? c_ops_eio : c_ops_err);
		} else {
			bump(c_ops_ok);
		}
	}
	st.op.store(-1);
	st.finished.store(true);
}

// ---- one mount, start to end ----

struct Options {
	std::uint64_t seed = 0;
	long replies = 20000;
	long epoch_replies = 0; // 0: a random size per mount
	unsigned threads = 0;
	double max_seconds = 0;
	std::string kmod;
	std::vector<std::string> kmod_params;
	std::string json;
};

std::string make_dir()
{
	std::string root = "/tmp";
	if (const char *r = std::getenv("RFUSE_TEST_ROOT"); r != nullptr && access(r, W_OK) == 0)
		root = r;
	std::string templ = root + "/rfuse-fuzz-XXXXXX";
	std::vector<char> buf(templ.begin(), templ.end());
	buf.push_back('\0');
	if (mkdtemp(buf.data()) == nullptr)
		throw std::runtime_error("mkdtemp " + templ + ": " + std::strerror(errno));
	return buf.data();
}

EpochConf random_conf(std::mt19937_64 &rng)
{
	auto pick = [&](unsigned n) { return unsigned(rng() % n); };
	EpochConf c;
	c.entry_valid = pick(3) == 0 ? 1 : 0;
	c.attr_valid = pick(3) == 0 ? 1 : 0;
	// FUSE_* INIT flags by bit number (not all in this libc's header)
	static const unsigned bits[] = {0, 3, 5, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 23, 24, 25,
					28, 29, 30, 32, 34, 35, 36, 38, 39, 41, 42};
	std::uint64_t flags = (1ULL << 5) | (1ULL << 18); // BIG_WRITES, PARALLEL_DIROPS
	for (unsigned b : bits)
		if (pick(3) == 0)
			flags |= 1ULL << b;
	if (pick(20) == 0)
		flags = rng(); // anything, unknown bits included
	// POSIX locks, flock, ACLs and submounts would change what callers see
	// beyond what this daemon serves; passthrough needs backing files.
	flags &= ~((1ULL << 1) | (1ULL << 10) | (1ULL << 20) | (1ULL << 27) | (1ULL << 37) | (1ULL << 33));
	c.init_flags = flags;
	c.init_minor = pick(4) == 0 ? 26 + pick(20) : 31;
	static const std::uint32_t writes[] = {0, 4096, 65536, 128 << 10, 1 << 20, 0xffffffffU};
	c.max_write = writes[pick(6)];
	c.max_readahead = pick(2) ? 128 << 10 : std::uint32_t(rng());
	c.max_pages = pick(4) == 0 ? std::uint32_t(rng() & 0xffff) : 1 + pick(256);
	c.max_background = std::uint16_t(pick(4) == 0 ? rng() & 0xffff : 1 + pick(32));
	c.unused0 = pick(8) == 0 ? std::uint32_t(rng()) : 0;
	c.unused1 = pick(8) == 0 ? 1 + pick(3) : 0;
	c.broken_init = pick(25) == 0;
	return c;
}

int reload_module(const std::string &ko, const std::string &params)
{
	std::string cmd = "rmmod rfuse && insmod " + ko + " " + params;
	int rc = std::system(cmd.c_str());
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : 1;
}

enum class End { Drain, Abort, Force };

struct EpochResult {
	long replies = 0;
	double seconds = 0;
};

// The daemon's view of its rings, for a report: per ring the kernel's
// pending head and the daemon's tail, per slot its done and waiter_asleep
// flags and the unique the kernel wrote last.
std::string describe(RawDaemon &d, const SlotLog *log = nullptr)
{
	std::string out = "rings (pending head/consumed; slots but those answered and polled: done asleep unique):\n";
	char line[160];
	for (unsigned r = 0; r < d.nr_rings(); r++) {
		auto &ring = d.ring(r);
		std::snprintf(line, sizeof(line), "  ring %u: pending %u/%u, forget %u, intr %u; overruns %ld\n", r,
			      rfuse::abi::load_acquire(ring.ctl->pending_head), d.consumed(r),
			      rfuse::abi::load_acquire(ring.ctl->forget_head), rfuse::abi::load_acquire(ring.ctl->intr_head),
			      d.overruns());
		out += line;
		for (std::uint32_t s = 0; s < d.info().nr_slots; s++) {
			rfuse_slot_ctl *sc = ring.slot(d.info(), s);
			if (rfuse::abi::load_relaxed(sc->done) == 1 && rfuse::abi::load_relaxed(sc->waiter_asleep) == 0)
				continue; // answered, taken by polling (or never used)
			std::snprintf(line, sizeof(line), "    %u: %u %u %llu%s\n", s, rfuse::abi::load_relaxed(sc->done),
				      rfuse::abi::load_relaxed(sc->waiter_asleep), static_cast<unsigned long long>(sc->unique),
				      log ? log->describe(r, s).c_str() : "");
			out += line;
		}
	}
	for (const char *c : {"slots_in_use", "arg_slots_in_use", "requests", "bad_replies", "stale_completions"}) {
		std::snprintf(line, sizeof(line), "  %s %ld\n", c, counter(c));
		out += line;
	}
	return out;
}

// The daemon's fd outlives its mount: the calls it may still make after the
// unmount must end at once and change nothing. RFUSE_IOC_WAIT fails with
// ENODEV, RFUSE_IOC_COMPLETE of whatever the slots say with EINVAL (or 0 for
// a slot the teardown left in flight), RFUSE_IOC_GET_INFO still answers, a
// notification finds nothing (an errno, no hang).
void after_unmount(RawDaemon &d, int epoch)
{
	std::atomic<int> wait_rc {-1};
	std::thread w([&] {
		rfuse_wait rw {0, 0};
		wait_rc.store(ioctl(d.fd(), RFUSE_IOC_WAIT, &rw) == 0 ? 0 : errno);
	});
	auto end = Clock::now() + 10s;
	while (wait_rc.load() == -1 && Clock::now() < end)
		std::this_thread::sleep_for(1ms);
	while (wait_rc.load() == -1) {
		// blocked: wake it with a signal (EINTR), then report
		pthread_kill(w.native_handle(), SIGUSR2);
		std::this_thread::sleep_for(5ms);
	}
	w.join();
	if (wait_rc.load() != ENODEV)
		fail("mount %d: RFUSE_IOC_WAIT after the unmount: %s, not ENODEV", epoch, std::strerror(wait_rc.load()));
	for (unsigned r = 0; r < d.nr_rings(); r++)
		for (std::uint32_t s = 0; s < d.info().nr_slots; s++) {
			rfuse_complete c {r, s, d.ring(r).slot(d.info(), s)->unique};
			int rc = ioctl(d.fd(), RFUSE_IOC_COMPLETE, &c) == 0 ? 0 : errno;
			if (rc != 0 && rc != EINVAL)
				fail("mount %d: RFUSE_IOC_COMPLETE {%u, %u} after the unmount: %s", epoch, r, s, std::strerror(rc));
		}
	rfuse_info info {};
	if (ioctl(d.fd(), RFUSE_IOC_GET_INFO, &info) != 0 || std::memcmp(&info, &d.info(), sizeof(info)) != 0)
		fail("mount %d: RFUSE_IOC_GET_INFO after the unmount: %s", epoch, std::strerror(errno));
	struct {
		fuse_out_header oh;
		fuse_notify_inval_inode_out arg;
	} inval {};
	inval.oh = {sizeof(inval), FUSE_NOTIFY_INVAL_INODE, 0};
	inval.arg.ino = FUSE_ROOT_ID;
	if (write(d.fd(), &inval, sizeof(inval)) == ssize_t(sizeof(inval)))
		fail("mount %d: a notification after the unmount succeeded", epoch);
}

// Waits for the callers to return (after `stop`), at most `limit`;
// prints what the stuck ones are doing.
bool join_callers(std::vector<std::thread> &threads, std::vector<std::unique_ptr<CallerState>> &states,
		  std::chrono::milliseconds limit, const char *when)
{
	auto end = Clock::now() + limit;
	for (;;) {
		bool all = true;
		for (auto &s : states)
			all = all && s->finished.load();
		if (all)
			break;
		if (Clock::now() > end) {
			for (auto &s : states) {
				if (s->finished.load())
					continue;
				int op = s->op.load();
				double secs = (Clock::now().time_since_epoch().count() - s->since_ns.load()) / 1e9;
				fail("%s: caller %d is still in %s after %.1f s; kernel stack:\n%s", when, int(s->tid.load()),
				     op >= 0 ? kOpNames[op] : "?", secs, kernel_stack(s->tid.load()).c_str());
			}
			return false;
		}
		for (auto &s : states)
			if (!s->finished.load())
				pthread_kill(s->handle, SIGUSR1);
		std::this_thread::sleep_for(20ms);
	}
	for (auto &t : threads)
		t.join();
	threads.clear();
	return true;
}

EpochResult run_epoch(const Options &o, int epoch, long budget, std::mt19937_64 &rng, const std::string &mnt,
		      Clock::time_point deadline)
{
	EpochResult res;
	auto pick = [&](unsigned n) { return unsigned(rng() % n); };
	const unsigned cpus = std::max(1U, std::thread::hardware_concurrency());
	EpochConf conf = random_conf(rng);
	unsigned rings = 1 + pick(cpus);
	static const unsigned polls[] = {0, 0, 10, 10, 50, 200, 1000};
	unsigned poll_us = polls[pick(7)];
	End end = std::array<End, 3> {End::Drain, End::Abort, End::Force}[pick(8) < 4 ? 0 : 1 + pick(2)];
	std::string opts = ",rings=" + std::to_string(rings) + ",poll_us=" + std::to_string(poll_us);
	if (pick(6) == 0)
		opts += ",max_read=" + std::to_string(4096 * (1 + pick(64)));
	const char *end_name = end == End::Drain ? "drain" : end == End::Abort ? "abort" : "umount -f";
	std::printf("rfuse_fuzz: mount %d: %ld replies, rings %u, poll_us %u%s, INIT minor %u flags 0x%llx "
		    "max_write %u max_pages %u%s, then %s\n",
		    epoch, budget, rings, poll_us, opts.find("max_read") != std::string::npos ? " max_read" : "",
		    conf.init_minor, static_cast<unsigned long long>(conf.init_flags), conf.max_write, conf.max_pages,
		    conf.broken_init ? " (broken INIT reply)" : "", end_name);
	std::fflush(stdout);
	bump(c_epochs);

	Recent recent;
	// now and then the daemon's threads are confined to one CPU each
	const int pin_serve = pick(3) == 0 ? int(pick(cpus)) : -1, pin_waiter = pick(3) == 0 ? int(pick(cpus)) : -1;
	if (pin_serve >= 0 || pin_waiter >= 0)
		bump(c_pinned_workers);
	long ring_slots = 0;
	std::ifstream("/sys/module/rfuse/parameters/ring_slots") >> ring_slots;
	SlotLog slot_log(cpus, unsigned(std::clamp(ring_slots, 1L, 4096L)));
	Fuzzer fz(rng(), conf, recent, pin_serve, slot_log);
	auto start = Clock::now();
	const long bad_before = counter("bad_replies");
	const long ok_before = counts[c_ops_ok].load(), err_before = counts[c_ops_err].load(),
		   eio_before = counts[c_ops_eio].load();
	std::unique_ptr<RawDaemon> d;
	try {
		d = std::make_unique<RawDaemon>(
			mnt, opts, [&](RawDaemon &dd, RawReq &q) { return fz.handle(dd, q); },
			[&](RawDaemon &dd) { fz.tick(dd); });
	} catch (const std::exception &e) {
		fail("mount %d: %s", epoch, e.what());
		return res;
	}

	std::atomic<bool> stop_callers {false}, stop_chaos {false};
	Chaos chaos(*d, rng(), recent);
	std::thread chaos_thread([&] { chaos.run(stop_chaos); });
	// a daemon worker that sleeps in RFUSE_IOC_WAIT, woken by signals
	std::atomic<bool> waiter_done {false};
	std::uint64_t waiter_seed = rng();
	std::thread waiter([&] {
		std::mt19937_64 wr(waiter_seed);
		if (pin_waiter >= 0) {
			cpu_set_t set;
			CPU_ZERO(&set);
			CPU_SET(pin_waiter, &set);
			sched_setaffinity(0, sizeof(set), &set);
		}
		const unsigned nr = d->nr_rings();
		while (!stop_chaos.load()) {
			rfuse_wait w {unsigned(wr() % (nr + 1)), wr() % 16 == 0 ? 1U : 0U};
			int rc = ioctl(d->fd(), RFUSE_IOC_WAIT, &w) == 0 ? 0 : errno;
			bump(c_waits);
			bool bad = w.ring >= nr || w.flags;
			if (bad ? rc != EINVAL : (rc != 0 && rc != EINTR && rc != ENODEV))
				fail("RFUSE_IOC_WAIT {%u, %u}: %s", w.ring, w.flags, std::strerror(rc));
			if (rc == ENODEV)
				break;
			if (rc == 0 || bad)
				std::this_thread::sleep_for(1ms);
		}
		waiter_done.store(true);
	});
	std::vector<std::thread> threads;
	std::vector<std::unique_ptr<CallerState>> states;
	const unsigned nthreads = o.threads ? o.threads : std::max(4U, 3 * cpus);
	for (unsigned t = 0; t < nthreads; t++) {
		states.push_back(std::make_unique<CallerState>());
		CallerState &st = *states.back();
		std::uint64_t s = rng();
		threads.emplace_back([&, s, t] { caller(mnt, s, t % cpus, stop_callers, st); });
		st.handle = threads.back().native_handle();
	}

	// Victims: processes doing the callers' work, SIGKILLed at random
	// moments (fuse takes a request still waiting for a slot back from its
	// queue, and waits out one in a slot). Reaped before every unmount.
	struct Victim {
		pid_t pid;
		Clock::time_point kill_at, killed {};
	};
	std::vector<Victim> victims;
	const int dev_fd = d->fd();
	auto spawn_victim = [&] {
		std::uint64_t vs = rng();
		unsigned cpu = pick(cpus);
		pid_t c = fork();
		if (c == 0) {
			close(dev_fd); // the connection must not outlive the daemon's close
			CallerState st;
			std::atomic<bool> never {false};
			caller(mnt, vs, cpu, never, st);
			_exit(0);
		}
		if (c > 0)
			victims.push_back({c, Clock::now() + std::chrono::milliseconds(pick(300))});
	};
	auto tend_victims = [&](bool all) {
		for (std::size_t i = 0; i < victims.size();) {
			Victim &v = victims[i];
			if (v.killed == Clock::time_point {} && (all || Clock::now() >= v.kill_at)) {
				kill(v.pid, SIGKILL);
				v.killed = Clock::now();
				bump(c_victims_killed);
			}
			int st = 0;
			if (waitpid(v.pid, &st, WNOHANG) == v.pid)
				victims.erase(victims.begin() + long(i));
			else
				i++;
		}
	};
	// false when some victim outlived SIGKILL by `limit`
	auto end_victims = [&](std::chrono::milliseconds limit, const char *when) {
		auto until = Clock::now() + limit;
		do {
			tend_victims(true);
			if (victims.empty())
				return true;
			std::this_thread::sleep_for(5ms);
		} while (Clock::now() < until);
		for (const Victim &v : victims) {
			std::ifstream in("/proc/" + std::to_string(v.pid) + "/stack");
			std::string stack((std::istreambuf_iterator<char>(in)), {});
			fail("%s: a caller process %d outlived SIGKILL by %.0f s; kernel stack:\n%s", when, v.pid,
			     seconds_since(v.killed), stack.c_str());
		}
		return false;
	};

	// fuzz until the budget is spent, or no request comes while the callers'
	// calls end (INIT failed: the connection refuses everything), or
	// nothing at all moves for a while (the end will tell what is stuck)
	auto ops = [] { return counts[c_ops_ok].load() + counts[c_ops_err].load() + counts[c_ops_eio].load(); };
	auto last_progress = Clock::now();
	long last_replies = 0, last_ops = ops();
	while (fz.replies.load() < budget) {
		std::this_thread::sleep_for(5ms);
		tend_victims(false);
		if (victims.size() < 2 && pick(8) == 0)
			spawn_victim();
		if (pick(2) == 0) {
			pthread_kill(states[pick(unsigned(states.size()))]->handle, SIGUSR1);
			bump(c_signals);
		}
		if (!waiter_done.load())
			pthread_kill(waiter.native_handle(), SIGUSR2);
		long now_replies = fz.replies.load(), now_ops = ops();
		if (now_replies != last_replies) {
			last_replies = now_replies;
			last_ops = now_ops;
			last_progress = Clock::now();
		} else if (Clock::now() - last_progress > (now_ops != last_ops ? 2s : 10s)) {
			std::printf("rfuse_fuzz: mount %d: no request for %.0f s after %ld replies (%s); ending it\n", epoch,
				    seconds_since(last_progress), now_replies,
				    now_ops != last_ops ? "the callers' calls fail without one" : "nothing moves");
			for (auto &st : states) {
				double secs = (Clock::now().time_since_epoch().count() - st->since_ns.load()) / 1e9;
				int op = st->op.load();
				if (op >= 0 && secs > 2)
					std::printf("  caller %d in %s for %.1f s:\n%s", int(st->tid.load()), kOpNames[op], secs,
						    kernel_stack(st->tid.load()).c_str());
			}
			std::printf("%s", describe(*d, &slot_log).c_str());
			break;
		}
		if (o.max_seconds > 0 && Clock::now() > deadline)
			break;
	}
	res.replies = fz.replies.load();

	// umount -f aborts the connection even while the device is in use (a
	// close() of its fd would not, with a write() in flight)
	auto force_abort = [&] {
		if (umount2(mnt.c_str(), MNT_FORCE) != 0 && errno != EBUSY && errno != EINVAL)
			fail("mount %d: umount -f: %s", epoch, std::strerror(errno));
	};
	auto stop_side_threads = [&] {
		stop_chaos.store(true);
		auto limit = Clock::now() + 20s;
		while ((!chaos.finished.load() || !waiter_done.load()) && Clock::now() < limit) {
			if (!waiter_done.load())
				pthread_kill(waiter.native_handle(), SIGUSR2);
			std::this_thread::sleep_for(5ms);
		}
		if (!chaos.finished.load()) {
			fail("mount %d: the notification/ioctl thread is stuck (notification code %d); kernel stack:\n%s%s",
			     epoch, chaos.doing.load() - 1, kernel_stack(chaos.tid.load()).c_str(), describe(*d, &slot_log).c_str());
			force_abort();
			limit = Clock::now() + 20s;
			while (!chaos.finished.load() && Clock::now() < limit)
				std::this_thread::sleep_for(5ms);
			if (!chaos.finished.load()) {
				std::fprintf(stderr, "rfuse_fuzz: a notification never returned, even after the abort; giving up\n");
				_exit(1);
			}
		}
		chaos_thread.join();
		waiter.join();
	};
	switch (end) {
	case End::Drain: {
		bump(c_end_drain);
		fz.phase.store(Phase::Drain);
		stop_side_threads();
		stop_callers.store(true);
		// with an honest daemon every caller returns: a request the kernel
		// lost would keep its caller waiting here
		if (!join_callers(threads, states, 30s, "honest daemon") | !end_victims(30s, "honest daemon")) {
			std::fprintf(stderr, "%s", describe(*d, &slot_log).c_str());
			force_abort();
		} else if (int err = d->unmount(0); err != 0) {
			fail("mount %d: umount with no caller left: %s", epoch, std::strerror(err));
		}
		break;
	}
	case End::Abort:
		bump(c_end_abort);
		stop_side_threads();
		d->close_device(pick(2) == 0);
		stop_callers.store(true);
		join_callers(threads, states, 15s, "daemon's fd closed");
		end_victims(15s, "daemon's fd closed");
		if (int err = d->unmount(0); err != 0)
			fail("mount %d: umount after the abort: %s", epoch, std::strerror(err));
		break;
	case End::Force: {
		bump(c_end_force);
		stop_side_threads();
		int rc = umount2(mnt.c_str(), MNT_FORCE);
		if (rc != 0 && errno != EBUSY)
			fail("mount %d: umount -f: %s", epoch, std::strerror(errno));
		stop_callers.store(true);
		join_callers(threads, states, 15s, "umount -f");
		end_victims(15s, "umount -f");
		if (fs_common::is_mountpoint(mnt)) {
			if (int err = d->unmount(0); err != 0)
				fail("mount %d: umount after umount -f: %s", epoch, std::strerror(err));
		} else {
			d->unmount(MNT_DETACH); // gone: forget it
		}
		break;
	}
	}
	if (threads.empty() && victims.empty() && end != End::Abort && !fs_common::is_mountpoint(mnt))
		after_unmount(*d, epoch);
	if (!threads.empty() || !victims.empty()) {
		// callers stuck: abort and give them another chance
		force_abort();
		d->close_device();
		if (!join_callers(threads, states, 15s, "after the abort") | !end_victims(15s, "after the abort")) {
			std::fflush(stdout);
			std::fprintf(stderr, "rfuse_fuzz: callers never returned; giving up\n");
			_exit(1);
		}
	}
	long malformed = d->malformed();
	bump(c_pending_overruns, d->overruns());
	bump(c_header_mismatches, d->mismatched());
	bump(c_rescanned, d->rescanned());
	d.reset();
	if (malformed)
		fail("mount %d: the kernel published %ld slot(s) whose request lies outside the ring", epoch, malformed);
	for (const char *c : {"slots_in_use", "arg_slots_in_use", "channels"})
		if (!wait_zero(c, 20s))
			fail("mount %d: /sys/class/misc/rfuse/%s is %ld, not 0, after the unmount", epoch, c, counter(c));
	res.seconds = seconds_since(start);
	std::printf("rfuse_fuzz: mount %d: %ld replies in %.1f s (%.0f/s), %ld bad replies counted by the kernel; "
		    "calls: %ld ok, %ld EIO, %ld other errors\n",
		    epoch, res.replies, res.seconds, res.replies / std::max(res.seconds, 1e-3),
		    counter("bad_replies") - bad_before, counts[c_ops_ok].load() - ok_before,
		    counts[c_ops_eio].load() - eio_before, counts[c_ops_err].load() - err_before);
	std::fflush(stdout);
	return res;
}

[[noreturn]] void usage(const char *why)
{
	std::fprintf(stderr,
		     "rfuse_fuzz: %s\nusage: rfuse_fuzz [--seed S] [--replies N] [--threads T] [--epoch-replies M]\n"
		     "                  [--max-seconds S] [--kmod PATH --kmod-params 'A|B|...'] [--json FILE]\n",
		     why);
	std::exit(2);
}

Options parse(int argc, char **argv)
{
	Options o;
	std::random_device rd;
	o.seed = (std::uint64_t(rd()) << 32) ^ rd() ^ std::uint64_t(Clock::now().time_since_epoch().count());
	for (int i = 1; i < argc; i++) {
		std::string a = argv[i];
		auto value = [&]() -> std::string {
			if (i + 1 >= argc)
				usage((a + " needs a value").c_str());
			return argv[++i];
		};
		auto number = [&](const std::string &v) {
			char *end = nullptr;
			errno = 0;
			unsigned long long n = std::strtoull(v.c_str(), &end, 0);
			if (v.empty() || *end || errno)
				usage((a + ": not a number: " + v).c_str());
			return n;
		};
		if (a == "--seed")
			o.seed = number(value());
		else if (a == "--replies")
			o.replies = long(number(value()));
		else if (a == "--threads")
			o.threads = unsigned(number(value()));
		else if (a == "--epoch-replies")
			o.epoch_replies = long(number(value()));
		else if (a == "--max-seconds")
			o.max_seconds = double(number(value()));
		else if (a == "--kmod")
			o.kmod = value();
		else if (a == "--kmod-params") {
			std::string v = value();
			std::size_t at = 0;
			for (;;) {
				std::size_t bar = v.find('|', at);
				o.kmod_params.push_back(v.substr(at, bar - at));
				if (bar == std::string::npos)
					break;
				at = bar + 1;
			}
		} else if (a == "--json")
			o.json = value();
		else if (a == "--help" || a == "-h")
			usage("help");
		else
			usage(("unknown argument " + a).c_str());
	}
	if (o.replies <= 0)
		usage("--replies must be positive");
	if (!o.kmod_params.empty() && o.kmod.empty()) {
		// in the VM rig: this build's module for the booted kernel
		const char *vm = std::getenv("RFUSE_VM"), *build = std::getenv("RFUSE_BUILD_DIR");
		utsname u {};
		uname(&u);
		if (vm && std::string(vm) == "1" && build)
			o.kmod = std::string(build) + "/rfuse-kmod/" + u.release + "/rfuse.ko";
		else
			std::printf("rfuse_fuzz: not in the VM rig: rfuse.ko stays as it is loaded (--kmod-params ignored)\n");
	}
	return o;
}

} // namespace

int main(int argc, char **argv)
{
	Options o = parse(argc, argv);
	std::printf("rfuse_fuzz: seed %llu (replay: --seed %llu --replies %ld)\n", static_cast<unsigned long long>(o.seed),
		    static_cast<unsigned long long>(o.seed), o.replies);
	std::fflush(stdout);
	if (access("/dev/rfuse", F_OK) != 0) {
		std::fprintf(stderr, "rfuse_fuzz: no /dev/rfuse: load rfuse.ko (or run through run_rfuse_test.sh)\n");
		return 1;
	}
	struct sigaction sa {};
	sa.sa_handler = no_op; // no SA_RESTART: callers see EINTR, fuse sends FUSE_INTERRUPT
	sigaction(SIGUSR1, &sa, nullptr);
	sigaction(SIGUSR2, &sa, nullptr);
	signal(SIGPIPE, SIG_IGN);

	std::mt19937_64 rng(o.seed);
	std::string mnt = make_dir();
	auto start = Clock::now();
	long total = 0;
	int epoch = 0;
	std::string loaded_params;
	while (total < o.replies) {
		if (o.max_seconds > 0 && seconds_since(start) > o.max_seconds) {
			std::printf("rfuse_fuzz: --max-seconds %.0f reached\n", o.max_seconds);
			break;
		}
		if (!o.kmod.empty() && !o.kmod_params.empty()) {
			const std::string &p = o.kmod_params[rng() % o.kmod_params.size()];
			if (p != loaded_params) {
				std::printf("rfuse_fuzz: reloading rfuse.ko with '%s'\n", p.c_str());
				if (reload_module(o.kmod, p) != 0) {
					fail("rmmod/insmod of %s with '%s' failed", o.kmod.c_str(), p.c_str());
					break;
				}
				bump(c_reloads);
				loaded_params = p;
			}
		}
		long budget = o.epoch_replies ? o.epoch_replies : 2000 + long(rng() % 8000);
		budget = std::min(budget, o.replies - total);
		EpochResult r = run_epoch(o, epoch++, budget, rng, mnt,
					  start + std::chrono::milliseconds(long(o.max_seconds * 1000)));
		total += std::max(r.replies, 1L);
		std::lock_guard<std::mutex> g(fail_lock);
		if (!failures.empty())
			break;
	}
	// a caller that outlived an umount -f wrote into the directory itself
	if (!fs_common::is_mountpoint(mnt)) {
		std::error_code ec;
		std::filesystem::remove_all(mnt, ec);
	}
	double secs = seconds_since(start);
	std::printf("rfuse_fuzz: seed %llu: %ld replies in %d mounts, %.1f s, %.0f replies/s\n",
		    static_cast<unsigned long long>(o.seed), counts[c_replies].load(), epoch, secs,
		    counts[c_replies].load() / std::max(secs, 1e-3));
	for (int i = 0; i < kCounters; i++)
		std::printf("  %-22s %ld\n", kCounterNames[i], counts[i].load());
	for (const char *c : {"requests", "bad_replies", "stale_completions", "inline_completions", "ioctl_completions"})
		std::printf("  kernel %-15s %ld\n", c, counter(c));
	if (!o.json.empty()) {
		std::ofstream j(o.json);
		j << "{\"seed\": " << o.seed << ", \"seconds\": " << secs << ", \"mounts\": " << epoch
		  << ", \"failures\": " << failures.size();
		for (int i = 0; i < kCounters; i++)
			j << ", \"" << kCounterNames[i] << "\": " << counts[i].load();
		j << "}\n";
	}
	if (!failures.empty()) {
		std::printf("rfuse_fuzz: %zu check(s) failed (seed %llu); the first: %s\n", failures.size(),
			    static_cast<unsigned long long>(o.seed), failures.front().c_str());
		return 1;
	}
	std::printf("rfuse_fuzz: every check held\n");
	return 0;
}
