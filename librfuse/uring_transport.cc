// The `uring` transport: mainline FUSE over io_uring (Linux 6.14+).
//
// The mount is classic (libfuse's own fuse_session_mount on /dev/fuse). Our
// custom-io hooks see the INIT reply and set FUSE_OVER_IO_URING in it. Then
// every possible CPU's queue gets W ring entries, each served by its own
// thread (pinned to that CPU) with its own io_uring: the thread waits for a
// request on its entry, hands it to fuse_session_process_buf(), and sends
// libfuse's reply with COMMIT_AND_FETCH, which also re-arms the entry. One
// reader thread stays on /dev/fuse for what the kernel still sends there
// (FORGET, INTERRUPT, ...).
//
// Copies per request, besides the kernel's own:
//   request: the fuse_in_header (40 bytes) and the op header (<= 128 bytes)
//            are copied from the entry's header buffer to just in front of
//            the payload, so libfuse gets one contiguous buffer
//            [in_header | op header | payload]; the payload is not copied.
//   reply:   libfuse's iovecs (everything after fuse_out_header) are copied
//            once into the entry's payload buffer, the header into in_out.
// The payload buffer carries the request and then the reply (as in
// libfuse's own io_uring code): a handler must not read its request's
// arguments after it has replied.
//
// A reply finds its entry by fuse_out_header.unique: first the entry the
// replying thread is serving, else a scan of all entries (a filesystem that
// replies later from another thread). A worker whose handler returned
// without replying waits for that reply before it commits.
#include "fuse_uring_abi.hpp"
#include "librfuse_internal.hpp"
#include "passthrough.hpp"

#include <liburing.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <latch>
#include <mutex>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <sys/eventfd.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace rfuse::detail {
namespace {

namespace abi = rfuse::uring_abi;

constexpr const char *kEnableUringParam = "/sys/module/fuse/parameters/enable_uring";
constexpr std::uint64_t kTagEntry = 1; // the entry's REGISTER / COMMIT_AND_FETCH
constexpr std::uint64_t kTagStop = 2;  // poll on the stop eventfd
constexpr unsigned kDefaultMaxPages = 32; // the kernel's default without FUSE_MAX_PAGES

size_t page_size()
{
	static const size_t p = static_cast<size_t>(sysconf(_SC_PAGESIZE));
	return p;
}

// libfuse's own device buffer size: the largest request it can negotiate.
size_t dev_buffer_size()
{
	return 256 * page_size() + 4096;
}

// Number of possible CPUs as the kernel counts queues (num_possible_cpus()).
unsigned possible_cpu_count()
{
	std::ifstream in("/sys/devices/system/cpu/possible");
	std::string text;
	std::getline(in, text);
	unsigned count = 0;
	size_t pos = 0;
	while (pos < text.size()) {
		size_t comma = text.find(',', pos);
		std::string range = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
		unsigned lo = 0, hi = 0;
		if (std::sscanf(range.c_str(), "%u-%u", &lo, &hi) == 2)
			count += hi - lo + 1;
		else if (std::sscanf(range.c_str(), "%u", &lo) == 1)
			count += 1;
		if (comma == std::string::npos)
			break;
		pos = comma + 1;
	}
	return count > 0 ? count : static_cast<unsigned>(sysconf(_SC_NPROCESSORS_CONF));
}

// Starts threads with every signal blocked: the program's signals (SIGTERM
// to libfuse's handler) must reach the thread waiting in loop().
template <typename Fn>
std::thread start_quiet_thread(Fn &&fn)
{
	sigset_t all, prev;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &prev);
	std::thread t(std::forward<Fn>(fn));
	pthread_sigmask(SIG_SETMASK, &prev, nullptr);
	return t;
}

int init_ring(io_uring *ring)
{
	// DEFER_TASKRUN runs the kernel's completion work when the worker
	// waits, on the worker: no interrupting task work (6.1+).
	io_uring_params p {};
	p.flags = IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	int rc = io_uring_queue_init_params(8, ring, &p);
	if (rc == -EINVAL) {
		p = {};
		p.flags = IORING_SETUP_SQE128;
		rc = io_uring_queue_init_params(8, ring, &p);
	}
	return rc;
}

