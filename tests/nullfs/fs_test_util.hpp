// Small helpers shared by the NullFS and StackFS tests: where the binaries
// and mount points are, temporary directories, running a daemon to its exit.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace fs_test {

// build/bin/<name> (from RFUSE_BIN_DIR, else next to the test binary).
std::string binary(const std::string &name);

// A fresh directory under RFUSE_TEST_ROOT (else /tmp), removed with its
// contents on destruction. Nothing may be mounted below it by then.
class TempDir {
public:
	explicit TempDir(const std::string &prefix);
	~TempDir();
	TempDir(const TempDir &) = delete;
	TempDir &operator=(const TempDir &) = delete;
	const std::string &path() const { return path_; }
	std::string operator/(const std::string &name) const { return path_ + "/" + name; }

private:
	std::string path_;
};

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

} // namespace fs_test
