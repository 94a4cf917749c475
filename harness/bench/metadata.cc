#include "metadata.hpp"

#include "timed_threads.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace bench {
namespace {

using Clock = std::chrono::steady_clock;

void make_dir(const std::string &path)
{
	if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
		throw_errno("mkdir", path);
}

void create_file(const std::string &path)
{
	int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		throw_errno("creat", path);
	if (close(fd) != 0)
		throw_errno("close", path);
}

void open_close(const std::string &path)
{
	int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		throw_errno("open", path);
	if (close(fd) != 0)
		throw_errno("close", path);
}

void scan_dir(const std::string &path)
{
	DIR *d = opendir(path.c_str());
	if (d == nullptr)
		throw_errno("opendir", path);
	errno = 0;
	while (readdir(d) != nullptr) {
	}
	int err = errno;
	closedir(d);
	if (err != 0) {
		errno = err;
		throw_errno("readdir", path);
	}
}

std::string file_name(int thread, long long n)
{
	return "t" + std::to_string(thread) + "-f" + std::to_string(n);
}

// The directory thread `t` works in, and the setup each op needs.
struct Layout {
	const MetadataParams &p;
	bool shared() const { return p.op.back() == 'M' || p.op.back() == 'H'; }
	std::string thread_dir(int t) const
	{
		if (shared())
			return p.dir + "/shared.d";
		std::string d = p.dir + "/t" + std::to_string(t) + ".d";
		if (p.op == "MRPL")
			d += "/d0.d/d1.d/d2.d/d3.d/d4.d";
		return d;
	}
};

void setup(const MetadataParams &p, const Layout &layout)
{
	int n = static_cast<int>(p.cpus.size());
	if (layout.shared())
		make_dir(p.dir + "/shared.d");
	for (int t = 0; t < n; ++t) {
		if (!layout.shared()) {
			std::string d = p.dir + "/t" + std::to_string(t) + ".d";
			make_dir(d);
			if (p.op == "MRPL")
				for (int level = 0; level < 5; ++level)
					make_dir(d += "/d" + std::to_string(level) + ".d");
		}
	}
	const std::string &op = p.op;
	if (op == "MWUL" || op == "MWUM") {
		for (int t = 0; t < n; ++t)
			for (int i = 0; i < p.files_per_thread; ++i)
				create_file(layout.thread_dir(t) + "/" + file_name(t, i));
	} else if (op == "MRDL") {
		for (int t = 0; t < n; ++t)
			for (int i = 0; i < p.dir_entries; ++i)
				create_file(layout.thread_dir(t) + "/" + file_name(t, i));
	} else if (op == "MRDM" || op == "MRPM") {
		for (int i = 0; i < p.dir_entries; ++i)
			create_file(layout.thread_dir(0) + "/" + file_name(0, i));
	} else if (op == "MRPL") {
		for (int t = 0; t < n; ++t)
			create_file(layout.thread_dir(t) + "/file");
	} else if (op == "MRPH") {
		create_file(layout.thread_dir(0) + "/file");
	}
}

// One work of thread `t`; `n` counts its works so far. False: pool exhausted.
bool one_work(const MetadataParams &p, const Layout &layout, const std::string &dir, int t, long long n,
	      unsigned &rng)
{
	const std::string &op = p.op;
	if (op == "MWCL" || op == "MWCM") {
		if (n >= p.files_per_thread)
			return false;
		create_file(dir + "/" + file_name(t, n));
	} else if (op == "MWUL" || op == "MWUM") {
		if (n >= p.files_per_thread)
			return false;
		std::string path = dir + "/" + file_name(t, n);
		if (unlink(path.c_str()) != 0)
			throw_errno("unlink", path);
	} else if (op == "MRDL" || op == "MRDM") {
		scan_dir(dir);
	} else if (op == "MRPL" || op == "MRPH") {
		open_close(dir + "/file");
	} else if (op == "MRPM") {
		rng ^= rng << 13;
		rng ^= rng >> 17;
		rng ^= rng << 5;
		open_close(dir + "/" + file_name(0, rng % static_cast<unsigned>(p.dir_entries)));
	} else {
		throw std::invalid_argument("unknown metadata op " + op);
	}
	(void)layout;
	return true;
}

} // namespace

const std::vector<std::string> &metadata_ops()
{
	static const std::vector<std::string> ops = {"MWCL", "MWCM", "MWUL", "MWUM", "MRDL",
						     "MRDM", "MRPL", "MRPM", "MRPH"};
	return ops;
}

MetadataResult run_metadata(const MetadataParams &p)
{
	MetadataResult r;
	Layout layout{p};
	int n = static_cast<int>(p.cpus.size());
	auto setup_start = Clock::now();
	try {
		setup(p, layout);
	} catch (const std::exception &e) {
		r.error = std::string("setup: ") + e.what();
		return r;
	}
	r.setup_s = std::chrono::duration<double>(Clock::now() - setup_start).count();

	r.threads.resize(n);
	TimedThreadsResult tr = run_timed_threads(p.cpus, p.duration_s, p.should_stop,
						  [&](int t, const std::atomic<bool> &stop) {
		MetadataThread &me = r.threads[t];
		std::string dir = layout.thread_dir(t);
		unsigned rng = 2463534242u + static_cast<unsigned>(t) * 7919u;
		while (!stop.load(std::memory_order_relaxed)) {
			if (!one_work(p, layout, dir, t, me.works, rng)) {
				me.exhausted = true;
				return;
			}
			++me.works;
		}
	}, p.window);
	for (int t = 0; t < n; ++t) {
		r.threads[t].cpu = p.cpus[t];
		r.threads[t].elapsed_s = tr.elapsed_s[t];
	}
	if (!tr.error.empty()) {
		r.error = tr.error;
		return r;
	}
	for (const MetadataThread &t : r.threads)
		if (t.elapsed_s > 0)
			r.works_per_sec += t.works / t.elapsed_s;
	r.works_per_sec_per_thread = n > 0 ? r.works_per_sec / n : 0;
	r.ok = true;
	return r;
}

nlohmann::json to_json(const MetadataThread &t)
{
	return {{"cpu", t.cpu}, {"works", t.works}, {"elapsed_s", t.elapsed_s}, {"exhausted", t.exhausted}};
}

} // namespace bench