class UringTransport;

// A ring entry: its buffers, its io_uring, and the thread serving it.
struct Entry {
	UringTransport *owner = nullptr;
	unsigned qid = 0;
	io_uring ring {};
	bool ring_ready = false;
	abi::ReqHeader *header = nullptr;
	char *buffer = nullptr;   // [headroom | payload]
	size_t payload_cap = 0;
	iovec iov[2] {};          // what REGISTER hands the kernel; must stay put
	int register_result = 0;  // 0 or -errno, valid once the latch counted down
	bool refused_by_kernel = false; // register_result came from the REGISTER itself
	std::atomic<std::uint64_t> unique{0}; // request being served (0: none)
	std::uint32_t opcode = 0;             // ... its opcode
	std::uint64_t nodeid = 0;             // ... and inode
	std::atomic<std::uint32_t> replied{0};
	std::atomic<std::uint64_t> served{0};
	std::thread thread;

	// Room in front of the payload for fuse_in_header + the op header.
	static constexpr size_t kHeadroom = 4096;
	char *payload() const { return buffer + kHeadroom; }

	~Entry()
	{
		if (ring_ready)
			io_uring_queue_exit(&ring);
		std::free(header);
		std::free(buffer);
	}
};

thread_local Entry *tls_entry = nullptr; // the entry this worker thread is serving

class UringTransport final : public Transport, public IoOwner {
public:
	explicit UringTransport(const TransportOptions &opts) : opts_(opts) { sem_init(&done_, 0, 0); }

	~UringTransport() override
	{
		stop_threads();
		if (fd_ >= 0)
			unregister_io_owner(fd_);
		sem_destroy(&done_);
	}

	const char *name() const override { return "uring"; }

	std::string probe() override
	{
		std::ifstream param(kEnableUringParam);
		if (!param)
			return std::string("this kernel has no FUSE-over-io_uring (") + kEnableUringParam +
			       " missing; it needs Linux 6.14+ built with CONFIG_FUSE_IO_URING)";
		std::string value;
		param >> value;
		if (value != "Y" && value != "1")
			return std::string("FUSE-over-io_uring is disabled: ") + kEnableUringParam + " is " + value +
			       " (as root: echo Y > " + kEnableUringParam + ")";
		io_uring ring {};
		if (int rc = init_ring(&ring); rc < 0)
			return std::string("cannot create an io_uring with 128-byte SQEs: ") + std::strerror(-rc) +
			       " (sysctl kernel.io_uring_disabled?)";
		io_uring_queue_exit(&ring);
		return {};
	}

	int mount(fuse_session *se, const char *mountpoint) override
	{
		se_ = se;
		return mount_dev_fuse(se, mountpoint, opts_, this, &fd_, &passthrough_);
	}

	int loop(fuse_session *se, unsigned max_threads) override
	{
		loop_entered_.store(true, std::memory_order_release);
		serialize_ = max_threads == 1;
		if (!serve_until_init(se))
			return 0; // unmounted or told to exit before INIT completed
		std::string why;
		fallback_possible_ = !init_patched_; // the kernel still serves /dev/fuse alone
		if (!kernel_offered_)
			why = "the kernel did not offer FUSE_OVER_IO_URING in INIT";
		else if (!init_patched_)
			why = "the INIT reply had no room for flags2";
		else
			start_ring(&why);
		if (connection_gone_) {
			fuse_session_exit(se);
			return 0;
		}
		if (!why.empty())
			return fall_back(se, why);
		log("serving over io_uring: %u queues x %u entries", nr_queues_, opts_.workers_per_ring);
		write_stats_file();

		// Wait for the end: the kernel went away (reader or a worker posts
		// done_) or the session was told to exit (a signal: sem_timedwait
		// returns EINTR, or another thread called fuse_session_exit()).
		wait_for_session_end(se, &done_, [] { return false; });
		stop_threads();
		return 0;
	}

	void unmount(fuse_session *se) override
	{
		stop_threads();
		real().session_unmount(se);
	}

