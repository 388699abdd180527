#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>

#include <spdlog/logger.h>

#include "clients/clients.h"
#include "core/config.h"
#include "core/loop.h"
#include "core/result.h"
#include "core/source_limit.h"
#include "dhcpd/responder.h"

namespace rootfarm::dhcpd {

struct DhcpStats {
    uint64_t received = 0;
    uint64_t malformed = 0;  // failed to decode (truncated, no cookie, overruns, overload)
    uint64_t sent = 0;
    uint64_t arp_fallbacks = 0;  // could not prime the ARP cache: broadcast instead
    ResponderStats responder;
};

// The DHCP/PXE service on a Loop: decodes datagrams on port 67, asks the Responder, sends the
// replies from server_ip out of the interface they came in on. The leases are the owner's
// (Clients), who writes them to disk.
class DhcpServer : private UdpHandler {
  public:
    // Config errors -> error code, with a one-line explanation logged on dhcp_log().
    // `clients` must outlive the server.
    static Result<std::unique_ptr<DhcpServer>> create(const Config& config, Clients& clients);
    // Opens the UDP socket on `loop`; called on the loop's thread, once.
    Result<void> start(Loop& loop);
    // Destroy after loop.run() has returned, or on the loop's thread.
    ~DhcpServer() override;

    // Loop thread only.
    DhcpStats stats() const;
    uint16_t port() const { return socket_ ? socket_->local_port() : 0; }

  private:
    void on_datagram(UdpSocket& sock, const Datagram& d) override;

    DhcpServer(Settings settings, Clients& clients, std::string interface, Ipv4 listen);

    void send(const Reply& reply, int ifindex);
    // Puts chaddr -> yiaddr into the ARP cache so a reply can be unicast to a client that has
    // no address yet (RFC 2131 §4.1), as dnsmasq does. False without CAP_NET_ADMIN.
    bool prime_arp(Ipv4 ip, const MacAddr& mac, int ifindex);

    Settings settings_;
    Clients& clients_;
    Responder responder_;
    std::string interface_;
    Ipv4 listen_;

    spdlog::logger& log_;  // dhcp_log(), looked up once (see Responder::log_)

    Loop* loop_ = nullptr;
    UdpSocket* socket_ = nullptr;
    DhcpStats stats_;
    // Where flood_ holds a MAC over its budget, so its packets stop at the kernel.
    DatagramDropFilter kernel_drop_{DatagramDropFilter::Key::kDhcpClientMac};
    // Packets per MAC ([dhcp] client_packets_per_second): a DISCOVER storm from one client
    // costs a decode and this check, not a lease lookup and a reply each.
    SourceLimiter flood_;
    // At most one held-back reply per MAC (Pi 3 ROM delay); a retry replaces it.
    std::unordered_map<MacAddr, TimerId> delayed_;
    // Held by the reload listener registered with the owner: gone with the server.
    std::shared_ptr<Loop*> alive_ = std::make_shared<Loop*>(nullptr);
};

}  // namespace rootfarm::dhcpd
