// Third-party libfuse3 filesystems from Debian, unchanged, with and without
// librfuse: each is mounted with plain libfuse3 first, then under
// LD_PRELOAD=librfuse.so on every transport named in
// RFUSE_COMPAT_TRANSPORTS (default "plain,fuse,uring"; the VM test runs
// "plain,rfuse,fuse"), in each of its ways of running (loops, options,
// daemonized). Every run does the same behaviour check; what it observes
// (one line per fact: the tree it shows, the outcome of every operation,
// what it left behind, the daemon's exit status) must equal plain libfuse's
// run, and the checks against the source hold on every run.
#include "librfuse_test_util.hpp"
#include "mount.hpp"
#include "tree.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <iostream>
#include <memory>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

namespace {

using compat::outcome;
using rfuse_test::ScratchDir;
using Transcript = std::vector<std::string>;

void append(Transcript *t, const compat::Snapshot &s, const std::string &prefix)
{
	for (const auto &[path, line] : s)
		t->push_back(prefix + path + ": " + line);
}

// pwrite of all of `data` at `at`: the transcript line.
std::string write_at(int fd, const std::string &data, off_t at, const std::string &name)
{
	return outcome("pwrite(" + name + ", " + std::to_string(data.size()) + " @ " + std::to_string(at) + ")",
		       pwrite(fd, data.data(), data.size(), at));
}

// Creates `path` with `data`; the transcript line.
std::string create_with(const std::string &path, const std::string &name, const std::string &data)
{
	int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return outcome("create(" + name + ")", -1);
	std::string line = write_at(fd, data, 0, name);
	close(fd);
	return line;
}

// Opens `path` for writing and appends `data`; the transcript line.
std::string append_to(const std::string &path, const std::string &name, const std::string &data)
{
	int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return outcome("open(" + name + ", O_WRONLY|O_APPEND)", -1);
	std::string line = outcome("append(" + name + ")", write(fd, data.data(), data.size()));
	close(fd);
	return line;
}

// The command that starts a filesystem, without its mount point.
struct Command {
	std::vector<std::string> argv;  // program, then what comes before the mount point
	std::vector<std::string> after; // operands after the mount point
};

// A third-party filesystem and its behaviour check.
class Subject {
public:
	virtual ~Subject() = default;
	std::string name;    // the program
	std::string package; // its Debian package (./run.sh setup installs it)
	std::string api;     // how it uses libfuse3
	std::string author;
	std::vector<std::string> tools; // other programs the check needs
	bool foreground_flag = true;    // takes -f
	bool asks_for_splice = false;   // wants FUSE_CAP_SPLICE_* in init

	// Creates what the filesystem serves under `dir`.
	virtual Command prepare(const ScratchDir &dir) = 0;
	// Uses the mount; returns what it saw. Checks against the source are
	// EXPECTs here.
	virtual Transcript exercise(const ScratchDir &dir, const std::string &mnt) = 0;
	// After the unmount: what the filesystem left in its backing store.
	virtual Transcript aftermath(const ScratchDir &) { return {}; }
};

// A read-only view of `src`: what it shows must be the source exactly.
Transcript check_read_only_view(const std::string &src, const std::string &mnt)
{
	Transcript t;
	compat::Snapshot expected = compat::snapshot(src);
	compat::Snapshot seen = compat::snapshot(mnt);
	EXPECT_EQ(compat::diff(expected, seen, "source", "mount"), "") << "the mount shows another tree";
	append(&t, seen, "tree ");
	std::string big = compat::read_all(src + "/f_big");
	EXPECT_EQ(compat::parallel_reads(mnt + "/f_big", big), "");
	t.push_back(outcome("open(missing)", open((mnt + "/missing").c_str(), O_RDONLY)));
	t.push_back(outcome("open(f_small, O_WRONLY)", open((mnt + "/f_small").c_str(), O_WRONLY)));
	t.push_back(outcome("mkdir(new)", mkdir((mnt + "/new").c_str(), 0755)));
	t.push_back(outcome("unlink(f_small)", unlink((mnt + "/f_small").c_str())));
	return t;
}

// squashfuse: a squashfs image, high-level (fuse_main()) build.
class Squashfuse : public Subject {
public:
	explicit Squashfuse(bool low_level)
	{
		name = low_level ? "squashfuse_ll" : "squashfuse";
		package = "squashfuse";
		api = low_level ? "low-level (fuse_session_new, fuse_session_loop, fuse_daemonize)"
				: "high-level (fuse_main)";
		author = "Dave Vasilevsky";
		tools = {"mksquashfs"};
	}