	TransportStats stats() const override
	{
		TransportStats s;
		{
			std::lock_guard<std::mutex> g(state_lock_);
			s.used = used_;
			s.fallback_reason = fallback_reason_;
			s.error = error_;
			s.per_ring.assign(nr_queues_, 0);
			for (const auto &e : entries_) {
				std::uint64_t n = e->served.load(std::memory_order_relaxed);
				s.per_ring[e->qid] += n;
				s.ring_requests += n;
			}
		}
		counters_.report(passthrough_.get(), &s);
		return s;
	}

	// libfuse's own loop reads through here after a fallback; a program
	// that runs its own receive loop reads here without loop() ever
	// having run: classic FUSE with RFUSE_FALLBACK=1, else refused.
	ssize_t on_read(int fd, void *buf, size_t len) override
	{
		if (!loop_entered_.load(std::memory_order_acquire) && !own_loop_allowed())
			return -1;
		ssize_t n = ::read(fd, buf, len);
		if (n >= static_cast<ssize_t>(sizeof(fuse_in_header)))
			counters_.count_dev_fuse(buf);
		return n;
	}

	ssize_t on_writev(int fd, struct iovec *iov, int count) override
	{
		const auto *out = static_cast<const fuse_out_header *>(iov[0].iov_base);
		if (ring_active_.load(std::memory_order_acquire) && out->unique != 0) {
			if (Entry *e = entry_serving(out->unique))
				return reply_into_entry(*e, iov, count);
		}
		if (out->unique != 0 && out->unique == init_unique_)
			return write_init_reply(fd, iov, count);
		return ::writev(fd, iov, count);
	}

	// A data reply libfuse spliced into its pipe: read straight into the
	// ring entry's payload buffer. For a reply whose data came from a file
	// (fuse_reply_data() with an fd buffer) that is the only copy in
	// userspace; the writev path would copy it twice.
	ssize_t on_splice_send(int pipe_fd, int fd, size_t len, unsigned flags) override
	{
		fuse_out_header out;
		if (!ring_active_.load(std::memory_order_acquire) || len < sizeof(out))
			return IoOwner::on_splice_send(pipe_fd, fd, len, flags);
		if (!read_pipe(pipe_fd, &out, sizeof(out)))
			return -1;
		Entry *e = out.unique != 0 ? entry_serving(out.unique) : nullptr;
		if (e == nullptr)
			return forward_spliced_reply(pipe_fd, fd, len, &out);
		size_t total = len - sizeof(out);
		if (!reply_fits(*e, out.unique, total)) {
			drain_pipe(pipe_fd, total);
			return static_cast<ssize_t>(len);
		}
		if (!read_pipe(pipe_fd, e->payload(), total)) {
			int err = errno;
			reply_error(*e, out.unique, -EIO);
			errno = err;
			return -1;
		}
		finish_reply(*e, out, total);
		return static_cast<ssize_t>(len);
	}

	// libfuse's own loop after a fallback, for a filesystem that wants
	// FUSE_CAP_SPLICE_READ.
	ssize_t on_splice_receive(int fd, int pipe_fd, size_t len, unsigned) override
	{
		return splice_request_observed(fd, pipe_fd, len, [this](const char *head, size_t n) {
			if (n >= sizeof(fuse_in_header))
				counters_.count_dev_fuse(head);
		});
	}

private:
	// Whether the program's own receive loop may read /dev/fuse: with
	// RFUSE_FALLBACK=1 it serves classic FUSE (said once, and in the
	// statistics); otherwise it is refused (errno EOPNOTSUPP).
	bool own_loop_allowed()
	{
		std::string why = own_receive_loop_refusal("uring");
		std::lock_guard<std::mutex> g(state_lock_);
		if (opts_.fallback) {
			if (used_ != "fuse") {
				log("%s; RFUSE_FALLBACK=1: classic FUSE (/dev/fuse) through the program's loop", why.c_str());
				used_ = "fuse";
				fallback_reason_ = why;
			}
			return true;
		}
		if (error_.empty()) {
			log("%s", why.c_str());
			used_ = "none";
			error_ = why;
		}
		errno = EOPNOTSUPP;
		return false;
	}

