#include "environment.hpp"

#include "subprocess.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <thread>
#include <unistd.h>

#ifndef RFUSE_FUSE3_VERSION
#define RFUSE_FUSE3_VERSION "unknown"
#endif

namespace bench {
namespace {

using nlohmann::json;

std::string field_of(const std::string &file, const std::string &key)
{
	std::ifstream in(file);
	std::string line;
	while (std::getline(in, line)) {
		if (line.rfind(key, 0) != 0)
			continue;
		size_t colon = line.find(':');
		if (colon == std::string::npos)
			continue;
		std::string v = line.substr(colon + 1);
		v.erase(0, v.find_first_not_of(" \t"));
		return v;
	}
	return "";
}

bool has_cpu_flag(const std::string &flag)
{
	std::string flags = " " + field_of("/proc/cpuinfo", "flags") + " ";
	return flags.find(" " + flag + " ") != std::string::npos;
}

std::string trim(std::string s)
{
	while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
		s.pop_back();
	return s;
}

json virtualization()
{
	json v;
	// Under a hypervisor the CPU says so; harness/vm's qemu rig also sets
	// RFUSE_VM=1 and RFUSE_VM_RFUSE (what became of rfuse.ko).
	v["hypervisor_cpu_flag"] = has_cpu_flag("hypervisor");
	std::string detected = trim(first_line_of({"systemd-detect-virt"}));
	v["detected"] = detected.empty() ? "unknown" : detected;
	const char *rig = std::getenv("RFUSE_VM");
	bool in_rig = rig != nullptr && std::string(rig) == "1";
	v["rfuse_vm_rig"] = in_rig;
	if (const char *kmod = std::getenv("RFUSE_VM_RFUSE"))
		v["rfuse_vm_rfuse_ko"] = kmod;
	v["kind"] = in_rig ? "vm" : (v["hypervisor_cpu_flag"].get<bool>() ? "vm-guest" : "native");
	return v;
}

std::string first_word(const std::string &file)
{
	std::ifstream in(file);
	std::string v;
	in >> v;
	return v;
}

// What this kernel offers the transports, found without mounting anything:
// a point still fails rather than fall back when a mount is refused.
json kernel_features(const std::string &release)
{
	json f;
	std::string uring = first_word("/sys/module/fuse/parameters/enable_uring");
	f["fuse_over_io_uring"] = {{"present", !uring.empty()},
				   {"enable_uring", uring.empty() ? "absent" : uring},
				   {"how", "the fuse module's enable_uring parameter (Linux 6.14+)"}};
	int major = 0, minor = 0;
	std::istringstream(release) >> major;
	if (size_t dot = release.find('.'); dot != std::string::npos)
		std::istringstream(release.substr(dot + 1)) >> minor;
	f["fuse_passthrough"] = {{"expected", major > 6 || (major == 6 && minor >= 9)},
				 {"how", "kernel release >= 6.9; INIT grants FUSE_PASSTHROUGH per mount and librfuse "
					 "refuses a RFUSE_PASSTHROUGH=1 mount that did not get it"}};
	json params = json::object();
	std::error_code ec;
	for (const auto &e : std::filesystem::directory_iterator("/sys/module/rfuse/parameters", ec))
		params[e.path().filename().string()] = first_word(e.path().string());
	f["rfuse"] = {{"dev_rfuse", access("/dev/rfuse", F_OK) == 0},
		      {"module_loaded", access("/sys/module/rfuse", F_OK) == 0},
		      {"parameters", params}};
	// Without mounting tracefs: the breakdown workload mounts it when needed.
	const std::string events = "/sys/kernel/tracing/events/";
	f["tracepoints"] = {{"tracefs_mounted", access(events.c_str(), F_OK) == 0},
			    {"fuse", access((events + "fuse").c_str(), F_OK) == 0},
			    {"rfuse", access((events + "rfuse").c_str(), F_OK) == 0},
			    {"sched", access((events + "sched").c_str(), F_OK) == 0}};
	return f;
}

} // namespace

json collect_environment(const std::vector<int> &cpu_order, const std::string &source_dir)
{
	json env;
	struct utsname u {};
	uname(&u);
	env["kernel"] = {{"sysname", u.sysname}, {"release", u.release}, {"version", u.version}, {"machine", u.machine}};
	char host[256] = {};
	gethostname(host, sizeof(host) - 1);
	env["hostname"] = host;
	env["cpu"] = {{"model", field_of("/proc/cpuinfo", "model name")},
		      {"online", static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN))},
		      {"usable", static_cast<int>(cpu_order.size())},
		      {"order", cpu_order},
		      {"order_rule", "one thread per CPU; physical cores before SMT siblings, "
				     "package by package, core by core"}};
	std::string mem = field_of("/proc/meminfo", "MemTotal");
	long long kib = 0;
	std::istringstream(mem) >> kib;
	env["memory_bytes"] = kib * 1024;
	env["virtualization"] = virtualization();
	rlimit nofile {};
	getrlimit(RLIMIT_NOFILE, &nofile);
	env["open_file_limit"] = static_cast<unsigned long long>(nofile.rlim_cur);
	env["tools"] = {{"fio", trim(first_line_of({"fio", "--version"}))},
			{"libfuse", RFUSE_FUSE3_VERSION},
			{"fusermount3", trim(first_line_of({"fusermount3", "--version"}))},
			{"mkfs.ext4", trim(first_line_of({"mkfs.ext4", "-V"}))},
			{"compiler", std::string("g++ ") + __VERSION__},
			{"cplusplus", static_cast<long>(__cplusplus)}};
	std::string commit = trim(first_line_of({"git", "-C", source_dir, "rev-parse", "HEAD"}));
	std::string dirty = first_line_of({"git", "-C", source_dir, "status", "--porcelain", "--untracked-files=no"});
	env["git"] = {{"commit", commit.empty() ? "unknown" : commit}, {"dirty", !dirty.empty()}};
	std::ifstream uring("/sys/module/fuse/parameters/enable_uring");
	std::string uring_v;
	uring >> uring_v;
	env["devices"] = {{"dev_fuse", access("/dev/fuse", F_OK) == 0},
			  {"dev_rfuse", access("/dev/rfuse", F_OK) == 0},
			  {"fuse_enable_uring", uring_v.empty() ? "absent" : uring_v}};
	env["kernel_features"] = kernel_features(u.release);
	return env;
}

} // namespace bench
