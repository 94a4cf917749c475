// fsx-style random test: one seeded sequence of writes, truncates, reads,
// mmap reads/writes, fallocate and hole punches, applied to one file on the
// reference and on the subject. Every read is compared against the other
// side and against an in-memory model of the file; the whole file is
// compared every 100 operations and at the end. The seed is printed at the
// start and in every failure, so a failing run can be replayed exactly.
#include "posix_fixture.hpp"

#include <chrono>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <unistd.h>

namespace posix {
namespace {

// splitmix64: the same sequence on every platform and library version.
class Rng {
public:
	explicit Rng(uint64_t seed) : state_(seed) {}
	uint64_t next()
	{
		uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		return z ^ (z >> 31);
	}
	uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }

private:
	uint64_t state_;
};

enum class Op { read, write, mapread, mapwrite, truncate, punch, falloc, fsync, reopen };

struct Weighted {
	Op op;
	unsigned weight;
	const char *name;
};

constexpr Weighted kOps[] = {
	{Op::read, 20, "read"},     {Op::write, 24, "write"},   {Op::mapread, 10, "mapread"},
	{Op::mapwrite, 10, "mapwrite"}, {Op::truncate, 10, "truncate"}, {Op::punch, 8, "punch"},
	{Op::falloc, 6, "fallocate"}, {Op::fsync, 4, "fsync"},   {Op::reopen, 3, "reopen"},
};

// One side's file.
struct Side {
	const char *name;
	Dir *dir;
	int fd = -1;
};

class FsxRun {
public:
	FsxRun(Dir &ref, Dir &sub, const SuiteConfig &cfg)
		: cfg_(cfg), rng_(cfg.seed), sides_{{{"reference", &ref}, {"subject", &sub}}},
		  page_(static_cast<size_t>(sysconf(_SC_PAGESIZE)))
	{
	}
	~FsxRun()
	{
		for (Side &s : sides_)
			if (s.fd >= 0)
				close(s.fd);
	}

	void run()
	{
		for (Side &s : sides_) {
			s.fd = openat(s.dir->fd(), "fsx-file", O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0644);
			if (s.fd < 0)
				return fail(fmt::format("{}: open fsx-file: {}", s.name, errno_name(errno)));
		}
		punch_ = cfg_.fsx_punch && probe_punch();
		std::printf("fsx: seed %llu, %u ops, max file length %u, mmap %s, punch %s\n",
			    static_cast<unsigned long long>(cfg_.seed), cfg_.fsx_ops, cfg_.fsx_max_len,
			    cfg_.fsx_mmap ? "on" : "off", punch_ ? "on" : "off");
		auto start = std::chrono::steady_clock::now();
		unsigned total_weight = 0;
		for (const Weighted &w : kOps)
			total_weight += w.weight;
		for (op_no_ = 1; op_no_ <= cfg_.fsx_ops && !failed_; ++op_no_) {
			std::chrono::duration<double> spent = std::chrono::steady_clock::now() - start;
			if (spent.count() > cfg_.fsx_time_limit_s) {
				std::printf("fsx: time limit of %.0f s reached after %u ops; stopping early\n",
					    cfg_.fsx_time_limit_s, op_no_ - 1);
				break;
			}
			uint64_t pick = rng_.below(total_weight);
			const Weighted *chosen = &kOps[0];
			for (const Weighted &w : kOps) {
				if (pick < w.weight) {
					chosen = &w;
					break;
				}
				pick -= w.weight;
			}
			step(chosen->op);
			++counts_[static_cast<size_t>(chosen->op)];
			if (!failed_ && op_no_ % 100 == 0)
				compare_whole("periodic check");
		}
		if (!failed_)
			compare_whole("final check");
		std::string summary;
		for (const Weighted &w : kOps)
			summary += fmt::format(" {} {}", w.name, counts_[static_cast<size_t>(w.op)]);
		std::printf("fsx: %u ops done:%s; final length %zu\n", op_no_ - 1, summary.c_str(), model_.size());
	}

private:
	void log(std::string what)
	{
		log_.push_back(fmt::format("#{} {}", op_no_, what));
		if (log_.size() > 40)
			log_.pop_front();
	}

