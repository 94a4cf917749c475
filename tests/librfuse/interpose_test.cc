// librfuse's interposition and transport selection: an unmodified libfuse3
// filesystem, linked with librfuse ahead of libfuse3 or run under
// LD_PRELOAD=librfuse.so (low-level and fuse_main() programs), serves the
// transport named by RFUSE_TRANSPORT; the statistics file shows it.
#include "librfuse_test_util.hpp"
#include "mount.hpp"
#include "uring_switch_test.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace {

using rfuse_test::binary;
using rfuse_test::read_file;

// In a sanitizer build the preloaded librfuse comes before libasan; ASan
// would refuse to start over that link order.
const std::pair<const std::string, std::string> kAsanPreloadOk{"ASAN_OPTIONS", "verify_asan_link_order=0"};
using rfuse_test::ScratchDir;

// A daemon on a scratch mount point with its statistics file next to it.
struct Mounted : rfuse_test::StatsMount {
	Mounted(std::vector<std::string> argv, std::map<std::string, std::string> env)
		: StatsMount("librfuse", std::move(argv), std::move(env))
	{
	}
};

// Runs a daemon that must refuse to mount; returns its exit status and log.
std::pair<int, std::string> run_refused(std::vector<std::string> argv, const std::map<std::string, std::string> &env)
{
	ScratchDir dir("librfuse-refused");
	std::string mnt = dir / "mnt";
	mkdir(mnt.c_str(), 0755);
	harness::DaemonSpec spec;
	spec.argv = std::move(argv);
	spec.mountpoint = mnt;
	spec.env = env;
	spec.log_path = dir / "daemon.log";
	try {
		harness::MountedFs fs(spec);
		return {-1, "the daemon mounted although it should have refused"};
	} catch (const std::runtime_error &e) {
		return {0, read_file(dir / "daemon.log") + e.what()};
	}
}

class Interpose : public rfuse_test::UringSwitchTest<true> {};

void expect_memfs_works(const std::string &mnt)
{
	EXPECT_EQ(rfuse_test::write_and_verify(mnt + "/f", 300 * 1000, 1), "");
	struct stat st {};
	ASSERT_EQ(stat((mnt + "/f").c_str(), &st), 0);
	EXPECT_EQ(st.st_size, 300 * 1000);
	EXPECT_EQ(unlink((mnt + "/f").c_str()), 0);
}

// (i) linked ahead: memfs-rfuse, uring and classic.
TEST_F(Interpose, LinkedAheadServesUring)
{
	Mounted m({binary("memfs-rfuse")}, {{"RFUSE_TRANSPORT", "uring"}});
	expect_memfs_works(m.mnt);
	nlohmann::json s = m.stop_and_read_stats();
	EXPECT_EQ(s["transport_requested"], "uring");
	EXPECT_EQ(s["transport_used"], "uring");
	EXPECT_EQ(s["fallback"], false);
	EXPECT_EQ(s["loop"], "fuse_session_loop_mt_312@FUSE_3.12");
	EXPECT_GT(s["requests"]["ring"].get<uint64_t>(), 5u);
}

TEST_F(Interpose, LinkedAheadServesClassicFuse)
{
	Mounted m({binary("memfs-rfuse")}, {{"RFUSE_TRANSPORT", "fuse"}});
	expect_memfs_works(m.mnt);
	EXPECT_EQ(m.fs->fstype().rfind("fuse.", 0), 0u) << m.fs->fstype(); // classic FUSE
	nlohmann::json s = m.stop_and_read_stats();
	EXPECT_EQ(s["transport_used"], "fuse");
	EXPECT_EQ(s["requests"]["ring"], 0);
	EXPECT_GT(s["requests"]["dev_fuse"].get<uint64_t>(), 5u);
}

TEST_F(Interpose, SingleThreadedLoopIsInterposedToo)
{
	Mounted m({binary("memfs-rfuse"), "-s"}, {{"RFUSE_TRANSPORT", "uring"}});
	expect_memfs_works(m.mnt);
	nlohmann::json s = m.stop_and_read_stats();
	EXPECT_EQ(s["loop"], "fuse_session_loop@FUSE_3.0");
	EXPECT_EQ(s["transport_used"], "uring");
	EXPECT_GT(s["requests"]["ring"].get<uint64_t>(), 5u);
}

// (ii) LD_PRELOAD on the plain libfuse3 build.
TEST_F(Interpose, PreloadOnLowLevelProgram)
{
	Mounted m({binary("memfs-fuse")},
		  {{"RFUSE_TRANSPORT", "uring"}, {"LD_PRELOAD", rfuse_test::librfuse_path()}, kAsanPreloadOk});
	expect_memfs_works(m.mnt);
	nlohmann::json s = m.stop_and_read_stats();
	EXPECT_EQ(s["transport_used"], "uring");
	EXPECT_EQ(s["loop"], "fuse_session_loop_mt_312@FUSE_3.12");
	EXPECT_GT(s["requests"]["ring"].get<uint64_t>(), 5u);
}

