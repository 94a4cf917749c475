// Tests of rfuse.ko and the RFUSE transport. They need a kernel that has
// rfuse.ko loaded (/dev/rfuse): the VM rig (tests/rfuse/run_rfuse_test.sh
// boots one when this machine cannot load modules) or a native 6.1 kernel.
#include "mount.hpp"
#include "mountinfo.hpp"
#include "librfuse/rfuse/rfuse_abi.hpp"
#include "tests/rfuse/raw_daemon.hpp"

#include <gtest/gtest.h>
#include <linux/fuse.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <mutex>
#include <pthread.h>
#include <map>
#include <memory>
#include <random>
#include <sched.h>
#include <set>
#include <string>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <dirent.h>

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string bin_dir()
{
	const char *d = std::getenv("RFUSE_BIN_DIR");
	return d != nullptr ? d : "build/bin";
}

// Mount points: under RFUSE_TEST_ROOT when it is writable (native runs),
// else /tmp (the VM sees the host's tree read-only).
std::string make_dir(const char *tag)
{
	std::string root = "/tmp";
	if (const char *r = std::getenv("RFUSE_TEST_ROOT"); r != nullptr && access(r, W_OK) == 0)
		root = r;
	std::string templ = root + "/rfuse-" + tag + "-XXXXXX";
	std::vector<char> buf(templ.begin(), templ.end());
	buf.push_back('\0');
	if (mkdtemp(buf.data()) == nullptr)
		throw std::runtime_error("mkdtemp " + templ + ": " + std::strerror(errno));
	return buf.data();
}

long counter(const char *name)
{
	std::ifstream in(std::string("/sys/class/misc/rfuse/") + name);
	long v = -1;
	in >> v;
	return v;
}

// Waits until a kernel counter satisfies `pred` (slots are released by
// other threads an instant after a syscall returns).
template <typename Pred>
bool wait_counter(const char *name, Pred pred, std::chrono::milliseconds limit = 10s)
{
	auto end = Clock::now() + limit;
	while (!pred(counter(name))) {
		if (Clock::now() > end)
			return false;
		std::this_thread::sleep_for(2ms);
	}
	return true;
}

harness::DaemonSpec spec(const std::string &binary, const std::string &mnt)
{
	harness::DaemonSpec s;
	s.argv = {bin_dir() + "/" + binary};
	s.mountpoint = mnt;
	s.env["RFUSE_TRANSPORT"] = "rfuse";
	return s;
}

// waitpid with a limit; -1 when the child did not end in time (then killed).
int wait_child(pid_t pid, std::chrono::milliseconds limit)
{
	auto end = Clock::now() + limit;
	int status = 0;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return status;
		if (Clock::now() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		std::this_thread::sleep_for(1ms);
	}
}

class Rfuse : public ::testing::Test {
protected:
	void SetUp() override
	{
		ASSERT_EQ(access("/dev/rfuse", F_OK), 0) << "rfuse.ko is not loaded (run through run_rfuse_test.sh)";
	}
};

// ---- basic: a real libfuse filesystem over RFUSE behaves like tmpfs ----

std::string read_file(const std::string &path)
{
	std::ifstream in(path, std::ios::binary);
	return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const std::string &path, const std::string &data)
{
	std::ofstream out(path, std::ios::binary | std::ios::trunc);
	out << data;
}

std::set<std::string> list_dir(const std::string &path)
{
	std::set<std::string> names;
	DIR *d = opendir(path.c_str());
	if (d == nullptr)
		return names;
	while (dirent *e = readdir(d))
		names.insert(e->d_name);
	closedir(d);
	return names;
}

// The same script of operations on `dir`; returns a transcript to compare.
std::vector<std::string> run_script(const std::string &dir)
{
	std::vector<std::string> t;
	std::mt19937 rng(42);
	auto note = [&](const std::string &what, long v) { t.push_back(what + "=" + std::to_string(v)); };
	note("mkdir", mkdir((dir + "/d").c_str(), 0755) == 0 ? 0 : errno);
	for (std::size_t size : {0UL, 1UL, 4095UL, 4096UL, 4097UL, 131072UL, 200000UL, 1048576UL + 123}) {
		std::string data(size, '\0');
		for (char &c : data)
			c = char(rng());
		std::string p = dir + "/d/f" + std::to_string(size);
		write_file(p, data);
		note("same" + std::to_string(size), read_file(p) == data);
		struct stat st {};
		note("stat" + std::to_string(size), stat(p.c_str(), &st) == 0 ? long(st.st_size) : -errno);
		// mmap read of the page cache
		int fd = open(p.c_str(), O_RDONLY);
		if (size > 0 && fd >= 0) {
			void *m = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
			note("mmap" + std::to_string(size), m != MAP_FAILED && std::memcmp(m, data.data(), size) == 0);
			if (m != MAP_FAILED)
				munmap(m, size);
		}
		if (fd >= 0)
			close(fd);
	}
	note("rename", rename((dir + "/d/f1").c_str(), (dir + "/d/g1").c_str()) == 0 ? 0 : errno);
	note("unlink", unlink((dir + "/d/f0").c_str()) == 0 ? 0 : errno);
	note("unlink-missing", unlink((dir + "/d/nope").c_str()) == 0 ? 0 : errno);
	note("truncate", truncate((dir + "/d/f4096").c_str(), 100) == 0 ? 0 : errno);
	struct stat st {};
	note("size-after-truncate", stat((dir + "/d/f4096").c_str(), &st) == 0 ? long(st.st_size) : -errno);
	note("symlink", symlink("g1", (dir + "/d/link").c_str()) == 0 ? 0 : errno);
	char target[64] = {};
	note("readlink", readlink((dir + "/d/link").c_str(), target, sizeof(target) - 1));
	t.push_back(std::string("target=") + target);
	note("rmdir-nonempty", rmdir((dir + "/d").c_str()) == 0 ? 0 : errno);
	for (const std::string &n : list_dir(dir + "/d"))
		t.push_back("entry " + n);
	note("chmod", chmod((dir + "/d/g1").c_str(), 0600) == 0 ? 0 : errno);
	note("mode", stat((dir + "/d/g1").c_str(), &st) == 0 ? long(st.st_mode & 07777) : -errno);
	return t;
}

TEST_F(Rfuse, MemfsOverRfuseMatchesTmpfs)
{
	std::string ref = make_dir("tmpfs");
	ASSERT_EQ(::mount("tmpfs", ref.c_str(), "tmpfs", 0, nullptr), 0) << std::strerror(errno);
	std::vector<std::string> expected = run_script(ref);
	umount2(ref.c_str(), MNT_DETACH);
	rmdir(ref.c_str());

	std::string mnt = make_dir("memfs");
	long before = counter("requests");
	{
		harness::MountedFs fs(spec("memfs-rfuse", mnt));
		EXPECT_EQ(fs.fstype().rfind("rfuse", 0), 0U) << fs.fstype();
		std::vector<std::string> got = run_script(mnt);
		std::string g, e;
		for (const auto &x : got)
			g += x + "\n";
		for (const auto &x : expected)
			e += x + "\n";
		EXPECT_EQ(g, e);
		EXPECT_GT(counter("requests"), before);
		// O_DIRECT (tmpfs on 6.1 refuses it, so not in the script)
		int fd = open((mnt + "/direct").c_str(), O_CREAT | O_RDWR | O_DIRECT, 0644);
		ASSERT_GE(fd, 0) << std::strerror(errno);
		void *buf = nullptr;
		ASSERT_EQ(posix_memalign(&buf, 4096, 65536), 0);
		std::memset(buf, 0x5a, 65536);
		EXPECT_EQ(pwrite(fd, buf, 65536, 0), 65536);
		std::memset(buf, 0, 65536);
		EXPECT_EQ(pread(fd, buf, 65536, 0), 65536);
		EXPECT_EQ(static_cast<unsigned char *>(buf)[65535], 0x5a);
		free(buf);
		close(fd);
		EXPECT_EQ(fs.stop(), 0) << fs.log_tail();
	}
	EXPECT_TRUE(wait_counter("slots_in_use", [](long v) { return v == 0; }));
	EXPECT_TRUE(wait_counter("channels", [](long v) { return v == 0; }));
	EXPECT_EQ(counter("bad_replies"), 0);
	rmdir(mnt.c_str());
}

TEST_F(Rfuse, TestfsRandomPreadPwrite)
{
	std::string mnt = make_dir("testfs");
	{
		harness::MountedFs fs(spec("rfuse_testfs", mnt));
		int fd = open((mnt + "/data").c_str(), O_RDWR);
		ASSERT_GE(fd, 0) << std::strerror(errno);
		std::vector<char> shadow(1 << 20);
		std::mt19937 rng(7);
		for (int i = 0; i < 400; i++) {
			std::size_t off = rng() % shadow.size();
			std::size_t len = std::min<std::size_t>(1 + rng() % 150000, shadow.size() - off);
			std::vector<char> buf(len);
			if (i % 2 == 0) {
				for (char &c : buf)
					c = char(rng());
				ASSERT_EQ(pwrite(fd, buf.data(), len, off), ssize_t(len));
				std::memcpy(shadow.data() + off, buf.data(), len);
			} else {
				ASSERT_EQ(pread(fd, buf.data(), len, off), ssize_t(len));
				ASSERT_EQ(std::memcmp(buf.data(), shadow.data() + off, len), 0) << "at " << off;
			}
		}
		close(fd);
		EXPECT_EQ(fs.stop(), 0) << fs.log_tail();
	}
	rmdir(mnt.c_str());
}

// ---- interrupts: a signalled waiter gets EINTR through FUSE_INTERRUPT ----

