#include "fs_test_util.hpp"

#include "mount.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace fs_test {

std::string fs_binary(const std::string &fs)
{
	const char *build = std::getenv("RFUSE_TEST_BUILD");
	return binary(fs + "-" + (build != nullptr && *build != '\0' ? build : "fuse"));
}

harness::DaemonSpec fs_daemon_spec(const std::string &fs, const std::vector<std::string> &args,
				   const std::string &mountpoint)
{
	harness::DaemonSpec spec;
	spec.argv = {fs_binary(fs)};
	spec.argv.insert(spec.argv.end(), args.begin(), args.end());
	spec.mountpoint = mountpoint;
	const char *daemonize = std::getenv("RFUSE_TEST_DAEMONIZE");
	spec.daemonize = daemonize != nullptr && std::string(daemonize) == "1";
	return spec;
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

std::set<std::string> list_dir(const std::string &dir)
{
	std::set<std::string> names;
	DIR *d = opendir(dir.c_str());
	EXPECT_NE(d, nullptr) << dir << ": " << std::strerror(errno);
	if (d == nullptr)
		return names;
	while (dirent *e = readdir(d))
		names.insert(e->d_name);
	closedir(d);
	return names;
}

} // namespace fs_test
