// Reading /proc/self/mountinfo: what is mounted where. Shared by the
// filesystems (refusing a busy mount point) and by the harness and tests
// (waiting for a mount to appear, sweeping leftovers).
#pragma once

#include <string>
#include <vector>

namespace fs_common {

struct MountEntry {
	std::string mountpoint; // unescaped, absolute
	std::string fstype;     // e.g. "fuse.memfs", "tmpfs", "rfuse.memfs"
	std::string source;
};

std::vector<MountEntry> read_mounts();

// True when `path` (canonical, absolute) is the mount point of some mount.
bool is_mountpoint(const std::string &path);

// The type of the topmost mount at `path`, or empty when nothing is mounted.
std::string mount_type(const std::string &path);

} // namespace fs_common