TEST_F(Rfuse, SignalledReadReturnsEintr)
{
	std::string mnt = make_dir("intr");
	harness::MountedFs fs(spec("rfuse_testfs", mnt));
	for (int round = 0; round < 5; round++) {
		// INIT may still be in flight right after the mount shows up
		ASSERT_TRUE(wait_counter("slots_in_use", [](long v) { return v == 0; }));
		long busy = 0;
		int ready[2];
		ASSERT_EQ(pipe(ready), 0);
		pid_t child = fork();
		ASSERT_GE(child, 0);
		if (child == 0) {
			struct sigaction sa {};
			sa.sa_handler = [](int) {};
			sigaction(SIGUSR1, &sa, nullptr); // no SA_RESTART
			int fd = open((mnt + "/slow").c_str(), O_RDONLY);
			if (fd < 0)
				_exit(2);
			close(ready[0]);
			if (write(ready[1], "r", 1) != 1)
				_exit(3);
			char buf[16];
			ssize_t n = read(fd, buf, sizeof(buf));
			_exit(n < 0 && errno == EINTR ? 0 : 1);
		}
		close(ready[1]);
		char r;
		ASSERT_EQ(read(ready[0], &r, 1), 1) << "the child could not open slow";
		close(ready[0]);
		// The read is in a slot once the slot count goes up.
		ASSERT_TRUE(wait_counter("slots_in_use", [&](long v) { return v > busy; }))
			<< "busy " << busy << " now " << counter("slots_in_use") << " child "
			<< wait_child(child, 1ms) << "\n" << fs.log_tail();
		std::this_thread::sleep_for(20ms);
		kill(child, SIGUSR1);
		int status = wait_child(child, 30s);
		ASSERT_NE(status, -1) << "the interrupted read did not return";
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
			<< "round " << round << ": read did not fail with EINTR (status " << status << ")";
	}
	EXPECT_EQ(fs.stop(), 0) << fs.log_tail();
	rmdir(mnt.c_str());
}

// ---- daemon death: waiters fail at once, umount and reuse work ----

TEST_F(Rfuse, KilledDaemonFailsWaitersAndUnmounts)
{
	int cycles = 50;
	if (const char *c = std::getenv("RFUSE_ABORT_CYCLES"))
		cycles = std::atoi(c);
	std::string mnt = make_dir("abort");
	double worst_ms = 0;
	for (int cycle = 0; cycle < cycles; cycle++) {
		harness::MountedFs fs(spec("rfuse_testfs", mnt));
		ASSERT_TRUE(wait_counter("slots_in_use", [](long v) { return v == 0; }));
		long busy = 0;
		int pipefd[2];
		ASSERT_EQ(pipe(pipefd), 0);
		pid_t child = fork();
		ASSERT_GE(child, 0);
		if (child == 0) {
			close(pipefd[0]);
			int fd = open((mnt + "/block").c_str(), O_RDONLY);
			int err = fd < 0 ? errno : 0;
			if (write(pipefd[1], &err, sizeof(err)) < 0 || fd < 0)
				_exit(100);
			char buf[16];
			ssize_t n = read(fd, buf, sizeof(buf));
			err = n < 0 ? errno : 0;
			if (write(pipefd[1], &err, sizeof(err)) < 0)
				_exit(101);
			_exit(0);
		}
		close(pipefd[1]);
		int err = -1;
		ASSERT_EQ(read(pipefd[0], &err, sizeof(err)), ssize_t(sizeof(err)));
		ASSERT_EQ(err, 0) << "open: " << std::strerror(err);
		ASSERT_TRUE(wait_counter("slots_in_use", [&](long v) { return v > busy; }));
		auto killed = Clock::now();
		ASSERT_EQ(kill(fs.pid(), SIGKILL), 0);
		err = -1;
		ASSERT_EQ(read(pipefd[0], &err, sizeof(err)), ssize_t(sizeof(err)));
		double ms = std::chrono::duration<double, std::milli>(Clock::now() - killed).count();
		worst_ms = std::max(worst_ms, ms);
		close(pipefd[0]);
		EXPECT_TRUE(err == ENOTCONN || err == ECONNABORTED) << "cycle " << cycle << ": " << std::strerror(err);
		EXPECT_NE(wait_child(child, 10s), -1);
		struct stat st {};
		EXPECT_EQ(stat((mnt + "/data").c_str(), &st), -1);
		EXPECT_EQ(errno, ENOTCONN);
		fs.stop();
		EXPECT_FALSE(fs.daemon_alive());
	}
	EXPECT_TRUE(wait_counter("slots_in_use", [](long v) { return v == 0; }));
	EXPECT_TRUE(wait_counter("channels", [](long v) { return v == 0; }));
	std::printf("abort: %d cycles, slowest waiter failure %.1f ms after SIGKILL\n", cycles, worst_ms);
	rmdir(mnt.c_str());
}

// ---- stress: every CPU, many mixed operations, no hang, no leaked slot ----

TEST_F(Rfuse, MixedOpsOnEveryCpuLeakNoSlot)
{
	std::string mnt = make_dir("stress");
	unsigned cpus = std::max(1U, std::thread::hardware_concurrency());
	unsigned threads = 4 * cpus;
	int iterations = 300;
	if (const char *c = std::getenv("RFUSE_STRESS_ITERATIONS"))
		iterations = std::atoi(c);
	{
		harness::MountedFs fs(spec("memfs-rfuse", mnt));
		ASSERT_EQ(mkdir((mnt + "/shared").c_str(), 0755), 0);
		std::atomic<long> failures {0};
		std::vector<std::thread> pool;
		for (unsigned t = 0; t < threads; t++)
			pool.emplace_back([&, t] {
				cpu_set_t set;
				CPU_ZERO(&set);
				CPU_SET(t % cpus, &set);
				sched_setaffinity(0, sizeof(set), &set);
				std::string own = mnt + "/t" + std::to_string(t);
				if (mkdir(own.c_str(), 0755) != 0)
					failures++;
				std::vector<char> buf(70000, char('a' + t % 26)), back(buf.size());
				for (int i = 0; i < iterations; i++) {
					std::string f = (i % 3 ? own : mnt + "/shared") + "/f" + std::to_string(t) + "_" +
							std::to_string(i % 7);
					int fd = open(f.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0644);
					if (fd < 0) {
						failures++;
						continue;
					}
					std::size_t len = 1 + (i * 7919) % buf.size();
					if (pwrite(fd, buf.data(), len, 0) != ssize_t(len) ||
					    pread(fd, back.data(), len, 0) != ssize_t(len) ||
					    std::memcmp(buf.data(), back.data(), len) != 0)
						failures++;
					if (i % 5 == 0 && fsync(fd) != 0)
						failures++;
					close(fd);
					struct stat st {};
					if (stat(f.c_str(), &st) != 0 || st.st_size != off_t(len))
						failures++;
					if (i % 4 == 0 && list_dir(own).empty())
						failures++;
					if (i % 6 == 0 && rename(f.c_str(), (f + ".r").c_str()) == 0 &&
					    unlink((f + ".r").c_str()) != 0)
						failures++;
				}
			});
		for (auto &th : pool)
			th.join();
		EXPECT_EQ(failures.load(), 0);
		// A live connection with nothing in flight holds no slot.
		EXPECT_TRUE(wait_counter("slots_in_use", [](long v) { return v == 0; }))
			<< counter("slots_in_use") << " slots still in use";
		EXPECT_TRUE(wait_counter("arg_slots_in_use", [](long v) { return v == 0; }));
		EXPECT_EQ(counter("bad_replies"), 0);
		EXPECT_EQ(fs.stop(), 0) << fs.log_tail();
	}
	EXPECT_TRUE(wait_counter("channels", [](long v) { return v == 0; }));
	std::printf("stress: %u threads x %d iterations; inline completions %ld, ioctl completions %ld\n", threads,
		    iterations, counter("inline_completions"), counter("ioctl_completions"));
	rmdir(mnt.c_str());
}

// ---- a malicious daemon: garbage in shared memory fails requests -EIO ----

// What the evil daemon does with LOOKUP "m<N>" (the test checks the errno).
enum Garbage {
	kHonestEnoent = 0,
	kWrongUnique,
	kPositiveError,
	kKernelInternalError,
	kErrorWithPayload,
	kTooLong,
	kTooShort,
	kZeroLength,
	kBogusCompletionsThenHonest,
	kBogusRingIndexesThenHonest,
	kGarbageCount,
};

int expected_errno(int mode)
{
	switch (mode) {
	case kHonestEnoent:
	case kBogusCompletionsThenHonest:
	case kBogusRingIndexesThenHonest:
		return ENOENT;
	default:
		return EIO;
	}
}

