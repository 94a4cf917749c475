// Helpers shared by the memfs unit tests: a Filesystem of known limits and
// shorthand for the calls the kernel would make.
#pragma once

#include "memfs.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace memfs_test {

using memfs::kRootIno;

class MemfsTest : public ::testing::Test {
protected:
	explicit MemfsTest(memfs::Limits limits = {1ULL << 40, 1ULL << 20}) : fs(limits) {}

	memfs::Filesystem fs;
	memfs::Caller root{0, 0};

	fuse_ino_t mkfile(fuse_ino_t parent, const std::string &name, mode_t mode = 0644)
	{
		struct stat st;
		EXPECT_EQ(0, fs.mknod(parent, name, S_IFREG | mode, 0, root, &st)) << name;
		return st.st_ino;
	}
	fuse_ino_t mkdir(fuse_ino_t parent, const std::string &name, mode_t mode = 0755)
	{
		struct stat st;
		EXPECT_EQ(0, fs.mkdir(parent, name, mode, root, &st)) << name;
		return st.st_ino;
	}
	// Looks up without keeping the reference (like a stat from the kernel
	// that forgets at once); 0 when absent.
	fuse_ino_t ino_of(fuse_ino_t parent, const std::string &name)
	{
		struct stat st;
		if (fs.lookup(parent, name, &st) != 0)
			return 0;
		fs.forget(st.st_ino, 1);
		return st.st_ino;
	}
	struct stat attr(fuse_ino_t ino)
	{
		struct stat st {};
		EXPECT_EQ(0, fs.getattr(ino, &st));
		return st;
	}
	void write_str(fuse_ino_t ino, uint64_t off, const std::string &data)
	{
		size_t n = 0;
		ASSERT_EQ(0, fs.write(ino, off, data.data(), data.size(), &n));
		ASSERT_EQ(data.size(), n);
	}
	std::string read_str(fuse_ino_t ino, uint64_t off, size_t size)
	{
		std::string out(size, '\xff');
		size_t n = 0;
		EXPECT_EQ(0, fs.read(ino, off, size, out.data(), &n));
		out.resize(n);
		return out;
	}
	std::vector<std::string> list(fuse_ino_t dir)
	{
		std::vector<std::string> names;
		EXPECT_EQ(0, fs.readdir(dir, 0, false, [&](const memfs::DirEntryView &e) {
			names.emplace_back(e.name);
			return true;
		}));
		return names;
	}
};

} // namespace memfs_test
