#include "transport.hpp"

#include "mount.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace bench {
namespace {

using nlohmann::json;

bool exists(const std::string &path)
{
	return access(path.c_str(), F_OK) == 0;
}

// Where `program` runs from: itself when it names a path, else the first
// executable of that name on PATH; "" when there is none.
std::string find_program(const std::string &program)
{
	if (program.find('/') != std::string::npos)
		return access(program.c_str(), X_OK) == 0 ? program : "";
	const char *path = std::getenv("PATH");
	std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
	for (size_t start = 0; start <= dirs.size();) {
		size_t end = dirs.find(':', start);
		if (end == std::string::npos)
			end = dirs.size();
		std::string candidate = dirs.substr(start, end - start) + "/" + program;
		if (end > start && access(candidate.c_str(), X_OK) == 0)
			return candidate;
		start = end + 1;
	}
	return "";
}

// librfuse.so of this build (bin_dir is <build>/bin, the library <build>/lib).
std::string librfuse_path(const std::string &bin_dir)
{
	std::error_code ec;
	auto p = std::filesystem::weakly_canonical(std::filesystem::path(bin_dir) / ".." / "lib" / "librfuse.so", ec);
	return ec ? bin_dir + "/../lib/librfuse.so" : p.string();
}

// `arg` with every "{source}" replaced by the backing store's data dir.
std::string with_source(std::string arg, const MountRequest &req)
{
	for (size_t at; (at = arg.find("{source}")) != std::string::npos;) {
		if (req.backing == nullptr)
			throw std::logic_error(req.fs.name + " needs a backing store");
		arg.replace(at, 8, req.backing->data_dir());
	}
	return arg;
}

class NativeTarget : public MountedTarget {
public:
	NativeTarget(const BackingStore &store) : store_(store) {}
	const std::string &workdir() const override { return store_.data_dir(); }
	std::string stop() override { return ""; }
	json describe() const override
	{
		return {{"kind", "native"},
			{"store", store_.kind()},
			{"mountpoint", store_.mountpoint()},
			{"loop_device", store_.loop_device()},
			{"size_bytes", store_.size()}};
	}

private:
	const BackingStore &store_;
};

class NativeTransport : public Transport {
public:
	std::string name() const override { return "native"; }
	std::string description() const override
	{
		return "in-kernel filesystem, no daemon: stackfs -> its backing store, memfs -> tmpfs";
	}
	std::string unavailable_reason(const FsDef &fs, const std::string &) const override
	{
		if (fs.native.empty())
			return fs.name + " has no in-kernel counterpart";
		return "";
	}
	std::string backing_kind(const FsDef &fs, const Point &point) const override
	{
		return fs.native == "backing" ? point.backing : fs.native;
	}
	std::unique_ptr<MountedTarget> mount(const MountRequest &req) const override
	{
		if (req.backing == nullptr)
			throw std::logic_error("native transport without a backing store");
		return std::make_unique<NativeTarget>(*req.backing);
	}
};

class DaemonTarget : public MountedTarget {
public:
	// `librfuse_stats`: where librfuse writes its statistics (RFUSE_STATS_FILE)
	// when the daemon serves through it, and `expect_transport` the
	// transport it must report having used ("" for a plain daemon).
	DaemonTarget(harness::DaemonSpec spec, const std::string &mount_dir, json config,
		     std::string librfuse_stats = "", std::string expect_transport = "")
		: mount_dir_(mount_dir), config_(std::move(config)), librfuse_stats_(std::move(librfuse_stats)),
		  expect_transport_(std::move(expect_transport))
	{
		try {
			fs_ = std::make_unique<harness::MountedFs>(std::move(spec));
		} catch (...) {
			rmdir(mount_dir_.c_str());
			throw;
		}
		config_["daemon_pid"] = fs_->pid();
		config_["fstype"] = fs_->fstype();
	}
	~DaemonTarget() override { stop(); }
	const std::string &workdir() const override { return fs_->mountpoint(); }
	bool daemon_alive() override { return !stopped_ && fs_->daemon_alive(); }
	pid_t daemon_pid() const override { return fs_->pid(); }
	std::string stop() override
	{
		if (stopped_)
			return stop_error_;
		stopped_ = true;
		bool died = !fs_->daemon_alive();
		int status = fs_->stop();
		rmdir(mount_dir_.c_str());
		// A daemon we unmounted exits 0; one that died before that, or
		// exits with an error after the unmount, is a failure.
		if (died || status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			stop_error_ = std::string("daemon ") + (died ? "died during the point: " : "") +
				      describe_wait_status(status);
		else if (!expect_transport_.empty())
			stop_error_ = check_librfuse();
		return stop_error_;
	}
	std::string log_tail() const override { return fs_->log_tail(2048); }
	json describe() const override { return config_; }

private:
	// What librfuse said at the daemon's unmount: the transport that really
	// served (into the report's mount.librfuse); "" or why the point
	// measured something other than what it names.
	std::string check_librfuse()
	{
		std::ifstream in(librfuse_stats_);
		json stats = in.is_open() ? json::parse(in, nullptr, false) : json();
		if (stats.is_discarded() || !stats.is_object())
			return "librfuse wrote no statistics (" + librfuse_stats_ +
			       "): the daemon did not serve through librfuse (LD_PRELOAD not honoured?)";
		config_["librfuse"] = stats;
		std::string used = stats.value("transport_used", "");
		if (used != expect_transport_)
			return "librfuse served over '" + used + "', not '" + expect_transport_ + "'" +
			       (stats.value("error", "").empty() ? "" : ": " + stats.value("error", ""));
		return "";
	}

	std::string mount_dir_;
	json config_;
	std::string librfuse_stats_, expect_transport_;
	std::unique_ptr<harness::MountedFs> fs_;
	bool stopped_ = false;
	std::string stop_error_;
};

class DaemonTransport : public Transport {
public:
	// `requirement`: the path that must exist for this transport (its
	// device, or for uring the fuse module's enable_uring parameter).
	// `only_fs`: the one filesystem this transport applies to (empty: all);
	// `extra_env`: more of librfuse's environment (e.g. RFUSE_PASSTHROUGH=1).
	DaemonTransport(std::string name, std::string suffix, std::string env_transport, std::string requirement,
			std::string description, std::string only_fs = "",
			std::map<std::string, std::string> extra_env = {})
		: name_(std::move(name)), suffix_(std::move(suffix)), env_transport_(std::move(env_transport)),
		  requirement_(std::move(requirement)), description_(std::move(description)),
		  only_fs_(std::move(only_fs)), extra_env_(std::move(extra_env))
	{
	}
	std::string name() const override { return name_; }
	std::string description() const override { return description_; }
	std::string unavailable_reason(const FsDef &fs, const std::string &bin_dir) const override
	{
		if (!only_fs_.empty() && fs.name != only_fs_)
			return name_ + " applies to " + only_fs_ + " only";
		if (!exists(requirement_))
			return requirement_ + " does not exist" +
			       (name_ == "rfuse" ? " (rfuse.ko not loaded; run it in the VM: ./run.sh vm -- ...)"
						 : name_ == "uring" ? " (kernel without FUSE over io_uring)" : "");
		if (fs.command.empty()) {
			std::string bin = bin_dir + "/" + fs.name + suffix_;
			if (access(bin.c_str(), X_OK) != 0)
				return bin + " is not built";
		} else {
			if (find_program(fs.command[0]).empty())
				return fs.command[0] + " is not installed (not an executable, nor on PATH)";
			std::string lib = librfuse_path(bin_dir);
			if (!env_transport_.empty() && !exists(lib))
				return lib + " is not built (" + name_ + " runs " + fs.command[0] +
				       " under LD_PRELOAD=librfuse.so)";
		}
		if (name_ == "uring" && !uring_enabled())
			return "FUSE over io_uring is off (" + requirement_ + " is N; as root: echo Y > " + requirement_ + ")";
		return "";
	}
	std::string backing_kind(const FsDef &fs, const Point &point) const override
	{
		return fs.needs_backing ? point.backing : "";
	}
	std::unique_ptr<MountedTarget> mount(const MountRequest &req) const override
	{
		std::string tmpl = req.mount_root + "/mnt-XXXXXX";
		if (mkdtemp(tmpl.data()) == nullptr)
			throw std::runtime_error("mkdtemp " + tmpl + ": " + std::strerror(errno));
		harness::DaemonSpec spec;
		json config = {{"kind", "daemon"}};
		if (req.fs.command.empty()) {
			spec.argv.push_back(req.bin_dir + "/" + req.fs.name + suffix_);
			for (const std::string &arg : req.fs.args)
				spec.argv.push_back(with_source(arg, req));
			config["appended_args"] = {"-f", tmpl};
		} else {
			command_spec(req, &spec, &config);
		}
		spec.mountpoint = tmpl;
		spec.log_path = req.log_path;
		std::string stats_file;
		if (!env_transport_.empty()) {
			spec.env["RFUSE_TRANSPORT"] = env_transport_;
			spec.env["RFUSE_FALLBACK"] = "0"; // measure what was asked for, or fail
			stats_file = req.log_path + ".librfuse.json";
			spec.env["RFUSE_STATS_FILE"] = stats_file;
			unlink(stats_file.c_str()); // a repetition's own
		}
		for (const auto &[k, v] : extra_env_)
			spec.env[k] = v;
		config["argv"] = spec.argv;
		config["env"] = spec.env;
		config["mountpoint"] = tmpl;
		config["log"] = req.log_path;
		if (req.backing != nullptr)
			config["backing"] = {{"store", req.backing->kind()},
					     {"mountpoint", req.backing->mountpoint()},
					     {"source", req.backing->data_dir()},
					     {"loop_device", req.backing->loop_device()},
					     {"size_bytes", req.backing->size()}};
		return std::make_unique<DaemonTarget>(std::move(spec), tmpl, std::move(config), stats_file,
						      env_transport_);
	}

private:
	// A program of the user's (FsDef::command): its command line as given,
	// split around "{mountpoint}"; the prepared directories made; for rfuse
	// and uring librfuse preloaded.
	void command_spec(const MountRequest &req, harness::DaemonSpec *spec, json *config) const
	{
		for (const std::string &d : req.fs.prepare) {
			std::string dir = with_source(d, req);
			std::error_code ec;
			std::filesystem::create_directories(dir, ec);
			if (ec)
				throw std::runtime_error("prepare " + dir + ": " + ec.message());
		}
		bool after = false;
		for (const std::string &arg : req.fs.command) {
			if (arg == "{mountpoint}")
				after = true;
			else
				(after ? spec->args_after_mountpoint : spec->argv).push_back(with_source(arg, req));
		}
		spec->foreground_flag = false; // the command says -f itself, or daemonizes
		spec->daemonize = req.fs.daemonize;
		if (!env_transport_.empty())
			spec->env["LD_PRELOAD"] = librfuse_path(req.bin_dir);
		(*config)["command"] = req.fs.command;
		(*config)["args_after_mountpoint"] = spec->args_after_mountpoint;
		(*config)["daemonized"] = req.fs.daemonize;
	}

