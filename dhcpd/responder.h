#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include <spdlog/logger.h>

#include "clients/clients.h"
#include "dhcpd/packet.h"
#include "dhcpd/pxe.h"
#include "dhcpd/settings.h"

namespace rootfarm::dhcpd {

// Where a reply goes (RFC 2131 §4.1, "constructing and sending DHCP messages").
enum class Delivery {
    kBroadcast,  // 255.255.255.255:client_port
    kUnicast,    // to_ip:to_port, an address the client already answers ARP for
    kHardware,   // to_ip:client_port, but the client has no address yet: the sender must put
                 // chaddr in the ARP cache first (or fall back to broadcast)
    kRelay,      // giaddr:server_port
};

struct Reply {
    Packet packet;
    Delivery delivery = Delivery::kBroadcast;
    Ipv4 to_ip;
    uint16_t to_port = 68;
    std::chrono::milliseconds delay{0};  // hold the reply back this long (Pi 3 ROM)
};

struct ResponderStats {
    uint64_t bad_header = 0;      // not a BOOTREQUEST over Ethernet
    uint64_t not_dhcp = 0;        // no option 53 (plain BOOTP)
    uint64_t unknown_client = 0;  // not configured and not enrolled: never answered
    uint64_t ignored = 0;         // valid, but nothing for us to say (another server, proxy...)
    uint64_t no_address = 0;      // range exhausted
    uint64_t offers = 0;
    uint64_t acks = 0;
    uint64_t naks = 0;
};

// The DHCP decisions, without sockets or timers: a decoded request and the time in, maybe a
// reply out. Updates the lease table and tells the Pis' owner what it learnt and where each Pi
// is in its boot. Runs on the service's loop thread, with the lease table locked.
class Responder {
  public:
    Responder(Settings settings, Clients& clients, LeaseTable& leases);

    // A new configuration's static addresses and the pool they are reserved from.
    void reconfigure(const Settings& settings);

    // `now` is Unix seconds.
    std::optional<Reply> handle(const Packet& request, int64_t now);

    const ResponderStats& stats() const { return stats_; }
    const Settings& settings() const { return settings_; }

  private:
    struct Request {
        const Packet& packet;
        MacAddr mac;
        ClientIdentity id;
        ClientInfo client;
    };

    // Tells the owner a newly seen serial or model; true if it changed anything.
    bool remember_identity(const Request& r);
    // Tells the owner the address `r`'s client now has, unless it knows it already.
    void learn_ip(const Request& r, Ipv4 ip);

    std::optional<Reply> proxy(const Request& r, MessageType type);
    std::optional<Reply> discover(const Request& r, int64_t now);
    std::optional<Reply> request(const Request& r, int64_t now);
    void decline(const Request& r, int64_t now);
    void release(const Request& r, int64_t now);
    std::optional<Reply> inform(const Request& r);

    // The address `mac` should have: its static one, else one from the range.
    std::optional<Ipv4> address_for(const MacAddr& mac, std::optional<Ipv4> requested,
                                    int64_t now) const;
    Packet reply_base(const Request& r, MessageType type) const;
    // Options 1, 3, 6, 12, 15, 28 (RFC 2132 §3) for `yiaddr`.
    void add_network_options(const Request& r, Packet& reply, Ipv4 yiaddr) const;
    // Boot information: option 43 for a Pi's PXE firmware, option 67 for other PXE clients.
    void add_boot_options(const Request& r, Packet& reply, bool pxe) const;
    Reply deliver(const Request& r, Packet reply) const;

    Settings settings_;
    Clients& clients_;
    LeaseTable& leases_;
    ResponderStats stats_;
    // dhcp_log() is a lookup in spdlog's registry, under its mutex; the logger lives for the
    // process, and several lines per packet need it.
    spdlog::logger& log_;
    // MACs whose DISCOVER came from PXE firmware: the Pi 4 REQUEST omits option 60 but its
    // ACK should carry the same boot information as the OFFER.
    std::unordered_set<MacAddr> pxe_clients_;
    // Parts of every reply that never change, built once rather than per packet.
    std::string server_text_;                      // option 66: server_ip as text
    std::vector<uint8_t> pi_vendor_, pi3_vendor_;  // option 43 (pi_vendor_options)
};

}  // namespace rootfarm::dhcpd
