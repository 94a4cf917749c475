// A tiny low-level filesystem for the rfuse.ko tests, linked with librfuse
// (so it runs over the RFUSE transport). Its root holds:
//   data   a 1 MiB regular file kept in memory (read/write)
//   slow   direct-I/O reads wait until the request is interrupted (then
//          EINTR) or 60 s pass; used for the interrupt test
//   block  direct-I/O reads wait until the daemon dies; for the abort test
//   hold   direct-I/O reads and getattr (never cached) wait until the daemon
//          gets SIGUSR2 (or 60 s pass); requests held in flight on demand
//   bg     a 1 MiB read-only file, byte at offset o = o % 251, cached for an
//          hour: buffered reads become readahead (background FUSE_READ)
//          without any synchronous request beside them
#include "fs_main.hpp"

#include <fuse_lowlevel.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <vector>

namespace {

constexpr fuse_ino_t kData = 2, kSlow = 3, kBlock = 4, kHold = 5, kBg = 6;
constexpr std::size_t kDataSize = 1 << 20;
constexpr std::size_t kBgSize = 1 << 20;

// Set by SIGUSR2: held requests go on (lock-free, so signal-safe).
std::atomic<bool> released {false};

void on_release(int)
{
	released.store(true);
}

// Blocks the calling worker until SIGUSR2 (or 60 s, so that a forgotten
// hold cannot keep the daemon alive for ever).
void hold()
{
	auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
	while (!released.load() && std::chrono::steady_clock::now() < end)
		std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

// Attribute/entry timeouts: hold is never cached, bg for an hour.
double timeout_of(fuse_ino_t ino)
{
	return ino == kHold ? 0 : ino == kBg ? 3600 : 1;
}

struct Entry {
	const char *name;
	fuse_ino_t ino;
};
constexpr Entry kEntries[] = {{"data", kData}, {"slow", kSlow}, {"block", kBlock}, {"hold", kHold}, {"bg", kBg}};

std::mutex data_lock;
std::vector<char> data(kDataSize);

struct stat attr_of(fuse_ino_t ino)
{
	struct stat st {};
	st.st_ino = ino;
	st.st_nlink = 1;
	st.st_uid = getuid();
	st.st_gid = getgid();
	if (ino == FUSE_ROOT_ID) {
		st.st_mode = S_IFDIR | 0755;
		st.st_nlink = 2;
	} else {
		st.st_mode = S_IFREG | 0644;
		st.st_size = ino == kData ? kDataSize : ino == kBg ? kBgSize : 4096;
		if (ino == kBg)
			st.st_mode = S_IFREG | 0444;
	}
	return st;
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	for (const Entry &e : kEntries)
		if (parent == FUSE_ROOT_ID && std::strcmp(name, e.name) == 0) {
			fuse_entry_param ep {};
			ep.ino = e.ino;
			ep.attr = attr_of(e.ino);
			ep.attr_timeout = timeout_of(e.ino);
			ep.entry_timeout = timeout_of(e.ino);
			fuse_reply_entry(req, &ep);
			return;
		}
	fuse_reply_err(req, ENOENT);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info *)
{
	if (ino != FUSE_ROOT_ID && (ino < kData || ino > kBg)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (ino == kHold)
		hold();
	struct stat st = attr_of(ino);
	fuse_reply_attr(req, &st, timeout_of(ino));
}

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi)
{
	if (ino == kBg && (fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EACCES);
		return;
	}
	if (ino == kSlow || ino == kBlock || ino == kHold)
		fi->direct_io = 1; // a plain synchronous FUSE_READ: interruptible
	fuse_reply_open(req, fi);
}

struct Interruptible {
	std::mutex lock;
	std::condition_variable cv;
	bool interrupted = false;
};

void on_interrupt(fuse_req_t, void *data)
{
	auto *w = static_cast<Interruptible *>(data);
	std::lock_guard<std::mutex> g(w->lock);
	w->interrupted = true;
	w->cv.notify_all();
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info *)
{
	if (ino == kBlock) {
		for (;;) // until the test kills the daemon
			std::this_thread::sleep_for(std::chrono::seconds(1));
	}
	if (ino == kHold) {
		hold();
		fuse_reply_buf(req, "held", 4);
		return;
	}
	if (ino == kBg) {
		std::vector<char> buf(off < off_t(kBgSize) ? std::min(size, kBgSize - size_t(off)) : 0);
		for (size_t i = 0; i < buf.size(); i++)
			buf[i] = char((size_t(off) + i) % 251);
		fuse_reply_buf(req, buf.data(), buf.size());
		return;
	}
	if (ino == kSlow) {
		Interruptible w;
		fuse_req_interrupt_func(req, on_interrupt, &w);
		std::unique_lock<std::mutex> g(w.lock);
		w.cv.wait_for(g, std::chrono::seconds(60), [&] { return w.interrupted || fuse_req_interrupted(req); });
		bool interrupted = w.interrupted || fuse_req_interrupted(req);
		g.unlock();
		fuse_req_interrupt_func(req, nullptr, nullptr);
		if (interrupted)
			fuse_reply_err(req, EINTR);
		else
			fuse_reply_buf(req, "late", 4);
		return;
	}
	std::lock_guard<std::mutex> g(data_lock);
	if (off >= off_t(kDataSize)) {
		fuse_reply_buf(req, nullptr, 0);
		return;
	}
	size = std::min(size, kDataSize - size_t(off));
	fuse_reply_buf(req, data.data() + off, size);
}

void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, fuse_file_info *)
{
	if (ino != kData) {
		fuse_reply_err(req, EACCES);
		return;
	}
	std::lock_guard<std::mutex> g(data_lock);
	if (off >= off_t(kDataSize)) {
		fuse_reply_err(req, EFBIG);
		return;
	}
	size = std::min(size, kDataSize - size_t(off));
	std::memcpy(data.data() + off, buf, size);
	fuse_reply_write(req, size);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info *)
{
	if (ino != FUSE_ROOT_ID) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	std::vector<char> buf(size);
	size_t used = 0;
	for (off_t i = off; i < off_t(std::size(kEntries)); i++) {
		struct stat st = attr_of(kEntries[i].ino);
		size_t n = fuse_add_direntry(req, buf.data() + used, size - used, kEntries[i].name, &st, i + 1);
		if (n > size - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, buf.data(), used);
}

} // namespace

int main(int argc, char *argv[])
{
	struct sigaction sa {};
	sa.sa_handler = on_release;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, nullptr);
	fuse_lowlevel_ops ops {};
	ops.lookup = op_lookup;
	ops.getattr = op_getattr;
	ops.open = op_open;
	ops.read = op_read;
	ops.write = op_write;
	ops.readdir = op_readdir;
	const fs_common::Program prog {"rfuse_testfs", "[options] <mountpoint>", ""};
	fuse_args args = FUSE_ARGS_INIT(0, nullptr);
	for (int i = 0; i < argc; i++) // an allocated copy: serve() may add options
		fuse_opt_add_arg(&args, argv[i]);
	int rc = fs_common::serve(prog, &args, &ops, nullptr);
	fuse_opt_free_args(&args);
	return rc;
}
