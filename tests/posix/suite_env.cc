#include "suite_env.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <ftw.h>
#include <stdexcept>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace posix {
namespace {

SuiteEnv *g_suite = nullptr;

std::runtime_error sys_error(const std::string &what)
{
	return std::runtime_error(what + ": " + std::strerror(errno));
}

// mkdtemp under `base`, opened up so that the unprivileged user of the
// permission tests may pass through it.
std::string make_temp_dir(const std::string &base, const std::string &prefix)
{
	std::string tmpl = base + "/" + prefix + "XXXXXX";
	if (mkdtemp(tmpl.data()) == nullptr)
		throw sys_error("mkdtemp " + tmpl);
	if (chmod(tmpl.c_str(), 0755) != 0)
		throw sys_error("chmod " + tmpl);
	return tmpl;
}

void make_dir(const std::string &path)
{
	if (mkdir(path.c_str(), 0755) != 0)
		throw sys_error("mkdir " + path);
}

std::string g_remove_error;

int remove_entry(const char *path, const struct stat *, int type, struct FTW *)
{
	int rc = (type == FTW_DP || type == FTW_D) ? rmdir(path) : unlink(path);
	if (rc != 0 && g_remove_error.empty())
		g_remove_error = std::string(path) + ": " + std::strerror(errno);
	return 0; // keep going: remove as much as possible
}

} // namespace

SuiteEnv &suite()
{
	return *g_suite;
}

void set_suite(SuiteEnv *env)
{
	g_suite = env;
}

std::vector<std::string> split_command(const std::string &line)
{
	std::vector<std::string> words;
	std::string cur;
	bool in_word = false;
	char quote = 0;
	for (size_t i = 0; i < line.size(); ++i) {
		char c = line[i];
		if (quote != 0) {
			if (c == quote)
				quote = 0;
			else if (c == '\\' && quote == '"' && i + 1 < line.size())
				cur.push_back(line[++i]);
			else
				cur.push_back(c);
		} else if (c == '\'' || c == '"') {
			quote = c;
			in_word = true;
		} else if (c == '\\' && i + 1 < line.size()) {
			cur.push_back(line[++i]);
			in_word = true;
		} else if (c == ' ' || c == '\t' || c == '\n') {
			if (in_word)
				words.push_back(cur);
			cur.clear();
			in_word = false;
		} else {
			cur.push_back(c);
			in_word = true;
		}
	}
	if (quote != 0)
		throw std::invalid_argument("unterminated quote in: " + line);
	if (in_word)
		words.push_back(cur);
	return words;
}

std::string remove_tree(const std::string &path)
{
	struct stat st;
	if (lstat(path.c_str(), &st) != 0)
		return errno == ENOENT ? "" : path + ": " + std::strerror(errno);
	g_remove_error.clear();
	if (nftw(path.c_str(), remove_entry, 32, FTW_DEPTH | FTW_PHYS) != 0 && g_remove_error.empty())
		g_remove_error = path + ": nftw: " + std::strerror(errno);
	return g_remove_error;
}

TmpfsMount::TmpfsMount(std::string path) : path_(std::move(path))
{
	// size= only caps what is really allocated; the sparse tests need none.
	if (mount("tmpfs", path_.c_str(), "tmpfs", 0, "mode=0755,size=4g") != 0)
		throw sys_error("mount tmpfs on " + path_ + " (the suite must run as root)");
}

TmpfsMount::~TmpfsMount()
{
	harness::unmount_path(path_);
}

