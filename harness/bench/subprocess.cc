#include "subprocess.hpp"

#include "interrupt.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace bench {
namespace {

std::string slurp_and_remove(const std::string &path)
{
	std::ifstream in(path, std::ios::binary);
	std::stringstream ss;
	ss << in.rdbuf();
	unlink(path.c_str());
	return ss.str();
}

std::string temp_file()
{
	char tmpl[] = "/tmp/rfuse-bench-out-XXXXXX";
	int fd = mkstemp(tmpl);
	if (fd < 0)
		throw std::runtime_error(std::string("mkstemp: ") + std::strerror(errno));
	close(fd);
	return tmpl;
}

} // namespace

std::string ProcessResult::describe() const
{
	if (timed_out)
		return "timed out";
	if (term_signal != 0)
		return std::string("killed by signal ") + std::to_string(term_signal) + " (" +
		       strsignal(term_signal) + ")";
	return "exit status " + std::to_string(exit_code);
}

ProcessResult run_process(const std::vector<std::string> &argv,
			  const std::map<std::string, std::string> &env,
			  std::chrono::milliseconds timeout)
{
	if (argv.empty())
		throw std::invalid_argument("run_process: empty argv");
	std::string out_path = temp_file(), err_path = temp_file();
	std::vector<std::string> args = argv;
	std::vector<char *> cargv;
	for (std::string &a : args)
		cargv.push_back(a.data());
	cargv.push_back(nullptr);

	// The environment is built before fork: the child of a threaded process
	// may only make async-signal-safe calls (no setenv, no malloc).
	std::map<std::string, std::string> merged;
	for (char **e = environ; *e != nullptr; ++e) {
		std::string kv = *e;
		size_t eq = kv.find('=');
		if (eq != std::string::npos)
			merged[kv.substr(0, eq)] = kv.substr(eq + 1);
	}
	for (const auto &[k, v] : env)
		merged[k] = v;
	std::vector<std::string> env_strings;
	for (const auto &[k, v] : merged)
		env_strings.push_back(k + "=" + v);
	std::vector<char *> cenv;
	for (std::string &kv : env_strings)
		cenv.push_back(kv.data());
	cenv.push_back(nullptr);

	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
	if (pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		int in = open("/dev/null", O_RDONLY);
		int out = open(out_path.c_str(), O_WRONLY | O_TRUNC);
		int err = open(err_path.c_str(), O_WRONLY | O_TRUNC);
		if (in < 0 || out < 0 || err < 0)
			_exit(127);
		dup2(in, STDIN_FILENO);
		dup2(out, STDOUT_FILENO);
		dup2(err, STDERR_FILENO);
		execvpe(cargv[0], cargv.data(), cenv.data());
		const char msg[] = "exec failed\n";
		ssize_t ignored = write(STDERR_FILENO, msg, sizeof(msg) - 1);
		(void)ignored;
		_exit(127);
	}
	setpgid(pid, pid); // also from here: no race with the kill below

	ProcessResult r;
	auto start = std::chrono::steady_clock::now();
	int status = 0;
	int kill_stage = 0;
	std::chrono::steady_clock::time_point killed_at;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			break;
		auto now = std::chrono::steady_clock::now();
		bool expired = timeout.count() > 0 && now - start > timeout;
		if (kill_stage == 0 && (stop_requested() || expired)) {
			r.interrupted = true;
			r.timed_out = expired;
			kill(-pid, SIGTERM);
			kill_stage = 1;
			killed_at = now;
		} else if (kill_stage == 1 && now - killed_at > std::chrono::seconds(5)) {
			kill(-pid, SIGKILL);
			kill_stage = 2;
		}
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	}
	if (WIFEXITED(status))
		r.exit_code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		r.term_signal = WTERMSIG(status);
	r.out = slurp_and_remove(out_path);
	r.err = slurp_and_remove(err_path);
	return r;
}

std::string first_line_of(const std::vector<std::string> &argv)
{
	try {
		ProcessResult r = run_process(argv, {}, std::chrono::seconds(10));
		// Some tools print their answer with a non-zero status
		// (systemd-detect-virt: "none", 1); 127 is a failed exec.
		if (r.exit_code == 127 || r.term_signal != 0)
			return "";
		std::string text = r.out.empty() ? r.err : r.out;
		return text.substr(0, text.find('\n'));
	} catch (const std::exception &) {
		return "";
	}
}

} // namespace bench
