// Ctrl-C handling for a benchmark run. The first SIGINT/SIGTERM/SIGHUP only
// sets a flag: the running workload stops, the current point is recorded as
// interrupted, every mount, loop device and daemon is released by the normal
// RAII path, and the partial report is written. A second signal takes the
// emergency path: detach our own mounts, then harness_core's handler (lazy
// unmount of every daemon mount, SIGKILL its daemon, die of the signal).
#pragma once

#include <string>

namespace bench {

void install_interrupt_handler();
bool stop_requested();
// The signal that asked us to stop (0 if none).
int stop_signal();

// Mount points of backing stores (tmpfs, ext4) for the emergency path;
// fixed storage, registering never allocates in the handler.
int register_native_mount(const std::string &mountpoint);
void unregister_native_mount(int slot);

} // namespace bench