SuiteEnv::SuiteEnv(SuiteConfig cfg) : cfg_(std::move(cfg))
{
	int subjects = !cfg_.daemon.empty() + !cfg_.subject_dir.empty() + cfg_.subject_tmpfs;
	if (subjects != 1)
		throw std::invalid_argument("give exactly one of --daemon, --subject-dir, --subject-tmpfs");

	const char *root = std::getenv("RFUSE_TEST_ROOT");
	std::string base = root != nullptr && *root != '\0' ? root : "/tmp";
	if (access(base.c_str(), W_OK) != 0 && errno == EROFS) {
		// In the VM rig the build tree is the host's, read-only.
		std::fprintf(stderr, "posix_suite: %s is read-only; working under /tmp\n", base.c_str());
		base = "/tmp";
	}
	work_dir_ = make_temp_dir(base, "posix-");
	made_dirs_.push_back(work_dir_);

	try {
		if (cfg_.reference_dir.empty()) {
			std::string mp = work_dir_ + "/reference";
			make_dir(mp);
			made_dirs_.push_back(mp);
			reference_ = std::make_unique<TmpfsMount>(mp);
			ref_root_ = mp;
		} else {
			ref_root_ = make_temp_dir(cfg_.reference_dir, "posix-reference-");
			made_trees_.push_back(ref_root_);
		}

		if (cfg_.subject_tmpfs) {
			std::string mp = work_dir_ + "/subject";
			make_dir(mp);
			made_dirs_.push_back(mp);
			subject_tmpfs_ = std::make_unique<TmpfsMount>(mp);
			sub_root_ = mp;
			subject_name_ = "tmpfs (self-check)";
		} else if (!cfg_.subject_dir.empty()) {
			sub_root_ = make_temp_dir(cfg_.subject_dir, "posix-subject-");
			made_trees_.push_back(sub_root_);
			subject_name_ = "directory " + cfg_.subject_dir;
		} else {
			std::vector<std::string> argv = split_command(cfg_.daemon);
			if (argv.empty())
				throw std::invalid_argument("--daemon: empty command");
			for (std::string &arg : argv) {
				size_t at = arg.find("{source}");
				if (at == std::string::npos)
					continue;
				if (!scratch_) {
					std::string mp = work_dir_ + "/scratch";
					make_dir(mp);
					made_dirs_.push_back(mp);
					scratch_ = std::make_unique<TmpfsMount>(mp);
				}
				std::string source = make_temp_dir(scratch_->path(), "source-");
				arg.replace(at, 8, source);
			}
			std::string mp = work_dir_ + "/subject";
			make_dir(mp);
			made_dirs_.push_back(mp);
			harness::DaemonSpec spec;
			spec.argv = argv;
			spec.mountpoint = mp;
			spec.env = cfg_.daemon_env;
			spec.daemonize = cfg_.daemonize;
			spec.log_path = work_dir_ + "/daemon.log";
			daemon_ = std::make_unique<harness::MountedFs>(spec);
			sub_root_ = daemon_->mountpoint();
			std::string shown;
			for (const std::string &arg : argv)
				shown += (shown.empty() ? "" : " ") + arg;
			subject_name_ = shown + " (" + daemon_->fstype() + (cfg_.daemonize ? ", daemonized" : "") + ")";
		}
	} catch (...) {
		cleanup();
		throw;
	}
}

SuiteEnv::~SuiteEnv()
{
	cleanup();
}

void SuiteEnv::cleanup()
{
	daemon_.reset();
	subject_tmpfs_.reset();
	scratch_.reset();
	reference_.reset();
	for (auto it = made_trees_.rbegin(); it != made_trees_.rend(); ++it)
		remove_tree(*it);
	made_trees_.clear();
	if (!work_dir_.empty())
		unlink((work_dir_ + "/daemon.log").c_str());
	for (auto it = made_dirs_.rbegin(); it != made_dirs_.rend(); ++it)
		rmdir(it->c_str());
	made_dirs_.clear();
}

std::string SuiteEnv::subject_health()
{
	if (daemon_ && !daemon_->daemon_alive())
		return "the daemon (pid " + std::to_string(daemon_->pid()) + ") has exited; log tail:\n" +
		       daemon_->log_tail(2048);
	return "";
}

std::string SuiteEnv::daemon_log_tail() const
{
	return daemon_ ? daemon_->log_tail(4096) : "";
}

std::string SuiteEnv::stop_daemon()
{
	if (!daemon_)
		return "";
	bool was_alive = daemon_->daemon_alive();
	std::string log = daemon_->log_tail(2048);
	int status = daemon_->stop();
	if (!was_alive)
		return "the daemon had exited before the end of the suite; log tail:\n" + log;
	if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return "the daemon did not exit cleanly after unmount (wait status " +
		       std::to_string(status) + "); log tail:\n" + log;
	return "";
}

} // namespace posix
