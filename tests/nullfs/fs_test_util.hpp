// Small helpers shared by the NullFS and StackFS tests: where the binaries
// and mount points are, temporary directories, running a daemon to its exit.
#pragma once

#include "mount.hpp"
#include "test_support.hpp"

#include <chrono>
#include <set>
#include <string>
#include <vector>

namespace fs_test {

using test_support::binary;
using TempDir = test_support::ScratchDir;

// The daemon of filesystem `fs` ("nullfs") as CTest chose it, for a test
// run over several builds and ways of starting: build/bin/<fs>-<build>, with
// <build> from RFUSE_TEST_BUILD ("fuse" unless set; "rfuse" = the librfuse
// build, which serves the transport RFUSE_TRANSPORT names).
std::string fs_binary(const std::string &fs);

// A spec to mount that daemon with `args` on `mountpoint`: in the background
// (DaemonSpec::daemonize) when RFUSE_TEST_DAEMONIZE=1, else in the foreground.
harness::DaemonSpec fs_daemon_spec(const std::string &fs, const std::vector<std::string> &args,
				   const std::string &mountpoint);

struct CommandResult {
	int exit_code = -1;  // -1 when it did not exit normally
	std::string output;  // stdout and stderr together
};

// Runs argv to completion. A command still running after `limit` is killed
// (and anything it mounted on `mountpoint` is detached); its exit_code is then
// -1, which fails any test expecting an exit status.
CommandResult run_command(const std::vector<std::string> &argv, const std::string &mountpoint = "",
			  std::chrono::seconds limit = std::chrono::seconds(30));

// Lines in `text` (a last line without '\n' counts).
int count_lines(const std::string &text);

// The names in directory `dir`, "." and ".." included (a test failure when
// it cannot be read).
std::set<std::string> list_dir(const std::string &dir);

} // namespace fs_test