	Command prepare(const ScratchDir &dir) override
	{
		mkdir((dir / "src").c_str(), 0755);
		compat::make_source_tree(dir / "src");
		std::string cmd = "mksquashfs '" + dir / "src" + "' '" + dir / "image.sqfs" +
				  "' -noappend -quiet -no-progress >/dev/null 2>&1";
		EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
		return {{name, dir / "image.sqfs"}, {}};
	}

	Transcript exercise(const ScratchDir &dir, const std::string &mnt) override
	{
		return check_read_only_view(dir / "src", mnt);
	}
};

// fuse-overlayfs: a writable overlay of a lower directory, low-level; asks
// for FUSE_CAP_SPLICE_READ|WRITE|MOVE in init, unconditionally.
class FuseOverlayfs : public Subject {
public:
	FuseOverlayfs()
	{
		name = "fuse-overlayfs";
		package = "fuse-overlayfs";
		api = "low-level (fuse_session_new, fuse_session_loop / _loop_mt, fuse_daemonize), splice";
		author = "Giuseppe Scrivano (containers)";
		asks_for_splice = true;
	}

	Command prepare(const ScratchDir &dir) override
	{
		for (const char *d : {"lower", "upper", "work"})
			mkdir((dir / d).c_str(), 0755);
		compat::make_source_tree(dir / "lower");
		lower_ = compat::snapshot(dir / "lower");
		return {{name, "-o", "lowerdir=" + dir / "lower" + ",upperdir=" + dir / "upper" + ",workdir=" + dir / "work"},
			{}};
	}

	Transcript exercise(const ScratchDir &dir, const std::string &mnt) override
	{
		Transcript t;
		compat::Snapshot seen = compat::snapshot(mnt);
		EXPECT_EQ(compat::diff(lower_, seen, "lower", "mount"), "") << "the overlay shows another tree";
		append(&t, seen, "before ");
		EXPECT_EQ(compat::parallel_reads(mnt + "/f_big", compat::read_all(dir / "lower/f_big")), "");
		std::string created = compat::pattern(200000, 11);
		t.push_back(create_with(mnt + "/new.txt", "new.txt", created));
		EXPECT_EQ(compat::read_all(mnt + "/new.txt"), created);
		t.push_back(append_to(mnt + "/f_small", "f_small", "appended\n")); // copy-up
		t.push_back(outcome("truncate(f_odd, 100)", truncate((mnt + "/f_odd").c_str(), 100)));
		t.push_back(outcome("unlink(f_page)", unlink((mnt + "/f_page").c_str()))); // whiteout
		t.push_back(outcome("chmod(f_big, 0600)", chmod((mnt + "/f_big").c_str(), 0600)));
		t.push_back(outcome("mkdir(newdir)", mkdir((mnt + "/newdir").c_str(), 0755)));
		t.push_back(outcome("symlink(newdir/l)", symlink("../new.txt", (mnt + "/newdir/l").c_str())));
		t.push_back(outcome("link(new.txt, newdir/hard)",
				    link((mnt + "/new.txt").c_str(), (mnt + "/newdir/hard").c_str())));
		t.push_back(outcome("rename(new.txt, renamed.txt)",
				    rename((mnt + "/new.txt").c_str(), (mnt + "/renamed.txt").c_str())));
		t.push_back(outcome("rename(sub/f_sub, moved)",
				    rename((mnt + "/sub/f_sub").c_str(), (mnt + "/moved").c_str())));
		t.push_back(outcome("rmdir(sub/empty_dir)", rmdir((mnt + "/sub/empty_dir").c_str())));
		t.push_back(outcome("setxattr(renamed.txt)",
				    setxattr((mnt + "/renamed.txt").c_str(), "user.added", "x", 1, 0)));
		t.push_back(outcome("unlink(many/entry_7)", unlink((mnt + "/many/entry_7").c_str())));
		// New and copied-up entries have this run's times: compare without.
		append(&t, compat::snapshot(mnt, {.mtimes = false}), "after ");
		return t;
	}