	// One read of /dev/fuse into buf: the request's length; 0 when there
	// is nothing to serve (interrupted, or shorter than a fuse_in_header);
	// -1 when the device is gone (ENODEV: unmounted) or failed (logged).
	ssize_t read_dev_request(std::vector<char> &buf)
	{
		ssize_t n = ::read(fd_, buf.data(), buf.size());
		if (n < 0) {
			if (errno == EINTR || errno == ENOENT || errno == EAGAIN)
				return 0;
			if (errno != ENODEV)
				log("reading /dev/fuse: %s", std::strerror(errno));
			return -1;
		}
		if (static_cast<size_t>(n) < sizeof(fuse_in_header))
			return 0;
		counters_.count_dev_fuse(buf.data());
		return n;
	}

	// Serves /dev/fuse in the calling thread until the INIT reply has been
	// written (the kernel processes it inside that write). False when the
	// session ended first.
	bool serve_until_init(fuse_session *se)
	{
		std::vector<char> buf(dev_buffer_size());
		while (!init_done_) {
			if (fuse_session_exited(se))
				return false;
			ssize_t n = read_dev_request(buf);
			if (n < 0) {
				fuse_session_exit(se);
				return false;
			}
			if (n == 0)
				continue;
			const auto *in = reinterpret_cast<const fuse_in_header *>(buf.data());
			if (in->opcode == FUSE_INIT)
				note_init_request(*in, static_cast<size_t>(n));
			dispatch(buf.data(), static_cast<size_t>(n));
		}
		return true;
	}

	void note_init_request(const fuse_in_header &in, size_t len)
	{
		init_unique_ = in.unique;
		const auto *arg = reinterpret_cast<const fuse_init_in *>(&in + 1);
		if (len < sizeof(fuse_in_header) + offsetof(fuse_init_in, flags2) + sizeof(arg->flags2))
			return;
		std::uint64_t flags = arg->flags;
		if (flags & abi::kInitExt)
			flags |= static_cast<std::uint64_t>(arg->flags2) << 32;
		kernel_offered_ = (flags & abi::kOverIoUring) != 0;
		init_flags_ = flags;
	}

	// Sets FUSE_OVER_IO_URING (and FUSE_INIT_EXT, without which the kernel
	// ignores flags2) in libfuse's INIT reply, and learns the sizes the
	// ring entries need.
	ssize_t write_init_reply(int fd, struct iovec *iov, int count)
	{
		const auto *out = static_cast<const fuse_out_header *>(iov[0].iov_base);
		if (count < 2 || out->error != 0)
			return ::writev(fd, iov, count);
		fuse_init_out arg {};
		size_t arg_len = iov[1].iov_len;
		std::memcpy(&arg, iov[1].iov_base, std::min(arg_len, sizeof(arg)));
		if (kernel_offered_ && arg_len >= offsetof(fuse_init_out, flags2) + sizeof(arg.flags2)) {
			arg.flags |= static_cast<std::uint32_t>(abi::kInitExt);
			arg.flags2 |= abi::kOverIoUringFlags2;
			init_patched_ = true;
		}
		if (passthrough_)
			passthrough_->patch_init(init_flags_, &arg, std::min(arg_len, sizeof(arg)));
		max_write_ = std::max<size_t>(4096, arg.max_write);
		max_pages_ = (arg.flags & FUSE_MAX_PAGES) ? std::max<unsigned>(1, arg.max_pages) : kDefaultMaxPages;
		std::vector<iovec> patched(iov, iov + count);
		patched[1].iov_base = &arg;
		patched[1].iov_len = std::min(arg_len, sizeof(arg));
		ssize_t n = ::writev(fd, patched.data(), count);
		if (n >= 0)
			init_done_ = true;
		return n;
	}

