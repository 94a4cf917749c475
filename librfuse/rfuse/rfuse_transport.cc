// The RFUSE transport. mount() opens /dev/rfuse and mounts type "rfuse"
// with fd=N; loop() maps every ring (in the process that serves, which a
// daemonizing program forks after mounting) and runs W workers per ring,
// pinned to the ring's CPU. A worker takes a slot id from its ring's pending ring (polling
// for the poll window where that can help, then sleeping in RFUSE_IOC_WAIT)
// and hands the request, in place in the ring memory, to
// fuse_session_process_buf().
// The reply comes back through the custom-io writev hook, found by its
// unique (the filesystem may answer from another thread), is copied once
// into the slot, and the slot's done flag is raised; only when the waiting
// caller already went to sleep does the reply cost a syscall
// (RFUSE_IOC_COMPLETE). Forgets and interrupts arrive on their own rings and
// are handed to libfuse as FUSE_BATCH_FORGET / FUSE_INTERRUPT requests.
// A reply libfuse splices (FUSE_CAP_SPLICE_WRITE) is read from its pipe
// straight into the slot. Notifications (unique 0: fuse_lowlevel_notify_*)
// are written to the /dev/rfuse fd, where rfuse.ko hands them to fuse.ko;
// the FUSE_NOTIFY_REPLY a retrieve brings arrives in a slot like any request.
#include "rfuse/rfuse_transport.hpp"

#include "librfuse_internal.hpp"
#include "rfuse/rfuse_abi.hpp"

#include <linux/fuse.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <mutex>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <sstream>
#include <string>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <thread>
#include <time.h>
#include <unistd.h>
#include <unordered_map>
#include <vector>

