// librfuse's interposition and transport selection: an unmodified libfuse3
// filesystem, linked with librfuse ahead of libfuse3 or run under
// LD_PRELOAD=librfuse.so (low-level and fuse_main() programs), serves the
// transport named by RFUSE_TRANSPORT; the statistics file shows it.
#include "fs_test_util.hpp"
#include "librfuse_test_util.hpp"
#include "mount.hpp"
#include "mountinfo.hpp"
#include "uring_switch_test.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <sstream>
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

// argv run through env(1) with `env` added: for fs_test::run_command.
std::vector<std::string> with_env(const std::map<std::string, std::string> &env, std::vector<std::string> argv)
{
	std::vector<std::string> out = {"/usr/bin/env"};
	for (const auto &[k, v] : env)
		out.push_back(k + "=" + v);
	out.insert(out.end(), argv.begin(), argv.end());
	return out;
}

// The preloaded librfuse on `transport`, reporting to `stats`.
std::map<std::string, std::string> preload_env(const std::string &transport, const std::string &stats)
{
	return {{"LD_PRELOAD", rfuse_test::librfuse_path()}, {"RFUSE_TRANSPORT", transport},
		{"RFUSE_STATS_FILE", stats}, kAsanPreloadOk};
}

// A daemon expected to give up by itself (refused mount, failed INIT):
// a scratch mount point and statistics file next to it; run() runs the
// program in the foreground on that mount point until it exits.
struct GivingUp {
	ScratchDir dir{"librfuse-refused"};
	std::string mnt = dir / "mnt";
	std::string stats = dir / "stats.json";

	GivingUp() { mkdir(mnt.c_str(), 0755); }
	fs_test::CommandResult run(std::vector<std::string> argv, const std::map<std::string, std::string> &env = {}) const
	{
		argv.push_back("-f");
		argv.push_back(mnt);
		return fs_test::run_command(env.empty() ? argv : with_env(env, argv), mnt);
	}
};

