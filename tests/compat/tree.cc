#include "tree.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sstream>
#include <stdexcept>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <thread>
#include <unistd.h>

namespace compat {
namespace {

constexpr time_t kEpoch = 1600000000; // the source tree's mtimes start here

void check(bool ok, const std::string &what)
{
	if (!ok)
		throw std::runtime_error("building the source tree: " + what + ": " + std::strerror(errno));
}

void write_file(const std::string &path, const std::string &data, mode_t mode)
{
	int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	check(fd >= 0, "create " + path);
	size_t done = 0;
	while (done < data.size()) {
		ssize_t n = write(fd, data.data() + done, data.size() - done);
		check(n > 0, "write " + path);
		done += static_cast<size_t>(n);
	}
	check(close(fd) == 0, "close " + path);
	check(chmod(path.c_str(), mode) == 0, "chmod " + path);
}

void set_mtime(const std::string &path, time_t when)
{
	timespec times[2] = {{when, 0}, {when, 0}};
	check(utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0, "utimensat " + path);
}

void make_dir(const std::string &path, mode_t mode)
{
	check(mkdir(path.c_str(), mode) == 0 && chmod(path.c_str(), mode) == 0, "mkdir " + path);
}

std::string octal(unsigned v)
{
	char buf[16];
	std::snprintf(buf, sizeof(buf), "%04o", v);
	return buf;
}

std::string xattr_lines(const std::string &path)
{
	ssize_t n = llistxattr(path.c_str(), nullptr, 0);
	if (n <= 0)
		return {};
	std::string names(static_cast<size_t>(n), '\0');
	n = llistxattr(path.c_str(), names.data(), names.size());
	if (n <= 0)
		return {};
	names.resize(static_cast<size_t>(n));
	std::map<std::string, std::string> found;
	for (size_t at = 0; at < names.size();) {
		std::string name = names.c_str() + at;
		at += name.size() + 1;
		if (name.rfind("user.", 0) != 0 || name.rfind("user.fuseoverlayfs.", 0) == 0)
			continue;
		ssize_t len = lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
		std::string value(len > 0 ? static_cast<size_t>(len) : 0, '\0');
		if (len > 0)
			len = lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
		found[name] = len < 0 ? std::string("error ") + strerrorname_np(errno) : hash(value);
	}
	std::string out;
	for (const auto &[name, value] : found)
		out += " xattr:" + name + "=" + value;
	return out;
}

void walk(const std::string &root, const std::string &rel, const SnapshotOptions &opts, Snapshot *out)
{
	std::string dir_path = rel.empty() ? root : root + "/" + rel;
	DIR *d = opendir(dir_path.c_str());
	if (d == nullptr) {
		(*out)[rel + "/"] = std::string("opendir: ") + strerrorname_np(errno);
		return;
	}
	std::vector<std::string> names;
	while (dirent *e = readdir(d))
		if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
			names.emplace_back(e->d_name);
	closedir(d);
	for (const std::string &name : names) {
		std::string path_rel = rel.empty() ? name : rel + "/" + name;
		std::string path = root + "/" + path_rel;
		struct stat st {};
		if (lstat(path.c_str(), &st) != 0) {
			(*out)[path_rel] = std::string("lstat: ") + strerrorname_np(errno);
			continue;
		}
		std::ostringstream line;
		line << "mode=" << octal(st.st_mode & 07777) << " uid=" << st.st_uid << " gid=" << st.st_gid;
		if (S_ISDIR(st.st_mode)) {
			line << " dir";
		} else {
			if (opts.nlink)
				line << " nlink=" << st.st_nlink;
			if (opts.mtimes)
				line << " mtime=" << st.st_mtime;
		}
		if (S_ISREG(st.st_mode)) {
			line << " file size=" << st.st_size;
			if (opts.contents) {
				int err = 0;
				std::string data = read_all(path, &err);
				if (err != 0)
					line << " read=" << strerrorname_np(err);
				else
					line << " read=" << data.size() << " hash=" << hash(data);
			}
		} else if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t n = readlink(path.c_str(), target, sizeof(target));
			line << " symlink -> " << (n < 0 ? std::string("?") : std::string(target, static_cast<size_t>(n)));
		} else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
			line << (S_ISCHR(st.st_mode) ? " chardev " : " blockdev ") << major(st.st_rdev) << ":"
			     << minor(st.st_rdev);
		} else if (S_ISFIFO(st.st_mode)) {
			line << " fifo";
		} else if (S_ISSOCK(st.st_mode)) {
			line << " socket";
		}
		if (opts.xattrs && !S_ISLNK(st.st_mode))
			line << xattr_lines(path);
		(*out)[path_rel] = line.str();
		if (S_ISDIR(st.st_mode))
			walk(root, path_rel, opts, out);
	}
}

} // namespace

std::string pattern(size_t size, unsigned seed)
{
	std::string out(size, '\0');
	unsigned x = seed * 2654435761u + 12345u;
	for (char &c : out) {
		x = x * 1103515245u + 12345u;
		c = static_cast<char>(x >> 16);
	}
	return out;
}

