#include "fs_test_util.hpp"

#include "mount.hpp"

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace fs_test {

std::string binary(const std::string &name)
{
	if (const char *dir = std::getenv("RFUSE_BIN_DIR"))
		return std::string(dir) + "/" + name;
	return (std::filesystem::read_symlink("/proc/self/exe").parent_path() / name).string();
}

TempDir::TempDir(const std::string &prefix)
{
	const char *root = std::getenv("RFUSE_TEST_ROOT");
	std::string tmpl = std::string(root ? root : "/tmp") + "/" + prefix + "-XXXXXX";
	if (mkdtemp(tmpl.data()) == nullptr)
		throw std::runtime_error("mkdtemp " + tmpl + ": " + std::strerror(errno));
	path_ = tmpl;
}

TempDir::~TempDir()
{
	std::error_code ec;
	std::filesystem::remove_all(path_, ec);
}

CommandResult run_command(const std::vector<std::string> &argv, const std::string &mountpoint,
			  std::chrono::seconds limit)
{
	int out[2];
	if (pipe2(out, O_CLOEXEC) != 0)
		throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
	std::vector<char *> cargv;
	for (const std::string &a : argv)
		cargv.push_back(const_cast<char *>(a.c_str()));
	cargv.push_back(nullptr);
	pid_t pid = fork();
	if (pid < 0)
		throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
	if (pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		dup2(out[1], STDERR_FILENO);
		execv(cargv[0], cargv.data());
		_exit(127);
	}
	close(out[1]);
	// Read the output in a thread so a chatty command cannot block on the pipe.
	CommandResult result;
	std::thread reader([&] {
		char buf[4096];
		ssize_t n;
		while ((n = read(out[0], buf, sizeof(buf))) > 0)
			result.output.append(buf, static_cast<size_t>(n));
	});
	int status = 0;
	auto deadline = std::chrono::steady_clock::now() + limit;
	bool exited = false;
	while (!exited) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid) {
			exited = true;
		} else if (std::chrono::steady_clock::now() > deadline) {
			if (!mountpoint.empty())
				harness::unmount_path(mountpoint);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		} else {
			std::this_thread::sleep_for(std::chrono::milliseconds(5));
		}
	}
	reader.join();
	close(out[0]);
	result.exit_code = exited && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	return result;
}

int count_lines(const std::string &text)
{
	int n = 0;
	for (char c : text)
		n += c == '\n';
	if (!text.empty() && text.back() != '\n')
		++n;
	return n;
}

} // namespace fs_test
