// The `uring` transport (mainline FUSE over io_uring) under MemFS: file
// operations work, requests really travel over io_uring (the per-path
// counters), unavailability is refused or, when allowed, reported as a
// fallback, and a daemon killed under load leaves nothing hanging.
#include "librfuse_test_util.hpp"
#include "mount.hpp"
#include "mountinfo.hpp"
#include "uring_switch_test.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <dirent.h>
#include <fcntl.h>
#include <set>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace {

using rfuse_test::binary;
using rfuse_test::ScratchDir;
using rfuse_test::read_file;

std::set<std::string> list_dir(const std::string &path)
{
	std::set<std::string> names;
	DIR *d = opendir(path.c_str());
	if (d == nullptr)
		return names;
	while (dirent *e = readdir(d))
		if (std::string(e->d_name) != "." && std::string(e->d_name) != "..")
			names.insert(e->d_name);
	closedir(d);
	return names;
}

using Env = std::map<std::string, std::string>;

// `program` (MemFS unless named) with its statistics file.
struct MemfsMount : rfuse_test::StatsMount {
	explicit MemfsMount(Env env, const std::string &program = "memfs-rfuse")
		: StatsMount("uring", {binary(program)}, std::move(env))
	{
	}
};

class Uring : public rfuse_test::UringSwitchTest<true> {};

void check_basic_file_operations(MemfsMount &m)
{
	// create, write, read back (small, and larger than one request)
	EXPECT_EQ(rfuse_test::write_and_verify(m.path("small"), 100, 1), "");
	EXPECT_EQ(rfuse_test::write_and_verify(m.path("large"), 5 * 1024 * 1024 + 17, 2), "");
	struct stat st {};
	ASSERT_EQ(stat(m.path("large").c_str(), &st), 0);
	EXPECT_EQ(st.st_size, 5 * 1024 * 1024 + 17);
	EXPECT_TRUE(S_ISREG(st.st_mode));

	// directories, readdir, rename, truncate, symlink, unlink, rmdir
	ASSERT_EQ(mkdir(m.path("d").c_str(), 0750), 0);
	ASSERT_EQ(stat(m.path("d").c_str(), &st), 0);
	EXPECT_TRUE(S_ISDIR(st.st_mode));
	EXPECT_EQ(st.st_mode & 07777, 0750u);
	ASSERT_EQ(rename(m.path("small").c_str(), m.path("d/moved").c_str()), 0);
	EXPECT_EQ(list_dir(m.mnt), (std::set<std::string>{"d", "large"}));
	EXPECT_EQ(list_dir(m.path("d")), (std::set<std::string>{"moved"}));
	ASSERT_EQ(truncate(m.path("large").c_str(), 4096), 0);
	ASSERT_EQ(stat(m.path("large").c_str(), &st), 0);
	EXPECT_EQ(st.st_size, 4096);
	ASSERT_EQ(symlink("d/moved", m.path("link").c_str()), 0);
	char target[64] = {};
	EXPECT_EQ(readlink(m.path("link").c_str(), target, sizeof(target) - 1), 7);
	EXPECT_STREQ(target, "d/moved");
	errno = 0;
	EXPECT_EQ(rmdir(m.path("d").c_str()), -1);
	EXPECT_EQ(errno, ENOTEMPTY);
	EXPECT_EQ(unlink(m.path("d/moved").c_str()), 0);
	EXPECT_EQ(rmdir(m.path("d").c_str()), 0);
	EXPECT_EQ(unlink(m.path("link").c_str()), 0);
	EXPECT_EQ(unlink(m.path("large").c_str()), 0);
	errno = 0;
	EXPECT_EQ(stat(m.path("large").c_str(), &st), -1);
	EXPECT_EQ(errno, ENOENT);
	EXPECT_TRUE(list_dir(m.mnt).empty());

	nlohmann::json s = m.stop_and_read_stats();
	EXPECT_EQ(s["transport_used"], "uring");
	EXPECT_GT(s["requests"]["ring"].get<uint64_t>(), 20u);
}

TEST_F(Uring, BasicFileOperations)
{
	MemfsMount m(Env{{"RFUSE_TRANSPORT", "uring"}});
	check_basic_file_operations(m);
}

// The plain libfuse3 build, memfs-fuse, with librfuse preloaded.
TEST_F(Uring, BasicFileOperationsPreloaded)
{
	MemfsMount m(Env{{"RFUSE_TRANSPORT", "uring"},
			 {"LD_PRELOAD", rfuse_test::librfuse_path()},
			 {"ASAN_OPTIONS", "verify_asan_link_order=0"}},
		     "memfs-fuse");
	check_basic_file_operations(m);
}

