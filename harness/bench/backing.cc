#include "backing.hpp"

#include "interrupt.hpp"
#include "subprocess.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdexcept>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <thread>
#include <unistd.h>

namespace bench {
namespace {

std::string errno_text(const std::string &what)
{
	return what + ": " + std::strerror(errno);
}

} // namespace

BackingStore::BackingStore(const std::string &kind, const std::string &scratch, unsigned long long size)
	: kind_(kind), size_(size)
{
	if (kind_ != "tmpfs" && kind_ != "ext4")
		throw std::invalid_argument("unknown backing store '" + kind_ + "'");
	std::string tmpl = scratch + "/backing-XXXXXX";
	if (mkdtemp(tmpl.data()) == nullptr)
		throw std::runtime_error(errno_text("mkdtemp " + tmpl));
	dir_ = tmpl;
	mountpoint_ = dir_ + "/mnt";
	data_dir_ = mountpoint_ + "/data";
	try {
		if (mkdir(mountpoint_.c_str(), 0755) != 0)
			throw std::runtime_error(errno_text("mkdir " + mountpoint_));
		if (kind_ == "tmpfs") {
			std::string opts = "size=" + std::to_string(size_);
			if (mount("tmpfs", mountpoint_.c_str(), "tmpfs", 0, opts.c_str()) != 0)
				throw std::runtime_error(errno_text("mount tmpfs on " + mountpoint_));
		} else {
			attach_loop();
			ProcessResult mk = run_process({"mkfs.ext4", "-q", "-F", "-E",
							"lazy_itable_init=0,lazy_journal_init=0", loop_device_},
						       {}, std::chrono::minutes(10));
			if (mk.exit_code != 0)
				throw std::runtime_error("mkfs.ext4 " + loop_device_ + ": " + mk.describe() +
							 ": " + mk.err.substr(0, 500));
			if (mount(loop_device_.c_str(), mountpoint_.c_str(), "ext4", 0, "") != 0)
				throw std::runtime_error(errno_text("mount ext4 " + loop_device_ + " on " +
								    mountpoint_));
		}
		mounted_ = true;
		native_slot_ = register_native_mount(mountpoint_);
		if (mkdir(data_dir_.c_str(), 0755) != 0)
			throw std::runtime_error(errno_text("mkdir " + data_dir_));
	} catch (...) {
		release();
		throw;
	}
}

BackingStore::~BackingStore()
{
	release();
}

void BackingStore::attach_loop()
{
	image_ = dir_ + "/ext4.img";
	int img = open(image_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (img < 0)
		throw std::runtime_error(errno_text("create " + image_));
	if (ftruncate(img, static_cast<off_t>(size_)) != 0) {
		int e = errno;
		close(img);
		errno = e;
		throw std::runtime_error(errno_text("truncate " + image_));
	}
	int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		close(img);
		throw std::runtime_error(errno_text("open /dev/loop-control"));
	}
	std::string last_error;
	// Another process may take the free device between GET_FREE and CONFIGURE.
	for (int attempt = 0; attempt < 20 && loop_fd_ < 0; ++attempt) {
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			last_error = errno_text("LOOP_CTL_GET_FREE");
			break;
		}
		std::string dev = "/dev/loop" + std::to_string(n);
		// A container's /dev may lack nodes the host kernel hands out.
		if (access(dev.c_str(), F_OK) != 0)
			mknod(dev.c_str(), S_IFBLK | 0660, makedev(7, n));
		int fd = open(dev.c_str(), O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			last_error = errno_text("open " + dev);
			continue;
		}
		struct loop_config cfg {};
		cfg.fd = static_cast<__u32>(img);
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
		std::snprintf(reinterpret_cast<char *>(cfg.info.lo_file_name), LO_NAME_SIZE, "%s",
			      image_.c_str());
		if (ioctl(fd, LOOP_CONFIGURE, &cfg) != 0) {
			last_error = errno_text("LOOP_CONFIGURE " + dev);
			close(fd);
			std::this_thread::sleep_for(std::chrono::milliseconds(20));
			continue;
		}
		loop_fd_ = fd;
		loop_device_ = dev;
	}
	close(ctl);
	close(img);
	if (loop_fd_ < 0)
		throw std::runtime_error("no loop device: " + last_error);
}

void BackingStore::release() noexcept
{
	if (mounted_) {
		if (umount2(mountpoint_.c_str(), 0) != 0 && errno == EBUSY)
			umount2(mountpoint_.c_str(), MNT_DETACH);
		mounted_ = false;
	}
	unregister_native_mount(native_slot_);
	native_slot_ = -1;
	if (loop_fd_ >= 0) {
		// Autoclear would do it on close; clearing explicitly frees the
		// device now rather than when the last reference drops.
		ioctl(loop_fd_, LOOP_CLR_FD, 0);
		close(loop_fd_);
		loop_fd_ = -1;
	}
	if (!image_.empty())
		unlink(image_.c_str());
	if (!dir_.empty()) {
		rmdir(mountpoint_.c_str());
		rmdir(dir_.c_str());
	}
}

bool drop_caches()
{
	sync();
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool ok = write(fd, "3\n", 2) == 2;
	close(fd);
	return ok;
}

} // namespace bench
