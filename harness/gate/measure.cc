#include "measure.hpp"

#include "backing.hpp"
#include "cpu.hpp"
#include "fio.hpp"
#include "interrupt.hpp"
#include "metadata.hpp"
#include "mount.hpp"
#include "subprocess.hpp"
#include "timed_threads.hpp"
#include "transport.hpp"

#include <algorithm>
#include <chrono>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace gate {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr unsigned long long kStackfsFileBytes = 64ULL << 20;

std::string daemon_binary(const std::string &bin_dir, const std::string &fsname, const std::string &transport)
{
	return bin_dir + "/" + fsname + (transport == "fuse" ? "-fuse" : "-rfuse");
}

double median_of(std::vector<double> &v)
{
	std::sort(v.begin(), v.end());
	size_t n = v.size();
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Median latency of stat() on one file, every call timed; attr_timeout=0 on
// the mount makes each one a GETATTR in the daemon.
double getattr_latency_us(const std::string &dir, const std::vector<int> &cpus, double duration_s,
			  const std::function<bool()> &should_stop)
{
	const std::string path = dir + "/gate-stat-target";
	std::vector<std::vector<double>> lat(cpus.size());
	auto res = bench::run_timed_threads(cpus, duration_s, should_stop,
					    [&](int t, const std::atomic<bool> &stop) {
						    auto &mine = lat[static_cast<size_t>(t)];
						    mine.reserve(1 << 18);
						    struct stat st {};
						    while (!stop.load(std::memory_order_relaxed)) {
							    auto a = Clock::now();
							    if (stat(path.c_str(), &st) != 0)
								    bench::throw_errno("stat", path);
							    auto b = Clock::now();
							    mine.push_back(std::chrono::duration<double, std::micro>(b - a).count());
						    }
					    });
	if (!res.error.empty())
		throw std::runtime_error("getattr loop: " + res.error);
	std::vector<double> all;
	for (auto &v : lat)
		all.insert(all.end(), v.begin(), v.end());
	if (all.empty())
		throw std::runtime_error("getattr loop: no operation completed");
	return median_of(all);
}

struct FioJob {
	std::string rw, bs, filename, size;
	bool direct = false;
};

// Runs one time-based fio job over `threads` pinned jobs; returns the
// parsed result's `metric` ("read.iops", "read.bandwidth").
double run_fio(const FioJob &job, const std::vector<int> &cpus, double duration_s, const std::string &jobfile,
	       const std::string &metric)
{
	{
		std::ofstream f(jobfile);
		f << "[global]\nioengine=psync\niodepth=1\n"
		  << "direct=" << (job.direct ? 1 : 0) << "\n"
		  << "filename=" << job.filename << "\nsize=" << job.size << "\n"
		  << "time_based=1\nruntime=" << static_cast<long>(duration_s * 1000) << "ms\n"
		  << "numjobs=" << cpus.size() << "\n"
		  << "cpus_allowed=" << bench::cpu_list(cpus, static_cast<int>(cpus.size())) << "\n"
		  << "cpus_allowed_policy=split\ngroup_reporting=1\nnorandommap=1\nrandrepeat=0\ninvalidate=0\n"
		  << "[gate]\nrw=" << job.rw << "\nbs=" << job.bs << "\n";
	}
	auto timeout = std::chrono::milliseconds(static_cast<long>(duration_s * 1000) + 60000);
	bench::ProcessResult p = bench::run_process({"fio", "--output-format=json", jobfile}, {}, timeout);
	if (p.exit_code != 0)
		throw std::runtime_error("fio " + p.describe() + ": " + p.err.substr(0, 2000));
	bench::FioResult r = bench::parse_fio_json(p.out);
	if (!r.ok)
		throw std::runtime_error("fio: " + r.error);
	auto it = r.metrics.find(metric);
	if (it == r.metrics.end())
		throw std::runtime_error("fio reported no " + metric);
	return it->second.value;
}

void write_file(const std::string &path, unsigned long long bytes)
{
	std::ofstream f(path, std::ios::binary);
	std::string chunk(1 << 20, 'g');
	for (unsigned long long done = 0; done < bytes; done += chunk.size())
		f.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
	if (!f.flush())
		throw std::runtime_error("cannot write " + path);
}

std::string make_dir(const std::string &path)
{
	if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
		bench::throw_errno("mkdir", path);
	return path;
}

} // namespace

