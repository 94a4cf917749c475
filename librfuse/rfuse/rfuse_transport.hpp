// The RFUSE transport: FUSE requests over rfuse.ko's per-CPU ring channels
// (/dev/rfuse, mount type "rfuse"). Needs rfuse.ko loaded; see
// rfuse-kmod/include/uapi/rfuse.h for the shared-memory ABI.
#pragma once

#include "transport.hpp"

#include <memory>

namespace rfuse {

// Never null. probe() says when /dev/rfuse is missing; mount() fails with a
// one-line message when the kernel side refuses.
std::unique_ptr<Transport> make_rfuse_transport(const TransportOptions &opts);

} // namespace rfuse