	Transcript aftermath(const ScratchDir &dir) override
	{
		EXPECT_EQ(compat::diff(lower_, compat::snapshot(dir / "lower"), "before", "after"), "")
			<< "the lower directory changed";
		Transcript t;
		append(&t, compat::snapshot(dir / "upper", {.mtimes = false}), "upper ");
		return t;
	}

private:
	compat::Snapshot lower_;
};

// rofiles-fuse (OSTree): a passthrough of a directory in which files with
// hard links cannot be changed; high-level (fuse_main).
class RofilesFuse : public Subject {
public:
	RofilesFuse()
	{
		name = "rofiles-fuse";
		package = "ostree";
		api = "high-level (fuse_main), read_buf/write_buf";
		author = "Colin Walters (OSTree)";
	}

	Command prepare(const ScratchDir &dir) override
	{
		mkdir((dir / "src").c_str(), 0755);
		compat::make_source_tree(dir / "src");
		return {{name, dir / "src"}, {}};
	}

	Transcript exercise(const ScratchDir &dir, const std::string &mnt) override
	{
		Transcript t;
		compat::Snapshot source = compat::snapshot(dir / "src");
		compat::Snapshot seen = compat::snapshot(mnt);
		EXPECT_EQ(compat::diff(source, seen, "source", "mount"), "");
		append(&t, seen, "before ");
		EXPECT_EQ(compat::parallel_reads(mnt + "/f_big", compat::read_all(dir / "src/f_big")), "");
		// What rofiles-fuse is for: a file with hard links stays as it is.
		errno = 0;
		EXPECT_EQ(open((mnt + "/hard_a").c_str(), O_WRONLY), -1);
		EXPECT_EQ(errno, EROFS);
		t.push_back(outcome("open(hard_a, O_WRONLY)", open((mnt + "/hard_a").c_str(), O_WRONLY)));
		t.push_back(outcome("chmod(hard_b, 0600)", chmod((mnt + "/hard_b").c_str(), 0600)));
		std::string created = compat::pattern(300001, 12);
		t.push_back(create_with(mnt + "/created", "created", created));
		EXPECT_EQ(compat::read_all(dir / "src/created"), created) << "not written through to the source";
		t.push_back(append_to(mnt + "/f_small", "f_small", "more\n"));
		t.push_back(outcome("truncate(f_odd, 10)", truncate((mnt + "/f_odd").c_str(), 10)));
		t.push_back(outcome("unlink(f_page)", unlink((mnt + "/f_page").c_str())));
		t.push_back(outcome("mkdir(newdir)", mkdir((mnt + "/newdir").c_str(), 0700)));
		t.push_back(outcome("rename(created, newdir/created)",
				    rename((mnt + "/created").c_str(), (mnt + "/newdir/created").c_str())));
		t.push_back(outcome("symlink(newdir/l)", symlink("created", (mnt + "/newdir/l").c_str())));
		t.push_back(outcome("rmdir(sub/empty_dir)", rmdir((mnt + "/sub/empty_dir").c_str())));
		after_ = compat::snapshot(mnt, {.mtimes = false});
		append(&t, after_, "after ");
		return t;
	}

	Transcript aftermath(const ScratchDir &dir) override
	{
		compat::Snapshot source = compat::snapshot(dir / "src", {.mtimes = false});
		EXPECT_EQ(compat::diff(after_, source, "mount", "source"), "") << "the source is not what the mount showed";
		return {};
	}

private:
	compat::Snapshot after_;
};

// nbdfuse (libnbd): a network block device as one file, served here by
// qemu-nbd on a raw image; high-level (fuse_new, fuse_loop_mt).
class Nbdfuse : public Subject {
public:
	static constexpr size_t kImageSize = 4 * 1024 * 1024;

	Nbdfuse()
	{
		name = "nbdfuse";
		package = "libnbd-bin";
		api = "high-level (fuse_new, fuse_mount, fuse_loop_mt / fuse_loop)";
		author = "Richard W.M. Jones (libnbd)";
		tools = {"qemu-nbd"};
		foreground_flag = false; // always in the foreground; no -f
	}