const std::vector<MetricDef> &metric_defs()
{
	static const std::vector<MetricDef> defs = {
		{"nullfs_getattr_latency", "getattr", "nullfs", "us", false,
		 "median latency of stat() on one file (attr_timeout=0: one GETATTR each), every call timed"},
		{"nullfs_randread_4k", "randread", "nullfs", "IOPS", true,
		 "fio psync 4 KiB random read, O_DIRECT (one READ per call), one job per thread"},
		{"memfs_mwcl", "mwcl", "memfs", "works/s", true,
		 "fxmark MWCL: create empty files, each thread in its own directory"},
		{"stackfs_seqread_128k", "seqread", "stackfs", "MiB/s", true,
		 "fio psync 128 KiB sequential read of a 64 MiB file on tmpfs, stackfs -o cache=never"},
	};
	return defs;
}

const MetricDef &metric_def(const std::string &name)
{
	for (const auto &d : metric_defs())
		if (d.name == name || d.short_name == name)
			return d;
	throw std::invalid_argument("unknown metric '" + name + "'");
}

std::string sample_key(const std::string &metric, const std::string &transport, int threads)
{
	return metric + "/" + transport + "/t" + std::to_string(threads);
}

constexpr const char *kEnableUring = "/sys/module/fuse/parameters/enable_uring";

static std::string read_enable_uring()
{
	std::ifstream f(kEnableUring);
	std::string v;
	f >> v;
	return v;
}

UringSwitch::UringSwitch() : original_(read_enable_uring()) {}

UringSwitch::~UringSwitch()
{
	if (changed_ && !original_.empty() && read_enable_uring() != original_) {
		std::ofstream f(kEnableUring);
		f << original_ << "\n";
	}
}

std::string UringSwitch::ensure_on()
{
	if (original_.empty())
		return std::string("the kernel has no FUSE over io_uring (no ") + kEnableUring + ")";
	if (read_enable_uring() == "Y")
		return "";
	{
		std::ofstream f(kEnableUring);
		f << "Y\n";
	}
	changed_ = true;
	if (read_enable_uring() != "Y")
		return std::string("FUSE over io_uring is off and cannot be switched on (as root: echo Y > ") +
		       kEnableUring + ")";
	return "";
}

std::string transport_unavailable(const std::string &transport, const std::string &bin_dir)
{
	if (transport == "fuse")
		return access("/dev/fuse", R_OK | W_OK) == 0 ? "" : "/dev/fuse is not usable";
	if (transport == "uring") {
		std::string v = read_enable_uring();
		if (v.empty())
			return std::string("the kernel has no FUSE over io_uring (no ") + kEnableUring + ")";
		if (v != "Y" && access(kEnableUring, W_OK) != 0)
			return std::string("FUSE over io_uring is off and we may not switch it on (") + kEnableUring +
			       " is " + v + ")";
		if (access(daemon_binary(bin_dir, "nullfs", "uring").c_str(), X_OK) != 0)
			return "no " + daemon_binary(bin_dir, "nullfs", "uring");
		return "";
	}
	if (transport == "rfuse") {
		if (access("/dev/rfuse", R_OK | W_OK) != 0)
			return "RFUSE needs the rfuse kernel module and /dev/rfuse is not usable here (on a host that "
			       "cannot load rfuse.ko, ./run.sh gate measures RFUSE inside the VM rig)";
		if (access(daemon_binary(bin_dir, "nullfs", "rfuse").c_str(), X_OK) != 0)
			return "no " + daemon_binary(bin_dir, "nullfs", "rfuse");
		return "";
	}
	return "unknown transport";
}

