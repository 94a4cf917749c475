// A low-level filesystem for the notification tests (linked with librfuse,
// so it runs over whichever transport RFUSE_TRANSPORT names). Everything it
// answers is cached by the kernel for a day (entries, negative entries,
// attributes; keep_cache on open), so the kernel sees a change made here
// only once a notification tells it. Its root holds:
//   file       (name changeable) the file whose contents, size and name
//              change behind the kernel's back
//   ctl        write one command; the write fails with the errno the
//              notification returned (direct I/O, never cached)
//   retrieved  what the last FUSE_NOTIFY_RETRIEVE brought back (direct I/O)
// Commands:
//   set TEXT              contents := TEXT (no notification; one line)
//   rename NAME           the file's name := NAME (no notification)
//   unlink                the file goes (no notification)
//   inval_inode OFF LEN   fuse_lowlevel_notify_inval_inode(file, OFF, LEN)
//   inval_entry NAME      fuse_lowlevel_notify_inval_entry(root, NAME)
//   delete NAME INO       fuse_lowlevel_notify_delete(root, INO, NAME)
//   store OFF TEXT        fuse_lowlevel_notify_store(file, OFF, TEXT)
//   retrieve OFF LEN      fuse_lowlevel_notify_retrieve(file, LEN, OFF)
//   raw KIND              a malformed message written straight to the
//                         session fd: code (unknown notify code), arglen
//                         (inval_inode with a short argument), len (header
//                         length not the write's), unique (not 0), short
//                         (less than a header)
//   noent                 fuse_lowlevel_notify_inval_inode(unknown inode)
#include <fuse_lowlevel.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <linux/fuse.h>
#include <mutex>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