// (iii) LD_PRELOAD on a fuse_main() program: libfuse's own fuse_mount() and
// fuse_loop_mt() reach librfuse through the PLT.
TEST_F(Interpose, PreloadOnHighLevelProgram)
{
	Mounted m({binary("hello_hl")},
		  {{"RFUSE_TRANSPORT", "uring"}, {"LD_PRELOAD", rfuse_test::librfuse_path()}, kAsanPreloadOk});
	EXPECT_EQ(read_file(m.mnt + "/hello"), "hello from a fuse_main() filesystem\n");
	nlohmann::json s = m.stop_and_read_stats();
	EXPECT_EQ(s["transport_used"], "uring") << s.dump(2) << m.log();
	EXPECT_EQ(s["loop"], "fuse_session_loop_mt_312@FUSE_3.12");
	EXPECT_GT(s["requests"]["ring"].get<uint64_t>(), 2u);
}

TEST_F(Interpose, PreloadOnHighLevelProgramClassic)
{
	Mounted m({binary("hello_hl"), "-s"},
		  {{"RFUSE_TRANSPORT", "fuse"}, {"LD_PRELOAD", rfuse_test::librfuse_path()}, kAsanPreloadOk});
	EXPECT_EQ(read_file(m.mnt + "/hello"), "hello from a fuse_main() filesystem\n");
	nlohmann::json s = m.stop_and_read_stats();
	EXPECT_EQ(s["transport_used"], "fuse");
	EXPECT_EQ(s["loop"], "fuse_session_loop@FUSE_3.0");
	EXPECT_GT(s["requests"]["dev_fuse"].get<uint64_t>(), 2u);
}

TEST_F(Interpose, UnknownTransportIsRefusedWithTheValidNames)
{
	auto [rc, log] = run_refused({binary("memfs-rfuse")}, {{"RFUSE_TRANSPORT", "carrier-pigeon"}});
	EXPECT_EQ(rc, 0) << log;
	EXPECT_NE(log.find("unknown transport RFUSE_TRANSPORT=carrier-pigeon"), std::string::npos) << log;
	EXPECT_NE(log.find("valid: fuse, rfuse, uring"), std::string::npos) << log;
}

TEST_F(Interpose, BadWorkerCountIsRefused)
{
	auto [rc, log] = run_refused({binary("memfs-rfuse")}, {{"RFUSE_TRANSPORT", "uring"}, {"RFUSE_WORKERS", "0"}});
	EXPECT_EQ(rc, 0) << log;
	EXPECT_NE(log.find("RFUSE_WORKERS=0"), std::string::npos) << log;
}

// RFUSE_TRANSPORT=rfuse: either the RFUSE transport serves, or (no rfuse.ko
// here) with RFUSE_FALLBACK=1 classic FUSE serves and the statistics say why.
// A librfuse built without the RFUSE transport refuses clearly.
TEST_F(Interpose, RfuseTransportFallsBackHonestly)
{
#if LIBRFUSE_TEST_HAS_RFUSE
	Mounted m({binary("memfs-rfuse")}, {{"RFUSE_TRANSPORT", "rfuse"}, {"RFUSE_FALLBACK", "1"}});
	expect_memfs_works(m.mnt);
	nlohmann::json s = m.stop_and_read_stats();
	EXPECT_EQ(s["transport_requested"], "rfuse");
	if (s["transport_used"] == "fuse") {
		EXPECT_EQ(s["fallback"], true);
		EXPECT_FALSE(s["fallback_reason"].get<std::string>().empty());
		EXPECT_NE(m.log().find("RFUSE_FALLBACK=1"), std::string::npos) << m.log();
	} else {
		EXPECT_EQ(s["transport_used"], "rfuse");
	}
#else
	auto [rc, log] = run_refused({binary("memfs-rfuse")}, {{"RFUSE_TRANSPORT", "rfuse"}});
	EXPECT_EQ(rc, 0) << log;
	EXPECT_NE(log.find("librfuse was built without the RFUSE transport"), std::string::npos) << log;
#endif
}

TEST_F(Interpose, StatisticsOnSigusr1WhileMounted)
{
	Mounted m({binary("memfs-rfuse")}, {{"RFUSE_TRANSPORT", "uring"}});
	expect_memfs_works(m.mnt);
	unlink(m.stats.c_str());
	ASSERT_EQ(kill(m.fs->pid(), SIGUSR1), 0);
	nlohmann::json s;
	for (int i = 0; i < 1000 && access(m.stats.c_str(), F_OK) != 0; ++i)
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	ASSERT_NO_THROW(s = rfuse_test::read_stats(m.stats));
	EXPECT_EQ(s["mounted"], true);
	EXPECT_EQ(s["transport_used"], "uring");
	EXPECT_GT(s["requests"]["ring"].get<uint64_t>(), 5u);
}

} // namespace
