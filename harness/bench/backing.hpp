// The native store a point runs on or stacks over: a tmpfs, or ext4 on a
// loop device over a sparse image file (mkfs.ext4 -E lazy_itable_init=0,
// lazy_journal_init=0, as the paper did). Created in the constructor,
// unmounted, detached and deleted in the destructor. The loop device is set
// up with LO_FLAGS_AUTOCLEAR, so the kernel frees it even when rfuse-bench is
// SIGKILLed: the loop device goes with the last user (our fd or the mount).
#pragma once

#include <string>

namespace bench {

class BackingStore {
public:
	// kind: "tmpfs" or "ext4". `scratch` is a directory we may write to;
	// `size` is the tmpfs size or the image size in bytes.
	BackingStore(const std::string &kind, const std::string &scratch, unsigned long long size);
	~BackingStore();
	BackingStore(const BackingStore &) = delete;
	BackingStore &operator=(const BackingStore &) = delete;

	const std::string &kind() const { return kind_; }
	const std::string &mountpoint() const { return mountpoint_; }
	// A directory inside the store for the workload or for stackfs.
	const std::string &data_dir() const { return data_dir_; }
	const std::string &loop_device() const { return loop_device_; }
	unsigned long long size() const { return size_; }

private:
	void attach_loop();
	void release() noexcept;

	std::string kind_;
	std::string dir_;        // our temp directory under scratch
	std::string mountpoint_; // dir_/mnt
	std::string data_dir_;   // mountpoint_/data
	std::string image_;      // ext4: dir_/ext4.img
	std::string loop_device_;
	unsigned long long size_ = 0;
	int loop_fd_ = -1;
	bool mounted_ = false;
	int native_slot_ = -1;
};

// Writes 3 to /proc/sys/vm/drop_caches after sync(). False when not allowed
// (e.g. in a container).
bool drop_caches();

} // namespace bench