	Command prepare(const ScratchDir &dir) override
	{
		int fd = open((dir / "disk.img").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		EXPECT_GE(fd, 0);
		EXPECT_EQ(ftruncate(fd, kImageSize), 0);
		close(fd);
		model_ = std::string(kImageSize, '\0');
		// nbdfuse MOUNTPOINT [ qemu-nbd ... ]: systemd socket activation.
		return {{name}, {"[", "qemu-nbd", "-f", "raw", dir / "disk.img", "]"}};
	}

	Transcript exercise(const ScratchDir &, const std::string &mnt) override
	{
		Transcript t;
		std::string file = mnt + "/nbd";
		struct stat st {};
		t.push_back(outcome("stat(nbd)", stat(file.c_str(), &st)));
		EXPECT_EQ(static_cast<size_t>(st.st_size), kImageSize);
		t.push_back("size " + std::to_string(st.st_size));
		int fd = open(file.c_str(), O_RDWR | O_CLOEXEC);
		t.push_back(outcome("open(nbd, O_RDWR)", fd));
		struct Write {
			size_t size;
			off_t at;
		};
		const Write writes[] = {{4096, 0}, {1024 * 1024, 1024 * 1024 + 512}, {3, kImageSize - 3}, {200000, 77}};
		unsigned seed = 20;
		for (const Write &w : writes) {
			std::string data = compat::pattern(w.size, seed++);
			t.push_back(write_at(fd, data, w.at, "nbd"));
			model_.replace(static_cast<size_t>(w.at), data.size(), data);
		}
		t.push_back(outcome("fsync(nbd)", fsync(fd)));
		close(fd);
		EXPECT_EQ(compat::parallel_reads(file, model_), "");
		std::string back = compat::read_all(file);
		EXPECT_TRUE(back == model_) << "nbd reads back other bytes than were written";
		t.push_back("read back " + compat::hash(back));
		return t;
	}

	Transcript aftermath(const ScratchDir &dir) override
	{
		std::string image = compat::read_all(dir / "disk.img");
		EXPECT_TRUE(image == model_) << "the image holds other bytes than were written";
		return {"image " + compat::hash(image)};
	}

private:
	std::string model_;
};

// One way of running a filesystem.
struct Variant {
	std::string name;                 // "" for the default
	std::vector<std::string> options; // after the program name
	bool daemonize = false;
	std::string loop;                 // the libfuse loop it must end up in
};

struct Case {
	Subject *subject;
	Variant variant;
};

void PrintTo(const Case &c, std::ostream *out)
{
	*out << c.subject->name << (c.variant.name.empty() ? "" : " " + c.variant.name);
}

constexpr const char *kLoop = "fuse_session_loop@FUSE_3.0";
constexpr const char *kLoopMt = "fuse_session_loop_mt_312@FUSE_3.12";
constexpr const char *kLoopMt32 = "fuse_session_loop_mt_32@FUSE_3.2";

Squashfuse g_squashfuse(false), g_squashfuse_ll(true);
FuseOverlayfs g_overlay;
RofilesFuse g_rofiles;
Nbdfuse g_nbdfuse;

const std::vector<Case> &cases()
{
	static const std::vector<Case> all = {
		// squashfuse runs single-threaded whatever it is told (adds -s).
		{&g_squashfuse, {"", {}, false, kLoop}},
		{&g_squashfuse, {"daemonized", {}, true, kLoop}},
		{&g_squashfuse_ll, {"", {}, false, kLoop}},
		{&g_squashfuse_ll, {"daemonized", {}, true, kLoop}},
		{&g_overlay, {"", {}, false, kLoop}},
		{&g_overlay, {"threaded", {"-o", "threaded=1"}, false, kLoopMt32}},
		{&g_overlay, {"daemonized", {}, true, kLoop}},
		{&g_rofiles, {"", {}, false, kLoopMt}},
		{&g_rofiles, {"single_threaded", {"-s"}, false, kLoop}},
		{&g_rofiles, {"clone_fd", {"-o", "clone_fd,max_idle_threads=2"}, false, kLoopMt}},
		{&g_rofiles, {"daemonized", {}, true, kLoopMt}},
		{&g_nbdfuse, {"", {}, false, kLoopMt}},
		{&g_nbdfuse, {"single_threaded", {"-s"}, false, kLoop}},
	};
	return all;
}

// Ways of running a filesystem that this suite does not run, with why.
// (Transports a filesystem cannot work on would be listed here too; there
// are none.)
const std::vector<std::pair<std::string, std::string>> kNotRun = {
	{"nbdfuse daemonized", "nbdfuse has no background mode: it always serves in the foreground (no -f option)"},
};

std::vector<std::string> transports()
{
	const char *list = std::getenv("RFUSE_COMPAT_TRANSPORTS");
	std::stringstream in(list != nullptr && *list != '\0' ? list : "plain,fuse,uring");
	std::vector<std::string> out;
	for (std::string t; std::getline(in, t, ',');)
		out.push_back(t);
	return out;
}

bool on_path(const std::string &program)
{
	std::string cmd = "command -v '" + program + "' >/dev/null 2>&1";
	return std::system(cmd.c_str()) == 0;
}

std::string exit_status(int status)
{
	if (status == -1)
		return "killed by the harness";
	if (WIFEXITED(status))
		return "exit " + std::to_string(WEXITSTATUS(status));
	return "signal " + std::to_string(WTERMSIG(status));
}

// One mount of a case over a transport ("plain": no librfuse).
struct MountRun {
	bool mounted = false;
	Transcript transcript;
	nlohmann::json stats;
	pid_t daemon = -1;
};

MountRun run_once(const Case &c, const std::string &transport)
{
	Subject &subject = *c.subject;
	MountRun run;
	ScratchDir dir("compat-" + subject.name);
	Command cmd = subject.prepare(dir);
	harness::DaemonSpec spec;
	spec.argv = {cmd.argv.front()};
	spec.argv.insert(spec.argv.end(), c.variant.options.begin(), c.variant.options.end());
	spec.argv.insert(spec.argv.end(), cmd.argv.begin() + 1, cmd.argv.end());
	spec.args_after_mountpoint = cmd.after;
	spec.foreground_flag = subject.foreground_flag;
	spec.daemonize = c.variant.daemonize;
	spec.mountpoint = dir / "mnt";
	spec.log_path = dir / "daemon.log";
	mkdir(spec.mountpoint.c_str(), 0755);
	if (transport != "plain")
		spec.env = {{"LD_PRELOAD", rfuse_test::librfuse_path()},
			    {"RFUSE_TRANSPORT", transport},
			    {"RFUSE_STATS_FILE", dir / "stats.json"}};
	std::unique_ptr<harness::MountedFs> fs;
	try {
		fs = std::make_unique<harness::MountedFs>(spec);
	} catch (const std::exception &e) {
		ADD_FAILURE() << subject.name << " did not mount: " << e.what();
		return run;
	}
	run.mounted = true;
	run.daemon = fs->pid();
	run.transcript = subject.exercise(dir, fs->mountpoint());
	run.transcript.push_back("daemon " + exit_status(fs->stop()));
	fs.reset();
	Transcript after = subject.aftermath(dir);
	run.transcript.insert(run.transcript.end(), after.begin(), after.end());
	if (transport != "plain") {
		try {
			run.stats = rfuse_test::read_stats(dir / "stats.json");
		} catch (const std::exception &e) {
			ADD_FAILURE() << e.what() << "\n" << rfuse_test::read_file(dir / "daemon.log");
		}
	}
	return run;
}

// Whether a pipe here can hold libfuse's whole request buffer (256 pages and
// a header): then libfuse splices requests from /dev/fuse for a filesystem
// that wants FUSE_CAP_SPLICE_READ. Beyond /proc/sys/fs/pipe-max-size that
// takes CAP_SYS_RESOURCE, which the VM's root has and a container's may not.
bool pipes_hold_a_request()
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0)
		return false;
	long page = sysconf(_SC_PAGESIZE);
	bool ok = fcntl(fds[0], F_SETPIPE_SZ, static_cast<int>(256 * page + 4096)) >= 0;
	close(fds[0]);
	close(fds[1]);
	return ok;
}

