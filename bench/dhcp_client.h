#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>

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
