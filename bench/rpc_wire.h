#pragma once

// Raw ONC RPC for the flood's hostile clients, which must send what no RPC library would
// (wrong versions, undecodable arguments, oversized records) or never read what comes back.

#include <netinet/in.h>

#include <cstdint>
#include <span>
#include <vector>

#include "core/net.h"
#include "core/result.h"

namespace rootfarm::bench {

// Appends a big-endian XDR unsigned int (RFC 4506 §4.2).
void put_u32(std::vector<uint8_t>& b, uint32_t v);

// A call message header (RFC 5531 §9): xid, CALL, rpcvers, prog, vers, proc, a credential of
// `cred_flavor` (AUTH_SYS: uid 0, gid 0, no machine name; any other: empty body) and an
// AUTH_NONE verifier. The caller appends the arguments.
std::vector<uint8_t> rpc_call(uint32_t xid, uint32_t rpcvers, uint32_t prog, uint32_t vers,
                              uint32_t proc, uint32_t cred_flavor);

// A nonblocking TCP socket bound to `source` and connected to `to` (waits up to 1 s). A
// non-zero `rcvbuf` is set before connecting, so the window it advertises stays that small.
Result<int> tcp_connect(Ipv4 source, const sockaddr_in& to, int rcvbuf);

// A nonblocking TCP connection carrying record-marked messages (RFC 5531 §11): queued records
// go out as the socket takes them, and complete records coming back are counted.
class TcpRecords {
  public:
    enum Status { kIdle, kBlocked, kClosed };

    TcpRecords() = default;
    ~TcpRecords() { close(); }
    TcpRecords(const TcpRecords&) = delete;
    TcpRecords& operator=(const TcpRecords&) = delete;

    Result<void> connect(Ipv4 source, const sockaddr_in& to, int rcvbuf);
    // Takes over a connected stream socket (closed with this object).
    void adopt(int fd);
    bool open() const { return fd_ >= 0; }
    int fd() const { return fd_; }
    void close();

    // Nothing queued is still unsent.
    bool idle() const { return off_ == buf_.size(); }
    // Queues `msg` as one last fragment.
    void queue_record(std::span<const uint8_t> msg);
    // Sends what the socket takes: kIdle when all went, kBlocked on a full socket buffer,
    // kClosed when the peer reset or closed the connection.
    Status flush();
    // Reads what has arrived without blocking: kClosed on the peer's FIN or RST.
    Status read_replies();

    uint64_t records_sent() const { return sent_; }
    uint64_t records_received() const { return received_; }
    uint64_t bytes_sent() const { return bytes_; }
    void reset_counts() { sent_ = received_ = bytes_ = 0; }

  private:
    int fd_ = -1;
    std::vector<uint8_t> buf_;
    size_t off_ = 0;
    std::vector<size_t> ends_;  // where each queued record ends in buf_
    size_t next_end_ = 0;
    uint64_t sent_ = 0, received_ = 0, bytes_ = 0;
    // The record mark being read, and what is left of its fragment.
    uint8_t mark_[4] = {};
    int mark_have_ = 0;
    uint32_t frag_left_ = 0;
    bool last_ = false;
};

}  // namespace rootfarm::bench