	void fail(const std::string &what)
	{
		failed_ = true;
		std::string recent;
		for (const std::string &l : log_)
			recent += "\n    " + l;
		ADD_FAILURE() << "fsx seed " << cfg_.seed << " (rerun: --seed " << cfg_.seed
			      << " --gtest_filter='Fsx.*'), op #" << op_no_ << ": " << what
			      << "\n  model length " << model_.size() << "; the last operations:" << recent;
	}

	// Both sides must return the same; returns false (and fails) if not.
	bool agree(const char *op, long long ref_rc, int ref_err, long long sub_rc, int sub_err)
	{
		if (ref_rc == sub_rc && (ref_rc >= 0 || ref_err == sub_err))
			return true;
		fail(fmt::format("{}: reference returned {} ({}), subject {} ({})", op, ref_rc,
				 ref_rc < 0 ? errno_name(ref_err) : "ok", sub_rc, sub_rc < 0 ? errno_name(sub_err) : "ok"));
		return false;
	}

	std::string random_bytes(size_t len) { return pattern(len, rng_.next()); }

	size_t op_len(size_t limit)
	{
		// Mostly up to 64 KiB; now and then past FUSE's 128 KiB max_write.
		size_t max = rng_.below(16) == 0 ? 200 * 1024 : 64 * 1024;
		return 1 + rng_.below(std::min(max, std::max<size_t>(limit, 1)));
	}

	void check_bytes(const char *what, const Side &s, const char *got, size_t off, size_t len)
	{
		std::string_view want(model_.data() + off, len);
		if (std::memcmp(got, want.data(), len) == 0)
			return;
		size_t i = 0;
		while (i < len && got[i] == want[i])
			++i;
		fail(fmt::format("{} on the {} at {}+{}: byte {} (file offset {}) is 0x{:02x}, the model says 0x{:02x}", what,
				 s.name, off, len, i, off + i, static_cast<unsigned char>(got[i]),
				 static_cast<unsigned char>(want[i])));
	}

	void step(Op op)
	{
		switch (op) {
		case Op::read: return do_read();
		case Op::write: return do_write();
		case Op::mapread: return cfg_.fsx_mmap ? do_mapread() : do_read();
		case Op::mapwrite: return cfg_.fsx_mmap ? do_mapwrite() : do_write();
		case Op::truncate: return do_truncate();
		case Op::punch: return punch_ ? do_punch() : do_write();
		case Op::falloc: return do_falloc();
		case Op::fsync: return do_fsync();
		case Op::reopen: return do_reopen();
		}
	}

	void do_read()
	{
		// Mostly inside the file, sometimes across or past EOF.
		size_t bound = model_.size() + 4096;
		size_t off = rng_.below(bound), len = op_len(bound);
		log(fmt::format("read {}+{}", off, len));
		size_t want = off >= model_.size() ? 0 : std::min(len, model_.size() - off);
		std::string got[2];
		ssize_t rc[2];
		int err[2];
		for (int i = 0; i < 2; ++i) {
			got[i].assign(len, '\x5a');
			rc[i] = pread(sides_[i].fd, got[i].data(), len, static_cast<off_t>(off));
			err[i] = errno;
		}
		if (!agree("pread", rc[0], err[0], rc[1], err[1]))
			return;
		if (rc[1] != static_cast<ssize_t>(want))
			return fail(fmt::format("pread {}+{} returned {} on both sides, the model has {} bytes there", off,
						len, rc[1], want));
		for (int i = 0; i < 2 && !failed_; ++i)
			check_bytes("pread", sides_[i], got[i].data(), off, want);
	}

