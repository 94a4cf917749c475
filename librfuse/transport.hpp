// A transport carries FUSE requests between a kernel channel and libfuse's
// dispatcher. librfuse's interposed fuse_session_mount / _loop / _loop_mt /
// _unmount pick one transport per session (see select.cc) and forward to it.
// libfuse keeps doing all protocol work; a transport only moves bytes:
//   request:  kernel memory -> struct fuse_buf -> fuse_session_process_buf()
//   reply:    fuse_custom_io.writev (routed by fuse_out_header.unique) -> kernel
#pragma once

#include <fuse_lowlevel.h>

#include <memory>
#include <string>

namespace rfuse {

// What the user asked for, from the environment (documented in README):
//   RFUSE_TRANSPORT   fuse | rfuse | uring        (default: rfuse for librfuse)
//   RFUSE_FALLBACK    1 = fall back to classic FUSE when the chosen one is
//                     unavailable (logged), otherwise refuse to mount
//   RFUSE_WORKERS     worker threads per ring/queue (default 2)
//   RFUSE_RINGS       number of ring channels (rfuse; default: online CPUs)
//   RFUSE_POLL_US     poll window in microseconds (rfuse; default 50)
struct TransportOptions {
	std::string name;
	bool fallback = false;
	unsigned workers_per_ring = 2;
	unsigned rings = 0;
	unsigned poll_us = 50;
	static TransportOptions from_env();
};

class Transport {
public:
	virtual ~Transport() = default;
	virtual const char *name() const = 0;
	// Replaces fuse_session_mount(): 0 on success, -1 with a one-line
	// message on stderr otherwise.
	virtual int mount(fuse_session *se, const char *mountpoint) = 0;
	// Replaces the loops: serves until the kernel side goes away or the
	// session is told to exit. Returns what libfuse's loops return.
	virtual int loop(fuse_session *se, unsigned max_threads) = 0;
	// Replaces fuse_session_unmount(). Idempotent.
	virtual void unmount(fuse_session *se) = 0;
};

} // namespace rfuse