// Runs in a child: mounts with a raw /dev/rfuse fd and answers requests
// from the shared memory directly, badly on purpose. Exit status 0 when
// every bogus ioctl was refused as it should be.
[[noreturn]] void evil_daemon(const std::string &mnt)
{
	auto die = [](const char *what) {
		std::fprintf(stderr, "evil: %s: %s\n", what, std::strerror(errno));
		_exit(3);
	};
	int fd = open("/dev/rfuse", O_RDWR);
	if (fd < 0)
		die("open");
	std::string opts = "fd=" + std::to_string(fd) + ",rootmode=40000,user_id=0,group_id=0,poll_us=20";
	if (::mount("evil", mnt.c_str(), "rfuse", 0, opts.c_str()) != 0)
		die("mount");
	rfuse_info info {};
	if (ioctl(fd, RFUSE_IOC_GET_INFO, &info) != 0)
		die("info");
	std::vector<rfuse::abi::RingView> rings;
	for (unsigned r = 0; r < info.nr_rings; r++) {
		void *p = mmap(nullptr, info.ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			       off_t(RFUSE_RING_MMAP_OFFSET(r)));
		if (p == MAP_FAILED)
			die("mmap");
		rings.push_back(rfuse::abi::make_ring_view(info, p));
	}
	int bad_ioctls = 0;
	auto expect_einval = [&](rfuse_complete c) {
		if (ioctl(fd, RFUSE_IOC_COMPLETE, &c) == 0 || errno != EINVAL)
			bad_ioctls++;
	};
	// Out-of-range ids, and a unique the kernel never uses (odd: INIT,
	// unique 2, may already sit in slot 0 and must not be completed here).
	expect_einval({1000000, 0, 2});
	expect_einval({0, 1000000, 2});
	expect_einval({0, 0, 1});
	rfuse_wait w {0, 1};
	if (ioctl(fd, RFUSE_IOC_WAIT, &w) == 0 || errno != EINVAL)
		bad_ioctls++;

	for (;;) {
		bool idle = true;
		for (unsigned r = 0; r < rings.size(); r++) {
			auto &ring = rings[r];
			std::uint32_t tail = ring.ctl->pending_tail;
			if (rfuse::abi::load_acquire(ring.ctl->pending_head) == tail)
				continue;
			idle = false;
			std::uint32_t slot = ring.pending[tail & (info.pending_entries - 1)];
			rfuse::abi::store_release(ring.ctl->pending_tail, tail + 1);
			rfuse_slot_ctl *sc = ring.slot(info, slot);
			const auto *ih = reinterpret_cast<const fuse_in_header *>(ring.base + sc->in_off);
			auto *oh = reinterpret_cast<fuse_out_header *>(ring.base + sc->out_off);
			std::uint8_t *payload = ring.base + sc->out_off + sizeof(fuse_out_header);
			int mode = kHonestEnoent;
			oh->unique = ih->unique;
			oh->error = 0;
			oh->len = sizeof(fuse_out_header);
			if (ih->opcode == FUSE_INIT) {
				fuse_init_out out {};
				out.major = FUSE_KERNEL_VERSION;
				out.minor = 31;
				out.max_write = 4096;
				out.time_gran = 1;
				std::memcpy(payload, &out, sizeof(out));
				oh->len += sizeof(out);
			} else if (ih->opcode == FUSE_GETATTR) {
				fuse_attr_out out {};
				out.attr.ino = 1;
				out.attr.mode = S_IFDIR | 0755;
				out.attr.nlink = 2;
				std::memcpy(payload, &out, sizeof(out));
				oh->len += sizeof(out);
			} else if (ih->opcode == FUSE_LOOKUP) {
				const char *name = reinterpret_cast<const char *>(ih + 1);
				if (name[0] == 'm')
					mode = std::atoi(name + 1);
				oh->error = -ENOENT;
				switch (mode) {
				case kWrongUnique: oh->unique = ih->unique + 2; break;
				case kPositiveError: oh->error = 5; break;
				case kKernelInternalError: oh->error = -512; break;
				case kErrorWithPayload: oh->len = 100; break;
				case kTooLong: oh->error = 0; oh->len = sc->out_cap + 100; break;
				case kTooShort: oh->error = 0; oh->len = sizeof(fuse_out_header) + 10; break;
				case kZeroLength: oh->error = 0; oh->len = 0; break;
				case kBogusCompletionsThenHonest:
					expect_einval({r, slot, ih->unique + 2});
					expect_einval({r + 1000, slot, ih->unique});
					expect_einval({r, slot + 100000, ih->unique});
					expect_einval({r, (slot + 1) % info.nr_slots, ih->unique});
					break;
				case kBogusRingIndexesThenHonest:
					// The kernel must not trust these; only we suffer.
					ring.ctl->forget_tail = ring.ctl->forget_head + 12345;
					ring.ctl->intr_tail = 0xdeadbeef;
					break;
				default: break;
				}
			} else {
				oh->error = -ENOSYS;
			}
			rfuse::abi::store_release(sc->done, 1);
			std::atomic_thread_fence(std::memory_order_seq_cst);
			if (rfuse::abi::load_relaxed(sc->waiter_asleep) != 0) {
				rfuse_complete c {r, slot, ih->unique};
				// The kernel took the reply (good or bad) once: a repeat is stale.
				if (ioctl(fd, RFUSE_IOC_COMPLETE, &c) != 0 && errno != EINVAL)
					bad_ioctls++;
				expect_einval(c);
			}
			if (mode == kGarbageCount)
				_exit(bad_ioctls == 0 ? 0 : 4);
		}
		if (idle)
			std::this_thread::sleep_for(100us);
	}
}

TEST_F(Rfuse, MaliciousDaemonGetsEioAndKernelSurvives)
{
	std::string mnt = make_dir("evil");
	long bad_before = counter("bad_replies");
	pid_t evil = fork();
	ASSERT_GE(evil, 0);
	if (evil == 0)
		evil_daemon(mnt);
	auto end = Clock::now() + 20s;
	while (!fs_common::is_mountpoint(mnt) && Clock::now() < end)
		std::this_thread::sleep_for(5ms);
	ASSERT_TRUE(fs_common::is_mountpoint(mnt));
	int bad_modes = 0;
	for (int mode = 0; mode < kGarbageCount; mode++) {
		struct stat st {};
		std::string p = mnt + "/m" + std::to_string(mode);
		EXPECT_EQ(stat(p.c_str(), &st), -1);
		EXPECT_EQ(errno, expected_errno(mode)) << "mode " << mode << ": " << std::strerror(errno);
		if (expected_errno(mode) == EIO)
			bad_modes++;
	}
	EXPECT_EQ(counter("bad_replies") - bad_before, bad_modes);
	// tells the daemon to check its ioctl results and exit
	struct stat st {};
	stat((mnt + "/m" + std::to_string(kGarbageCount)).c_str(), &st);
	int status = wait_child(evil, 20s);
	EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) << "evil daemon status " << status;
	// the daemon is gone: the connection is aborted
	EXPECT_EQ(stat((mnt + "/x").c_str(), &st), -1);
	EXPECT_EQ(errno, ENOTCONN);
	EXPECT_EQ(harness::unmount_path(mnt), 0);
	EXPECT_TRUE(wait_counter("slots_in_use", [](long v) { return v == 0; }));
	EXPECT_TRUE(wait_counter("channels", [](long v) { return v == 0; }));
	rmdir(mnt.c_str());
}

// ---- notifications (fuse_lowlevel_notify_*) ----
// rfuse_notifyfs lets the kernel cache everything for a day and changes its
// file behind the kernel's back on command (a write to its ctl file, which
// fails with the errno the notification got). Each test also runs over
// classic FUSE (librfuse's fuse transport) as the reference.

class Notify : public ::testing::TestWithParam<const char *> {
protected:
	void SetUp() override
	{
		if (rfuse()) {
			ASSERT_EQ(access("/dev/rfuse", F_OK), 0) << "rfuse.ko is not loaded (run through run_rfuse_test.sh)";
		}
		mnt_ = make_dir("notify");
		harness::DaemonSpec s = spec("rfuse_notifyfs", mnt_);
		s.env["RFUSE_TRANSPORT"] = GetParam();
		fs_ = std::make_unique<harness::MountedFs>(s);
	}
	void TearDown() override
	{
		if (fs_) {
			EXPECT_EQ(fs_->stop(), 0) << fs_->log_tail();
			fs_.reset();
		}
		if (rfuse()) {
			EXPECT_TRUE(wait_counter("slots_in_use", [](long v) { return v == 0; }));
			EXPECT_TRUE(wait_counter("channels", [](long v) { return v == 0; }));
		}
		rmdir(mnt_.c_str());
	}
	static bool rfuse() { return std::strcmp(GetParam(), "rfuse") == 0; }
	std::string path(const std::string &name) const { return mnt_ + "/" + name; }
	// Runs one command of the daemon's; 0 or the errno it answered.
	int ctl(const std::string &cmd) const
	{
		int fd = open(path("ctl").c_str(), O_WRONLY);
		if (fd < 0)
			return -errno;
		int err = write(fd, cmd.data(), cmd.size()) == ssize_t(cmd.size()) ? 0 : errno;
		close(fd);
		return err;
	}
	// st_size, or -errno
	long size_of(const std::string &name) const
	{
		struct stat st {};
		return stat(path(name).c_str(), &st) == 0 ? long(st.st_size) : -errno;
	}

	std::string mnt_;
	std::unique_ptr<harness::MountedFs> fs_;
};

TEST_P(Notify, InvalInodeShowsNewSizeAndContents)
{
	const std::string first = "first contents", second = "second, longer contents";
	EXPECT_EQ(read_file(path("file")), first);
	EXPECT_EQ(size_of("file"), long(first.size()));
	ASSERT_EQ(ctl("set " + second), 0);
	// cached: attributes and pages stay as they were
	EXPECT_EQ(size_of("file"), long(first.size()));
	EXPECT_EQ(read_file(path("file")), first);
	ASSERT_EQ(ctl("inval_inode 0 0"), 0);
	EXPECT_EQ(size_of("file"), long(second.size()));
	EXPECT_EQ(read_file(path("file")), second);
}

TEST_P(Notify, InvalEntryShowsRename)
{
	struct stat st {};
	ASSERT_EQ(size_of("file"), 14);
	ASSERT_EQ(size_of("moved"), -ENOENT); // a cached negative entry
	ASSERT_EQ(ctl("rename moved"), 0);
	EXPECT_EQ(size_of("file"), 14);
	EXPECT_EQ(size_of("moved"), -ENOENT);
	EXPECT_EQ(ctl("inval_entry file"), 0);
	EXPECT_EQ(ctl("inval_entry moved"), 0);
	EXPECT_EQ(size_of("file"), -ENOENT);
	ASSERT_EQ(stat(path("moved").c_str(), &st), 0) << std::strerror(errno);
	EXPECT_EQ(st.st_ino, 2U);
	// a name the kernel has not cached: fuse.ko's ENOENT reaches the daemon
	EXPECT_EQ(ctl("inval_entry never-looked-up"), ENOENT);
}

TEST_P(Notify, DeleteDropsEntryOfOpenFile)
{
	int fd = open(path("file").c_str(), O_RDONLY);
	ASSERT_GE(fd, 0) << std::strerror(errno);
	// not the entry's inode: refused (the entry is dropped all the same,
	// and looked up again)
	EXPECT_EQ(ctl("delete file 3"), ENOENT);
	EXPECT_EQ(size_of("file"), 14);
	ASSERT_EQ(ctl("unlink"), 0);
	EXPECT_EQ(size_of("file"), 14); // cached
	EXPECT_EQ(ctl("delete file 2"), 0);
	EXPECT_EQ(size_of("file"), -ENOENT);
	struct stat st {};
	ASSERT_EQ(fstat(fd, &st), 0) << std::strerror(errno);
	EXPECT_EQ(st.st_nlink, 0U);
	close(fd);
}