	void do_write()
	{
		size_t off = rng_.below(cfg_.fsx_max_len);
		size_t len = std::min(op_len(cfg_.fsx_max_len), cfg_.fsx_max_len - off);
		std::string data = random_bytes(len);
		log(fmt::format("write {}+{}", off, len));
		ssize_t rc[2];
		int err[2];
		for (int i = 0; i < 2; ++i) {
			rc[i] = pwrite(sides_[i].fd, data.data(), len, static_cast<off_t>(off));
			err[i] = errno;
		}
		if (!agree("pwrite", rc[0], err[0], rc[1], err[1]))
			return;
		if (rc[0] != static_cast<ssize_t>(len))
			return fail(fmt::format("short pwrite: {} of {}", rc[0], len));
		if (model_.size() < off + len)
			model_.resize(off + len, '\0');
		model_.replace(off, len, data);
	}

	void do_mapread()
	{
		if (model_.empty())
			return do_write();
		size_t off = rng_.below(model_.size());
		size_t len = std::min(op_len(model_.size()), model_.size() - off);
		size_t pg = off & ~(page_ - 1), map_len = len + (off - pg);
		log(fmt::format("mapread {}+{}", off, len));
		for (Side &s : sides_) {
			void *map = mmap(nullptr, map_len, PROT_READ, MAP_SHARED, s.fd, static_cast<off_t>(pg));
			if (map == MAP_FAILED)
				return fail(fmt::format("mmap PROT_READ on the {}: {}", s.name, errno_name(errno)));
			check_bytes("mapread", s, static_cast<char *>(map) + (off - pg), off, len);
			munmap(map, map_len);
			if (failed_)
				return;
		}
	}

	void do_mapwrite()
	{
		size_t off = rng_.below(cfg_.fsx_max_len);
		size_t len = std::min(op_len(cfg_.fsx_max_len), cfg_.fsx_max_len - off);
		std::string data = random_bytes(len);
		log(fmt::format("mapwrite {}+{}{}", off, len, off + len > model_.size() ? " (extends first)" : ""));
		if (off + len > model_.size()) {
			// A mapping cannot extend a file: grow it first, as fsx does.
			for (Side &s : sides_)
				if (ftruncate(s.fd, static_cast<off_t>(off + len)) != 0)
					return fail(fmt::format("ftruncate before mapwrite on the {}: {}", s.name,
								errno_name(errno)));
			model_.resize(off + len, '\0');
		}
		size_t pg = off & ~(page_ - 1), map_len = len + (off - pg);
		for (Side &s : sides_) {
			void *map = mmap(nullptr, map_len, PROT_READ | PROT_WRITE, MAP_SHARED, s.fd, static_cast<off_t>(pg));
			if (map == MAP_FAILED)
				return fail(fmt::format("mmap MAP_SHARED on the {}: {}", s.name, errno_name(errno)));
			std::memcpy(static_cast<char *>(map) + (off - pg), data.data(), len);
			int rc = msync(map, map_len, MS_SYNC);
			int err = errno;
			munmap(map, map_len);
			if (rc != 0)
				return fail(fmt::format("msync on the {}: {}", s.name, errno_name(err)));
		}
		model_.replace(off, len, data);
	}

	void do_truncate()
	{
		size_t len = rng_.below(cfg_.fsx_max_len + 1);
		log(fmt::format("truncate {} -> {}", model_.size(), len));
		int rc[2], err[2];
		for (int i = 0; i < 2; ++i) {
			rc[i] = ftruncate(sides_[i].fd, static_cast<off_t>(len));
			err[i] = errno;
		}
		if (!agree("ftruncate", rc[0], err[0], rc[1], err[1]))
			return;
		model_.resize(len, '\0');
	}

