// How a point's filesystem gets mounted: one class per transport.
//   native  no daemon: the workload runs on the in-kernel store itself
//           (stackfs -> the backing ext4/tmpfs, memfs -> tmpfs)
//   fuse    build/bin/<fs>-fuse over /dev/fuse
//   rfuse   build/bin/<fs>-rfuse over /dev/rfuse (RFUSE_TRANSPORT=rfuse)
//   uring   build/bin/<fs>-rfuse with RFUSE_TRANSPORT=uring (FUSE over io_uring)
#pragma once

#include "backing.hpp"
#include "config.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <sys/types.h>

namespace bench {

// What a workload runs on; unmounts in the destructor.
class MountedTarget {
public:
	virtual ~MountedTarget() = default;
	// The directory the workload uses.
	virtual const std::string &workdir() const = 0;
	// False once the daemon has exited (native: always true).
	virtual bool daemon_alive() { return true; }
	virtual pid_t daemon_pid() const { return -1; }
	// Unmounts and reaps; returns "" or what went wrong with the daemon
	// ("daemon killed by signal 9"). Idempotent.
	virtual std::string stop() = 0;
	virtual std::string log_tail() const { return ""; }
	// The exact configuration, for the report.
	virtual nlohmann::json describe() const = 0;
};

struct MountRequest {
	const FsDef &fs;
	const Point &point;
	std::string bin_dir;
	std::string mount_root;      // where mount points are created
	std::string log_path;        // daemon output
	BackingStore *backing = nullptr; // when backing_kind() is not empty
};

class Transport {
public:
	virtual ~Transport() = default;
	virtual std::string name() const = 0;
	virtual std::string description() const = 0;
	// "" when this transport can run `fs` here, otherwise why not.
	virtual std::string unavailable_reason(const FsDef &fs, const std::string &bin_dir) const = 0;
	// The backing store a point needs ("ext4", "tmpfs" or "" for none).
	virtual std::string backing_kind(const FsDef &fs, const Point &point) const = 0;
	virtual std::unique_ptr<MountedTarget> mount(const MountRequest &req) const = 0;
};

// The transport called `name`; throws ConfigError for an unknown one.
const Transport &transport(const std::string &name);

// Decodes a waitpid status: "exited with status 1", "killed by signal 9 (Killed)".
std::string describe_wait_status(int status);

} // namespace bench