	// The kernel reads the parameter at mount time. Switching it on is the
	// caller's decision (./run.sh full-suite does), not a side effect here.
	bool uring_enabled() const
	{
		std::ifstream in(requirement_);
		std::string v;
		in >> v;
		return v == "Y" || v == "1";
	}

	std::string name_, suffix_, env_transport_, requirement_, description_, only_fs_;
	std::map<std::string, std::string> extra_env_;
};

} // namespace

const Transport &transport(const std::string &name)
{
	static const NativeTransport native;
	static const DaemonTransport fuse("fuse", "-fuse", "", "/dev/fuse", "classic FUSE over /dev/fuse (<fs>-fuse)");
	static const DaemonTransport rfuse("rfuse", "-rfuse", "rfuse", "/dev/rfuse",
					   "RFUSE per-CPU ring channels (<fs>-rfuse, RFUSE_TRANSPORT=rfuse)");
	static const DaemonTransport uring("uring", "-rfuse", "uring", "/sys/module/fuse/parameters/enable_uring",
					   "FUSE over io_uring (<fs>-rfuse, RFUSE_TRANSPORT=uring)");
	// FUSE passthrough (6.9+): StackFS answers opens with a backing file, the
	// kernel does the reads and writes; librfuse refuses the mount where the
	// kernel lacks it (no silent fallback).
	static const DaemonTransport passthrough("fuse-passthrough", "-rfuse", "fuse", "/dev/fuse",
						 "classic FUSE with FUSE passthrough for StackFS's files "
						 "(stackfs-rfuse, RFUSE_TRANSPORT=fuse, RFUSE_PASSTHROUGH=1)",
						 "stackfs", {{"RFUSE_PASSTHROUGH", "1"}});
	if (name == "native")
		return native;
	if (name == "fuse-passthrough")
		return passthrough;
	if (name == "fuse")
		return fuse;
	if (name == "rfuse")
		return rfuse;
	if (name == "uring")
		return uring;
	throw ConfigError("unknown transport '" + name + "' (valid: " + join(transport_names()) + ")");
}

std::string describe_wait_status(int status)
{
	if (status == -1)
		return "had to be killed";
	if (WIFEXITED(status))
		return "exited with status " + std::to_string(WEXITSTATUS(status));
	if (WIFSIGNALED(status))
		return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
	return "status " + std::to_string(status);
}

} // namespace bench