BuildSamples measure(const MeasureOptions &opts)
{
	if (opts.builds.empty())
		throw std::invalid_argument("gate::measure: no build to measure");
	BuildSamples out;
	UringSwitch uring_switch;
	// Which filesystems are needed, in metric order.
	std::vector<std::string> filesystems;
	for (const auto &m : opts.metrics) {
		const MetricDef &d = metric_def(m);
		if (std::find(filesystems.begin(), filesystems.end(), d.fs) == filesystems.end())
			filesystems.push_back(d.fs);
		for (const auto &b : opts.builds)
			for (const auto &t : opts.transports)
				for (int n : opts.thread_counts) {
					SampleSet &s = out[b.label][sample_key(d.name, t, n)];
					s.unit = d.unit;
					s.higher_is_better = d.higher_is_better;
				}
	}

	const std::string logs = make_dir(opts.scratch_dir + "/logs");
	std::unique_ptr<bench::BackingStore> backing;
	if (std::find(filesystems.begin(), filesystems.end(), "stackfs") != filesystems.end()) {
		backing = std::make_unique<bench::BackingStore>("tmpfs", opts.scratch_dir, 256ULL << 20);
		write_file(backing->data_dir() + "/seq.dat", kStackfsFileBytes);
	}

	// One mount group = one (filesystem, transport, build) daemon; every
	// repetition visits all groups, starting one further along each time, so
	// the builds of one configuration run next to each other in either order.
	struct Group {
		std::string fsname, transport;
		const Build *build;
	};
	std::vector<Group> groups;
	for (const auto &t : opts.transports)
		for (const auto &f : filesystems)
			for (const auto &b : opts.builds)
				groups.push_back({f, t, &b});

	for (int rep = 0; rep < opts.repetitions; rep++) {
		for (size_t g = 0; g < groups.size(); g++) {
			const Group &group = groups[(g + static_cast<size_t>(rep)) % groups.size()];
			const std::string &fsname = group.fsname, &transport = group.transport;
			const Build &build = *group.build;
			const std::string tag = fsname + "-" + transport + "-" + build.label;
			harness::DaemonSpec spec;
			spec.argv = {daemon_binary(build.bin_dir, fsname, transport)};
			if (fsname == "nullfs") {
				std::string o = "attr_timeout=0";
				if (build.inject_delay_us > 0)
					o += ",delay_us=" + std::to_string(build.inject_delay_us);
				spec.argv.insert(spec.argv.end(), {"-o", o});
			} else if (fsname == "stackfs") {
				spec.argv.insert(spec.argv.end(), {"-o", "cache=never", backing->data_dir()});
			}
			if (transport == "rfuse")
				spec.env["RFUSE_TRANSPORT"] = "rfuse"; // no fallback: a point never claims RFUSE falsely
			if (transport == "uring") {
				spec.env["RFUSE_TRANSPORT"] = "uring";
				if (std::string why = uring_switch.ensure_on(); !why.empty())
					throw std::runtime_error(why);
			}
			spec.mountpoint = make_dir(opts.scratch_dir + "/mnt-" + tag);
			spec.log_path = logs + "/" + tag + ".log";
			if (opts.progress)
				opts.progress("rep " + std::to_string(rep + 1) + "/" + std::to_string(opts.repetitions) +
					      ": " + fsname + " over " + transport +
					      (opts.builds.size() > 1 ? " (" + build.label + " build)" : ""));
			harness::MountedFs mounted(spec);
			auto should_stop = [&mounted] { return bench::stop_requested() || !mounted.daemon_alive(); };
			const std::string &dir = mounted.mountpoint();

			for (const auto &m : opts.metrics) {
				const MetricDef &d = metric_def(m);
				if (d.fs != fsname)
					continue;
				for (int n : opts.thread_counts) {
					std::vector<int> cpus(opts.cpu_order.begin(), opts.cpu_order.begin() + n);
					const std::string jobfile = opts.scratch_dir + "/job.fio";
					double v = 0;
					if (d.short_name == "getattr") {
						v = getattr_latency_us(dir, cpus, opts.duration_s, should_stop);
					} else if (d.short_name == "randread") {
						v = run_fio({"randread", "4k", dir + "/gate-randread", "1g", true}, cpus,
							    opts.duration_s, jobfile, "read.iops");
					} else if (d.short_name == "seqread") {
						v = run_fio({"read", "128k", dir + "/seq.dat",
							     std::to_string(kStackfsFileBytes), false},
							    cpus, opts.duration_s, jobfile, "read.bandwidth");
					} else if (d.short_name == "mwcl") {
						bench::MetadataParams mp;
						mp.op = "MWCL";
						mp.dir = make_dir(dir + "/mwcl-t" + std::to_string(n));
						mp.cpus = cpus;
						mp.duration_s = opts.duration_s;
						mp.files_per_thread = 200000;
						mp.should_stop = should_stop;
						bench::MetadataResult r = bench::run_metadata(mp);
						if (!r.ok)
							throw std::runtime_error("MWCL: " + r.error);
						v = r.works_per_sec;
					}
					if (bench::stop_requested())
						throw std::runtime_error("interrupted");
					if (!mounted.daemon_alive())
						throw std::runtime_error(tag + " daemon died; log tail:\n" +
									 mounted.log_tail());
					out[build.label][sample_key(d.name, transport, n)].values.push_back(v);
				}
			}
			int status = mounted.stop();
			if (status != 0)
				throw std::runtime_error(tag + " daemon ended with " +
							 bench::describe_wait_status(status) + "; log tail:\n" +
							 mounted.log_tail());
		}
	}
	return out;
}

} // namespace gate
