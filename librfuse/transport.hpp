// A transport carries FUSE requests between a kernel channel and libfuse's
// dispatcher. librfuse's interposed fuse_session_mount / _loop / _loop_mt /
// _unmount pick one transport per session (see select.cc) and forward to it.
// libfuse keeps doing all protocol work; a transport only moves bytes:
//   request:  kernel memory -> struct fuse_buf -> fuse_session_process_buf()
//   reply:    fuse_custom_io.writev (routed by fuse_out_header.unique) -> kernel
#pragma once

#include <fuse_lowlevel.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace rfuse {

// What the user asked for, from the environment (documented in README):
//   RFUSE_TRANSPORT   fuse | rfuse | uring        (default: rfuse for librfuse)
//   RFUSE_FALLBACK    0 | 1: fall back to classic FUSE when the chosen one is
//                     unavailable (logged), otherwise refuse to mount
//   RFUSE_WORKERS     worker threads per ring/queue (default 2)
//   RFUSE_RINGS       number of ring channels (rfuse; default: online CPUs)
//   RFUSE_POLL_US     poll window in microseconds (rfuse; default 50)
//   RFUSE_PASSTHROUGH 0 | 1: FUSE passthrough (fuse, uring)
//   RFUSE_MOUNT_OPTIONS  extra kernel mount options (rfuse)
//   RFUSE_STATS_FILE  where librfuse writes its JSON statistics (transport
//                     requested/used, fallback reason, request counters per
//                     path): at unmount, at exit, and on SIGUSR1
//   RFUSE_URING_PAYLOAD_BYTES  tests only: the io_uring entries' buffer size
// An empty variable counts as unset.
struct TransportOptions {
	std::string name;
	bool fallback = false;
	unsigned workers_per_ring = 2;
	unsigned rings = 0;
	unsigned poll_us = 50;
	bool passthrough = false;
	std::string mount_options;   // ",a,b=c" or ""
	std::string stats_file;      // "" = none
	unsigned uring_payload_bytes = 0; // 0 = sized from INIT
	// The arguments the program gave fuse_session_new() (libfuse keeps the
	// mount options it parsed from them private): a transport that mounts by
	// itself takes allow_other, default_permissions, max_read=, subtype= here.
	std::vector<std::string> session_args;
	// Parses and checks the variables above. Returns false with one line in
	// *error naming every value it cannot use (unknown transport,
	// RFUSE_WORKERS=0, a statistics file in a missing directory...); *out
	// then still holds what was valid (stats_file only when it is usable).
	static bool from_env(TransportOptions *out, std::string *error);
};

// What a transport reports for the statistics file.
struct TransportStats {
	std::string used;              // transport really serving: "rfuse", "uring", "fuse"
	std::string fallback_reason;   // why `used` differs from the one asked for; else empty
	std::uint64_t ring_requests = 0;      // requests served over the transport's own channel
	std::uint64_t dev_fuse_requests = 0;  // requests served over /dev/fuse
	std::vector<std::uint64_t> per_ring;  // ring_requests split by ring/queue (may be empty)
	std::uint64_t dev_fuse_forgets = 0;   // of dev_fuse_requests: FORGET / BATCH_FORGET
	std::string error;                    // why the transport refused to serve (then used = "none")
	std::uint64_t data_requests = 0;       // READ and WRITE requests, over any path
	std::uint64_t passthrough_opens = 0;   // opens handed to the kernel (RFUSE_PASSTHROUGH=1)
	std::uint64_t passthrough_refused = 0; // opens the kernel refused to pass through
	std::uint64_t spliced_replies = 0;     // replies libfuse handed over in a pipe (FUSE_CAP_SPLICE_WRITE)
	std::uint64_t spliced_requests = 0;    // requests handed to libfuse in a pipe (FUSE_CAP_SPLICE_READ)
};

class Transport {
public:
	// loop() may return this to have librfuse run libfuse's own loop on the
	// session (exactly as the program asked for it), e.g. after a transport
	// found out post-mount that it must fall back to /dev/fuse.
	static constexpr int kServeWithLibfuse = -100000;

	virtual ~Transport() = default;
	virtual const char *name() const = 0;
	// Empty when the transport can run on this machine, else one line saying
	// why not (module missing, feature off...). Called before mount();
	// librfuse then refuses the mount or, with RFUSE_FALLBACK=1, mounts
	// classic FUSE instead and reports the reason.
	virtual std::string probe() { return {}; }
	// Replaces fuse_session_mount(): 0 on success, -1 with a one-line
	// message on stderr otherwise.
	virtual int mount(fuse_session *se, const char *mountpoint) = 0;
	// Replaces the loops: serves until the kernel side goes away or the
	// session is told to exit. Returns what libfuse's loops return (or
	// kServeWithLibfuse). max_threads is 1 when the program asked for the
	// single-threaded loop (its handlers may not be thread-safe), else 0.
	virtual int loop(fuse_session *se, unsigned max_threads) = 0;
	// Replaces fuse_session_unmount(). Idempotent.
	virtual void unmount(fuse_session *se) = 0;
	// Counters for the statistics file; may be called from any thread at
	// any time (also while loop() runs).
	virtual TransportStats stats() const
	{
		TransportStats s;
		s.used = name();
		return s;
	}
};

} // namespace rfuse