TEST_P(Notify, StoreFillsCacheAndRetrieveReadsIt)
{
	// The daemon's contents differ from everything it stores, so what is
	// read back comes from the notification.
	EXPECT_EQ(read_file(path("file")), "first contents");
	ASSERT_EQ(ctl("store 0 STORED"), 0);
	EXPECT_EQ(size_of("file"), 14);
	EXPECT_EQ(read_file(path("file")), "STOREDcontents");
	// past the end: the size grows, and fuse asks for it again (so the
	// daemon must agree on it), the pages stay
	ASSERT_EQ(ctl("set first contents+XXXX"), 0);
	ASSERT_EQ(ctl("store 14 +tail"), 0);
	const std::string stored = "STOREDcontents+tail";
	EXPECT_EQ(size_of("file"), long(stored.size()));
	EXPECT_EQ(read_file(path("file")), stored);
	// the kernel sends the cached pages back as a FUSE_NOTIFY_REPLY request
	ASSERT_EQ(ctl("retrieve 0 " + std::to_string(stored.size())), 0);
	std::string got;
	auto end = Clock::now() + 20s;
	while ((got = read_file(path("retrieved"))).empty() && Clock::now() < end)
		std::this_thread::sleep_for(10ms);
	EXPECT_EQ(got, stored);
	ASSERT_EQ(ctl("inval_inode 0 0"), 0);
	EXPECT_EQ(read_file(path("file")), "first contents+XXXX");
}

// Sizes that need argument slots (RFUSE) both ways: a 60000-byte store and
// the FUSE_NOTIFY_REPLY that brings it back.
TEST_P(Notify, LargeStoreAndRetrieve)
{
	const std::size_t size = 60000;
	ASSERT_EQ(size_of("file"), 14); // the kernel knows the inode now
	ASSERT_EQ(ctl("set " + std::string(size, 'd')), 0);
	ASSERT_EQ(ctl("inval_inode 0 0"), 0);
	ASSERT_EQ(size_of("file"), long(size));
	std::string data(size, '\0');
	for (std::size_t i = 0; i < size; i++)
		data[i] = char('a' + i % 26);
	ASSERT_EQ(ctl("store 0 " + data), 0);
	EXPECT_EQ(read_file(path("file")), data);
	ASSERT_EQ(ctl("retrieve 0 " + std::to_string(size)), 0);
	std::string got;
	auto end = Clock::now() + 20s;
	while ((got = read_file(path("retrieved"))).empty() && Clock::now() < end)
		std::this_thread::sleep_for(10ms);
	EXPECT_EQ(got.size(), size);
	EXPECT_TRUE(got == data);
}

TEST_P(Notify, BadNotificationsFailAndMountSurvives)
{
	EXPECT_EQ(read_file(path("file")), "first contents");
	EXPECT_EQ(ctl("raw code"), EINVAL);
	EXPECT_EQ(ctl("raw arglen"), EINVAL);
	EXPECT_EQ(ctl("raw len"), EINVAL);
	EXPECT_EQ(ctl("raw short"), EINVAL);
	// a reply (RFUSE takes none by write())
	EXPECT_EQ(ctl("raw unique"), EINVAL);
	EXPECT_EQ(ctl("noent"), ENOENT);
	EXPECT_EQ(ctl("inval_inode 0 0"), 0);
	EXPECT_EQ(read_file(path("file")), "first contents");
	EXPECT_EQ(size_of("file"), 14);
	if (rfuse()) {
		// an fd no mount uses carries nothing
		int fd = open("/dev/rfuse", O_RDWR);
		ASSERT_GE(fd, 0) << std::strerror(errno);
		fuse_out_header oh {sizeof(oh), FUSE_NOTIFY_INVAL_INODE, 0};
		EXPECT_EQ(write(fd, &oh, sizeof(oh)), -1);
		EXPECT_EQ(errno, ENODEV);
		close(fd);
	}
}

// Bad mount options get one clear error from mount(2), mount nothing and
// leave no channel behind; good ones around them do not help a bad one.
TEST_F(Rfuse, BadMountOptionsAreRefused)
{
	std::string mnt = make_dir("badopts");
	int fd = open("/dev/rfuse", O_RDWR);
	ASSERT_GE(fd, 0) << std::strerror(errno);
	int devnull = open("/dev/null", O_RDWR);
	ASSERT_GE(devnull, 0);
	const std::string base = ",rootmode=40000,user_id=0,group_id=0";
	const std::string good = "fd=" + std::to_string(fd) + base;
	struct Case {
		std::string opts;
		int err;
	} cases[] = {
		{good + ",rings=0", EINVAL},
		{good + ",rings=abc", EINVAL},
		{good + ",rings=-1", EINVAL},
		{good + ",poll_us=10001", EINVAL},
		{good + ",poll_us=1e3", EINVAL},
		{good + ",no_such_option=1", EINVAL},
		{good + ",allow_other=1", EINVAL},
		{"fd=x" + base, EINVAL},
		{"fd=99999" + base, EBADF},
		{"fd=" + std::to_string(devnull) + base, EINVAL},
		{"rootmode=40000,user_id=0,group_id=0", EINVAL},
		{"fd=" + std::to_string(fd) + ",user_id=0,group_id=0", EINVAL},
		{good + ",rootmode=0", EINVAL},
	};
	long channels = counter("channels");
	for (const Case &c : cases) {
		errno = 0;
		int r = ::mount("rfuse", mnt.c_str(), "rfuse", 0, c.opts.c_str());
		EXPECT_EQ(r, -1) << c.opts << " was accepted";
		EXPECT_EQ(errno, c.err) << c.opts << ": " << std::strerror(errno);
		if (r == 0)
			umount2(mnt.c_str(), MNT_DETACH);
		EXPECT_TRUE(fs_common::mount_type(mnt).empty()) << c.opts << " left a mount";
		EXPECT_EQ(counter("channels"), channels) << c.opts << " left a channel";
	}
	// the same fd still mounts with good options afterwards
	ASSERT_EQ(::mount("rfuse", mnt.c_str(), "rfuse", 0, (good + ",rings=1,poll_us=10000").c_str()), 0)
		<< std::strerror(errno);
	EXPECT_EQ(umount2(mnt.c_str(), MNT_DETACH), 0);
	close(devnull);
	close(fd);
	EXPECT_TRUE(wait_counter("channels", [&](long v) { return v == channels; }));
	rmdir(mnt.c_str());
}

// After unmount, the daemon's fd outlives the mount: notifications written
// to it fail and touch nothing that went with the mount. What fuse answers
// depends on the kernel (6.1/6.12: the root inode is there before INIT, and
// ENOENT after unmount; 7.x: EINVAL until INIT is answered), so RFUSE must
// answer exactly as classic /dev/fuse does on the same kernel, and fail
// after unmount.
TEST_F(Rfuse, NotificationAfterUnmountFailsCleanly)
{
	struct Outcome {
		std::array<int, 3> err; // 0 for success, else errno
	};
	auto run = [](const char *dev, const char *fstype, const char *tag) {
		Outcome o {};
		std::string mnt = make_dir(tag);
		int fd = open(dev, O_RDWR);
		EXPECT_GE(fd, 0) << dev << ": " << std::strerror(errno);
		if (fd < 0)
			return o;
		std::string opts = "fd=" + std::to_string(fd) + ",rootmode=40000,user_id=0,group_id=0";
		EXPECT_EQ(::mount("late", mnt.c_str(), fstype, 0, opts.c_str()), 0) << std::strerror(errno);
		struct {
			fuse_out_header oh;
			fuse_notify_inval_inode_out arg;
		} inval {};
		inval.oh = {sizeof(inval), FUSE_NOTIFY_INVAL_INODE, 0};
		inval.arg.ino = FUSE_ROOT_ID;
		struct {
			fuse_out_header oh;
			fuse_notify_retrieve_out arg;
		} retrieve {};
		retrieve.oh = {sizeof(retrieve), FUSE_NOTIFY_RETRIEVE, 0};
		retrieve.arg = {1, FUSE_ROOT_ID, 0, 4096, 0};
		auto result = [](ssize_t n, size_t want) { return n == ssize_t(want) ? 0 : (n < 0 ? errno : -1); };
		// mounted, INIT never answered
		o.err[0] = result(write(fd, &inval, sizeof(inval)), sizeof(inval));
		int unmounted = umount2(mnt.c_str(), 0);
		EXPECT_EQ(unmounted, 0) << std::strerror(errno);
		if (unmounted != 0)
			umount2(mnt.c_str(), MNT_DETACH);
		o.err[1] = result(write(fd, &inval, sizeof(inval)), sizeof(inval));
		o.err[2] = result(write(fd, &retrieve, sizeof(retrieve)), sizeof(retrieve));
		close(fd);
		rmdir(mnt.c_str());
		return o;
	};
	Outcome fuse = run("/dev/fuse", "fuse", "late-fuse");
	Outcome rfuse = run("/dev/rfuse", "rfuse", "late-rfuse");
	for (int i = 0; i < 3; i++)
		EXPECT_EQ(rfuse.err[i], fuse.err[i]) << "write " << i << ": rfuse " << std::strerror(rfuse.err[i])
						      << ", classic fuse " << std::strerror(fuse.err[i]);
	// after unmount both fail, with an error number
	EXPECT_GT(rfuse.err[1], 0);
	EXPECT_GT(rfuse.err[2], 0);
	EXPECT_TRUE(wait_counter("slots_in_use", [](long v) { return v == 0; }));
	EXPECT_TRUE(wait_counter("channels", [](long v) { return v == 0; }));
}

INSTANTIATE_TEST_SUITE_P(Transports, Notify, ::testing::Values("rfuse", "fuse"),
			 [](const ::testing::TestParamInfo<const char *> &i) { return std::string(i.param); });

// ---- unmount while the daemon holds requests ----

// Requests the kernel counts as waiting on a connection (fusectl's
// "waiting": in any queue or in the daemon's hands), or -1 without fusectl.
long fuse_waiting(const std::string &mnt)
{
	struct stat st {};
	if (stat(mnt.c_str(), &st) != 0)
		return -1;
	// fusectl names a connection after the kernel's dev_t (major << 20 | minor)
	unsigned long dev = (static_cast<unsigned long>(major(st.st_dev)) << 20) | minor(st.st_dev);
	std::string path = "/sys/fs/fuse/connections/" + std::to_string(dev) + "/waiting";
	if (access(path.c_str(), F_OK) != 0)
		::mount("fusectl", "/sys/fs/fuse/connections", "fusectl", 0, nullptr);
	std::ifstream in(path);
	long v = -1;
	in >> v;
	return v;
}

// One caller held by the daemon: it reports its errno (0: success) and,
// for a read, the bytes it got.
struct HeldResult {
	int caller = -1;
	int err = -1;
	char data[8] = {};
};

enum class HeldCall { Read, Statx };

