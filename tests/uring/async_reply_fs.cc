// async_reply_fs: a low-level libfuse3 filesystem whose handlers never reply
// themselves: they queue the request and a separate thread replies later.
// The uring tests run it under LD_PRELOAD=librfuse.so to exercise replies
// that reach the transport from a thread that is not serving the request.
// One directory with one file, /file, whose content is kText.
#include <fuse_lowlevel.h>

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <sys/stat.h>
#include <thread>

namespace {

constexpr fuse_ino_t kFileIno = 2;
constexpr char kText[] = "replied from another thread\n";

// Replies run here, in order, one at a time.
class Replier {
public:
	Replier() : thread_([this] { run(); }) {}
	~Replier()
	{
		{
			std::lock_guard<std::mutex> g(lock_);
			stop_ = true;
		}
		cv_.notify_one();
		thread_.join();
	}
	void post(std::function<void()> reply)
	{
		{
			std::lock_guard<std::mutex> g(lock_);
			queue_.push_back(std::move(reply));
		}
		cv_.notify_one();
	}

private:
	void run()
	{
		std::unique_lock<std::mutex> g(lock_);
		for (;;) {
			cv_.wait(g, [this] { return stop_ || !queue_.empty(); });
			if (queue_.empty())
				return;
			auto reply = std::move(queue_.front());
			queue_.pop_front();
			g.unlock();
			reply();
			g.lock();
		}
	}
	std::mutex lock_;
	std::condition_variable cv_;
	std::deque<std::function<void()>> queue_;
	bool stop_ = false;
	std::thread thread_;
};

Replier *g_replier;

struct stat attr_of(fuse_ino_t ino)
{
	struct stat st {};
	st.st_ino = ino;
	if (ino == FUSE_ROOT_ID) {
		st.st_mode = S_IFDIR | 0755;
		st.st_nlink = 2;
	} else {
		st.st_mode = S_IFREG | 0444;
		st.st_nlink = 1;
		st.st_size = sizeof(kText) - 1;
	}
	return st;
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	bool found = parent == FUSE_ROOT_ID && std::strcmp(name, "file") == 0;
	g_replier->post([req, found] {
		if (!found) {
			fuse_reply_err(req, ENOENT);
			return;
		}
		fuse_entry_param e {};
		e.ino = kFileIno;
		e.attr = attr_of(kFileIno);
		fuse_reply_entry(req, &e);
	});
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info *)
{
	g_replier->post([req, ino] {
		if (ino != FUSE_ROOT_ID && ino != kFileIno) {
			fuse_reply_err(req, ENOENT);
			return;
		}
		struct stat st = attr_of(ino);
		fuse_reply_attr(req, &st, 0);
	});
}

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi)
{
	fuse_file_info copy = *fi;
	g_replier->post([req, ino, copy] {
		if (ino != kFileIno)
			fuse_reply_err(req, EISDIR);
		else
			fuse_reply_open(req, &copy);
	});
}

void op_read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info *)
{
	g_replier->post([req, size, off] {
		size_t len = sizeof(kText) - 1;
		size_t start = std::min<size_t>(static_cast<size_t>(off), len);
		fuse_reply_buf(req, kText + start, std::min(size, len - start));
	});
}

} // namespace

int main(int argc, char **argv)
{
	fuse_args args = FUSE_ARGS_INIT(argc, argv);
	fuse_cmdline_opts opts {};
	if (fuse_parse_cmdline(&args, &opts) != 0 || opts.mountpoint == nullptr) {
		std::fprintf(stderr, "usage: async_reply_fs [-f] MOUNTPOINT\n");
		return 2;
	}
	fuse_lowlevel_ops ops {};
	ops.lookup = op_lookup;
	ops.getattr = op_getattr;
	ops.open = op_open;
	ops.read = op_read;
	Replier replier;
	g_replier = &replier;
	int rc = 1;
	fuse_session *se = fuse_session_new(&args, &ops, sizeof(ops), nullptr);
	if (se != nullptr && fuse_set_signal_handlers(se) == 0) {
		if (fuse_session_mount(se, opts.mountpoint) == 0) {
			fuse_loop_config *cfg = fuse_loop_cfg_create();
			rc = fuse_session_loop_mt(se, cfg) < 0 ? 1 : 0;
			fuse_loop_cfg_destroy(cfg);
			fuse_session_unmount(se);
		}
		fuse_remove_signal_handlers(se);
	}
	if (se != nullptr)
		fuse_session_destroy(se);
	std::free(opts.mountpoint);
	fuse_opt_free_args(&args);
	return rc;
}
