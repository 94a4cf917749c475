// The parts of the FUSE-over-io_uring uapi (Linux 6.14+, protocol 7.42)
// that Debian 12's <linux/fuse.h> (7.38) lacks. Values as in the kernel's
// include/uapi/linux/fuse.h; the layout is checked below.
#pragma once

#include <linux/fuse.h>

#include <cstddef>
#include <cstdint>

namespace rfuse::uring_abi {

// INIT flags (64-bit view: flags | flags2 << 32).
inline constexpr std::uint64_t kInitExt = 1ULL << 30;           // FUSE_INIT_EXT
inline constexpr std::uint64_t kOverIoUring = 1ULL << 41;       // FUSE_OVER_IO_URING
inline constexpr std::uint32_t kOverIoUringFlags2 = static_cast<std::uint32_t>(kOverIoUring >> 32);

// io_uring command opcodes (sqe->cmd_op) for IORING_OP_URING_CMD on /dev/fuse.
inline constexpr std::uint32_t kCmdRegister = 1;        // FUSE_IO_URING_CMD_REGISTER
inline constexpr std::uint32_t kCmdCommitAndFetch = 2;  // FUSE_IO_URING_CMD_COMMIT_AND_FETCH

// Sizes of the header areas in struct fuse_uring_req_header.
inline constexpr std::size_t kInOutHeaderSize = 128;  // FUSE_URING_IN_OUT_HEADER_SZ
inline constexpr std::size_t kOpInSize = 128;         // FUSE_URING_OP_IN_OUT_SZ

// struct fuse_uring_ent_in_out
struct EntInOut {
	std::uint64_t flags;
	std::uint64_t commit_id;   // the request's unique; set by the kernel
	std::uint32_t payload_sz;  // request: set by the kernel; reply: set by us
	std::uint32_t padding;
	std::uint64_t reserved;
};

// struct fuse_uring_req_header: iov[0] of a ring entry.
struct ReqHeader {
	char in_out[kInOutHeaderSize];  // fuse_in_header on fetch, fuse_out_header on commit
	char op_in[kOpInSize];          // the per-op header (fuse_read_in, ...), may be empty
	EntInOut ring_ent_in_out;
};

// struct fuse_uring_cmd_req: lives in the 80-byte cmd area of a 128-byte SQE.
struct CmdReq {
	std::uint64_t flags;
	std::uint64_t commit_id;
	std::uint16_t qid;
	std::uint8_t padding[6];
};

static_assert(sizeof(EntInOut) == 32);
static_assert(sizeof(ReqHeader) == 288);
static_assert(offsetof(ReqHeader, ring_ent_in_out) == 256);
static_assert(sizeof(CmdReq) == 24);
static_assert(sizeof(fuse_in_header) == 40);
static_assert(sizeof(fuse_out_header) == 16);
static_assert(offsetof(fuse_init_out, flags2) == 32);

} // namespace rfuse::uring_abi