// Proof that the requests went over io_uring, not /dev/fuse: after a mixed
// workload from both CPUs' worth of threads, nearly every request was served
// by a ring entry (what still uses /dev/fuse: INIT, FORGET, INTERRUPT).
TEST_F(Uring, RequestsReallyTravelOverIoUring)
{
	MemfsMount m(Env{{"RFUSE_TRANSPORT", "uring"}});
	std::vector<std::thread> threads;
	std::atomic<int> failures{0};
	for (int t = 0; t < 4; ++t) {
		threads.emplace_back([&, t] {
			for (int i = 0; i < 50; ++i) {
				std::string p = m.path("t" + std::to_string(t) + "_" + std::to_string(i));
				if (!rfuse_test::write_and_verify(p, 8192, static_cast<unsigned>(i)).empty())
					++failures;
				struct stat st {};
				if (stat(p.c_str(), &st) != 0 || st.st_size != 8192)
					++failures;
				if (unlink(p.c_str()) != 0)
					++failures;
			}
		});
	}
	for (std::thread &t : threads)
		t.join();
	EXPECT_EQ(failures.load(), 0);

	nlohmann::json s = m.stop_and_read_stats();
	ASSERT_EQ(s["transport_used"], "uring") << s.dump(2);
	uint64_t ring = s["requests"]["ring"];
	uint64_t dev = s["requests"]["dev_fuse"];
	EXPECT_GE(ring, 4u * 50u * 4u) << s.dump(2); // at least create+write+open+read per file
	// FORGETs always use /dev/fuse; of everything else, nearly all on the ring.
	EXPECT_GT(s["ring_share_without_forgets"].get<double>(), 0.95) << s.dump(2);
	std::printf("ring %llu, /dev/fuse %llu (FORGETs %llu)\n", static_cast<unsigned long long>(ring),
		    static_cast<unsigned long long>(dev),
		    static_cast<unsigned long long>(s["requests"]["dev_fuse_forgets"].get<uint64_t>()));
	EXPECT_GE(dev, 1u) << "INIT comes over /dev/fuse"; // the counters really split by path
	uint64_t per_ring_sum = 0;
	for (auto &n : s["requests_per_ring"])
		per_ring_sum += n.get<uint64_t>();
	EXPECT_EQ(per_ring_sum, ring);
	EXPECT_GE(s["requests_per_ring"].size(), 1u); // one per possible CPU
}

class UringDisabled : public rfuse_test::UringSwitchTest<false> {};

TEST_F(UringDisabled, MountIsRefusedWithoutFallback)
{
	ScratchDir dir("uring-refused");
	harness::DaemonSpec spec =
		rfuse_test::stats_daemon_spec(dir, {binary("memfs-rfuse")}, {{"RFUSE_TRANSPORT", "uring"}});
	const std::string mnt = spec.mountpoint;
	EXPECT_THROW(harness::MountedFs fs(spec), std::runtime_error);
	std::string log = read_file(spec.log_path);
	EXPECT_NE(log.find("transport uring is unavailable"), std::string::npos) << log;
	EXPECT_NE(log.find("enable_uring is N"), std::string::npos) << log;
	EXPECT_NE(log.find("RFUSE_FALLBACK=1"), std::string::npos) << log;
	nlohmann::json s = rfuse_test::read_stats(dir / "stats.json");
	EXPECT_EQ(s["transport_requested"], "uring");
	EXPECT_EQ(s["transport_used"], "none");
	EXPECT_EQ(s["mounted"], false);
	EXPECT_NE(s["error"].get<std::string>().find("enable_uring is N"), std::string::npos) << s.dump(2);
	char *real = realpath(mnt.c_str(), nullptr);
	ASSERT_NE(real, nullptr);
	EXPECT_FALSE(fs_common::is_mountpoint(real));
	free(real);
}

TEST_F(UringDisabled, FallbackIsUsedAndReported)
{
	MemfsMount m(Env{{"RFUSE_TRANSPORT", "uring"}, {"RFUSE_FALLBACK", "1"}});
	EXPECT_EQ(rfuse_test::write_and_verify(m.path("f"), 200 * 1000, 3), "");
	EXPECT_EQ(unlink(m.path("f").c_str()), 0);
	nlohmann::json s = m.stop_and_read_stats();
	EXPECT_EQ(s["transport_requested"], "uring");
	EXPECT_EQ(s["transport_used"], "fuse");
	EXPECT_EQ(s["fallback"], true);
	EXPECT_NE(s["fallback_reason"].get<std::string>().find("enable_uring is N"), std::string::npos) << s.dump(2);
	EXPECT_EQ(s["requests"]["ring"], 0);
	EXPECT_GT(s["requests"]["dev_fuse"].get<uint64_t>(), 5u);
	EXPECT_NE(m.log().find("RFUSE_FALLBACK=1: using classic FUSE"), std::string::npos) << m.log();
}

