// with_uring: runs a command (e.g. the POSIX suite) whose daemons use
// librfuse with RFUSE_TRANSPORT=uring, with enable_uring switched on for its
// duration, then checks librfuse's statistics file: the daemon really
// served over io_uring (no silent fallback).
//   with_uring -- COMMAND [ARGS...]
#include "librfuse_test_util.hpp"

#include <cstdio>
#include <cstdlib>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 3 || std::string(argv[1]) != "--") {
		std::fprintf(stderr, "usage: with_uring -- COMMAND [ARGS...]\n");
		return 2;
	}
	rfuse_test::UringSwitch on(true);
	if (!on.usable()) {
		std::fprintf(stderr, "with_uring: %s\n", on.why().c_str());
		return 1;
	}
	rfuse_test::ScratchDir dir("with-uring");
	std::string stats = dir / "stats.json";
	setenv("RFUSE_TRANSPORT", "uring", 1);
	setenv("RFUSE_STATS_FILE", stats.c_str(), 1);
	unsetenv("RFUSE_FALLBACK");

	pid_t pid = fork();
	if (pid < 0) {
		std::perror("with_uring: fork");
		return 1;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		std::perror("with_uring: exec");
		_exit(127);
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0) {
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		std::fprintf(stderr, "with_uring: %s failed\n", argv[2]);
		return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	}
	try {
		nlohmann::json s = rfuse_test::read_stats(stats);
		double share = s["ring_share_without_forgets"].get<double>();
		std::printf("with_uring: last daemon: transport %s, %llu requests over io_uring, "
			    "%llu over /dev/fuse (%llu of them FORGETs)\n",
			    s["transport_used"].get<std::string>().c_str(),
			    static_cast<unsigned long long>(s["requests"]["ring"].get<uint64_t>()),
			    static_cast<unsigned long long>(s["requests"]["dev_fuse"].get<uint64_t>()),
			    static_cast<unsigned long long>(s["requests"]["dev_fuse_forgets"].get<uint64_t>()));
		if (s["transport_used"] != "uring" || share < 0.9) {
			std::fprintf(stderr, "with_uring: the daemon did not serve over io_uring:\n%s\n", s.dump(2).c_str());
			return 1;
		}
	} catch (const std::exception &e) {
		std::fprintf(stderr, "with_uring: %s\n", e.what());
		return 1;
	}
	return 0;
}