// What librfuse's statistics must say after serving `c` over `transport`.
void check_stats(const Case &c, const std::string &transport, const MountRun &run)
{
	const nlohmann::json &s = run.stats;
	if (s.is_null())
		return;
	EXPECT_EQ(s["transport_used"], transport) << s.dump(2);
	EXPECT_EQ(s["fallback"], false);
	EXPECT_EQ(s["error"], "");
	EXPECT_EQ(s["loop"], c.variant.loop);
	if (transport == "fuse") {
		EXPECT_GT(s["requests"]["dev_fuse"].get<uint64_t>(), 10u);
	} else {
		EXPECT_GT(s["requests"]["ring"].get<uint64_t>(), 10u) << "not served over " << transport;
	}
	if (c.subject->asks_for_splice) {
		EXPECT_GT(s["splice"]["replies"].get<uint64_t>(), 0u) << "its reads did not take the splice path";
		// Requests reach libfuse in a pipe only from libfuse's own loop
		// (fuse), and only where the pipe can hold its whole buffer.
		if (transport == "fuse" && pipes_hold_a_request()) {
			EXPECT_GT(s["splice"]["requests"].get<uint64_t>(), 0u) << "requests did not take the splice path";
		}
	}
	if (c.variant.daemonize) {
		EXPECT_EQ(s["pid"].get<long>(), static_cast<long>(run.daemon))
			<< "the daemon found is not the one that served";
	}
}

