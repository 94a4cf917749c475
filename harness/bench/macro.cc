#include "macro.hpp"

#include "timed_threads.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Personality {
	const char *name;
	unsigned long long file_size;
	int prealloc_pct;
	int dir_width; // files per directory; 0 = one flat directory
};

constexpr Personality kPersonalities[] = {
	{"fileserver", 128 * 1024, 80, 20},
	{"webserver", 16 * 1024, 100, 20},
	{"varmail", 16 * 1024, 80, 0},
};

const Personality &personality(const std::string &name)
{
	for (const Personality &p : kPersonalities)
		if (name == p.name)
			return p;
	throw std::invalid_argument("unknown macro workload '" + name + "'");
}

// One thread's slice of the fileset: which of its files exist, and how big.
struct Slice {
	std::vector<std::string> paths;
	std::vector<unsigned long long> size; // bytes written so far
	std::vector<int> present, absent;     // indices into paths
	unsigned rng;

	unsigned next()
	{
		rng ^= rng << 13;
		rng ^= rng >> 17;
		rng ^= rng << 5;
		return rng;
	}
	// Picks from `from` and moves it to `to`; -1 when `from` is empty.
	int take(std::vector<int> &from, std::vector<int> &to)
	{
		if (from.empty())
			return -1;
		size_t k = next() % from.size();
		int f = from[k];
		from[k] = from.back();
		from.pop_back();
		to.push_back(f);
		return f;
	}
	int any_present() { return present.empty() ? -1 : present[next() % present.size()]; }
};

class Worker {
public:
	Worker(const MacroParams &p, Slice &slice, MacroThread &stats, const std::string &log)
		: p_(p), s_(slice), st_(stats), log_(log), buf_(std::max(p.io_size, 2 * p.append_size), 'r')
	{
	}

	void iteration(const std::string &kind)
	{
		if (kind == "fileserver")
			fileserver();
		else if (kind == "webserver")
			webserver();
		else
			varmail();
		++st_.iterations;
	}

private:
	int open_file(const std::string &path, int flags)
	{
		int fd = open(path.c_str(), flags | O_CLOEXEC, 0644);
		if (fd < 0)
			throw_errno("open", path);
		++st_.ops;
		return fd;
	}
	void close_file(int fd, const std::string &path)
	{
		if (close(fd) != 0)
			throw_errno("close", path);
		++st_.ops;
	}
	void write_bytes(int fd, unsigned long long n, const std::string &path)
	{
		while (n > 0) {
			size_t chunk = static_cast<size_t>(std::min<unsigned long long>(n, p_.io_size));
			ssize_t w = write(fd, buf_.data(), chunk);
			if (w <= 0)
				throw_errno("write", path);
			n -= static_cast<unsigned long long>(w);
			st_.bytes_written += static_cast<unsigned long long>(w);
		}
		++st_.ops;
	}
	// Reads what we wrote (not what the filesystem claims: NullFS).
	void read_whole(int fd, int f)
	{
		unsigned long long left = s_.size[f];
		while (left > 0) {
			size_t chunk = static_cast<size_t>(std::min<unsigned long long>(left, p_.io_size));
			ssize_t r = read(fd, buf_.data(), chunk);
			if (r < 0)
				throw_errno("read", s_.paths[f]);
			if (r == 0)
				break;
			left -= static_cast<unsigned long long>(r);
			st_.bytes_read += static_cast<unsigned long long>(r);
		}
		++st_.ops;
	}
	unsigned append_amount() { return 1 + s_.next() % (2 * p_.append_size - 1); }
	void append(int fd, int f)
	{
		unsigned n = append_amount();
		write_bytes(fd, n, s_.paths[f]);
		s_.size[f] += n;
	}
	void fsync_file(int fd, const std::string &path)
	{
		if (fsync(fd) != 0)
			throw_errno("fsync", path);
		++st_.ops;
	}
	// createfile + (write whole | nothing); keeps a file to create at hand.
	int create(bool write_whole)
	{
		int f = s_.take(s_.absent, s_.present);
		if (f < 0) { // all exist: make room, uncounted
			f = s_.take(s_.present, s_.absent);
			unlink(s_.paths[f].c_str());
			s_.take(s_.absent, s_.present);
		}
		int fd = open_file(s_.paths[f], O_CREAT | O_TRUNC | O_WRONLY);
		s_.size[f] = 0;
		if (write_whole) {
			write_bytes(fd, p_.mean_file_size, s_.paths[f]);
			s_.size[f] = p_.mean_file_size;
		}
		return fd;
	}
	// A file that exists (creating one, uncounted, if none does).
	int existing()
	{
		int f = s_.any_present();
		if (f >= 0)
			return f;
		int fd = create(true);
		close(fd);
		return s_.present.back();
	}
	void delete_one()
	{
		if (s_.present.empty())
			existing();
		int f = s_.take(s_.present, s_.absent);
		if (unlink(s_.paths[f].c_str()) != 0)
			throw_errno("unlink", s_.paths[f]);
		s_.size[f] = 0;
		++st_.ops;
	}

	void fileserver()
	{
		int fd = create(true);
		int f = s_.present.back();
		close_file(fd, s_.paths[f]);
		f = existing();
		fd = open_file(s_.paths[f], O_WRONLY | O_APPEND);
		append(fd, f);
		close_file(fd, s_.paths[f]);
		f = existing();
		fd = open_file(s_.paths[f], O_RDONLY);
		read_whole(fd, f);
		close_file(fd, s_.paths[f]);
		delete_one();
		f = existing();
		struct stat sb;
		if (stat(s_.paths[f].c_str(), &sb) != 0)
			throw_errno("stat", s_.paths[f]);
		++st_.ops;
	}