// A filesystem that replies later, from its own thread: each reply finds the
// ring entry holding its request by `unique`, and the entry waits for it.
TEST_F(Uring, RepliesFromAnotherThread)
{
	MemfsMount m(Env{{"RFUSE_TRANSPORT", "uring"},
			 {"LD_PRELOAD", rfuse_test::librfuse_path()},
			 {"ASAN_OPTIONS", "verify_asan_link_order=0"}},
		     "async_reply_fs");
	std::atomic<int> failures{0};
	std::vector<std::thread> threads;
	for (int t = 0; t < 4; ++t) {
		threads.emplace_back([&] {
			for (int i = 0; i < 100; ++i) {
				struct stat st {};
				if (stat(m.path("file").c_str(), &st) != 0 || st.st_size != 28)
					++failures;
				if (read_file(m.path("file")) != "replied from another thread\n")
					++failures;
			}
		});
	}
	for (std::thread &t : threads)
		t.join();
	EXPECT_EQ(failures.load(), 0);
	nlohmann::json s = m.stop_and_read_stats();
	EXPECT_EQ(s["transport_used"], "uring");
	EXPECT_GE(s["requests"]["ring"].get<uint64_t>(), 4u * 100u * 2u) << s.dump(2); // GETATTR + OPEN at least
}

// The kernel can still refuse the ring after INIT (here: a payload buffer it
// finds too small, forced for the test). Then it serves /dev/fuse again:
// with RFUSE_FALLBACK=1 librfuse serves classic FUSE and says so ...
TEST_F(Uring, RefusedRegistrationFallsBackWhenAllowed)
{
	MemfsMount m(Env{{"RFUSE_TRANSPORT", "uring"}, {"RFUSE_FALLBACK", "1"}, {"RFUSE_URING_PAYLOAD_BYTES", "4096"}});
	EXPECT_EQ(rfuse_test::write_and_verify(m.path("f"), 100 * 1000, 4), "");
	nlohmann::json s = m.stop_and_read_stats();
	EXPECT_EQ(s["transport_used"], "fuse");
	EXPECT_EQ(s["fallback"], true);
	EXPECT_NE(s["fallback_reason"].get<std::string>().find("FUSE_IO_URING_CMD_REGISTER failed"), std::string::npos)
		<< s.dump(2);
	EXPECT_EQ(s["requests"]["ring"], 0);
	EXPECT_GT(s["requests"]["dev_fuse"].get<uint64_t>(), 5u);
}

// ... and without it the daemon stops serving, unmounts and fails. (It may
// be gone before the mount was even seen.)
TEST_F(Uring, RefusedRegistrationStopsTheDaemonWithoutFallback)
{
	ScratchDir dir("uring-register");
	harness::DaemonSpec spec = rfuse_test::stats_daemon_spec(
		dir, {binary("memfs-rfuse")}, {{"RFUSE_TRANSPORT", "uring"}, {"RFUSE_URING_PAYLOAD_BYTES", "4096"}});
	const std::string mnt = spec.mountpoint;
	try {
		harness::MountedFs fs(spec);
		for (int waited_ms = 0; waited_ms < 30000 && fs.daemon_alive(); waited_ms += 10)
			std::this_thread::sleep_for(std::chrono::milliseconds(10));
		int status = fs.stop();
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << read_file(spec.log_path);
	} catch (const std::runtime_error &e) {
		EXPECT_NE(std::string(e.what()).find("exited before mounting (status 1)"), std::string::npos) << e.what();
	}
	std::string log = read_file(spec.log_path);
	EXPECT_NE(log.find("refusing to serve"), std::string::npos) << log;
	nlohmann::json s = rfuse_test::read_stats(dir / "stats.json");
	EXPECT_EQ(s["transport_used"], "none");
	EXPECT_NE(s["error"].get<std::string>().find("FUSE_IO_URING_CMD_REGISTER failed"), std::string::npos)
		<< s.dump(2);
	char *real = realpath(mnt.c_str(), nullptr);
	ASSERT_NE(real, nullptr);
	EXPECT_FALSE(fs_common::is_mountpoint(real));
	free(real);
}