	void do_punch()
	{
		if (model_.empty())
			return do_write();
		size_t off = rng_.below(model_.size());
		size_t len = op_len(model_.size() - off);
		log(fmt::format("punch {}+{}", off, len));
		int rc[2], err[2];
		for (int i = 0; i < 2; ++i) {
			rc[i] = fallocate(sides_[i].fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(off),
					  static_cast<off_t>(len));
			err[i] = errno;
		}
		if (!agree("fallocate(PUNCH_HOLE|KEEP_SIZE)", rc[0], err[0], rc[1], err[1]))
			return;
		size_t end = std::min(off + len, model_.size());
		std::fill(model_.begin() + static_cast<long>(off), model_.begin() + static_cast<long>(end), '\0');
	}

	void do_falloc()
	{
		size_t off = rng_.below(cfg_.fsx_max_len);
		size_t len = std::min(op_len(cfg_.fsx_max_len), cfg_.fsx_max_len - off);
		int mode = rng_.below(2) == 0 ? 0 : FALLOC_FL_KEEP_SIZE;
		log(fmt::format("fallocate{} {}+{}", mode ? "(KEEP_SIZE)" : "", off, len));
		int rc[2], err[2];
		for (int i = 0; i < 2; ++i) {
			rc[i] = fallocate(sides_[i].fd, mode, static_cast<off_t>(off), static_cast<off_t>(len));
			err[i] = errno;
		}
		if (!agree("fallocate", rc[0], err[0], rc[1], err[1]))
			return;
		if (rc[0] == 0 && mode == 0 && off + len > model_.size())
			model_.resize(off + len, '\0');
	}

	void do_fsync()
	{
		log("fsync");
		int rc[2], err[2];
		for (int i = 0; i < 2; ++i) {
			rc[i] = fsync(sides_[i].fd);
			err[i] = errno;
		}
		agree("fsync", rc[0], err[0], rc[1], err[1]);
	}

	void do_reopen()
	{
		log("close and reopen");
		for (Side &s : sides_) {
			if (close(s.fd) != 0)
				return fail(fmt::format("close on the {}: {}", s.name, errno_name(errno)));
			s.fd = openat(s.dir->fd(), "fsx-file", O_RDWR | O_CLOEXEC);
			if (s.fd < 0)
				return fail(fmt::format("reopen on the {}: {}", s.name, errno_name(errno)));
		}
	}

	void compare_whole(const char *when)
	{
		for (Side &s : sides_) {
			struct stat st;
			if (fstat(s.fd, &st) != 0)
				return fail(fmt::format("{}: fstat on the {}: {}", when, s.name, errno_name(errno)));
			if (static_cast<size_t>(st.st_size) != model_.size())
				return fail(fmt::format("{}: the {} has length {}, the model {}", when, s.name, st.st_size,
							model_.size()));
			std::string got(model_.size(), '\0');
			ssize_t rc = pread(s.fd, got.data(), got.size(), 0);
			if (rc != static_cast<ssize_t>(got.size()))
				return fail(fmt::format("{}: reading the whole file on the {} returned {}", when, s.name, rc));
			check_bytes(when, s, got.data(), 0, got.size());
			if (failed_)
				return;
		}
	}

	bool probe_punch()
	{
		// Only where the reference has it; a subject lacking it then fails.
		if (ftruncate(sides_[0].fd, 8192) != 0)
			return false;
		bool ok = fallocate(sides_[0].fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096) == 0;
		if (ftruncate(sides_[0].fd, 0) != 0)
			fail("ftruncate after the punch probe failed");
		return ok;
	}

	const SuiteConfig &cfg_;
	Rng rng_;
	std::array<Side, 2> sides_;
	size_t page_;
	std::string model_;
	std::deque<std::string> log_;
	unsigned op_no_ = 0;
	unsigned counts_[std::size(kOps)] = {};
	bool punch_ = false;
	bool failed_ = false;
};

using Fsx = PosixTest;

TEST_F(Fsx, RandomOperations)
{
	FsxRun run(dirs_.ref, dirs_.sub, suite().config());
	run.run();
}

} // namespace
} // namespace posix
