#include "latency.hpp"

#include "cpu.hpp"
#include "timed_threads.hpp"

#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kBlock = LatencyOp::kBlock;

// pread offsets spread over 1 GiB, pwrite offsets over 64 MiB (a tmpfs
// reference keeps what is written). The page index i * kStride mod pages is
// a permutation (odd stride, power-of-two pages): no page is read twice, and
// consecutive reads are far apart, so readahead never helps.
constexpr unsigned long long kReadPages = (1ULL << 30) / kBlock;
constexpr unsigned long long kWritePages = (64ULL << 20) / kBlock;
constexpr unsigned long long kStride = 40503; // odd

off_t page_offset(long long i, unsigned long long pages)
{
	return static_cast<off_t>((static_cast<unsigned long long>(i) * kStride % pages) * kBlock);
}

void measure(const LatencyParams &p, LatencyResult &r)
{
	auto setup_start = Clock::now();
	LatencyOp op(p.op, p.dir);
	long long i = 0;
	for (; i < p.warmup; ++i)
		op.run(i);
	r.setup_s = std::chrono::duration<double>(Clock::now() - setup_start).count();
	r.samples_us.reserve(static_cast<size_t>(p.samples));
	if (p.window.begin)
		p.window.begin();
	for (int s = 0; s < p.samples; ++s, ++i) {
		if (s % 64 == 0 && p.should_stop && p.should_stop())
			throw std::runtime_error("stopped after " + std::to_string(s) + " samples");
		auto t0 = Clock::now();
		op.run(i);
		auto t1 = Clock::now();
		r.samples_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
	}
	if (p.window.end)
		p.window.end();
}

} // namespace

const std::vector<std::string> &latency_ops()
{
	static const std::vector<std::string> ops = {"stat", "open_close", "create_unlink", "pread_4k", "pwrite_4k"};
	return ops;
}

LatencyOp::LatencyOp(const std::string &op, const std::string &dir)
	: op_(op), file_(dir + "/lat-file"), prefix_(dir + "/lat-c-")
{
	bool known = false;
	for (const std::string &o : latency_ops())
		known = known || o == op;
	if (!known)
		throw std::invalid_argument("unknown latency op '" + op + "'");
	int fd = open(file_.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		throw_errno("open", file_);
	int rc = ftruncate(fd, static_cast<off_t>(kReadPages * kBlock));
	int err = errno;
	close(fd);
	if (rc != 0) {
		errno = err;
		throw_errno("ftruncate", file_);
	}
	if (op_ == "pread_4k" || op_ == "pwrite_4k") {
		fd_ = open(file_.c_str(), (op_ == "pread_4k" ? O_RDONLY : O_WRONLY) | O_CLOEXEC);
		if (fd_ < 0)
			throw_errno("open", file_);
	}
	std::memset(buf_, 0x5a, sizeof(buf_));
}

LatencyOp::~LatencyOp()
{
	if (fd_ >= 0)
		close(fd_);
}

void LatencyOp::run(long long i)
{
	if (op_ == "stat") {
		struct stat st;
		if (stat(file_.c_str(), &st) != 0)
			throw_errno("stat", file_);
	} else if (op_ == "open_close") {
		int fd = open(file_.c_str(), O_RDONLY);
		if (fd < 0)
			throw_errno("open", file_);
		if (close(fd) != 0)
			throw_errno("close", file_);
	} else if (op_ == "create_unlink") {
		std::string path = prefix_ + std::to_string(i);
		int fd = creat(path.c_str(), 0644);
		if (fd < 0)
			throw_errno("creat", path);
		if (close(fd) != 0)
			throw_errno("close", path);
		if (unlink(path.c_str()) != 0)
			throw_errno("unlink", path);
	} else if (op_ == "pread_4k") {
		if (pread(fd_, buf_, kBlock, page_offset(i, kReadPages)) != static_cast<ssize_t>(kBlock))
			throw_errno("pread", file_);
	} else {
		if (pwrite(fd_, buf_, kBlock, page_offset(i, kWritePages)) != static_cast<ssize_t>(kBlock))
			throw_errno("pwrite", file_);
	}
}

LatencyResult run_latency(const LatencyParams &params)
{
	LatencyResult r;
	if (params.samples < 1 || params.warmup < 0) {
		r.error = "samples must be >= 1 and warmup >= 0";
		return r;
	}
	bool known = false;
	for (const std::string &op : latency_ops())
		known = known || op == params.op;
	if (!known) {
		r.error = "unknown latency op '" + params.op + "'";
		return r;
	}
	// A thread of its own, so that pinning does not stick to the caller.
	std::thread worker([&] {
		try {
			if (params.cpu >= 0) {
				if (int err = pin_current_thread(params.cpu))
					throw std::runtime_error("pinning to CPU " + std::to_string(params.cpu) + ": " +
								 std::strerror(err));
			}
			measure(params, r);
			r.ok = true;
		} catch (const std::exception &e) {
			r.error = e.what();
		}
	});
	worker.join();
	if (r.ok)
		r.us = distribution(r.samples_us);
	return r;
}

nlohmann::json latency_metrics(const Distribution &us)
{
	auto m = [](double v, const char *unit) { return nlohmann::json{{"value", v}, {"unit", unit}}; };
	return {{"p50", m(us.p50, "us")},   {"p90", m(us.p90, "us")}, {"p99", m(us.p99, "us")},
		{"p99_9", m(us.p99_9, "us")}, {"mean", m(us.mean, "us")}, {"min", m(us.min, "us")},
		{"max", m(us.max, "us")},     {"samples", m(us.n, "ops")}};
}

} // namespace bench