#if URING_TEST_HAVE_STACKFS
// RFUSE_PASSTHROUGH=1 under StackFS: the kernel does the file's reads and
// writes on the backing file, so none reach the daemon; without it they do.
void check_passthrough(const std::string &transport, bool passthrough)
{
	ScratchDir dir("passthrough");
	std::string src = dir / "src", mnt = dir / "mnt", stats = dir / "stats.json";
	mkdir(src.c_str(), 0755);
	harness::DaemonSpec spec = rfuse_test::stats_daemon_spec(
		dir, {binary("stackfs-rfuse"), src},
		{{"RFUSE_TRANSPORT", transport}, {"RFUSE_PASSTHROUGH", passthrough ? "1" : "0"}});
	{
		harness::MountedFs fs(spec);
		EXPECT_EQ(rfuse_test::write_and_verify(mnt + "/f", 1024 * 1024 + 3, 7), "");
		struct stat through {}, backing {};
		ASSERT_EQ(stat((mnt + "/f").c_str(), &through), 0);
		ASSERT_EQ(stat((src + "/f").c_str(), &backing), 0);
		EXPECT_EQ(through.st_size, 1024 * 1024 + 3);
		EXPECT_EQ(backing.st_size, 1024 * 1024 + 3);
		EXPECT_EQ(read_file(mnt + "/f"), read_file(src + "/f"));
		fs.stop();
	}
	nlohmann::json s = rfuse_test::read_stats(stats);
	EXPECT_EQ(s["transport_used"], transport);
	if (passthrough) {
		EXPECT_GE(s["passthrough"]["opens"].get<uint64_t>(), 2u) << s.dump(2) << read_file(spec.log_path);
		EXPECT_EQ(s["requests"]["read_write"], 0) << s.dump(2);
	} else {
		EXPECT_EQ(s["passthrough"]["opens"], 0);
		EXPECT_GE(s["requests"]["read_write"].get<uint64_t>(), 2u) << s.dump(2);
	}
}

TEST_F(Uring, PassthroughKeepsDataOffTheRing) { check_passthrough("uring", true); }
TEST_F(Uring, WithoutPassthroughDataUsesTheRing) { check_passthrough("uring", false); }
TEST_F(Uring, PassthroughOverClassicFuse) { check_passthrough("fuse", true); }
#endif

// kill -9 of the daemon while several processes hammer the mount: every
// process gets its errors and exits (nothing hangs in the kernel), and the
// dead mount can be unmounted.
TEST_F(Uring, DaemonKilledUnderLoadLeavesNoHang)
{
	MemfsMount m(Env{{"RFUSE_TRANSPORT", "uring"}});
	std::vector<pid_t> workers;
	for (int w = 0; w < 4; ++w) {
		pid_t pid = fork();
		ASSERT_GE(pid, 0);
		if (pid == 0) {
			// Loop until the filesystem fails under us.
			std::string p = m.path("w" + std::to_string(w));
			for (unsigned i = 0;; ++i) {
				if (!rfuse_test::write_and_verify(p, 64 * 1024, i).empty())
					_exit(0);
				struct stat st {};
				if (stat(p.c_str(), &st) != 0)
					_exit(0);
			}
		}
		workers.push_back(pid);
	}
	std::this_thread::sleep_for(std::chrono::milliseconds(500));
	ASSERT_EQ(kill(m.fs->pid(), SIGKILL), 0);

	// A worker stuck in the dead filesystem would never exit: poll for
	// their exits with a generous bound, then kill what is left.
	int exited = 0;
	for (int waited_ms = 0; waited_ms < 60000 && exited < static_cast<int>(workers.size()); waited_ms += 20) {
		for (pid_t &pid : workers) {
			if (pid > 0 && waitpid(pid, nullptr, WNOHANG) == pid) {
				pid = -1;
				++exited;
			}
		}
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	}
	for (pid_t pid : workers) {
		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, nullptr, 0);
		}
	}
	EXPECT_EQ(exited, static_cast<int>(workers.size())) << "processes hung in the killed filesystem";

	errno = 0; // OPEN always reaches the daemon (a stat may be answered from the attribute cache)
	EXPECT_EQ(open(m.path("w0").c_str(), O_RDONLY), -1);
	EXPECT_EQ(errno, ENOTCONN);
	m.fs->stop(); // unmounts (lazily if busy) and reaps
	EXPECT_FALSE(fs_common::is_mountpoint(m.fs->mountpoint()));
}

} // namespace