// Forks a caller that blocks on rfuse_testfs's "hold" file: a direct-I/O
// read (FUSE_READ) or a forced fstatx (FUSE_GETATTR). It opens the file,
// writes a byte to `ready_fd` and waits for one on `go_fd`, so that the
// opens never queue behind held calls (RFUSE serves a ring with a fixed set
// of workers: once all of them are held, later requests on that ring wait)
// and the held call is its only request left.
pid_t spawn_held_caller(const std::string &mnt, int caller, HeldCall call, int ready_fd, int go_fd, int report_fd)
{
	pid_t child = fork();
	if (child != 0)
		return child;
	HeldResult r;
	r.caller = caller;
	int fd = open((mnt + "/hold").c_str(), O_RDONLY);
	char ready = 1;
	if (fd < 0 || write(ready_fd, &ready, 1) != 1 || read(go_fd, &ready, 1) != 1)
		_exit(1);
	if (call == HeldCall::Read) {
		ssize_t n = read(fd, r.data, 4);
		r.err = n < 0 ? errno : 0;
		if (n >= 0 && n != 4)
			r.err = -2;
	} else {
		struct statx stx {};
		r.err = statx(fd, "", AT_EMPTY_PATH | AT_STATX_FORCE_SYNC, STATX_BASIC_STATS, &stx) == 0 ? 0 : errno;
	}
	_exit(write(report_fd, &r, sizeof(r)) == ssize_t(sizeof(r)) ? 0 : 1);
}

// Reads one report within `limit`; false when none came.
bool read_report(int fd, HeldResult *r, std::chrono::milliseconds limit)
{
	pollfd p {fd, POLLIN, 0};
	if (poll(&p, 1, static_cast<int>(limit.count())) != 1)
		return false;
	return read(fd, r, sizeof(*r)) == ssize_t(sizeof(*r));
}

enum class UnmountKind { Lazy, Force };

class HeldUnmount : public ::testing::TestWithParam<const char *> {
protected:
	void SetUp() override
	{
		ASSERT_EQ(access("/dev/rfuse", F_OK), 0) << "rfuse.ko is not loaded (run through run_rfuse_test.sh)";
	}

	// Mounts rfuse_testfs over the transport of the parameter, holds
	// kCallers requests (reads and statx) in the daemon, unmounts, and
	// checks what the callers, the mount and the daemon do.
	void run(UnmountKind kind)
	{
		constexpr int kCallers = 6;
		constexpr auto kReturnBound = 5s; // a hang detector, not a timing
		std::string mnt = make_dir(kind == UnmountKind::Lazy ? "lazy" : "force");
		harness::DaemonSpec s = spec("rfuse_testfs", mnt);
		s.env["RFUSE_TRANSPORT"] = GetParam();
		harness::MountedFs fs(s);
		// what the mount itself has in flight (INIT, on some kernels an
		// early request) settles first
		auto settle = Clock::now() + 5s;
		while (fuse_waiting(mnt) > 0 && Clock::now() < settle)
			std::this_thread::sleep_for(5ms);
		long waiting_before = fuse_waiting(mnt);
		int pipefd[2], readyfd[2], gofd[2];
		ASSERT_EQ(pipe(pipefd), 0);
		ASSERT_EQ(pipe(readyfd), 0);
		ASSERT_EQ(pipe(gofd), 0);
		std::vector<pid_t> children;
		for (int i = 0; i < kCallers; i++) {
			pid_t c = spawn_held_caller(mnt, i, i % 2 == 0 ? HeldCall::Read : HeldCall::Statx, readyfd[1],
						    gofd[0], pipefd[1]);
			ASSERT_GE(c, 0);
			children.push_back(c);
		}
		close(pipefd[1]);
		close(readyfd[1]);
		for (int i = 0; i < kCallers; i++) {
			char ready = 0;
			ASSERT_EQ(read(readyfd[0], &ready, 1), 1) << "caller " << i << " could not open hold";
		}
		close(readyfd[0]);
		close(gofd[0]);
		std::string go(kCallers, 'g');
		ASSERT_EQ(write(gofd[1], go.data(), go.size()), ssize_t(go.size()));
		close(gofd[1]);
		// each caller has one request left, the held one: wait until all are
		// with the daemon (or queued for it)
		if (waiting_before >= 0) {
			auto end = Clock::now() + 10s;
			while (fuse_waiting(mnt) < waiting_before + kCallers && Clock::now() < end)
				std::this_thread::sleep_for(5ms);
			if (fuse_waiting(mnt) < waiting_before + kCallers) {
				HeldResult early;
				while (read_report(pipefd[0], &early, 0ms))
					ADD_FAILURE() << "caller " << early.caller << " returned early: " << early.err
						      << " data '" << std::string(early.data, 4) << "'";
				for (const char *c : {"requests", "inline_completions", "ioctl_completions", "stale_completions", "bad_replies"})
					std::printf("%s %ld\n", c, counter(c));
				std::printf("slots_in_use %ld daemon log: %s\n", counter("slots_in_use"),
					    fs.log_tail().c_str());
			}
			ASSERT_GE(fuse_waiting(mnt), waiting_before + kCallers) << "the callers never blocked";
		} else {
			std::printf("no fusectl: giving the callers 2 s to block\n");
			std::this_thread::sleep_for(2s);
		}
		HeldResult r;
		ASSERT_FALSE(read_report(pipefd[0], &r, 0ms)) << "caller " << r.caller << " was not held";

		std::vector<HeldResult> results;
		if (kind == UnmountKind::Force) {
			// fuse's umount_begin aborts the connection; the umount itself
			// may then find the mount busy (the callers are inside it)
			int rc = umount2(mnt.c_str(), MNT_FORCE);
			EXPECT_TRUE(rc == 0 || errno == EBUSY) << std::strerror(errno);
			for (int i = 0; i < kCallers; i++) {
				ASSERT_TRUE(read_report(pipefd[0], &r, kReturnBound))
					<< GetParam() << ": " << i << " of " << kCallers << " callers returned after umount -f";
				results.push_back(r);
			}
			// the abort ends requests in flight with ECONNABORTED
			for (const HeldResult &x : results)
				EXPECT_EQ(x.err, ECONNABORTED) << GetParam() << ": caller " << x.caller
							       << (x.caller % 2 == 0 ? " (read)" : " (statx)") << ": "
							       << (x.err > 0 ? std::strerror(x.err) : "no error");
			for (pid_t c : children)
				EXPECT_NE(wait_child(c, 10s), -1);
			if (fs_common::is_mountpoint(mnt)) {
				EXPECT_EQ(umount2(mnt.c_str(), 0), 0) << std::strerror(errno);
			}
			EXPECT_FALSE(fs_common::is_mountpoint(mnt));
			// the held handlers reply to a dead connection and the loop ends
			kill(fs.pid(), SIGUSR2);
		} else {
			// a lazy unmount detaches the mount but aborts nothing: the
			// callers keep waiting for the daemon's answers
			ASSERT_EQ(umount2(mnt.c_str(), MNT_DETACH), 0) << std::strerror(errno);
			EXPECT_FALSE(fs_common::is_mountpoint(mnt));
			EXPECT_FALSE(read_report(pipefd[0], &r, 500ms))
				<< GetParam() << ": caller " << r.caller << " returned (" << r.err << ") before the daemon answered";
			EXPECT_TRUE(fs.daemon_alive());
			kill(fs.pid(), SIGUSR2);
			for (int i = 0; i < kCallers; i++) {
				ASSERT_TRUE(read_report(pipefd[0], &r, kReturnBound))
					<< GetParam() << ": " << i << " of " << kCallers << " callers returned after the release";
				results.push_back(r);
			}
			for (const HeldResult &x : results) {
				EXPECT_EQ(x.err, 0) << GetParam() << ": caller " << x.caller << ": "
						    << (x.err > 0 ? std::strerror(x.err) : "short read");
				if (x.caller % 2 == 0) {
					EXPECT_EQ(std::string(x.data, 4), "held");
				}
			}
			for (pid_t c : children)
				EXPECT_NE(wait_child(c, 10s), -1);
			// the last caller gone, the superblock goes and with it the
			// connection: the daemon sees that and exits by itself
		}
		close(pipefd[0]);
		auto end = Clock::now() + 10s;
		while (fs.daemon_alive() && Clock::now() < end)
			std::this_thread::sleep_for(5ms);
		EXPECT_FALSE(fs.daemon_alive()) << GetParam() << ": the daemon did not exit: " << fs.log_tail();
		fs.stop();
		EXPECT_TRUE(wait_counter("slots_in_use", [](long v) { return v == 0; }));
		EXPECT_TRUE(wait_counter("arg_slots_in_use", [](long v) { return v == 0; }));
		EXPECT_TRUE(wait_counter("channels", [](long v) { return v == 0; }));
		rmdir(mnt.c_str());
	}
};

TEST_P(HeldUnmount, LazyUnmountLetsHeldCallersFinish)
{
	run(UnmountKind::Lazy);
}

TEST_P(HeldUnmount, ForcedUnmountAbortsHeldCallers)
{
	run(UnmountKind::Force);
}

INSTANTIATE_TEST_SUITE_P(Transports, HeldUnmount, ::testing::Values("rfuse", "fuse"),
			 [](const ::testing::TestParamInfo<const char *> &i) { return std::string(i.param); });

// ---- background requests: home ring, spread when it lags ----

const char *const kSpreadParam = "/sys/module/rfuse/parameters/bg_spread_backlog";

// Sets bg_spread_backlog for the test and puts the old value back.
class SpreadBacklog {
public:
	explicit SpreadBacklog(unsigned long value)
	{
		std::ifstream in(kSpreadParam);
		in >> old_;
		std::ofstream(kSpreadParam) << value;
	}
	~SpreadBacklog() { std::ofstream(kSpreadParam) << old_; }
	SpreadBacklog(const SpreadBacklog &) = delete;
	SpreadBacklog &operator=(const SpreadBacklog &) = delete;

private:
	unsigned long old_ = 2;
};

// Pins the calling thread to one CPU and restores its affinity afterwards.
class PinnedTo {
public:
	explicit PinnedTo(int cpu)
	{
		sched_getaffinity(0, sizeof(old_), &old_);
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		ok_ = sched_setaffinity(0, sizeof(set), &set) == 0;
	}
	~PinnedTo() { sched_setaffinity(0, sizeof(old_), &old_); }
	PinnedTo(const PinnedTo &) = delete;
	PinnedTo &operator=(const PinnedTo &) = delete;
	bool ok() const { return ok_; }

private:
	cpu_set_t old_ {};
	bool ok_ = false;
};