void make_source_tree(const std::string &root)
{
	struct FileSpec {
		const char *name;
		size_t size;
		mode_t mode;
	};
	// Sizes around a page, a 64 KiB request and FUSE's 128 KiB / 1 MiB
	// request sizes; one big enough that reads take libfuse's splice path.
	const FileSpec files[] = {
		{"f_empty", 0, 0644},        {"f_small", 6, 0600},          {"f_page", 4096, 0644},
		{"f_odd", 65537, 0444},      {"f_big", 3 * 1024 * 1024 + 5, 0755}, {"sub/f_sub", 131073, 0640},
		{"sub/deep/deeper/f_deep", 100, 0644},
	};
	make_dir(root + "/sub", 0755);
	make_dir(root + "/sub/deep", 0750);
	make_dir(root + "/sub/deep/deeper", 0755);
	make_dir(root + "/sub/empty_dir", 0700);
	make_dir(root + "/many", 0755);
	unsigned seed = 1;
	for (const FileSpec &f : files)
		write_file(root + "/" + f.name, pattern(f.size, seed++), f.mode);
	// A directory larger than one readdir reply.
	for (int i = 0; i < 300; ++i)
		write_file(root + "/many/entry_" + std::to_string(i), "entry " + std::to_string(i) + "\n", 0644);
	write_file(root + "/" + std::string(255, 'n'), "the longest name\n", 0644);
	write_file(root + "/hard_a", pattern(1000, 99), 0644);
	check(link((root + "/hard_a").c_str(), (root + "/hard_b").c_str()) == 0, "link hard_b");
	check(symlink("f_small", (root + "/link_rel").c_str()) == 0, "symlink link_rel");
	check(symlink("/nonexistent/target", (root + "/link_dangling").c_str()) == 0, "symlink link_dangling");
	check(symlink("sub/deep", (root + "/link_dir").c_str()) == 0, "symlink link_dir");
	// Where the source's filesystem takes them (not tmpfs before 6.6).
	if (setxattr((root + "/f_small").c_str(), "user.compat", "value", 5, 0) == 0) {
		std::string big = pattern(2000, 7);
		check(setxattr((root + "/f_page").c_str(), "user.big", big.data(), big.size(), 0) == 0, "setxattr");
		check(setxattr((root + "/sub").c_str(), "user.on_dir", "d", 1, 0) == 0, "setxattr");
	}
	// Fixed mtimes, children before their directories.
	Snapshot all = snapshot(root, {.mtimes = false, .nlink = false, .xattrs = false, .contents = false});
	time_t when = kEpoch;
	for (auto it = all.rbegin(); it != all.rend(); ++it)
		set_mtime(root + "/" + it->first, when++);
}

Snapshot snapshot(const std::string &root, const SnapshotOptions &opts)
{
	Snapshot out;
	walk(root, "", opts, &out);
	return out;
}

std::string diff(const Snapshot &expected, const Snapshot &actual, const std::string &expected_name,
		 const std::string &actual_name)
{
	std::ostringstream out;
	int shown = 0;
	auto note = [&](const std::string &path, const std::string *e, const std::string *a) {
		if (shown++ >= 20)
			return;
		out << "\n  " << path << "\n    " << expected_name << ": " << (e ? *e : "(absent)") << "\n    "
		    << actual_name << ": " << (a ? *a : "(absent)");
	};
	for (const auto &[path, line] : expected) {
		auto it = actual.find(path);
		if (it == actual.end())
			note(path, &line, nullptr);
		else if (it->second != line)
			note(path, &line, &it->second);
	}
	for (const auto &[path, line] : actual)
		if (!expected.count(path))
			note(path, nullptr, &line);
	if (shown > 20)
		out << "\n  ... " << shown - 20 << " more";
	return out.str();
}

std::string hash(const std::string &data)
{
	std::uint64_t h = 1469598103934665603ull;
	for (unsigned char c : data) {
		h ^= c;
		h *= 1099511628211ull;
	}
	char buf[17];
	std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
	return buf;
}

std::string read_all(const std::string &path, int *error)
{
	int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (error != nullptr)
			*error = errno;
		return {};
	}
	std::string out;
	char buf[128 * 1024];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (error != nullptr)
				*error = errno;
			close(fd);
			return {};
		}
		if (n == 0)
			break;
		out.append(buf, static_cast<size_t>(n));
	}
	close(fd);
	return out;
}

std::string outcome(const std::string &name, long rc)
{
	if (rc >= 0)
		return name + " = " + std::to_string(rc);
	return name + " = " + strerrorname_np(errno);
}

std::string parallel_reads(const std::string &path, const std::string &expected, unsigned threads)
{
	std::vector<std::string> errors(threads);
	std::vector<std::thread> readers;
	for (unsigned t = 0; t < threads; ++t) {
		readers.emplace_back([&, t] {
			int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				errors[t] = std::string("open: ") + strerrorname_np(errno);
				return;
			}
			const size_t chunk = 64 * 1024;
			size_t chunks = (expected.size() + chunk - 1) / chunk;
			std::string buf(chunk, '\0');
			for (size_t i = 0; i < chunks && errors[t].empty(); ++i) {
				size_t at = ((i + t * chunks / threads) % chunks) * chunk;
				size_t want = std::min(chunk, expected.size() - at);
				ssize_t n = pread(fd, buf.data(), want, static_cast<off_t>(at));
				if (n != static_cast<ssize_t>(want) || std::memcmp(buf.data(), expected.data() + at, want) != 0)
					errors[t] = "thread " + std::to_string(t) + ": pread at " + std::to_string(at) +
						    (n < 0 ? std::string(": ") + strerrorname_np(errno) : " differs");
			}
			close(fd);
		});
	}
	for (std::thread &r : readers)
		r.join();
	for (const std::string &e : errors)
		if (!e.empty())
			return e;
	return {};
}

} // namespace compat