namespace rfuse {
namespace {

using detail::log;

constexpr const char *kDevice = "/dev/rfuse";
constexpr const char *kMissingDevice = "RFUSE is not available: /dev/rfuse missing (is rfuse.ko loaded?)";

// Wakes a worker out of RFUSE_IOC_WAIT when the session stops while the
// kernel side is still there (the handler does nothing; the ioctl returns
// EINTR because it is installed without SA_RESTART).
int wake_signal() { return SIGRTMIN + 3; }

void install_wake_handler()
{
	static std::once_flag once;
	std::call_once(once, [] {
		struct sigaction sa {};
		sa.sa_handler = [](int) {};
		sigemptyset(&sa.sa_mask);
		sigaction(wake_signal(), &sa, nullptr);
	});
}

// Where a reply goes: unique -> slot. Sharded so that replies from many
// threads do not meet on one lock.
struct SlotRef {
	std::uint32_t ring;
	std::uint32_t slot;
	std::uint32_t out_off;
	std::uint32_t out_cap;
};

class UniqueMap {
public:
	void insert(std::uint64_t unique, SlotRef ref)
	{
		Shard &s = shard(unique);
		std::lock_guard<std::mutex> g(s.lock);
		s.map[unique] = ref;
	}
	bool take(std::uint64_t unique, SlotRef *ref)
	{
		Shard &s = shard(unique);
		std::lock_guard<std::mutex> g(s.lock);
		auto it = s.map.find(unique);
		if (it == s.map.end())
			return false;
		*ref = it->second;
		s.map.erase(it);
		return true;
	}

private:
	struct Shard {
		std::mutex lock;
		std::unordered_map<std::uint64_t, SlotRef> map;
	};
	Shard &shard(std::uint64_t unique) { return shards_[(unique >> 1) % shards_.size()]; }
	std::array<Shard, 64> shards_;
};

// The mount options libfuse parsed are private to it: take the ones the
// kernel side understands from the arguments the session was created with
// (-o a,b), or, when librfuse did not see them, the program's command line.
std::string kernel_options(std::vector<std::string> args)
{
	if (args.empty()) {
		std::ifstream in("/proc/self/cmdline", std::ios::binary);
		for (std::string a; std::getline(in, a, '\0');)
			args.push_back(a);
	}
	std::string out;
	for (std::size_t i = 1; i < args.size(); i++) {
		std::string list;
		if (args[i] == "-o" && i + 1 < args.size())
			list = args[++i];
		else if (args[i].rfind("-o", 0) == 0 && args[i].size() > 2)
			list = args[i].substr(2);
		else
			continue;
		std::stringstream ss(list);
		for (std::string opt; std::getline(ss, opt, ',');)
			if (opt == "allow_other" || opt == "default_permissions" ||
			    opt.rfind("max_read=", 0) == 0 || opt.rfind("subtype=", 0) == 0)
				out += "," + opt;
	}
	if (out.find(",subtype=") == std::string::npos) {
		// like libfuse's fuse.<name>: rfuse.<program> ("memfs-rfuse" -> memfs)
		std::string name = program_invocation_short_name;
		const std::string suffix = "-rfuse";
		if (name.size() > suffix.size() && name.ends_with(suffix))
			name.resize(name.size() - suffix.size());
		bool plain = !name.empty() && name.find_first_not_of("abcdefghijklmnopqrstuvwxyz"
								      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") ==
							    std::string::npos;
		if (plain)
			out += ",subtype=" + name;
	}
	return out;
}

class RfuseTransport final : public Transport, public detail::IoOwner {
public:
	explicit RfuseTransport(const TransportOptions &opts) : opts_(opts) { sem_init(&stopped_, 0, 0); }

	~RfuseTransport() override
	{
		stop_workers();
		release_channel();
		sem_destroy(&stopped_);
	}

	const char *name() const override { return "rfuse"; }

	std::string probe() override
	{
		if (access(kDevice, F_OK) != 0)
			return kMissingDevice;
		return {};
	}

	int mount(fuse_session *se, const char *mountpoint) override
	{
		fd_ = open(kDevice, O_RDWR | O_CLOEXEC);
		if (fd_ < 0) {
			if (errno == ENOENT)
				log("%s", kMissingDevice);
			else
				log("cannot open %s: %s", kDevice, std::strerror(errno));
			return -1;
		}
		struct stat st {};
		if (stat(mountpoint, &st) != 0) {
			log("cannot stat mount point %s: %s", mountpoint, std::strerror(errno));
			return fail_mount();
		}
		std::string options = "fd=" + std::to_string(fd_);
		char mode[16];
		std::snprintf(mode, sizeof(mode), "%o", st.st_mode & S_IFMT);
		options += ",rootmode=" + std::string(mode);
		options += ",user_id=" + std::to_string(getuid()) + ",group_id=" + std::to_string(getgid());
		if (opts_.rings != 0)
			options += ",rings=" + std::to_string(opts_.rings);
		options += ",poll_us=" + std::to_string(opts_.poll_us);
		options += kernel_options(opts_.session_args);
		options += opts_.mount_options; // RFUSE_MOUNT_OPTIONS, checked: ",a,b=c"
		if (::mount("rfuse", mountpoint, "rfuse", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
			log("mount -t rfuse on %s failed: %s (options %s)", mountpoint, std::strerror(errno),
			    options.c_str());
			return fail_mount();
		}
		// Absolute: a daemonized program serves (and unmounts) from "/".
		char *absolute = realpath(mountpoint, nullptr);
		mountpoint_ = absolute != nullptr ? absolute : mountpoint;
		std::free(absolute);
		mounted_ = true;
		if (ioctl(fd_, RFUSE_IOC_GET_INFO, &info_) != 0) {
			log("RFUSE_IOC_GET_INFO failed: %s", std::strerror(errno));
			return fail_mount();
		}
		if (info_.abi_version != RFUSE_ABI_VERSION) {
			log("rfuse.ko speaks ABI %u, this librfuse ABI %u: rebuild one of them", info_.abi_version,
			    RFUSE_ABI_VERSION);
			return fail_mount();
		}
		served_ = std::vector<std::atomic<std::uint64_t>>(info_.nr_rings);
		se_ = se;
		detail::register_io_owner(fd_, this);
		io_registered_ = true;
		if (int rc = fuse_session_custom_io(se, detail::dispatching_io(), fd_); rc != 0) {
			log("fuse_session_custom_io failed (%d)", rc);
			return fail_mount();
		}
		return 0;
	}

	int loop(fuse_session *se, unsigned max_threads) override
	{
		// The rings are mapped here, by the process that serves: a program
		// may fuse_daemonize() between mount and loop, and a fork()ed child
		// does not inherit ring mappings (rfuse.ko's VM_DONTCOPY).
		if (!map_rings()) {
			fuse_session_exit(se);
			return -EIO; // librfuse reports it with the message map_rings() logged
		}
		serialize_ = max_threads == 1;
		install_wake_handler();
		start_workers(se);
		// Until the kernel side goes away (a worker posts stopped_) or the
		// session is told to exit (libfuse's signal handler).
		detail::wait_for_session_end(se, &stopped_, [this] { return kernel_gone_.load(); });
		stop_workers();
		return 0;
	}

	void unmount(fuse_session *) override
	{
		// fuse_session_unmount() does nothing for us (libfuse never saw the
		// mount point). Unmounting aborts the connection, which also ends
		// workers still asleep in the kernel.
		if (mounted_) {
			if (umount2(mountpoint_.c_str(), 0) != 0 && errno == EBUSY)
				umount2(mountpoint_.c_str(), MNT_DETACH);
			mounted_ = false;
		}
		stop_workers();
	}

	TransportStats stats() const override
	{
		TransportStats s;
		s.used = "rfuse";
		{
			std::lock_guard<std::mutex> g(error_lock_);
			if (!error_.empty()) {
				s.used = "none";
				s.error = error_;
			}
		}
		for (const auto &n : served_) {
			std::uint64_t v = n.load(std::memory_order_relaxed);
			s.per_ring.push_back(v);
			s.ring_requests += v;
		}
		return s;
	}

	// Requests come from the rings, served by loop(): a program that reads
	// them itself (its own receive loop) cannot be served.
	ssize_t on_read(int, void *, size_t) override
	{
		std::string why = detail::own_receive_loop_refusal("rfuse");
		{
			std::lock_guard<std::mutex> g(error_lock_);
			if (error_.empty()) {
				log("%s", why.c_str());
				error_ = why;
			}
		}
		errno = EOPNOTSUPP;
		return -1;
	}

	ssize_t on_writev(int, struct iovec *iov, int count) override
	{
		std::size_t total = 0;
		for (int i = 0; i < count; i++)
			total += iov[i].iov_len;
		if (count < 1 || iov[0].iov_len < sizeof(fuse_out_header)) {
			errno = EINVAL;
			return -1;
		}
		const auto *oh = static_cast<const fuse_out_header *>(iov[0].iov_base);
		const std::uint64_t unique = oh->unique;
		// A notification: rfuse.ko applies it (or fails it with the errno
		// libfuse passes on as -errno from fuse_lowlevel_notify_*()).
		if (unique == 0)
			return ::writev(fd_, iov, count);
		SlotRef ref {};
		if (!map_.take(unique, &ref)) {
			// The answer to an interrupt or an ended request: ENOENT is
			// what libfuse expects for those and keeps quiet.
			errno = ENOENT;
			return -1;
		}
		fill_slot(ref, unique, iov, count, total);
		return ssize_t(total);
	}

	// A data reply libfuse spliced into its pipe (FUSE_CAP_SPLICE_WRITE):
	// read straight into the slot. For data that came from a file
	// (fuse_reply_data() with an fd buffer) that is the only copy in
	// userspace; the writev path copies it twice.
	ssize_t on_splice_send(int pipe_fd, int fd, size_t len, unsigned flags) override
	{
		fuse_out_header oh {};
		if (len < sizeof(oh))
			return detail::IoOwner::on_splice_send(pipe_fd, fd, len, flags);
		if (!detail::read_pipe(pipe_fd, &oh, sizeof(oh)))
			return -1;
		if (oh.unique == 0) // a notification (fuse_lowlevel_notify_store)
			return forward_spliced_reply(pipe_fd, fd, len, &oh);
		SlotRef ref {};
		if (!map_.take(oh.unique, &ref)) {
			detail::drain_pipe(pipe_fd, len - sizeof(oh));
			errno = ENOENT; // as on_writev: an interrupted or ended request
			return -1;
		}
		std::uint8_t *dst = rings_[ref.ring].base + ref.out_off;
		bool delivered = false;
		if (len > ref.out_cap) {
			detail::drain_pipe(pipe_fd, len - sizeof(oh));
		} else {
			std::memcpy(dst, &oh, sizeof(oh));
			delivered = detail::read_pipe(pipe_fd, dst + sizeof(oh), len - sizeof(oh));
		}
		if (!delivered)
			write_error_header(dst, oh.unique);
		complete_slot(ref, oh.unique);
		return ssize_t(len);
	}

private:
	// Copies a reply into its slot and raises the slot's done flag.
	void fill_slot(const SlotRef &ref, std::uint64_t unique, const struct iovec *iov, int count,
		       std::size_t total)
	{
		std::uint8_t *dst = rings_[ref.ring].base + ref.out_off;
		if (total > ref.out_cap) {
			write_error_header(dst, unique); // too long for what the kernel asked
		} else {
			for (int i = 0; i < count; i++) {
				std::memcpy(dst, iov[i].iov_base, iov[i].iov_len);
				dst += iov[i].iov_len;
			}
		}
		complete_slot(ref, unique);
	}

	// A reply that could not be delivered: EIO instead.
	static void write_error_header(std::uint8_t *dst, std::uint64_t unique)
	{
		fuse_out_header err {sizeof(fuse_out_header), -EIO, unique};
		std::memcpy(dst, &err, sizeof(err));
	}

	// The slot holds its reply: raise its done flag, and wake the caller
	// if it went to sleep.
	void complete_slot(const SlotRef &ref, std::uint64_t unique)
	{
		const abi::RingView &ring = rings_[ref.ring];
		rfuse_slot_ctl *sc = ring.slot(info_, ref.slot);
		abi::stamp_now(sc->replied_ns);
		// done (release), full barrier, then waiter_asleep: pairs with the
		// kernel's waiter_asleep, barrier, done (see uapi/rfuse.h).
		abi::store_release(sc->done, 1);
		std::atomic_thread_fence(std::memory_order_seq_cst);
		if (abi::load_relaxed(sc->waiter_asleep) != 0) {
			rfuse_complete c {ref.ring, ref.slot, unique};
			// EINVAL: the caller completed it inline after all.
			ioctl(fd_, RFUSE_IOC_COMPLETE, &c);
		}
	}

	bool map_rings()
	{
		for (std::uint32_t r = static_cast<std::uint32_t>(rings_.size()); r < info_.nr_rings; r++) {
			void *p = mmap(nullptr, info_.ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd_,
				       off_t(RFUSE_RING_MMAP_OFFSET(r)));
			if (p == MAP_FAILED) {
				log("cannot map RFUSE ring %u: %s", r, std::strerror(errno));
				return false;
			}
			rings_.push_back(abi::make_ring_view(info_, p));
		}
		return true;
	}

	int fail_mount()
	{
		release_channel();
		return -1;
	}

	void release_channel()
	{
		if (io_registered_) {
			detail::unregister_io_owner(fd_);
			io_registered_ = false;
		}
		if (mounted_) {
			umount2(mountpoint_.c_str(), MNT_DETACH);
			mounted_ = false;
		}
		for (auto &r : rings_)
			munmap(r.base, r.bytes);
		rings_.clear();
		if (fd_ >= 0) {
			close(fd_);
			fd_ = -1;
		}
	}

	void start_workers(fuse_session *se)
	{
		std::lock_guard<std::mutex> g(workers_lock_);
		stop_.store(false);
		for (std::uint32_t r = 0; r < rings_.size(); r++)
			for (unsigned w = 0; w < opts_.workers_per_ring; w++) {
				auto worker = std::make_unique<Worker>();
				Worker *self = worker.get();
				worker->thread = std::thread([this, se, r, self] {
					serve_ring(se, r);
					self->exited.store(true);
				});
				workers_.push_back(std::move(worker));
			}
	}

	void stop_workers()
	{
		std::lock_guard<std::mutex> g(workers_lock_);
		stop_.store(true);
		for (auto &w : workers_) {
			// A worker may be between its stop check and the ioctl: repeat
			// the wake-up until it is out.
			while (!w->exited.load()) {
				pthread_kill(w->thread.native_handle(), wake_signal());
				std::this_thread::sleep_for(std::chrono::milliseconds(5));
			}
			w->thread.join();
		}
		workers_.clear();
	}

	void pin_to_ring_cpu(std::uint32_t r)
	{
		std::uint32_t cpu = rings_[r].ctl->cpu;
		cpu_set_t set;
		CPU_ZERO(&set);
		if (cpu >= CPU_SETSIZE)
			return;
		CPU_SET(cpu, &set);
		// Not fatal: a cpuset may not allow it; the worker then floats.
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}

	// Takes one slot id off the pending ring, or returns false.
	bool take_pending(const abi::RingView &ring, std::uint32_t *slot)
	{
		const std::uint32_t mask = info_.pending_entries - 1;
		for (;;) {
			std::uint32_t tail = abi::load_relaxed(ring.ctl->pending_tail);
			std::uint32_t head = abi::load_acquire(ring.ctl->pending_head);
			if (tail == head)
				return false;
			std::uint32_t id = abi::load_relaxed(ring.pending[tail & mask]);
			if (abi::compare_exchange(ring.ctl->pending_tail, tail, tail + 1)) {
				*slot = id;
				return true;
			}
		}
	}

	bool has_work(const abi::RingView &ring) const
	{
		const rfuse_ring_ctl *c = ring.ctl;
		return abi::load_acquire(c->pending_head) != abi::load_relaxed(c->pending_tail) ||
		       abi::load_acquire(c->forget_head) != abi::load_relaxed(c->forget_tail) ||
		       abi::load_acquire(c->intr_head) != abi::load_relaxed(c->intr_tail);
	}

	void process(fuse_session *se, const fuse_buf &buf)
	{
		if (serialize_) {
			std::lock_guard<std::mutex> g(serial_);
			fuse_session_process_buf(se, &buf);
		} else {
			fuse_session_process_buf(se, &buf);
		}
	}

	void serve_request(fuse_session *se, std::uint32_t r, std::uint32_t slot_id)
	{
		const abi::RingView &ring = rings_[r];
		if (slot_id >= info_.nr_slots)
			return;
		rfuse_slot_ctl *sc = ring.slot(info_, slot_id);
		abi::stamp_now(sc->fetched_ns);
		const std::uint32_t in_off = sc->in_off, in_len = sc->in_len;
		const std::uint32_t out_off = sc->out_off, out_cap = sc->out_cap;
		const std::uint64_t unique = sc->unique;
		last_caller_cpu_ = int(abi::load_relaxed(sc->caller_cpu));
		if (!ring.contains(in_off, in_len) || !ring.contains(out_off, out_cap) ||
		    in_len < sizeof(fuse_in_header) || out_cap < sizeof(fuse_out_header))
			return;
		const SlotRef ref {r, slot_id, out_off, out_cap};
		fuse_buf buf {};
		buf.mem = ring.base + in_off;
		buf.size = in_len;
		served_[r].fetch_add(1, std::memory_order_relaxed);
		const std::uint32_t opcode = reinterpret_cast<const fuse_in_header *>(buf.mem)->opcode;
		if (!detail::is_never_answered(opcode)) {
			map_.insert(unique, ref);
			process(se, buf);
			return;
		}
		// libfuse never replies to these (fuse_reply_none()): a forced
		// FORGET, or the answer to a retrieve, whose unique is the
		// daemon's notify counter (it may equal a request's, so it stays
		// out of map_). The slot must come back all the same, and the
		// kernel's caller waits for it: end it with a bare header, which
		// is what rfuse.ko expects.
		process(se, buf);
		fuse_out_header oh {sizeof(fuse_out_header), 0, unique};
		struct iovec iov {&oh, sizeof(oh)};
		fill_slot(ref, unique, &iov, 1, sizeof(oh));
	}

	// Forgets, batched into one FUSE_BATCH_FORGET request per call.
	bool serve_forgets(fuse_session *se, const abi::RingView &ring)
	{
		const std::uint32_t mask = info_.forget_entries - 1;
		std::uint32_t tail, n;
		for (;;) {
			tail = abi::load_relaxed(ring.ctl->forget_tail);
			n = abi::load_acquire(ring.ctl->forget_head) - tail;
			if (n == 0)
				return false;
			n = std::min(n, info_.forget_entries);
			forget_buf_.resize(sizeof(fuse_in_header) + sizeof(fuse_batch_forget_in) +
					   n * sizeof(fuse_forget_one));
			auto *one = reinterpret_cast<fuse_forget_one *>(forget_buf_.data() + sizeof(fuse_in_header) +
									 sizeof(fuse_batch_forget_in));
			for (std::uint32_t i = 0; i < n; i++) {
				const rfuse_forget_entry &e = ring.forgets[(tail + i) & mask];
				one[i].nodeid = e.nodeid;
				one[i].nlookup = e.nlookup;
			}
			if (abi::compare_exchange(ring.ctl->forget_tail, tail, tail + n))
				break;
		}
		auto *ih = reinterpret_cast<fuse_in_header *>(forget_buf_.data());
		*ih = fuse_in_header {};
		ih->len = std::uint32_t(forget_buf_.size());
		ih->opcode = FUSE_BATCH_FORGET;
		ih->unique = next_synthetic_unique();
		auto *bf = reinterpret_cast<fuse_batch_forget_in *>(forget_buf_.data() + sizeof(fuse_in_header));
		*bf = fuse_batch_forget_in {};
		bf->count = n;
		fuse_buf buf {};
		buf.mem = forget_buf_.data();
		buf.size = forget_buf_.size();
		process(se, buf);
		return true;
	}

	// Interrupts, each as the FUSE_INTERRUPT request the kernel would send.
	bool serve_interrupts(fuse_session *se, const abi::RingView &ring)
	{
		const std::uint32_t mask = info_.intr_entries - 1;
		std::uint64_t unique;
		for (;;) {
			std::uint32_t tail = abi::load_relaxed(ring.ctl->intr_tail);
			if (abi::load_acquire(ring.ctl->intr_head) == tail)
				return false;
			unique = std::atomic_ref<std::uint64_t>(ring.intrs[tail & mask]).load(std::memory_order_relaxed);
			if (abi::compare_exchange(ring.ctl->intr_tail, tail, tail + 1))
				break;
		}
		struct {
			fuse_in_header ih;
			fuse_interrupt_in arg;
		} msg {};
		msg.ih.len = sizeof(msg);
		msg.ih.opcode = FUSE_INTERRUPT;
		msg.ih.unique = unique | 1; // FUSE_INT_REQ_BIT, as the kernel marks it
		msg.arg.unique = unique;
		fuse_buf buf {};
		buf.mem = &msg;
		buf.size = sizeof(msg);
		process(se, buf);
		return true;
	}

	// Kernel uniques are even and count up from 2; these stay clear of them.
	static std::uint64_t next_synthetic_unique()
	{
		static std::atomic<std::uint64_t> next {0};
		return (std::uint64_t(1) << 62) | (next.fetch_add(1) << 1);
	}

	// Whether this worker should poll its idle ring: not when the request
	// it served last came from its own CPU. That caller waits on this CPU
	// (rfuse.ko never lets it spin there), and a poller that CPU's
	// scheduler keeps picking (a sched_yield() does not hand the CPU to a
	// task that ran more than us) holds up exactly the caller it serves
	// for the whole window, while sleeping in RFUSE_IOC_WAIT costs its next
	// request one wake-up. Polling pays for callers on other CPUs.
	static bool worth_polling() { return last_caller_cpu_ < 0 || last_caller_cpu_ != sched_getcpu(); }

	void serve_ring(fuse_session *se, std::uint32_t r)
	{
		pin_to_ring_cpu(r);
		const abi::RingView &ring = rings_[r];
		const auto window = std::chrono::microseconds(opts_.poll_us);
		while (!stop_.load(std::memory_order_relaxed) && !fuse_session_exited(se)) {
			std::uint32_t slot_id;
			if (take_pending(ring, &slot_id)) {
				serve_request(se, r, slot_id);
				continue;
			}
			if (serve_interrupts(se, ring) || serve_forgets(se, ring))
				continue;
			// Poll for the window, then sleep in the kernel; but only
			// after serving a caller on another CPU (worth_polling()).
			// Other tasks may still want this CPU: yield to them.
			auto deadline = std::chrono::steady_clock::now() + window;
			bool work = false;
			while (!work && worth_polling() && std::chrono::steady_clock::now() < deadline) {
				work = has_work(ring);
				if (!work)
					sched_yield();
			}
			if (work)
				continue;
			rfuse_wait w {r, 0};
			if (ioctl(fd_, RFUSE_IOC_WAIT, &w) == 0 || errno == EINTR)
				continue;
			// ENODEV: unmounted or aborted. Anything else: give up too.
			if (errno != ENODEV)
				log("RFUSE_IOC_WAIT on ring %u failed: %s", r, std::strerror(errno));
			kernel_gone_.store(true);
			fuse_session_exit(se);
			sem_post(&stopped_);
			break;
		}
	}

	struct Worker {
		std::thread thread;
		std::atomic<bool> exited {false};
	};

	TransportOptions opts_;
	int fd_ = -1;
	bool mounted_ = false;
	bool io_registered_ = false;
	std::string mountpoint_;
	rfuse_info info_ {};
	std::vector<abi::RingView> rings_; // mapped in loop()
	mutable std::mutex error_lock_;
	std::string error_; // why it could not serve
	std::vector<std::atomic<std::uint64_t>> served_;
	fuse_session *se_ = nullptr;
	UniqueMap map_;
	bool serialize_ = false;
	std::mutex serial_;
	std::mutex workers_lock_;
	std::vector<std::unique_ptr<Worker>> workers_;
	std::atomic<bool> stop_ {false};
	std::atomic<bool> kernel_gone_ {false};
	sem_t stopped_;
	static thread_local std::vector<std::uint8_t> forget_buf_;
	static thread_local int last_caller_cpu_;
};

thread_local std::vector<std::uint8_t> RfuseTransport::forget_buf_;
thread_local int RfuseTransport::last_caller_cpu_ = -1;

} // namespace

std::unique_ptr<Transport> make_rfuse_transport(const TransportOptions &opts)
{
	return std::make_unique<RfuseTransport>(opts);
}

} // namespace rfuse