// Requests each ring of the daemon served so far: librfuse rewrites its
// RFUSE_STATS_FILE on SIGUSR1.
std::vector<long> served_per_ring(pid_t daemon, const std::string &stats)
{
	unlink(stats.c_str());
	kill(daemon, SIGUSR1);
	auto end = Clock::now() + 10s;
	while (access(stats.c_str(), F_OK) != 0 && Clock::now() < end)
		std::this_thread::sleep_for(2ms);
	std::vector<long> per_ring;
	try {
		nlohmann::json doc = nlohmann::json::parse(read_file(stats));
		for (const auto &n : doc.at("requests_per_ring"))
			per_ring.push_back(n.get<long>());
	} catch (const std::exception &e) {
		ADD_FAILURE() << "stats " << stats << ": " << e.what();
	}
	return per_ring;
}

constexpr int kBgReaders = 8;
constexpr off_t kBgStride = 128 << 10; // apart, so no readahead window overlaps

// Buffered 4 KiB reads of rfuse_testfs's "bg" (cached attributes, cold page
// cache) from threads pinned to CPU 0: each becomes one readahead FUSE_READ,
// a background request submitted on CPU 0. Returns the threads; `done`
// counts reads that returned the right bytes, `bad` the others.
std::vector<std::thread> start_bg_readers(const std::vector<int> &fds, std::atomic<int> &done, std::atomic<int> &bad)
{
	std::vector<std::thread> readers;
	for (int i = 0; i < kBgReaders; i++)
		readers.emplace_back([&, i] {
			PinnedTo pin(0);
			char buf[4096];
			off_t off = i * kBgStride;
			ssize_t n = pread(fds[i], buf, sizeof(buf), off);
			bool ok = pin.ok() && n == ssize_t(sizeof(buf));
			for (ssize_t j = 0; ok && j < n; j++)
				ok = buf[j] == char((off + j) % 251);
			(ok ? done : bad)++;
		});
	return readers;
}

std::vector<long> delta(const std::vector<long> &after, const std::vector<long> &before)
{
	std::vector<long> d(after.size());
	for (size_t i = 0; i < after.size(); i++)
		d[i] = after[i] - (i < before.size() ? before[i] : 0);
	return d;
}

std::string join(const std::vector<long> &v)
{
	std::string s;
	for (long x : v)
		s += (s.empty() ? "" : ",") + std::to_string(x);
	return s;
}

class BgSpread : public Rfuse {
protected:
	void SetUp() override
	{
		Rfuse::SetUp();
		if (std::thread::hardware_concurrency() < 2)
			GTEST_SKIP() << "one CPU, one ring: nothing to spread to";
	}

	// rfuse_testfs with one worker per ring, so that one held request
	// stops its ring.
	harness::DaemonSpec daemon(const std::string &mnt, const std::string &stats)
	{
		harness::DaemonSpec s = spec("rfuse_testfs", mnt);
		s.env["RFUSE_WORKERS"] = "1";
		s.env["RFUSE_STATS_FILE"] = stats;
		return s;
	}

	// kBgReaders descriptors of the readahead file, opened before anything
	// is held (an OPEN waits behind a held ring too), with no request left
	// in a slot.
	std::vector<int> open_bg_files(const std::string &mnt)
	{
		std::vector<int> fds;
		for (int i = 0; i < kBgReaders; i++) {
			fds.push_back(open((mnt + "/bg").c_str(), O_RDONLY));
			EXPECT_GE(fds.back(), 0) << std::strerror(errno);
		}
		EXPECT_TRUE(wait_counter("slots_in_use", [](long v) { return v == 0; }));
		return fds;
	}
};

// rfuse_pick_ring(): a background request goes to the submitting CPU's ring
// unless that ring has bg_spread_backlog (2) or more requests its workers
// have not picked up; then it goes round robin over all rings (a free slot
// on the chosen one). With the home ring's only worker held, its backlog
// grows to 2 and later readahead reads must be served by another ring,
// while the held request is still in flight.
TEST_F(BgSpread, BackgroundReadsSpreadWhenHomeRingLags)
{
	SpreadBacklog param(2);
	std::string mnt = make_dir("spread");
	std::string stats = mnt + ".stats.json";
	harness::MountedFs fs(daemon(mnt, stats));
	int hold_fd = open((mnt + "/hold").c_str(), O_RDONLY);
	ASSERT_GE(hold_fd, 0) << std::strerror(errno);
	std::vector<int> fds = open_bg_files(mnt);
	if (HasFailure())
		return;
	std::vector<long> before = served_per_ring(fs.pid(), stats);
	ASSERT_GE(before.size(), 2U);

	std::thread holder([&] {
		PinnedTo pin(0);
		char buf[4];
		EXPECT_EQ(read(hold_fd, buf, sizeof(buf)), 4) << std::strerror(errno);
	});
	ASSERT_TRUE(wait_counter("slots_in_use", [](long v) { return v >= 1; }));
	std::atomic<int> done {0}, bad {0};
	std::vector<std::thread> readers = start_bg_readers(fds, done, bad);
	// reads on the other rings finish although the home ring is stopped
	auto end = Clock::now() + 30s;
	while (done.load() + bad.load() == 0 && Clock::now() < end)
		std::this_thread::sleep_for(5ms);
	int done_while_held = done.load();
	EXPECT_GE(done_while_held, 1) << "no background read was served while the home ring's worker was held";
	kill(fs.pid(), SIGUSR2);
	holder.join();
	for (std::thread &t : readers)
		t.join();
	EXPECT_EQ(done.load(), kBgReaders);
	EXPECT_EQ(bad.load(), 0);
	std::vector<long> served = delta(served_per_ring(fs.pid(), stats), before);
	int rings_used = 0;
	for (long n : served)
		rings_used += n > 0;
	EXPECT_GE(rings_used, 2) << "requests per ring: " << join(served);
	std::printf("spread: %d of %d reads done while the home ring was held; requests per ring %s\n",
		    done_while_held, kBgReaders, join(served).c_str());
	for (int fd : fds)
		close(fd);
	close(hold_fd);
	EXPECT_EQ(fs.stop(), 0) << fs.log_tail();
	EXPECT_TRUE(wait_counter("slots_in_use", [](long v) { return v == 0; }));
	unlink(stats.c_str());
	rmdir(mnt.c_str());
}

// With a threshold nothing reaches, background requests from CPU 0 all
// stay on CPU 0's ring.
TEST_F(BgSpread, BackgroundReadsStayHomeBelowBacklog)
{
	SpreadBacklog param(1000000);
	std::string mnt = make_dir("home");
	std::string stats = mnt + ".stats.json";
	harness::MountedFs fs(daemon(mnt, stats));
	std::vector<int> fds = open_bg_files(mnt);
	if (HasFailure())
		return;
	std::vector<long> before = served_per_ring(fs.pid(), stats);
	ASSERT_GE(before.size(), 2U);
	std::atomic<int> done {0}, bad {0};
	std::vector<std::thread> readers = start_bg_readers(fds, done, bad);
	for (std::thread &t : readers)
		t.join();
	EXPECT_EQ(done.load(), kBgReaders);
	std::vector<long> served = delta(served_per_ring(fs.pid(), stats), before);
	int rings_used = 0;
	long total = 0;
	for (long n : served) {
		rings_used += n > 0;
		total += n;
	}
	EXPECT_EQ(rings_used, 1) << "requests per ring: " << join(served);
	EXPECT_GE(total, kBgReaders) << "requests per ring: " << join(served);
	std::printf("home: requests per ring %s\n", join(served).c_str());
	for (int fd : fds)
		close(fd);
	EXPECT_EQ(fs.stop(), 0) << fs.log_tail();
	unlink(stats.c_str());
	rmdir(mnt.c_str());
}

// ---- review fixes (issue 12): a daemon in a thread of the test ----
// RawDaemon (raw_daemon.hpp) mounts with a raw /dev/rfuse fd and answers
// from the shared memory itself, so a test decides exactly when each
// request ends.

using rfuse_test::RawDaemon;
using rfuse_test::RawReq;

// (a) The FUSE_NOTIFY_REPLY that answers a retrieve is queued from the
// daemon's own write() with no reference of its writer: that thread must
// not poll it (another daemon thread's RFUSE_IOC_COMPLETE or an abort may
// end and free it under the poller). The kernel shows it in the slot: the
// reply is published with waiter_asleep set, even with the longest poll
// window, and only RFUSE_IOC_COMPLETE ends it.
TEST_F(Rfuse, ReviewNotifyReplyIsNotPolledByTheWriter)
{
	std::string mnt = make_dir("notify-reply");
	std::mutex lock;
	std::vector<std::pair<std::uint32_t, int>> seen; // waiter_asleep at pick-up, COMPLETE's result
	{
		RawDaemon d(mnt, ",poll_us=10000,rings=1", [&](RawDaemon &self, RawReq &q) {
			if (q.ih.opcode != FUSE_NOTIFY_REPLY)
				return RawDaemon::Act::Default;
			RawDaemon::reply(q, 0);
			// as a second daemon thread would: complete at once
			int rc = self.finish(q, true);
			std::lock_guard<std::mutex> g(lock);
			seen.emplace_back(q.asleep_at_pickup, rc);
			return RawDaemon::Act::Hold;
		});
		// fuse retrieves from regular files only: the kernel caches "f"
		struct stat st {};
		ASSERT_EQ(stat((mnt + "/f").c_str(), &st), 0) << std::strerror(errno);
		for (int i = 0; i < 20; i++) {
			struct {
				fuse_out_header oh;
				fuse_notify_retrieve_out arg;
			} retrieve {};
			retrieve.oh = {sizeof(retrieve), FUSE_NOTIFY_RETRIEVE, 0};
			retrieve.arg = {std::uint64_t(100 + i), 2, 0, 4096, 0};
			ASSERT_EQ(write(d.fd(), &retrieve, sizeof(retrieve)), ssize_t(sizeof(retrieve)))
				<< std::strerror(errno);
		}
		auto end = Clock::now() + 20s;
		for (;;) {
			{
				std::lock_guard<std::mutex> g(lock);
				if (seen.size() >= 20)
					break;
			}
			ASSERT_LT(Clock::now(), end) << "the NOTIFY_REPLY requests did not all arrive";
			std::this_thread::sleep_for(2ms);
		}
		std::lock_guard<std::mutex> g(lock);
		for (auto [asleep, rc] : seen) {
			EXPECT_EQ(asleep, 1U) << "a FUSE_NOTIFY_REPLY was published for polling";
			EXPECT_EQ(rc, 0) << "RFUSE_IOC_COMPLETE of a FUSE_NOTIFY_REPLY: " << std::strerror(rc);
		}
	}
	EXPECT_TRUE(wait_counter("slots_in_use", [](long v) { return v == 0; }));
	EXPECT_TRUE(wait_counter("channels", [](long v) { return v == 0; }));
	rmdir(mnt.c_str());
}

