#include "librfuse_test_util.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace rfuse_test {
namespace {

constexpr const char *kEnableUring = "/sys/module/fuse/parameters/enable_uring";

std::string read_param()
{
	std::ifstream in(kEnableUring);
	std::string v;
	in >> v;
	return v;
}

bool write_param(const std::string &value)
{
	std::ofstream out(kEnableUring);
	out << value << "\n";
	out.flush();
	return static_cast<bool>(out);
}

} // namespace

std::string librfuse_path()
{
	return LIBRFUSE_TEST_LIBRFUSE;
}

UringSwitch::UringSwitch(bool enable)
{
	if (access(kEnableUring, F_OK) != 0) {
		why_ = std::string(kEnableUring) + " does not exist: this kernel has no FUSE-over-io_uring";
		return;
	}
	original_ = read_param();
	if (!write_param(enable ? "Y" : "N") || read_param() != (enable ? "Y" : "N")) {
		why_ = std::string("cannot write ") + kEnableUring + " (not root?)";
		return;
	}
	usable_ = true;
}

UringSwitch::~UringSwitch()
{
	if (usable_ && !original_.empty())
		write_param(original_);
}

std::map<std::string, std::string> transport_env(const std::string &transport, const std::string &stats_path)
{
	return {{"RFUSE_TRANSPORT", transport}, {"RFUSE_STATS_FILE", stats_path}};
}

nlohmann::json read_stats(const std::string &path)
{
	std::ifstream in(path);
	if (!in)
		throw std::runtime_error("no statistics file " + path);
	return nlohmann::json::parse(in);
}

std::string read_file(const std::string &path)
{
	std::ifstream in(path);
	std::stringstream ss;
	ss << in.rdbuf();
	return ss.str();
}

harness::DaemonSpec stats_daemon_spec(const ScratchDir &dir, std::vector<std::string> argv,
				      std::map<std::string, std::string> env)
{
	harness::DaemonSpec spec;
	spec.argv = std::move(argv);
	spec.mountpoint = dir / "mnt";
	mkdir(spec.mountpoint.c_str(), 0755);
	env["RFUSE_STATS_FILE"] = dir / "stats.json";
	spec.env = std::move(env);
	spec.log_path = dir / "daemon.log";
	return spec;
}

StatsMount::StatsMount(const std::string &prefix, std::vector<std::string> argv,
		       std::map<std::string, std::string> env)
	: dir(prefix)
{
	fs = std::make_unique<harness::MountedFs>(stats_daemon_spec(dir, std::move(argv), std::move(env)));
}

nlohmann::json StatsMount::stop_and_read_stats()
{
	fs->stop();
	return read_stats(stats);
}

std::string write_and_verify(const std::string &path, size_t size, unsigned seed)
{
	std::vector<unsigned char> data(size);
	unsigned x = seed * 2654435761u + 1;
	for (unsigned char &b : data) {
		x = x * 1103515245u + 12345u;
		b = static_cast<unsigned char>(x >> 16);
	}
	int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd < 0)
		return "create " + path + ": " + std::strerror(errno);
	size_t done = 0;
	while (done < size) {
		ssize_t n = write(fd, data.data() + done, std::min<size_t>(size - done, 128 * 1024));
		if (n <= 0) {
			close(fd);
			return "write " + path + ": " + std::strerror(errno);
		}
		done += static_cast<size_t>(n);
	}
	if (close(fd) != 0)
		return "close " + path + ": " + std::strerror(errno);
	fd = open(path.c_str(), O_RDONLY);
	if (fd < 0)
		return "open " + path + ": " + std::strerror(errno);
	std::vector<unsigned char> back(size + 1);
	done = 0;
	for (;;) {
		ssize_t n = read(fd, back.data() + done, back.size() - done);
		if (n < 0) {
			close(fd);
			return "read " + path + ": " + std::strerror(errno);
		}
		if (n == 0)
			break;
		done += static_cast<size_t>(n);
	}
	close(fd);
	if (done != size)
		return "read back " + std::to_string(done) + " bytes of " + std::to_string(size);
	if (std::memcmp(back.data(), data.data(), size) != 0)
		return "content differs";
	return {};
}

} // namespace rfuse_test
