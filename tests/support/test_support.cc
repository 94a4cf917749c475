#include "test_support.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <unistd.h>

namespace test_support {

std::string binary(const std::string &name)
{
	if (const char *dir = std::getenv("RFUSE_BIN_DIR"))
		return std::string(dir) + "/" + name;
	return (std::filesystem::read_symlink("/proc/self/exe").parent_path() / name).string();
}

ScratchDir::ScratchDir(const std::string &prefix)
{
	// In the VM rig the build tree, and RFUSE_TEST_ROOT in it, is read-only.
	const char *root = std::getenv("RFUSE_TEST_ROOT");
	if (root != nullptr && access(root, W_OK) != 0)
		root = nullptr;
	std::string tmpl = std::string(root != nullptr ? root : "/tmp") + "/" + prefix + "-XXXXXX";
	if (mkdtemp(tmpl.data()) == nullptr)
		throw std::runtime_error("mkdtemp " + tmpl + ": " + std::strerror(errno));
	path_ = tmpl;
}

ScratchDir::~ScratchDir()
{
	std::error_code ec;
	std::filesystem::remove_all(path_, ec);
}

bool read_file(const std::string &path, std::string &out)
{
	std::ifstream in(path, std::ios::binary);
	if (!in)
		return false;
	std::stringstream ss;
	ss << in.rdbuf();
	out = ss.str();
	return true;
}

} // namespace test_support