	// Creates the entries and their threads and waits until every entry
	// is registered. False with *why set when the kernel refused one.
	bool start_ring(std::string *why)
	{
		stop_fd_ = eventfd(0, EFD_CLOEXEC);
		if (stop_fd_ < 0) {
			*why = std::string("eventfd: ") + std::strerror(errno);
			return false;
		}
		// The kernel needs max(FUSE_MIN_READ_BUFFER, max_write, max_pages pages).
		size_t cap = std::max<size_t>({FUSE_MIN_READ_BUFFER, max_write_, max_pages_ * page_size()});
		cap = (cap + page_size() - 1) / page_size() * page_size();
		// For tests: a payload buffer the kernel refuses (REGISTER -EINVAL).
		if (opts_.uring_payload_bytes != 0)
			cap = opts_.uring_payload_bytes;
		unsigned queues = possible_cpu_count();
		unsigned per_queue = opts_.workers_per_ring;
		{
			std::lock_guard<std::mutex> g(state_lock_);
			nr_queues_ = queues;
			for (unsigned q = 0; q < queues; ++q) {
				for (unsigned w = 0; w < per_queue; ++w) {
					auto e = std::make_unique<Entry>();
					e->owner = this;
					e->qid = q;
					e->payload_cap = cap;
					entries_.push_back(std::move(e));
				}
			}
		}
		ring_active_.store(true, std::memory_order_release);
		// A member, not a local: a worker may still be inside count_down()
		// when wait() returns.
		registered_ = std::make_unique<std::latch>(static_cast<std::ptrdiff_t>(entries_.size()));
		for (auto &e : entries_) {
			Entry *entry = e.get();
			entry->thread = start_quiet_thread([this, entry] { serve_entry(*entry, *registered_); });
		}
		registered_->wait();
		// An unmount racing the setup (a queue's thread got its CPU late)
		// fails the remaining REGISTERs with ENOTCONN: the connection ended,
		// nothing was refused.
		for (auto &e : entries_) {
			int r = -e->register_result;
			if (r == ENOTCONN || r == ECONNABORTED || r == ENODEV) {
				connection_gone_ = true;
				stop_threads();
				return false;
			}
		}
		bool failed = false;
		for (auto &e : entries_) {
			if (e->register_result == 0)
				continue;
			failed = true;
			if (e->refused_by_kernel) {
				// The kernel then drops io_uring for this connection and
				// serves /dev/fuse again: falling back is possible.
				*why = "FUSE_IO_URING_CMD_REGISTER failed on queue " + std::to_string(e->qid) + ": " +
				       std::strerror(-e->register_result);
				fallback_possible_ = true;
				break;
			}
			if (why->empty())
				*why = "setting up the ring entry of queue " + std::to_string(e->qid) + " failed: " +
				       std::strerror(-e->register_result);
		}
		if (failed) {
			stop_threads();
			return false;
		}
		reader_ = start_quiet_thread([this] { read_dev_fuse(); });
		return true;
	}

	int refuse(fuse_session *se, const std::string &error)
	{
		{
			std::lock_guard<std::mutex> g(state_lock_);
			used_ = "none";
			error_ = error;
		}
		fuse_session_exit(se);
		return -EIO;
	}

	int fall_back(fuse_session *se, const std::string &why)
	{
		if (opts_.fallback && !fallback_possible_) {
			// The kernel switched this connection to io_uring (INIT) and
			// holds every request until the ring is complete.
			log("transport uring failed: %s; no fallback possible after the kernel switched to io_uring",
			    why.c_str());
			return refuse(se, "transport uring failed: " + why);
		}
		if (!opts_.fallback) {
			log("transport uring is unavailable: %s; refusing to serve (set RFUSE_FALLBACK=1 to use "
			    "classic FUSE instead)", why.c_str());
			return refuse(se, "transport uring is unavailable: " + why);
		}
		log("transport uring is unavailable: %s; RFUSE_FALLBACK=1: serving classic FUSE (/dev/fuse)",
		    why.c_str());
		{
			std::lock_guard<std::mutex> g(state_lock_);
			used_ = "fuse";
			fallback_reason_ = why;
		}
		return kServeWithLibfuse;
	}

