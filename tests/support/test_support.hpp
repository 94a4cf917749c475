// What the test programs that run our binaries share: where the binaries
// are, and scratch directories for mount points and files.
#pragma once

#include <string>

namespace test_support {

// build/bin/<name>: from RFUSE_BIN_DIR (CTest sets it), else next to the
// running test binary, which lands in build/bin too.
std::string binary(const std::string &name);

// The whole contents of `path` into `out`; false when it cannot be read.
bool read_file(const std::string &path, std::string &out);

// A fresh directory under RFUSE_TEST_ROOT when it is writable (else /tmp:
// the VM rig), removed with its contents on destruction. Nothing may be
// mounted below it by then.
class ScratchDir {
public:
	explicit ScratchDir(const std::string &prefix);
	~ScratchDir();
	ScratchDir(const ScratchDir &) = delete;
	ScratchDir &operator=(const ScratchDir &) = delete;
	const std::string &path() const { return path_; }
	std::string operator/(const std::string &name) const { return path_ + "/" + name; }

private:
	std::string path_;
};

} // namespace test_support