std::string summary(const MountRun &run)
{
	const nlohmann::json &s = run.stats;
	if (s.is_null())
		return "";
	std::ostringstream out;
	out << " (loop " << s["loop"].get<std::string>() << ", requests ring " << s["requests"]["ring"]
	    << " dev_fuse " << s["requests"]["dev_fuse"] << ", spliced replies " << s["splice"]["replies"]
	    << " requests " << s["splice"]["requests"] << ")";
	return out.str();
}

std::string first_difference(const Transcript &expected, const Transcript &actual)
{
	for (size_t i = 0; i < std::max(expected.size(), actual.size()); ++i) {
		std::string e = i < expected.size() ? expected[i] : "(nothing)";
		std::string a = i < actual.size() ? actual[i] : "(nothing)";
		if (e != a)
			return "line " + std::to_string(i) + "\n  plain libfuse: " + e + "\n  this run:      " + a;
	}
	return "";
}

class Compat : public ::testing::TestWithParam<Case> {
protected:
	void SetUp() override
	{
		if (geteuid() != 0)
			GTEST_SKIP() << "needs root (mounts, enable_uring)";
		const Subject &s = *GetParam().subject;
		std::vector<std::string> programs = s.tools;
		programs.push_back(s.name);
		for (const std::string &p : programs)
			ASSERT_TRUE(on_path(p)) << p << " is not installed: ./run.sh setup installs Debian's " << s.package
						<< " and the tools of this suite";
		for (const std::string &t : transports())
			if (t == "uring") {
				uring_ = std::make_unique<rfuse_test::UringSwitch>(true);
				ASSERT_TRUE(uring_->usable()) << uring_->why();
			}
	}

	std::unique_ptr<rfuse_test::UringSwitch> uring_;
};

TEST_P(Compat, BehavesAsWithPlainLibfuse)
{
	const Case &c = GetParam();
	const std::string label = c.subject->name + (c.variant.name.empty() ? "" : " " + c.variant.name);
	std::cout << "[compat] " << label << ": " << c.subject->api << "; package " << c.subject->package << ", by "
		  << c.subject->author << "\n";
	for (const auto &[what, why] : kNotRun)
		if (what.rfind(c.subject->name + " ", 0) == 0 && c.variant.name.empty())
			std::cout << "[compat] not run: " << what << ": " << why << "\n";
	Transcript baseline;
	bool have_baseline = false;
	for (const std::string &transport : transports()) {
		SCOPED_TRACE(label + " over " + transport);
		const ::testing::TestResult &result = *::testing::UnitTest::GetInstance()->current_test_info()->result();
		int failures_before = result.total_part_count();
		MountRun run = run_once(c, transport);
		if (run.mounted) {
			if (!have_baseline) {
				EXPECT_EQ(transport, "plain") << "the first run must be plain libfuse's";
				baseline = run.transcript;
				have_baseline = true;
			} else {
				EXPECT_EQ(first_difference(baseline, run.transcript), "")
					<< "behaves differently from plain libfuse";
			}
			check_stats(c, transport, run);
		}
		std::cout << "[compat] " << label << " over " << transport << ": "
			  << (result.total_part_count() > failures_before ? "FAIL" : "pass") << summary(run) << "\n";
	}
}

std::string case_name(const ::testing::TestParamInfo<Case> &info)
{
	std::string n = info.param.subject->name + (info.param.variant.name.empty() ? "" : "_" + info.param.variant.name);
	for (char &ch : n)
		if (!std::isalnum(static_cast<unsigned char>(ch)))
			ch = '_';
	return n;
}

INSTANTIATE_TEST_SUITE_P(Debian, Compat, ::testing::ValuesIn(cases()), case_name);

} // namespace
