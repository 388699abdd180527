#pragma once

// What the files of the Loop (loop*.cc) share and nobody else sees: the operation slot table's
// records, the user_data encoding, and the helpers more than one concern uses.

#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/loop.h"

namespace rootfarm {

namespace loop_internal {

// user_data of SQEs whose completion nobody waits for (cancellations).
constexpr uint64_t kIgnore = ~0ULL;

// How many times get_sqe submits to make room in a full submission queue before it gives up.
// One submit normally empties the queue: the kernel takes every queued entry.
constexpr int kSqeSubmitRetries = 8;

inline uint64_t pack(uint32_t slot, uint32_t generation) {
    return static_cast<uint64_t>(generation) << 32 | slot;
}

// A free slot of a slab (reusing a freed one first); the slot's object stays where it is.
template <class T>
uint32_t take_slot(std::vector<std::unique_ptr<T>>& slab, std::vector<uint32_t>& free) {
    if (!free.empty()) {
        const uint32_t slot = free.back();
        free.pop_back();
        return slot;
    }
    slab.push_back(std::make_unique<T>());
    return static_cast<uint32_t>(slab.size() - 1);
}

// A bound socket of `type` (SOCK_STREAM or SOCK_DGRAM), close-on-exec (loop_socket.cc).
Result<int> make_socket(int type, Ipv4 addr, uint16_t port, bool reuse_port);
// The local port `fd` is bound to.
uint16_t bound_port(int fd);

// An SQE of `ring`. When the submission queue is full, submits what is queued to make room, at
// most kSqeSubmitRetries times; if the kernel still took nothing (a disabled or broken ring, a
// completion queue overflow only run() would reap), aborts with a message naming the ring's
// state rather than spin forever.
io_uring_sqe* get_sqe_bounded(io_uring& ring);

}  // namespace loop_internal

struct Loop::Listener {
    int fd = -1;
    TcpHandler* handler = nullptr;
    uint64_t accept_op = 0;
};

// One submitted operation. Its slot and generation form the SQE's user_data, so a completion
// that arrives after its owner went away is recognised and dropped.
struct Loop::Op {
    enum class Kind : uint8_t {
        kFree,
        kAccept,
        kRecv,
        kSend,
        kSplice,
        kUdpRecv,
        kUdpSend,
        kFile,
        kTick,
        kWake
    };

    Kind kind = Kind::kFree;
    uint32_t generation = 0;
    Listener* listener = nullptr;
    uint32_t conn_index = 0;
    uint32_t conn_generation = 0;
    UdpSocket* udp = nullptr;
    std::vector<uint8_t> data;
    size_t offset = 0;
    int send_flags = 0;      // kSend: MSG_* flags of every send of op.data
    bool to_socket = false;  // kSplice: a poll for room in the socket (else file to pipe)
    sockaddr_in addr{};
    msghdr msg{};
    iovec iov{};
    alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(in_pktinfo))]{};
    std::function<void(int)> done;
};

}  // namespace rootfarm