// The lines of `text` that librfuse printed.
std::vector<std::string> librfuse_lines(const std::string &text)
{
	std::vector<std::string> lines;
	std::istringstream in(text);
	for (std::string line; std::getline(in, line);)
		if (line.rfind("librfuse: ", 0) == 0)
			lines.push_back(line);
	return lines;
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
	fs_test::CommandResult r = GivingUp().run({binary("memfs-rfuse")}, {{"RFUSE_TRANSPORT", "rfuse"}});
	EXPECT_NE(r.exit_code, 0) << r.output;
	EXPECT_NE(r.output.find("librfuse was built without the RFUSE transport"), std::string::npos) << r.output;
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

// hello_hl's /pattern (tests/librfuse/hello_hl.c).
constexpr size_t kPatternSize = 1024 * 1024 + 123;
unsigned char pattern_byte(size_t i)
{
	return static_cast<unsigned char>(i * 7 + i / 4096);
}

// "" when `data` is hello_hl's /pattern, else where it differs.
std::string pattern_mismatch(const std::string &data)
{
	if (data.size() != kPatternSize)
		return "size " + std::to_string(data.size()) + " instead of " + std::to_string(kPatternSize);
	for (size_t i = 0; i < data.size(); ++i)
		if (static_cast<unsigned char>(data[i]) != pattern_byte(i))
			return "byte " + std::to_string(i) + " differs";
	return {};
}

// The transports this machine serves a preloaded program over, besides
// RFUSE (tests/rfuse and tests/compat run that one in the VM).
class OverTransport : public rfuse_test::UringSwitchTest<true>, public ::testing::WithParamInterface<std::string> {};

// Issue 11: a filesystem that asks for the splice capabilities
// unconditionally in init (fuse-overlayfs does) was refused by libfuse
// ("requested capabilities 0x380 that are not supported by kernel") on every
// transport, because librfuse's custom io had no splice hooks. It mounts
// now, and its large reads take libfuse's splice path into librfuse's hook.
class SpliceCapabilities : public OverTransport {};

TEST_P(SpliceCapabilities, AskedForUnconditionallyAndHonoured)
{
	Mounted m({binary("hello_hl"), "-o", "want_caps=0x380"},
		  {{"RFUSE_TRANSPORT", GetParam()}, {"LD_PRELOAD", rfuse_test::librfuse_path()}, kAsanPreloadOk});
	EXPECT_EQ(pattern_mismatch(read_file(m.mnt + "/pattern")), "");
	nlohmann::json s = m.stop_and_read_stats();
	EXPECT_EQ(s["transport_used"], GetParam()) << s.dump(2) << m.log();
	EXPECT_EQ(s["error"], "");
	EXPECT_GT(s["splice"]["replies"].get<uint64_t>(), 0u) << s.dump(2);
}

INSTANTIATE_TEST_SUITE_P(Transports, SpliceCapabilities, ::testing::Values("fuse", "uring"));

// A capability no kernel offers: plain libfuse refuses INIT and so does
// librfuse, with the same exit status; librfuse says why on stderr and in
// the statistics, whichever transport serves.
class InitRefusal : public OverTransport {};

TEST_P(InitRefusal, ReachesStderrAndStatistics)
{
	GivingUp g;
	std::vector<std::string> argv = {binary("hello_hl"), "-o", "want_caps=0x80000000"};
	fs_test::CommandResult plain = g.run(argv);
	fs_test::CommandResult ours = g.run(argv, preload_env(GetParam(), g.stats));
	const std::string libfuse_says = "filesystem requested capabilities 0x80000000 that are not supported by kernel";
	EXPECT_NE(plain.exit_code, 0) << plain.output;
	EXPECT_EQ(ours.exit_code, plain.exit_code) << ours.output;
	std::vector<std::string> lines = librfuse_lines(ours.output);
	ASSERT_EQ(lines.size(), 1u) << ours.output;
	EXPECT_EQ(lines[0], "librfuse: the mount on " + g.mnt +
				    " failed: libfuse answered the kernel's INIT with Protocol error: fuse: error: " +
				    libfuse_says + ", aborting.");
	nlohmann::json s = rfuse_test::read_stats(g.stats);
	EXPECT_NE(s["error"].get<std::string>().find(libfuse_says), std::string::npos) << s.dump(2);
	EXPECT_EQ(s["mounted"], false);
	EXPECT_EQ(fs_common::mount_type(g.mnt), "");
}

INSTANTIATE_TEST_SUITE_P(Transports, InitRefusal, ::testing::Values("fuse", "uring"));

// A mount(2) that fails (-o blkdev without a block device): the reason
// libfuse printed is the statistics' error too.
class MountFailure : public OverTransport {};

TEST_P(MountFailure, ReachesStderrAndStatistics)
{
	GivingUp g;
	fs_test::CommandResult r = g.run({binary("hello_hl"), "-o", "blkdev"}, preload_env(GetParam(), g.stats));
	EXPECT_NE(r.exit_code, 0) << r.output;
	EXPECT_NE(r.output.find("fuse: mount failed: "), std::string::npos) << r.output;
	nlohmann::json s = rfuse_test::read_stats(g.stats);
	EXPECT_EQ(s["error"].get<std::string>().rfind("mounting " + GetParam() + " on " + g.mnt + " failed: fuse: mount failed: ", 0),
		  0u) << s.dump(2);
	EXPECT_EQ(s["transport_used"], "none");
	EXPECT_EQ(s["mounted"], false);
}

INSTANTIATE_TEST_SUITE_P(Transports, MountFailure, ::testing::Values("fuse", "uring"));

// A bad value in any of librfuse's variables: one line on stderr naming it,
// no mount, and the statistics say the same (when RFUSE_STATS_FILE itself
// is usable; a bad one leaves its directory as it was).
struct BadValue {
	std::string var;
	std::string value;     // "{dir}" stands for the test's scratch directory
	std::string complaint; // what the error says about it
};

class BadEnvironment : public ::testing::TestWithParam<BadValue> {};

TEST_P(BadEnvironment, OneClearErrorAndNothingMounted)
{
	const BadValue &bad = GetParam();
	GivingUp g;
	const ScratchDir &dir = g.dir;
	mkfifo((dir / "fifo").c_str(), 0644);
	auto in_dir = [&](std::string text) {
		if (size_t at = text.find("{dir}"); at != std::string::npos)
			text.replace(at, 5, dir.path());
		return text;
	};
	const std::string value = in_dir(bad.value), complaint = in_dir(bad.complaint);
	std::map<std::string, std::string> env = preload_env("fuse", g.stats);
	env[bad.var] = value;
	fs_test::CommandResult r = g.run({binary("memfs-fuse")}, env);
	EXPECT_NE(r.exit_code, 0) << r.output;
	EXPECT_EQ(fs_common::mount_type(g.mnt), "") << "mounted although " << bad.var << "=" << value;
	std::vector<std::string> lines = librfuse_lines(r.output);
	ASSERT_EQ(lines.size(), 1u) << r.output;
	const std::string what = bad.var + "=" + value;
	EXPECT_NE(lines[0].find(what), std::string::npos) << lines[0];
	EXPECT_NE(lines[0].find(complaint), std::string::npos) << lines[0];
	EXPECT_EQ(lines[0].substr(lines[0].size() - 14), ": not mounting") << lines[0];
	if (bad.var != "RFUSE_STATS_FILE") {
		nlohmann::json s = rfuse_test::read_stats(g.stats);
		EXPECT_EQ("librfuse: " + s["error"].get<std::string>() + ": not mounting", lines[0]);
		EXPECT_EQ(s["transport_used"], "none");
		EXPECT_EQ(s["mounted"], false);
	} else {
		std::set<std::string> left;
		for (const auto &e : std::filesystem::directory_iterator(dir.path()))
			left.insert(e.path().filename().string());
		EXPECT_EQ(left, (std::set<std::string>{"mnt", "fifo"}));
		struct stat st {};
		EXPECT_EQ(lstat((dir / "fifo").c_str(), &st), 0);
		EXPECT_TRUE(S_ISFIFO(st.st_mode));
	}
}

INSTANTIATE_TEST_SUITE_P(
	Values, BadEnvironment,
	::testing::Values(BadValue{"RFUSE_TRANSPORT", "carrier-pigeon", "(valid: fuse, rfuse, uring)"},
			  BadValue{"RFUSE_WORKERS", "0", "expected an integer from 1 to 64"},
			  BadValue{"RFUSE_WORKERS", "65", "expected an integer from 1 to 64"},
			  BadValue{"RFUSE_WORKERS", "2x", "expected an integer from 1 to 64"},
			  BadValue{"RFUSE_RINGS", "0", "expected an integer from 1 to 4096"},
			  BadValue{"RFUSE_POLL_US", "-1", "expected an integer from 0 to 1000000"},
			  BadValue{"RFUSE_POLL_US", "1e3", "expected an integer from 0 to 1000000"},
			  BadValue{"RFUSE_FALLBACK", "yes", "expected 0 or 1"},
			  BadValue{"RFUSE_PASSTHROUGH", "true", "expected 0 or 1"},
			  BadValue{"RFUSE_MOUNT_OPTIONS", "allow_other,,x", "expected name[=value],... without spaces"},
			  BadValue{"RFUSE_MOUNT_OPTIONS", "user_id=0", "user_id= is set by librfuse"},
			  BadValue{"RFUSE_URING_PAYLOAD_BYTES", "0", "expected an integer from 1 to"},
			  BadValue{"RFUSE_STATS_FILE", "{dir}/missing/stats.json", "directory {dir}/missing does not exist"},
			  BadValue{"RFUSE_STATS_FILE", "{dir}", "exists and is not a regular file"},
			  BadValue{"RFUSE_STATS_FILE", "{dir}/fifo", "exists and is not a regular file"}),
	[](const ::testing::TestParamInfo<BadValue> &info) { return std::to_string(info.index) + "_" + info.param.var; });

// Several bad values: still one line, naming each.
TEST(BadEnvironmentTogether, OneLineNamesEveryBadValue)
{
	GivingUp g;
	std::map<std::string, std::string> env = preload_env("uring", g.stats);
	env["RFUSE_WORKERS"] = "0";
	env["RFUSE_FALLBACK"] = "maybe";
	fs_test::CommandResult r = g.run({binary("memfs-fuse")}, env);
	EXPECT_NE(r.exit_code, 0);
	std::vector<std::string> lines = librfuse_lines(r.output);
	ASSERT_EQ(lines.size(), 1u) << r.output;
	EXPECT_EQ(lines[0], "librfuse: RFUSE_FALLBACK=maybe: expected 0 or 1; RFUSE_WORKERS=0: expected an integer "
			    "from 1 to 64: not mounting");
	EXPECT_EQ(fs_common::mount_type(g.mnt), "");
}

// A program with its own receive loop (fuse_session_receive_buf): classic
// FUSE serves it; io_uring serves only through libfuse's loops, so it is
// refused with the reason, or served over classic FUSE with RFUSE_FALLBACK=1.
class OwnReceiveLoop : public rfuse_test::UringSwitchTest<true> {};

TEST_F(OwnReceiveLoop, ServedOverClassicFuse)
{
	Mounted m({binary("own_loop_fs")}, {{"RFUSE_TRANSPORT", "fuse"}, {"LD_PRELOAD", rfuse_test::librfuse_path()}, kAsanPreloadOk});
	EXPECT_EQ(read_file(m.mnt + "/hello"), "hello from a program with its own loop\n");
	nlohmann::json s = m.stop_and_read_stats();
	EXPECT_EQ(s["transport_used"], "fuse");
	EXPECT_EQ(s["loop"], "") << "it runs no loop of libfuse's";
	EXPECT_GT(s["requests"]["dev_fuse"].get<uint64_t>(), 2u);
}

TEST_F(OwnReceiveLoop, RefusedOverUringWithTheReason)
{
	GivingUp g;
	fs_test::CommandResult r = g.run({binary("own_loop_fs")}, preload_env("uring", g.stats));
	EXPECT_NE(r.exit_code, 0) << r.output;
	std::vector<std::string> lines = librfuse_lines(r.output);
	ASSERT_EQ(lines.size(), 1u) << r.output;
	EXPECT_NE(lines[0].find("reads requests itself (fuse_session_receive_buf)"), std::string::npos) << lines[0];
	EXPECT_NE(r.output.find("Operation not supported"), std::string::npos) << r.output;
	nlohmann::json s = rfuse_test::read_stats(g.stats);
	EXPECT_EQ("librfuse: " + s["error"].get<std::string>(), lines[0]) << s.dump(2);
	EXPECT_EQ(s["transport_used"], "none");
	EXPECT_EQ(fs_common::mount_type(g.mnt), "");
}

TEST_F(OwnReceiveLoop, ClassicFuseOverUringWithFallback)
{
	Mounted m({binary("own_loop_fs")}, {{"RFUSE_TRANSPORT", "uring"}, {"RFUSE_FALLBACK", "1"},
					    {"LD_PRELOAD", rfuse_test::librfuse_path()}, kAsanPreloadOk});
	EXPECT_EQ(read_file(m.mnt + "/hello"), "hello from a program with its own loop\n");
	nlohmann::json s = m.stop_and_read_stats();
	EXPECT_EQ(s["transport_used"], "fuse") << s.dump(2);
	EXPECT_EQ(s["fallback"], true);
	EXPECT_NE(s["fallback_reason"].get<std::string>().find("reads requests itself"), std::string::npos);
	EXPECT_EQ(s["requests"]["ring"], 0);
}

} // namespace