namespace {

constexpr fuse_ino_t kFile = 2, kCtl = 3, kRetrieved = 4;
constexpr double kForever = 86400;

fuse_session *session;
std::mutex lock;
std::string file_name = "file";
std::string contents = "first contents";
bool file_exists = true;
std::string retrieved;

struct stat attr_of(fuse_ino_t ino)
{
	struct stat st {};
	st.st_ino = ino;
	st.st_nlink = 1;
	st.st_uid = getuid();
	st.st_gid = getgid();
	st.st_mode = S_IFREG | 0644;
	if (ino == FUSE_ROOT_ID) {
		st.st_mode = S_IFDIR | 0755;
		st.st_nlink = 2;
	} else if (ino == kFile) {
		st.st_size = off_t(contents.size());
	} else if (ino == kRetrieved) {
		st.st_size = off_t(retrieved.size());
	}
	return st;
}

bool known(fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID || ino == kCtl || ino == kRetrieved || (ino == kFile && file_exists);
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	std::lock_guard<std::mutex> g(lock);
	fuse_entry_param ep {};
	ep.attr_timeout = kForever;
	ep.entry_timeout = kForever; // also for the negative entry (ino 0)
	if (parent == FUSE_ROOT_ID) {
		if (file_exists && name == file_name)
			ep.ino = kFile;
		else if (std::strcmp(name, "ctl") == 0)
			ep.ino = kCtl;
		else if (std::strcmp(name, "retrieved") == 0)
			ep.ino = kRetrieved;
	}
	if (ep.ino != 0)
		ep.attr = attr_of(ep.ino);
	if (ep.ino == kCtl || ep.ino == kRetrieved)
		ep.attr_timeout = 0;
	fuse_reply_entry(req, &ep);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info *)
{
	std::lock_guard<std::mutex> g(lock);
	if (!known(ino)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	struct stat st = attr_of(ino);
	fuse_reply_attr(req, &st, ino == kCtl || ino == kRetrieved ? 0 : kForever);
}

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi)
{
	if (ino == kFile)
		fi->keep_cache = 1;
	else
		fi->direct_io = 1;
	fuse_reply_open(req, fi);
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info *)
{
	std::lock_guard<std::mutex> g(lock);
	const std::string *src = ino == kFile ? &contents : ino == kRetrieved ? &retrieved : nullptr;
	if (src == nullptr) {
		fuse_reply_buf(req, nullptr, 0);
		return;
	}
	if (off >= off_t(src->size())) {
		fuse_reply_buf(req, nullptr, 0);
		return;
	}
	fuse_reply_buf(req, src->data() + off, std::min(size, src->size() - size_t(off)));
}

// A malformed notification, written to the session fd as libfuse would.
int raw_notification(const std::string &kind)
{
	struct {
		fuse_out_header oh;
		fuse_notify_inval_inode_out arg;
	} msg {};
	std::size_t len = sizeof(msg);
	msg.oh.error = FUSE_NOTIFY_INVAL_INODE;
	msg.arg.ino = kFile;
	if (kind == "code")
		msg.oh.error = 1000;
	else if (kind == "arglen")
		len = sizeof(msg.oh) + sizeof(msg.arg) / 2;
	else if (kind == "unique")
		msg.oh.unique = 2;
	else if (kind == "short")
		len = sizeof(msg.oh) / 2;
	else if (kind != "len")
		return EINVAL;
	msg.oh.len = std::uint32_t(kind == "len" ? len + 8 : len);
	if (write(fuse_session_fd(session), &msg, len) >= 0)
		return 0;
	return errno;
}

void retrieve_reply(fuse_req_t req, void *, fuse_ino_t, off_t, fuse_bufvec *bufv)
{
	std::string got(fuse_buf_size(bufv), '\0');
	fuse_bufvec dst = FUSE_BUFVEC_INIT(got.size());
	dst.buf[0].mem = got.data();
	ssize_t n = fuse_buf_copy(&dst, bufv, fuse_buf_copy_flags(0));
	{
		std::lock_guard<std::mutex> g(lock);
		retrieved = got.substr(0, n < 0 ? 0 : std::size_t(n));
	}
	fuse_reply_none(req);
}

// Runs one ctl command; returns 0 or a positive errno for the writer.
int run_command(const std::string &line)
{
	std::istringstream in(line);
	std::string cmd;
	in >> cmd;
	std::string rest;
	std::getline(in >> std::ws, rest);
	std::istringstream args(rest);
	if (cmd == "set" || cmd == "rename" || cmd == "unlink") {
		std::lock_guard<std::mutex> g(lock);
		if (cmd == "set")
			contents = rest;
		else if (cmd == "rename")
			file_name = rest;
		else
			file_exists = false;
		return 0;
	}
	int rc = -EINVAL;
	if (cmd == "inval_inode") {
		off_t off = 0, len = 0;
		args >> off >> len;
		rc = fuse_lowlevel_notify_inval_inode(session, kFile, off, len);
	} else if (cmd == "inval_entry") {
		rc = fuse_lowlevel_notify_inval_entry(session, FUSE_ROOT_ID, rest.c_str(), rest.size());
	} else if (cmd == "delete") {
		std::string name;
		fuse_ino_t ino = 0;
		args >> name >> ino;
		rc = fuse_lowlevel_notify_delete(session, FUSE_ROOT_ID, ino, name.c_str(), name.size());
	} else if (cmd == "store") {
		off_t off = 0;
		args >> off;
		std::string text;
		std::getline(args >> std::ws, text);
		fuse_bufvec bufv = FUSE_BUFVEC_INIT(text.size());
		bufv.buf[0].mem = text.data();
		rc = fuse_lowlevel_notify_store(session, kFile, off, &bufv, fuse_buf_copy_flags(0));
	} else if (cmd == "retrieve") {
		off_t off = 0;
		std::size_t len = 0;
		args >> off >> len;
		{
			std::lock_guard<std::mutex> g(lock);
			retrieved.clear();
		}
		// The answer comes later, as a request: do not wait for it here.
		rc = fuse_lowlevel_notify_retrieve(session, kFile, len, off, nullptr);
	} else if (cmd == "raw") {
		return raw_notification(rest);
	} else if (cmd == "noent") {
		rc = fuse_lowlevel_notify_inval_inode(session, 1000, 0, 0);
	}
	return rc < 0 ? -rc : rc == 0 ? 0 : EIO;
}

void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t, fuse_file_info *)
{
	if (ino != kCtl) {
		fuse_reply_err(req, EACCES);
		return;
	}
	std::string line(buf, size);
	while (!line.empty() && line.back() == '\n')
		line.pop_back();
	int err = run_command(line);
	if (err != 0)
		fuse_reply_err(req, err);
	else
		fuse_reply_write(req, size);
}

} // namespace

int main(int argc, char *argv[])
{
	fuse_lowlevel_ops ops {};
	ops.lookup = op_lookup;
	ops.getattr = op_getattr;
	ops.open = op_open;
	ops.read = op_read;
	ops.write = op_write;
	ops.retrieve_reply = retrieve_reply;

	fuse_args args = FUSE_ARGS_INIT(argc, argv);
	fuse_cmdline_opts opts {};
	if (fuse_parse_cmdline(&args, &opts) != 0 || opts.mountpoint == nullptr) {
		std::fprintf(stderr, "usage: %s [-f] <mountpoint>\n", argv[0]);
		return 2;
	}
	int rc = 1;
	session = fuse_session_new(&args, &ops, sizeof(ops), nullptr);
	if (session != nullptr && fuse_set_signal_handlers(session) == 0) {
		if (fuse_session_mount(session, opts.mountpoint) == 0) {
			fuse_loop_config *config = fuse_loop_cfg_create();
			rc = fuse_session_loop_mt(session, config) == 0 ? 0 : 1;
			fuse_loop_cfg_destroy(config);
			fuse_session_unmount(session);
		}
		fuse_remove_signal_handlers(session);
	}
	if (session != nullptr)
		fuse_session_destroy(session);
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	return rc;
}