// (c) With max_pages below fuse's default (insmod max_pages=4) and a
// daemon that does not negotiate FUSE_MAX_PAGES, 128 KiB writes, direct
// reads and readahead must still fit the argument slots (split by fuse).
TEST_F(Rfuse, ReviewSmallMaxPagesWithoutNegotiationServesFullSizeIo)
{
	std::string mnt = make_dir("maxpages");
	constexpr std::size_t kSize = 128 << 10;
	std::mutex lock;
	std::vector<char> file; // ino 2, "f"
	std::uint32_t largest = 0;
	auto attr_of_file = [&](fuse_attr &a) {
		a.ino = 2;
		a.mode = S_IFREG | 0644;
		a.nlink = 1;
		a.size = file.size();
		a.blocks = (file.size() + 511) / 512;
	};
	{
		RawDaemon d(mnt, ",rings=1", [&](RawDaemon &, RawReq &q) {
			std::lock_guard<std::mutex> g(lock);
			largest = std::max(largest, q.ih.len);
			switch (q.ih.opcode) {
			case FUSE_LOOKUP: {
				if (std::strcmp(reinterpret_cast<const char *>(q.arg), "f") != 0)
					return RawDaemon::Act::Default;
				fuse_entry_out out {};
				out.nodeid = 2;
				out.entry_valid = 3600;
				attr_of_file(out.attr);
				RawDaemon::reply(q, 0, &out, sizeof(out));
				return RawDaemon::Act::Reply;
			}
			case FUSE_GETATTR:
			case FUSE_SETATTR: {
				if (q.ih.nodeid != 2)
					return RawDaemon::Act::Default;
				fuse_attr_out out {};
				attr_of_file(out.attr);
				RawDaemon::reply(q, 0, &out, sizeof(out));
				return RawDaemon::Act::Reply;
			}
			case FUSE_OPEN: {
				fuse_open_out out {};
				out.fh = 1;
				RawDaemon::reply(q, 0, &out, sizeof(out));
				return RawDaemon::Act::Reply;
			}
			case FUSE_FLUSH:
			case FUSE_RELEASE:
			case FUSE_FSYNC:
				RawDaemon::reply(q, 0);
				return RawDaemon::Act::Reply;
			case FUSE_WRITE: {
				fuse_write_in in;
				std::memcpy(&in, q.arg, sizeof(in));
				const char *data = reinterpret_cast<const char *>(q.arg) + sizeof(in);
				if (file.size() < in.offset + in.size)
					file.resize(in.offset + in.size);
				std::memcpy(file.data() + in.offset, data, in.size);
				fuse_write_out out {};
				out.size = in.size;
				RawDaemon::reply(q, 0, &out, sizeof(out));
				return RawDaemon::Act::Reply;
			}
			case FUSE_READ: {
				fuse_read_in in;
				std::memcpy(&in, q.arg, sizeof(in));
				std::size_t n = in.offset < file.size() ? std::min<std::size_t>(in.size, file.size() - in.offset) : 0;
				RawDaemon::reply(q, 0, file.data() + in.offset, n);
				return RawDaemon::Act::Reply;
			}
			default:
				return RawDaemon::Act::Default;
			}
		});
		std::vector<char> data(kSize), back(kSize);
		std::mt19937 rng(12);
		for (char &c : data)
			c = char(rng());
		std::string f = mnt + "/f";
		int fd = open(f.c_str(), O_RDWR);
		ASSERT_GE(fd, 0) << std::strerror(errno);
		EXPECT_EQ(pwrite(fd, data.data(), kSize, 0), ssize_t(kSize)) << std::strerror(errno);
		close(fd);
		// direct read
		void *buf = nullptr;
		ASSERT_EQ(posix_memalign(&buf, 4096, kSize), 0);
		fd = open(f.c_str(), O_RDONLY | O_DIRECT);
		ASSERT_GE(fd, 0) << std::strerror(errno);
		std::memset(buf, 0, kSize);
		EXPECT_EQ(pread(fd, buf, kSize, 0), ssize_t(kSize)) << std::strerror(errno);
		EXPECT_EQ(std::memcmp(buf, data.data(), kSize), 0);
		close(fd);
		free(buf);
		// buffered read through readahead, from a cold page cache
		fd = open(f.c_str(), O_RDONLY);
		ASSERT_GE(fd, 0) << std::strerror(errno);
		EXPECT_EQ(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
		EXPECT_EQ(pread(fd, back.data(), kSize, 0), ssize_t(kSize)) << std::strerror(errno);
		EXPECT_TRUE(back == data);
		close(fd);
		std::lock_guard<std::mutex> g(lock);
		EXPECT_TRUE(file == data);
		EXPECT_LE(largest, d.info().nr_arg_slots ? d.info().arg_slot_size : 0U);
		std::printf("max_pages %u: largest request %u bytes, argument slot %u bytes\n", d.info().max_pages,
			    largest, d.info().arg_slot_size);
	}
	EXPECT_EQ(counter("bad_replies"), 0);
	EXPECT_TRUE(wait_counter("slots_in_use", [](long v) { return v == 0; }));
	EXPECT_TRUE(wait_counter("channels", [](long v) { return v == 0; }));
	rmdir(mnt.c_str());
}

void no_op_handler(int)
{
}

// (d) A request signalled while it waits for a slot gets its interrupt
// when it reaches one. When the interrupt ring is full then, the
// interrupt must wait in fuse's queue (as those of requests signalled in
// a slot do) and arrive once the daemon makes room and waits, not be lost
// (its handler would wait for it for ever). The daemon holds every header
// slot, and shows the interrupt ring full by not advancing intr_tail.
TEST_F(Rfuse, ReviewEarlyInterruptWaitsForRoomInTheInterruptRing)
{
	std::string mnt = make_dir("early-intr");
	std::mutex lock;
	std::vector<RawReq> held;
	{
		RawDaemon d(mnt, ",rings=1,poll_us=0", [&](RawDaemon &, RawReq &q) {
			if (q.ih.opcode != FUSE_LOOKUP)
				return RawDaemon::Act::Default;
			std::lock_guard<std::mutex> g(lock);
			held.push_back(q);
			return RawDaemon::Act::Hold;
		});
		const unsigned slots = d.info().nr_slots;
		ASSERT_LE(slots, 8U) << "load rfuse.ko with ring_slots=2 (RFUSE_KMOD_PARAMS)";
		// fusectl's count of waiting requests (its stat() caches the root's
		// attributes first, so later ones send nothing)
		const long waiting_before = fuse_waiting(mnt);
		auto nr_held = [&] {
			std::lock_guard<std::mutex> g(lock);
			return held.size();
		};
		auto caller = [&](const std::string &name) {
			pid_t c = fork();
			if (c == 0) {
				struct sigaction sa {};
				sa.sa_handler = no_op_handler; // no SA_RESTART
				sigaction(SIGUSR1, &sa, nullptr);
				struct stat st {};
				int rc = stat((mnt + "/" + name).c_str(), &st);
				_exit(rc == -1 && errno == EINTR ? 0 : rc == -1 ? 10 + errno % 100 : 1);
			}
			return c;
		};
		std::vector<pid_t> holders;
		for (unsigned i = 0; i < slots; i++) {
			holders.push_back(caller("a" + std::to_string(i)));
			auto end = Clock::now() + 20s;
			while (nr_held() < i + 1 && Clock::now() < end)
				std::this_thread::sleep_for(1ms);
			ASSERT_EQ(nr_held(), i + 1U) << "LOOKUP a" << i << " never reached the daemon";
		}
		// the victim's LOOKUP waits on fuse's pending queue: no free slot
		pid_t victim = caller("b");
		if (waiting_before >= 0) {
			auto end = Clock::now() + 20s;
			while (fuse_waiting(mnt) < waiting_before + long(slots) + 1 && Clock::now() < end)
				std::this_thread::sleep_for(5ms);
			ASSERT_EQ(fuse_waiting(mnt), waiting_before + long(slots) + 1) << "b is not waiting";
		} else {
			std::this_thread::sleep_for(1s);
		}
		ASSERT_EQ(nr_held(), slots) << "b got a slot although all were held";
		auto &ring = d.ring(0);
		const std::uint32_t entries = d.info().intr_entries;
		const std::uint32_t head = rfuse::abi::load_acquire(ring.ctl->intr_head);
		rfuse::abi::store_release(ring.ctl->intr_tail, head - entries); // "full"
		ASSERT_EQ(kill(victim, SIGUSR1), 0);
		std::this_thread::sleep_for(300ms);
		// free one slot: b moves into it, already interrupted
		RawReq first;
		{
			std::lock_guard<std::mutex> g(lock);
			first = held.front();
		}
		RawDaemon::reply(first, -ENOENT);
		EXPECT_EQ(d.finish(first), 0);
		auto end = Clock::now() + 20s;
		while (nr_held() < slots + 1 && Clock::now() < end)
			std::this_thread::sleep_for(1ms);
		ASSERT_EQ(nr_held(), slots + 1U) << "b never reached the daemon";
		RawReq b;
		{
			std::lock_guard<std::mutex> g(lock);
			b = held.back();
		}
		// The daemon makes room and waits (librfuse's workers do when idle).
		rfuse::abi::store_release(ring.ctl->intr_tail, head);
		std::atomic<bool> waited {false};
		struct sigaction sa {};
		sa.sa_handler = no_op_handler;
		sigaction(SIGUSR2, &sa, nullptr);
		std::thread waiter([&] {
			rfuse_wait w {0, 0};
			ioctl(d.fd(), RFUSE_IOC_WAIT, &w);
			waited.store(true);
		});
		bool delivered = false;
		end = Clock::now() + 5s;
		while (!delivered && Clock::now() < end) {
			std::uint32_t h = rfuse::abi::load_acquire(ring.ctl->intr_head);
			for (std::uint32_t i = head; i != h; i++)
				delivered |= ring.intrs[i & (entries - 1)] == b.ih.unique;
			std::this_thread::sleep_for(1ms);
		}
		EXPECT_TRUE(delivered) << "the interrupt of b (unique " << b.ih.unique << ") was lost";
		while (!waited.load()) {
			pthread_kill(waiter.native_handle(), SIGUSR2);
			std::this_thread::sleep_for(5ms);
		}
		waiter.join();
		RawDaemon::reply(b, -EINTR);
		EXPECT_EQ(d.finish(b), 0);
		int status = wait_child(victim, 20s);
		EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
			<< "stat of b did not fail with EINTR: " << status;
		std::vector<RawReq> rest;
		{
			std::lock_guard<std::mutex> g(lock);
			rest.assign(held.begin() + 1, held.end() - 1);
		}
		for (RawReq &q : rest) {
			RawDaemon::reply(q, -ENOENT);
			EXPECT_EQ(d.finish(q), 0);
		}
		for (pid_t c : holders)
			EXPECT_NE(wait_child(c, 20s), -1);
	}
	EXPECT_TRUE(wait_counter("slots_in_use", [](long v) { return v == 0; }));
	EXPECT_TRUE(wait_counter("channels", [](long v) { return v == 0; }));
	rmdir(mnt.c_str());
}

// (e) With every argument slot held by a long handler, a request waiting
// for one must not stop requests that need none: a small GETATTR goes
// ahead of a waiting 64 KiB read into a free header slot (one ring, one
// argument slot: RFUSE_RINGS=1, insmod arg_slots=1; rfuse_testfs has two
// workers per ring).
TEST_F(Rfuse, ReviewSmallRequestsPassRequestsWaitingForAnArgumentSlot)
{
	std::string mnt = make_dir("argwait");
	harness::DaemonSpec s = spec("rfuse_testfs", mnt);
	s.env["RFUSE_RINGS"] = "1";
	s.env["RFUSE_WORKERS"] = "2";
	harness::MountedFs fs(s);
	ASSERT_TRUE(wait_counter("slots_in_use", [](long v) { return v == 0; }));
	int data_fd = open((mnt + "/data").c_str(), O_RDONLY);
	ASSERT_GE(data_fd, 0) << std::strerror(errno);
	auto big_read = [&] {
		pid_t c = fork();
		if (c == 0) {
			int fd = open((mnt + "/hold").c_str(), O_RDONLY);
			std::vector<char> buf(64 << 10);
			_exit(fd >= 0 && read(fd, buf.data(), buf.size()) == 4 ? 0 : 1);
		}
		return c;
	};
	long arg_total = 0;
	{
		std::ifstream in("/sys/module/rfuse/parameters/arg_slots");
		in >> arg_total;
	}
	ASSERT_EQ(arg_total, 1) << "load rfuse.ko with arg_slots=1 (RFUSE_KMOD_PARAMS)";
	pid_t first = big_read();
	ASSERT_TRUE(wait_counter("arg_slots_in_use", [](long v) { return v == 1; }))
		<< "the held read never took the argument slot";
	pid_t second = big_read(); // waits for the argument slot
	std::this_thread::sleep_for(500ms);
	auto start = Clock::now();
	std::atomic<int> rc {-1};
	std::thread small([&] {
		struct statx stx {};
		rc = statx(data_fd, "", AT_EMPTY_PATH | AT_STATX_FORCE_SYNC, STATX_BASIC_STATS, &stx) == 0 ? 0 : errno;
	});
	while (rc.load() == -1 && Clock::now() < start + 10s)
		std::this_thread::sleep_for(5ms);
	double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
	EXPECT_EQ(rc.load(), 0) << "a GETATTR waited behind a read that waits for an argument slot ("
				<< ms << " ms)";
	kill(fs.pid(), SIGUSR2); // the held reads go on
	small.join();
	EXPECT_NE(wait_child(first, 20s), -1);
	int status = wait_child(second, 20s);
	EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
	std::printf("argwait: the GETATTR took %.1f ms while the argument slot was held\n", ms);
	close(data_fd);
	EXPECT_EQ(fs.stop(), 0) << fs.log_tail();
	EXPECT_TRUE(wait_counter("slots_in_use", [](long v) { return v == 0; }));
	rmdir(mnt.c_str());
}

// (f) A ring maps only as shared, never executable memory, and a child
// the daemon forks does not inherit it.
TEST_F(Rfuse, ReviewRingMappingIsSharedNotExecutableNotInherited)
{
	std::string mnt = make_dir("mmap");
	int fd = open("/dev/rfuse", O_RDWR);
	ASSERT_GE(fd, 0) << std::strerror(errno);
	std::string opts = "fd=" + std::to_string(fd) + ",rootmode=40000,user_id=0,group_id=0";
	ASSERT_EQ(::mount("mmap", mnt.c_str(), "rfuse", 0, opts.c_str()), 0) << std::strerror(errno);
	rfuse_info info {};
	ASSERT_EQ(ioctl(fd, RFUSE_IOC_GET_INFO, &info), 0) << std::strerror(errno);
	const std::size_t len = info.ring_bytes;
	void *p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	EXPECT_EQ(p, MAP_FAILED) << "MAP_PRIVATE was accepted";
	EXPECT_EQ(errno, EINVAL);
	if (p != MAP_FAILED)
		munmap(p, len);
	p = mmap(nullptr, len, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_SHARED, fd, 0);
	EXPECT_EQ(p, MAP_FAILED) << "PROT_EXEC was accepted";
	EXPECT_EQ(errno, EPERM);
	if (p != MAP_FAILED)
		munmap(p, len);
	p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(p, MAP_FAILED) << std::strerror(errno);
	EXPECT_EQ(mprotect(p, len, PROT_READ | PROT_EXEC), -1) << "mprotect(PROT_EXEC) was accepted";
	EXPECT_EQ(static_cast<rfuse_ring_ctl *>(p)->pending_tail, 0U); // still mapped here
	pid_t child = fork();
	ASSERT_GE(child, 0);
	if (child == 0) {
		// unmapped: msync() fails with ENOMEM
		_exit(msync(p, 4096, MS_ASYNC) == -1 && errno == ENOMEM ? 0 : 1);
	}
	int status = wait_child(child, 10s);
	EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		<< "the forked child has the ring mapped";
	EXPECT_EQ(msync(p, 4096, MS_ASYNC), 0) << std::strerror(errno);
	munmap(p, len);
	EXPECT_EQ(umount2(mnt.c_str(), 0), 0) << std::strerror(errno);
	close(fd);
	EXPECT_TRUE(wait_counter("channels", [](long v) { return v == 0; }));
	rmdir(mnt.c_str());
}

// ---- FUSE_NOTIFY_RESEND (6.9+) ----
// A daemon that lost the requests it had taken asks for them again with
// FUSE_NOTIFY_RESEND; over /dev/fuse they come back to its read() with
// FUSE_UNIQUE_RESEND in the unique. Over RFUSE they must come back into
// slots. Found by the fuzzer's review (issue 12): fuse's resend puts them
// on fiq->pending and wakes /dev/fuse readers only, so rfuse.ko published
// them again only when another request was queued or a slot was freed (the
// caller waited until then). Now /dev/rfuse's write() dispatches right
// after any notification (rfuse_chan_dispatch()); the old slot is no
// longer the request's (rfuse_pq_holds()).
TEST_F(Rfuse, NotifyResendSendsHeldRequestAgain)
{
	utsname u {};
	uname(&u);
	unsigned major = 0, minor = 0;
	std::sscanf(u.release, "%u.%u", &major, &minor);
	if (major * 100 + minor < 609)
		GTEST_SKIP() << "Linux " << u.release << " has no FUSE_NOTIFY_RESEND";
	std::string mnt = make_dir("resend");
	std::mutex lock;
	std::vector<std::uint64_t> uniques; // of each LOOKUP "x" the daemon got
	{
		RawDaemon d(mnt, ",rings=1", [&](RawDaemon &, RawReq &q) {
			if (q.ih.opcode != FUSE_LOOKUP || std::strcmp(reinterpret_cast<const char *>(q.arg), "x") != 0)
				return RawDaemon::Act::Default;
			std::lock_guard<std::mutex> g(lock);
			uniques.push_back(q.ih.unique);
			// the first is "lost" (never answered), the resent one ENOENT
			return uniques.size() == 1 ? RawDaemon::Act::Hold : RawDaemon::Act::Default;
		});
		auto got = [&] {
			std::lock_guard<std::mutex> g(lock);
			return uniques.size();
		};
		pid_t caller = fork();
		ASSERT_GE(caller, 0);
		if (caller == 0) {
			struct stat st {};
			int rc = stat((mnt + "/x").c_str(), &st);
			_exit(rc == -1 && errno == ENOENT ? 0 : 1);
		}
		auto end = Clock::now() + 20s;
		while (got() < 1 && Clock::now() < end)
			std::this_thread::sleep_for(1ms);
		ASSERT_EQ(got(), 1U) << "the LOOKUP never came";
		fuse_out_header oh {sizeof(oh), 7 /* FUSE_NOTIFY_RESEND */, 0};
		ASSERT_EQ(write(d.fd(), &oh, sizeof(oh)), ssize_t(sizeof(oh))) << std::strerror(errno);
		end = Clock::now() + 10s;
		while (got() < 2 && Clock::now() < end)
			std::this_thread::sleep_for(1ms);
		EXPECT_EQ(got(), 2U) << "the held LOOKUP did not come again after FUSE_NOTIFY_RESEND";
		if (got() >= 2) {
			std::lock_guard<std::mutex> g(lock);
			EXPECT_EQ(uniques[1], uniques[0] | (1ULL << 63));
		}
		int status = wait_child(caller, 10s);
		EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
			<< "the caller did not get its ENOENT (status " << status << ")";
	}
	EXPECT_TRUE(wait_counter("slots_in_use", [](long v) { return v == 0; }));
	EXPECT_TRUE(wait_counter("channels", [](long v) { return v == 0; }));
	rmdir(mnt.c_str());
}

} // namespace