	void webserver()
	{
		for (int i = 0; i < 10; ++i) {
			int f = existing();
			int fd = open_file(s_.paths[f], O_RDONLY);
			read_whole(fd, f);
			close_file(fd, s_.paths[f]);
		}
		int fd = open_file(log_, O_WRONLY | O_APPEND);
		write_bytes(fd, append_amount(), log_);
		close_file(fd, log_);
	}

	void varmail()
	{
		delete_one();
		int fd = create(false);
		int f = s_.present.back();
		append(fd, f);
		fsync_file(fd, s_.paths[f]);
		close_file(fd, s_.paths[f]);
		f = existing();
		fd = open_file(s_.paths[f], O_RDWR | O_APPEND);
		read_whole(fd, f);
		append(fd, f);
		fsync_file(fd, s_.paths[f]);
		close_file(fd, s_.paths[f]);
		f = existing();
		fd = open_file(s_.paths[f], O_RDONLY);
		read_whole(fd, f);
		close_file(fd, s_.paths[f]);
	}

	const MacroParams &p_;
	Slice &s_;
	MacroThread &st_;
	std::string log_;
	std::string buf_;
};

void make_dir(const std::string &path)
{
	if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
		throw_errno("mkdir", path);
}

} // namespace

const std::vector<std::string> &macro_personalities()
{
	static const std::vector<std::string> names = {"fileserver", "webserver", "varmail"};
	return names;
}

MacroParams macro_defaults(const std::string &name)
{
	MacroParams p;
	p.personality = name;
	p.mean_file_size = personality(name).file_size;
	return p;
}

MacroResult run_macro(const MacroParams &p)
{
	MacroResult r;
	const Personality &pers = personality(p.personality);
	int n = static_cast<int>(p.cpus.size());
	if (n == 0 || p.files < n)
		throw std::invalid_argument("macro workload: need at least one file per thread");
	auto setup_start = Clock::now();
	std::vector<Slice> slices(n);
	// Directories are named *.d (NullFS treats only such names as directories).
	std::string root = p.dir + "/" + p.personality + ".d";
	std::string log = root + "/log";
	try {
		make_dir(root);
		std::string dir = root;
		for (int i = 0; i < p.files; ++i) {
			if (pers.dir_width > 0 && i % pers.dir_width == 0) {
				dir = root + "/d" + std::to_string(i / pers.dir_width) + ".d";
				make_dir(dir);
			}
			Slice &s = slices[i % n];
			int f = static_cast<int>(s.paths.size());
			s.paths.push_back(dir + "/f" + std::to_string(i));
			s.size.push_back(0);
			// Preallocate prealloc_pct of the files with their full size.
			if (i % 100 < pers.prealloc_pct) {
				int fd = open(s.paths[f].c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
				if (fd < 0)
					throw_errno("open", s.paths[f]);
				std::string chunk(static_cast<size_t>(std::min<unsigned long long>(p.mean_file_size, p.io_size)), 'p');
				for (unsigned long long left = p.mean_file_size; left > 0;) {
					size_t c = static_cast<size_t>(std::min<unsigned long long>(left, chunk.size()));
					if (write(fd, chunk.data(), c) != static_cast<ssize_t>(c)) {
						close(fd);
						throw_errno("write", s.paths[f]);
					}
					left -= c;
				}
				if (close(fd) != 0)
					throw_errno("close", s.paths[f]);
				s.size[f] = p.mean_file_size;
				s.present.push_back(f);
			} else {
				s.absent.push_back(f);
			}
		}
		int fd = open(log.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
		if (fd < 0 || close(fd) != 0)
			throw_errno("create", log);
	} catch (const std::exception &e) {
		r.error = std::string("setup: ") + e.what();
		return r;
	}
	for (int t = 0; t < n; ++t)
		slices[t].rng = 2463534242u + static_cast<unsigned>(t) * 7919u;
	r.setup_s = std::chrono::duration<double>(Clock::now() - setup_start).count();

	r.threads.resize(n);
	TimedThreadsResult tr = run_timed_threads(p.cpus, p.duration_s, p.should_stop,
						  [&](int t, const std::atomic<bool> &stop) {
		Worker w(p, slices[t], r.threads[t], log);
		while (!stop.load(std::memory_order_relaxed))
			w.iteration(p.personality);
	}, p.window);
	for (int t = 0; t < n; ++t) {
		r.threads[t].cpu = p.cpus[t];
		r.threads[t].elapsed_s = tr.elapsed_s[t];
	}
	if (!tr.error.empty()) {
		r.error = tr.error;
		return r;
	}
	for (const MacroThread &t : r.threads) {
		if (t.elapsed_s <= 0)
			continue;
		r.ops_per_sec += t.ops / t.elapsed_s;
		r.iterations_per_sec += t.iterations / t.elapsed_s;
		r.mib_per_sec += static_cast<double>(t.bytes_read + t.bytes_written) / t.elapsed_s / (1024.0 * 1024.0);
	}
	r.ok = true;
	return r;
}

nlohmann::json to_json(const MacroThread &t)
{
	return {{"cpu", t.cpu},
		{"ops", t.ops},
		{"iterations", t.iterations},
		{"bytes_read", t.bytes_read},
		{"bytes_written", t.bytes_written},
		{"elapsed_s", t.elapsed_s}};
}

} // namespace bench
