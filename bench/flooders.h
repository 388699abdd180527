#pragma once

// Hostile clients for `rootfarm-bench flood`: each sends one kind of unwanted traffic from one
// source address as fast as one thread can, and counts what the server answered. They share a
// thread: the driver calls pump() on each in turn; pump() never blocks for long.

#include <netinet/in.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/net.h"

namespace rootfarm::bench {

struct FlooderStats {
    std::string kind;               // "rpc-garbage-tcp", "dhcp-discover", ...
    uint64_t sent = 0;              // calls, datagrams or (oversized-record) records started
    uint64_t answered = 0;          // of those, how many got a reply (oversized: were cut off)
    uint64_t connections = 0;       // TCP kinds: connections opened
    uint64_t closed_by_server = 0;  // TCP kinds: connections the server closed or reset
    uint64_t bytes_sent = 0;
    uint64_t errors = 0;  // local failures (socket, bind, connect refused)
    std::string first_error;
};

struct FloodTargets {
    Ipv4 source;  // the flooder's one address
    sockaddr_in nfs{}, dhcp{}, tftp{};
    uint16_t dhcp_relay_port = 67;  // the DHCP server's port: it answers a relay there
    // The DISCOVERs' MACs: one fixed MAC (e.g. a known Pi's, which the server answers), a new
    // random locally administered one each time (strangers, which a server must not answer),
    // or a new random one under the Raspberry Pi OUI dc:a6:32 (answered when unknown Pis are
    // enrolled).
    enum class Mac { kFixed, kRandom, kRandomPi } dhcp_mac = Mac::kFixed;
    MacAddr dhcp_fixed_mac;
    std::string tftp_file = "config.txt";  // an existing file; the missing one is made up
};

class Flooder {
  public:
    virtual ~Flooder() = default;
    // Sends a burst and takes in what has arrived. False when nothing could be sent (a full
    // socket buffer): the driver then waits a little instead of spinning.
    virtual bool pump() = 0;
    // Takes in late replies for up to `grace`, then closes everything.
    virtual void finish(std::chrono::milliseconds grace) = 0;
    virtual std::vector<FlooderStats> stats() const = 0;
};

// Bogus ONC RPC calls (RFC 5531): unknown program, unsupported version, unknown procedure,
// undecodable arguments, unknown credential flavor, wrong RPC version. Over TCP (record
// marked, reconnecting when the server closes) and over UDP, to the NFS port.
std::unique_ptr<Flooder> rpc_garbage_flooder(const FloodTargets& t);
// TCP records larger than any call (RFC 5531 §11 record marks), on alternate connections: a
// single fragment claiming 2 GiB ("oversized-record-2g"), or endless non-final fragments of
// 64 KiB ("oversized-record-fragments"). Each connection is fed until the server closes it,
// 4 MiB have gone in, or it has taken nothing for 2 s; then the server has 1 s more to close
// it. Closed by the server counts as answered.
std::unique_ptr<Flooder> oversized_record_flooder(const FloodTargets& t);
// DHCPDISCOVERs sent as a relay agent (so the offers come back to the flooder), with MACs as
// dhcp_mac says.
std::unique_ptr<Flooder> dhcp_discover_flooder(const FloodTargets& t);
// TFTP RRQs (RFC 1350), alternately for tftp_file and for a missing file, each from a new
// source port (a new transfer), never acknowledged.
std::unique_ptr<Flooder> tftp_rrq_flooder(const FloodTargets& t);

struct NoReadResult {
    uint64_t calls_sent = 0, bytes_sent = 0;
    bool cut_off = false;     // the server closed or reset the connection
    double cut_after_s = -1;  // seconds after the first call
    double last_send_s = 0;   // when the socket last took data: the server read no more after
    std::string error;
};

// A client that pipelines READ calls of `count` bytes on `fh` over one TCP connection from
// `source` and never reads a reply, until `stop` or until the server cuts it off.
NoReadResult no_read_client(Ipv4 source, const sockaddr_in& nfs, const std::string& fh,
                            uint32_t count, const std::atomic<bool>& stop);

// Raises the soft descriptor limit to the hard one (the flooders hold many sockets).
void raise_fd_limit();

}  // namespace rootfarm::bench