	// The worker of one entry: register, then serve and commit until the
	// connection goes away or the transport stops.
	void serve_entry(Entry &e, std::latch &registered)
	{
		cpu_set_t cpus;
		CPU_ZERO(&cpus);
		CPU_SET(e.qid, &cpus);
		pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus); // an offline CPU: run anywhere

		e.register_result = setup_entry(e);
		registered.count_down();
		if (e.register_result != 0) {
			close_ring(e);
			return;
		}

		bool stop = false, gone = false;
		while (!stop && !gone) {
			int rc = io_uring_submit_and_wait(&e.ring, 1);
			if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
				log("io_uring_submit_and_wait (queue %u): %s", e.qid, std::strerror(-rc));
				gone = true;
				break;
			}
			io_uring_cqe *cqe;
			while (io_uring_peek_cqe(&e.ring, &cqe) == 0) {
				std::uint64_t tag = cqe->user_data;
				int res = cqe->res;
				io_uring_cqe_seen(&e.ring, cqe);
				if (tag == kTagStop) {
					stop = true;
				} else if (res == 0) {
					serve_request(e);
					prep_entry_cmd(e, abi::kCmdCommitAndFetch, e.unique.exchange(0));
				} else {
					if (res != -ENOTCONN && res != -ECONNABORTED && res != -ENODEV)
						log("ring entry on queue %u completed with %s", e.qid, std::strerror(-res));
					gone = true;
				}
			}
		}
		if (stop && !gone)
			io_uring_submit(&e.ring); // a commit prepared just before the stop still goes out
		close_ring(e); // cancels the entry's pending command
		if (gone) {
			fuse_session_exit(se_);
			sem_post(&done_);
		}
	}

	// A free SQE; the rings are sized so that one always is.
	static io_uring_sqe *next_sqe(io_uring *ring)
	{
		io_uring_sqe *sqe = io_uring_get_sqe(ring);
		if (sqe == nullptr) {
			io_uring_submit(ring);
			sqe = io_uring_get_sqe(ring);
		}
		if (sqe == nullptr) {
			log("io_uring submission queue full");
			std::abort();
		}
		return sqe;
	}

	static void close_ring(Entry &e)
	{
		if (e.ring_ready) {
			io_uring_queue_exit(&e.ring);
			e.ring_ready = false;
		}
	}

	int setup_entry(Entry &e)
	{
		int rc = init_ring(&e.ring);
		if (rc < 0)
			return rc;
		e.ring_ready = true;
		// Allocated here, on the queue's CPU, so the pages are local to it.
		if (posix_memalign(reinterpret_cast<void **>(&e.header), 64, sizeof(abi::ReqHeader)) != 0 ||
		    posix_memalign(reinterpret_cast<void **>(&e.buffer), page_size(), Entry::kHeadroom + e.payload_cap) != 0)
			return -ENOMEM;
		std::memset(e.header, 0, sizeof(abi::ReqHeader));
		e.iov[0] = {e.header, sizeof(abi::ReqHeader)};
		e.iov[1] = {e.payload(), e.payload_cap};

		io_uring_sqe *sqe = next_sqe(&e.ring);
		io_uring_prep_poll_add(sqe, stop_fd_, POLLIN);
		sqe->user_data = kTagStop;
		prep_entry_cmd(e, abi::kCmdRegister, 0);
		rc = io_uring_submit(&e.ring);
		if (rc < 0)
			return rc;
		e.refused_by_kernel = true; // from here on, a failure is the REGISTER's
		// A refused REGISTER completes at once; an accepted one only when
		// a request arrives.
		io_uring_cqe *cqe;
		if (io_uring_peek_cqe(&e.ring, &cqe) == 0 && cqe->user_data == kTagEntry && cqe->res < 0) {
			rc = cqe->res;
			io_uring_cqe_seen(&e.ring, cqe);
			return rc;
		}
		e.refused_by_kernel = false;
		return 0;
	}

	// liburing 2.3 has no helper for URING_CMD: the SQE is filled by hand.
	void prep_entry_cmd(Entry &e, std::uint32_t cmd_op, std::uint64_t commit_id)
	{
		io_uring_sqe *sqe = next_sqe(&e.ring);
		// SQE128: the command lives in the second half too. (Through a
		// void pointer: GCC takes the sqe for a 64-byte object.)
		void *raw = sqe;
		std::memset(raw, 0, 128);
		sqe->opcode = IORING_OP_URING_CMD;
		sqe->fd = fd_;
		sqe->cmd_op = cmd_op;
		sqe->addr = reinterpret_cast<std::uintptr_t>(e.iov);
		sqe->len = 2;
		sqe->user_data = kTagEntry;
		auto *req = reinterpret_cast<abi::CmdReq *>(sqe->cmd);
		req->commit_id = commit_id;
		req->qid = static_cast<std::uint16_t>(e.qid);
	}

	// Hands the request in e's buffers to libfuse and returns once its reply
	// sits in the entry (e.unique still names the request).
	void serve_request(Entry &e)
	{
		fuse_in_header in;
		std::memcpy(&in, e.header->in_out, sizeof(in));
		std::uint32_t payload = e.header->ring_ent_in_out.payload_sz;
		size_t fixed = static_cast<size_t>(in.len) - payload; // in_header + op header
		e.replied.store(0, std::memory_order_relaxed);
		e.unique.store(in.unique, std::memory_order_release);
		e.served.fetch_add(1, std::memory_order_relaxed);
		if (in.len < sizeof(in) + payload || fixed - sizeof(in) > abi::kOpInSize || payload > e.payload_cap) {
			log("malformed ring request (opcode %u, len %u, payload %u): answering EIO", in.opcode, in.len,
			    payload);
			reply_error(e, in.unique, -EIO);
			return;
		}
		size_t op_len = fixed - sizeof(in);
		char *start = e.payload() - fixed;
		std::memcpy(start, &in, sizeof(in));
		std::memcpy(start + sizeof(in), e.header->op_in, op_len);
		e.opcode = in.opcode;
		e.nodeid = in.nodeid;
		if (is_data(in.opcode))
			counters_.data.fetch_add(1, std::memory_order_relaxed);
		if (passthrough_)
			passthrough_->on_request(in, start + sizeof(in), op_len);

		tls_entry = &e;
		dispatch(start, in.len);
		tls_entry = nullptr;
		if (is_never_answered(in.opcode) && !e.replied.load(std::memory_order_acquire))
			reply_error(e, in.unique, 0); // libfuse never answers it; the kernel wants a commit
		while (!e.replied.load(std::memory_order_acquire))
			e.replied.wait(0, std::memory_order_acquire); // the handler replies from another thread
	}

	void dispatch(char *mem, size_t len)
	{
		fuse_buf buf {};
		buf.mem = mem;
		buf.size = len;
		if (serialize_) {
			std::lock_guard<std::mutex> g(dispatch_lock_);
			fuse_session_process_buf(se_, &buf);
		} else {
			fuse_session_process_buf(se_, &buf);
		}
	}

	Entry *entry_serving(std::uint64_t unique)
	{
		Entry *e = tls_entry;
		if (e != nullptr && e->unique.load(std::memory_order_acquire) == unique)
			return e;
		for (auto &candidate : entries_)
			if (candidate->unique.load(std::memory_order_acquire) == unique)
				return candidate.get();
		return nullptr;
	}

	ssize_t reply_into_entry(Entry &e, struct iovec *iov, int count)
	{
		fuse_out_header out;
		std::memcpy(&out, iov[0].iov_base, sizeof(out));
		size_t total = 0;
		for (int i = 1; i < count; ++i)
			total += iov[i].iov_len;
		if (!reply_fits(e, out.unique, total))
			return static_cast<ssize_t>(sizeof(out) + total);
		char *dst = e.payload();
		for (int i = 1; i < count; ++i) {
			// memmove: a reply may point into the request it answers.
			std::memmove(dst, iov[i].iov_base, iov[i].iov_len);
			dst += iov[i].iov_len;
		}
		finish_reply(e, out, total);
		return static_cast<ssize_t>(sizeof(out) + total);
	}

	// Whether a reply with `total` bytes after its header fits e's payload
	// buffer; if not, the request is answered with EIO instead.
	bool reply_fits(Entry &e, std::uint64_t unique, size_t total)
	{
		if (total <= e.payload_cap)
			return true;
		log("reply of %zu bytes exceeds the ring entry's %zu: answering EIO", total, e.payload_cap);
		reply_error(e, unique, -EIO);
		return false;
	}

	// The reply's payload (`total` bytes) is in e's buffer: its header
	// goes in, and the worker may commit.
	void finish_reply(Entry &e, fuse_out_header out, size_t total)
	{
		if (passthrough_ && out.error == 0)
			passthrough_->on_reply(e.opcode, e.nodeid, e.payload(), total);
		out.len = static_cast<std::uint32_t>(sizeof(out) + total);
		std::memcpy(e.header->in_out, &out, sizeof(out));
		e.header->ring_ent_in_out.payload_sz = static_cast<std::uint32_t>(total);
		mark_replied(e);
	}

	void reply_error(Entry &e, std::uint64_t unique, int error)
	{
		fuse_out_header out {};
		out.len = sizeof(out);
		out.error = error;
		out.unique = unique;
		std::memcpy(e.header->in_out, &out, sizeof(out));
		e.header->ring_ent_in_out.payload_sz = 0;
		mark_replied(e);
	}

	static void mark_replied(Entry &e)
	{
		e.replied.store(1, std::memory_order_release);
		e.replied.notify_one();
	}

	// /dev/fuse after the ring is up: FORGET, INTERRUPT and anything else
	// the kernel still queues there.
	void read_dev_fuse()
	{
		std::vector<char> buf(dev_buffer_size());
		pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
		for (;;) {
			if (poll(fds, 2, -1) < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			if (fds[1].revents != 0)
				return;
			ssize_t n = read_dev_request(buf);
			if (n < 0)
				break;
			if (n > 0)
				dispatch(buf.data(), static_cast<size_t>(n));
		}
		fuse_session_exit(se_);
		sem_post(&done_);
	}

	void stop_threads()
	{
		if (stop_fd_ < 0)
			return;
		std::uint64_t one = 1;
		ssize_t n = write(stop_fd_, &one, sizeof(one));
		(void)n;
		if (reader_.joinable())
			reader_.join();
		for (auto &e : entries_)
			if (e->thread.joinable())
				e->thread.join();
		ring_active_.store(false, std::memory_order_release);
		close(stop_fd_);
		stop_fd_ = -1;
	}

	TransportOptions opts_;
	std::atomic<bool> loop_entered_{false};
	std::unique_ptr<Passthrough> passthrough_; // RFUSE_PASSTHROUGH=1
	fuse_session *se_ = nullptr;
	int fd_ = -1;
	bool serialize_ = false;
	std::mutex dispatch_lock_;

	// INIT, seen by the hooks in the thread that runs loop().
	std::uint64_t init_unique_ = 0;
	bool kernel_offered_ = false;
	std::uint64_t init_flags_ = 0;
	bool init_patched_ = false;
	bool init_done_ = false;
	bool connection_gone_ = false; // the kernel side ended while the ring was set up
	bool fallback_possible_ = false; // does the kernel still serve /dev/fuse for everything?
	size_t max_write_ = 0;
	unsigned max_pages_ = kDefaultMaxPages;

	// The ring. entries_ is fixed while ring_active_ is true.
	std::atomic<bool> ring_active_{false};
	std::vector<std::unique_ptr<Entry>> entries_;
	std::unique_ptr<std::latch> registered_;
	unsigned nr_queues_ = 0;
	int stop_fd_ = -1;
	std::thread reader_;
	sem_t done_;

	mutable std::mutex state_lock_; // used_, fallback_reason_, entries_ growth
	std::string used_ = "uring";
	std::string fallback_reason_;
	std::string error_;
	RequestCounters counters_;
};

} // namespace

std::unique_ptr<Transport> make_uring_transport(const TransportOptions &opts)
{
	return std::make_unique<UringTransport>(opts);
}

} // namespace rfuse::detail
