#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/net.h"
#include "core/result.h"

namespace rootfarm::bench {

// One simulated Pi 4 as the DHCP server sees it.
struct PiIdentity {
    MacAddr mac;
    uint32_t serial = 0;
    Ipv4 source;  // the address its packets come from
    std::string serial_hex() const;
};

// The Pi `index` of a storm: MAC dc:a6:32:xx:xx:xx (a Raspberry Pi OUI) and a serial derived
// from the index, so runs are repeatable and every Pi is distinct.
PiIdentity make_pi(uint32_t index, Ipv4 source);

struct DhcpTarget {
    sockaddr_in server{};      // where DISCOVER/REQUEST go
    uint16_t relay_port = 67;  // the server's port, where it answers a relay (RFC 2131 §4.1)
    std::chrono::milliseconds timeout{4000};  // docs/pi-boot.md: DHCP_REQ_TIMEOUT 4 s
    int retries = 3;
};

struct DhcpResult {
    Ipv4 yiaddr;
    Ipv4 server_id;
    bool pxe = false;        // option 43 carried "Raspberry Pi Boot"
    double discover_us = 0;  // DISCOVER -> OFFER
    double request_us = 0;   // REQUEST -> ACK
    int packets = 0;
};

// One Pi's DISCOVER/OFFER/REQUEST/ACK (dhcp_boot's), apart from its socket, so the blocking
// client and the event-loop ones (the micro benchmark, the storm's Pis) follow the same rules.
// A Pi's DISCOVER, and its last REQUEST, may be encoded once (DhcpPacketCache): a boot again
// differs only in the xid, which is patched in (BOOTP header bytes 4-7, RFC 2131 §2), so the
// micro benchmark's client spends its time on the exchange rather than on building packets (a
// quarter less user CPU).
struct DhcpPacketCache {
    std::vector<uint8_t> discover;
    std::vector<uint8_t> request;
    Ipv4 request_ip, request_server;  // what `request` asks for, and from whom
};

class DhcpExchange {
  public:
    using Clock = std::chrono::steady_clock;

    // `pi`, `target` and `cache` (may be null) must outlive the exchange.
    DhcpExchange(const PiIdentity& pi, const DhcpTarget& target, uint32_t xid,
                 DhcpPacketCache* cache);

    // The packet to send now: the first DISCOVER, or a retransmit after a timeout.
    const std::vector<uint8_t>& next();
    bool finished() const { return done_; }
    Result<DhcpResult> result() const;
    // A wait of target.timeout ran out: true to send next() again.
    bool on_timeout();
    // A datagram on the Pi's socket: true when it moved the exchange on (send next() unless
    // finished()); false for noise or another Pi's reply, which leave the wait running.
    bool on_datagram(std::span<const uint8_t> d);

  private:
    void finish(std::error_code ec);

    const PiIdentity& pi_;
    const DhcpTarget& target_;
    uint32_t xid_;
    DhcpPacketCache* cache_;
    std::vector<uint8_t> bytes_;  // what next() sends: the DISCOVER, then the REQUEST
    bool offered_ = false;
    int attempt_ = 0;
    Clock::time_point t0_;
    DhcpResult out_;
    bool done_ = false;
    std::error_code error_;
};

// DISCOVER/OFFER/REQUEST/ACK with the Pi 4 EEPROM's options (docs/pi-boot.md). Sent as a relay
// agent (giaddr = the Pi's address) because a simulated Pi on a loopback or namespace address
// cannot receive the broadcast replies a real Pi gets; every server answers a relay by unicast.
Result<DhcpResult> dhcp_boot(const PiIdentity& pi, const DhcpTarget& target);

// A bound Pi renewing its lease (RFC 2131 §4.3.2, RENEWING): a REQUEST with ciaddr = `address`
// and neither requested-address nor server-id, sent as the relay agent dhcp_boot is. Returns
// the REQUEST -> ACK time in microseconds. Errors: connection_refused (NAK), timed_out.
Result<double> dhcp_renew(const PiIdentity& pi, const DhcpTarget& target, Ipv4 address);

struct DhcpMicroResult {
    uint64_t leases = 0;  // completed DISCOVER..ACK exchanges
    uint64_t failed = 0;  // Pis that stopped on an error (their completed leases still count)
};

// Each Pi repeats dhcp_boot's exchange until `duration` has passed, all from the calling thread:
// every Pi's socket is watched with epoll, so the client costs a send and a receive per packet
// rather than a thread wake-up. With one blocking thread per Pi on the server's own 2 cores,
// 40% of rootfarm's CPU went to waking those threads (sock_def_readable in its sends) and the
// micro benchmark measured the client.
DhcpMicroResult dhcp_micro(std::span<const PiIdentity> pis, const DhcpTarget& target,
                           std::chrono::duration<double> duration);

}  // namespace rootfarm::bench
