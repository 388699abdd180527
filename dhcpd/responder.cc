#include "dhcpd/responder.h"

#include <algorithm>
#include <cstring>

#include "core/log.h"

namespace rootfarm::dhcpd {
namespace {

// How long an OFFER holds its address for a client that will REQUEST it (RFC 2131 §4.3.1
// leaves the time to the server).
constexpr int64_t kOfferHoldSeconds = 120;
// How long a DECLINEd address stays out of the pool (RFC 2131 §3.1 step 5; dnsmasq uses 10
// minutes too).
constexpr int64_t kDeclineHoldSeconds = 600;

bool requested_option(const Packet& p, uint8_t code) {
    const auto* list = p.find(opt::kParameterList);
    return list && std::find(list->begin(), list->end(), code) != list->end();
}

bool all_zero(const MacAddr& mac) {
    return std::all_of(mac.bytes.begin(), mac.bytes.end(), [](uint8_t b) { return b == 0; });
}

}  // namespace

Responder::Responder(Settings settings, Clients& clients, LeaseTable& leases)
    : settings_(std::move(settings)),
      clients_(clients),
      leases_(leases),
      log_(dhcp_log()),
      server_text_(settings_.server_ip.to_string()),
      pi_vendor_(pi_vendor_options(false)),
      pi3_vendor_(pi_vendor_options(true)) {}

void Responder::reconfigure(const Settings& settings) {
    settings_.static_ips = settings.static_ips;
    settings_.pool = settings.pool;
}

std::optional<Reply> Responder::handle(const Packet& packet, int64_t now) {
    // RFC 2131 §2: a server answers BOOTREQUESTs; we only know Ethernet hardware addresses.
    if (packet.op != kBootRequest || packet.htype != kHtypeEthernet || packet.hlen != 6 ||
        all_zero(packet.mac())) {
        ++stats_.bad_header;
        return std::nullopt;
    }
    auto type = packet.message_type();
    if (!type) {
        ++stats_.not_dhcp;
        return std::nullopt;
    }
    MacAddr mac = packet.mac();
    ClientIdentity id = identify(packet);
    auto client = clients_.admit(mac, id.pi);
    if (!client) {
        // Never answer strangers: rootfarm on someone's LAN must not hijack their PCs.
        ++stats_.unknown_client;
        log_.debug("{} {} from unknown client ignored", mac.to_string(), to_string(*type));
        return std::nullopt;
    }
    Request r{packet, mac, id, *client};
    if (remember_identity(r)) {
        if (auto updated = clients_.by_mac(mac)) r.client = *updated;  // e.g. pi-<serial> name
    }
    // Arguments are built only when the line is written: formatting MACs and addresses for
    // lines nobody sees was 15% of the server's CPU in the DHCP micro benchmark.
    if (log_.should_log(spdlog::level::debug)) {
        log_.debug("{} {} xid {:#010x}{}", mac.to_string(), to_string(*type), packet.xid,
                   id.pxe ? " (PXE)" : "");
    }

    if (*type == MessageType::kDiscover) {
        // Only PXE firmware sends its vendor class with a DISCOVER: the Pi is booting. The
        // running system's own DHCP client (dhcpcd, NetworkManager) says nothing of a boot.
        clients_.record(mac, id.pxe ? BootEvent::kDhcpRomDiscover : BootEvent::kDhcpDiscover);
    }
    if (settings_.mode == DhcpConfig::Mode::kProxy) return proxy(r, *type);
    switch (*type) {
        case MessageType::kDiscover:
            return discover(r, now);
        case MessageType::kRequest:
            return request(r, now);
        case MessageType::kDecline:
            decline(r, now);
            return std::nullopt;
        case MessageType::kRelease:
            release(r, now);
            return std::nullopt;
        case MessageType::kInform:
            return inform(r);
        default:
            ++stats_.ignored;
            return std::nullopt;
    }
}

bool Responder::remember_identity(const Request& r) {
    const std::string& serial = r.id.serial.empty() ? r.client.serial : r.id.serial;
    const std::string& model = r.id.model.empty() ? r.client.model : r.id.model;
    if (serial == r.client.serial && model == r.client.model) return false;
    clients_.learn_serial(r.mac, serial, model);
    log_.info("{} is a {} with serial {}", r.mac.to_string(),
              model.empty() ? "Raspberry Pi" : model, serial.empty() ? "unknown" : serial);
    return true;
}

void Responder::learn_ip(const Request& r, Ipv4 ip) {
    // The owner takes a write lock for this; a client that boots again keeps its address.
    if (r.client.ip != ip) clients_.learn_ip(r.mac, ip);
}

std::optional<Ipv4> Responder::address_for(const MacAddr& mac, std::optional<Ipv4> requested,
                                           int64_t now) const {
    if (auto it = settings_.static_ips.find(mac); it != settings_.static_ips.end()) {
        // A declined static address is in use by someone else: offering it again would loop.
        if (leases_.quarantined(it->second, now)) return std::nullopt;
        return it->second;
    }
    return leases_.choose(mac, requested, settings_.pool, now);
}

Packet Responder::reply_base(const Request& r, MessageType type) const {
    Packet reply;
    reply.options.reserve(16);  // a PXE reply to a Pi carries up to 15
    reply.op = kBootReply;
    reply.htype = r.packet.htype;
    reply.hlen = r.packet.hlen;
    reply.xid = r.packet.xid;
    reply.flags = r.packet.flags;
    reply.giaddr = r.packet.giaddr;
    reply.chaddr = r.packet.chaddr;
    reply.siaddr = settings_.server_ip;
    reply.set_u8(opt::kMessageType, static_cast<uint8_t>(type));
    reply.set_ip(opt::kServerId, settings_.server_ip);
    return reply;
}

void Responder::add_network_options(const Request& r, Packet& reply, Ipv4 yiaddr) const {
    reply.set_ip(opt::kSubnetMask, settings_.netmask);
    if (settings_.router) reply.set_ip(opt::kRouter, *settings_.router);
    if (!settings_.dns.empty()) reply.set_ips(opt::kDns, settings_.dns);
    if (!r.client.hostname.empty()) reply.set_string(opt::kHostname, r.client.hostname);
    if (!settings_.domain.empty()) reply.set_string(opt::kDomainName, settings_.domain);
    reply.set_ip(opt::kBroadcast, Ipv4{yiaddr.value | ~settings_.netmask.value});
}

void Responder::add_boot_options(const Request& r, Packet& reply, bool pxe) const {
    if (r.id.pi) {
        // docs/pi-boot.md: EEPROMs and the Pi 3 ROM read option 43 and find the TFTP server in
        // option 66 (no trailing NUL: fw#871) or the reply's source / option 54.
        if (!pxe) return;
        reply.set_string(opt::kVendorClass, kPxeClient);
        if (const auto* guid = r.packet.find(opt::kClientGuid)) {
            reply.set(opt::kClientGuid, *guid);
        }
        reply.set_string(opt::kTftpServer, server_text_);
        reply.set(opt::kVendorSpecific, r.id.pi3_rom ? pi3_vendor_ : pi_vendor_);
        return;
    }
    // Generic PXE firmware (iPXE, PC BIOS) boots the file named in option 67 / `file` from
    // siaddr / option 66.
    if (settings_.boot_file.empty() || (!pxe && !requested_option(r.packet, opt::kBootFile))) {
        return;
    }
    std::copy(settings_.boot_file.begin(), settings_.boot_file.end(), reply.file.begin());
    reply.set_string(opt::kTftpServer, server_text_);
    reply.set_string(opt::kBootFile, settings_.boot_file);
}

Reply Responder::deliver(const Request& r, Packet packet) const {
    Reply reply;
    const Packet& req = r.packet;
    bool nak = packet.message_type() == MessageType::kNak;
    // RFC 2131 §4.1: relay first; a NAK is broadcast; a client with an address gets unicast;
    // one without gets broadcast if it asked, else unicast to its hardware address.
    if (!req.giaddr.is_any()) {
        reply.delivery = Delivery::kRelay;
        reply.to_ip = req.giaddr;
        reply.to_port = settings_.server_port;
        if (nak) packet.flags |= kFlagBroadcast;
    } else if (nak || (req.ciaddr.is_any() && (req.broadcast_flag() || packet.yiaddr.is_any()))) {
        reply.delivery = Delivery::kBroadcast;
        reply.to_ip = Ipv4{0xffffffff};
        reply.to_port = settings_.client_port;
    } else if (!req.ciaddr.is_any()) {
        reply.delivery = Delivery::kUnicast;
        reply.to_ip = req.ciaddr;
        reply.to_port = settings_.client_port;
    } else {
        reply.delivery = Delivery::kHardware;
        reply.to_ip = packet.yiaddr;
        reply.to_port = settings_.client_port;
    }
    // docs/pi-boot.md: the Pi 3B acts on a reply only when another packet follows it ~1 s later.
    if (r.id.pi3_rom && r.id.pxe) reply.delay = settings_.pi3_reply_delay;
    reply.packet = std::move(packet);
    return reply;
}

std::optional<Reply> Responder::proxy(const Request& r, MessageType type) {
    // As dnsmasq's `dhcp-range=…,proxy`: answer PXE DISCOVERs with boot information only; the
    // router's server hands out the address and answers the REQUEST (docs/pi-boot.md).
    if (type != MessageType::kDiscover || !r.id.pxe) {
        ++stats_.ignored;
        return std::nullopt;
    }
    if (!r.id.pi && settings_.boot_file.empty()) {
        ++stats_.ignored;
        return std::nullopt;
    }
    Packet reply = reply_base(r, MessageType::kOffer);
    reply.flags |= kFlagBroadcast;  // yiaddr 0: the client has no address to be unicast to
    add_boot_options(r, reply, true);
    ++stats_.offers;
    clients_.record(r.mac, BootEvent::kDhcpOffer);
    log_.info("{} proxy OFFER of boot information", r.mac.to_string());
    return deliver(r, std::move(reply));
}

std::optional<Reply> Responder::discover(const Request& r, int64_t now) {
    auto ip = address_for(r.mac, r.packet.find_ip(opt::kRequestedIp), now);
    if (!ip) {
        ++stats_.no_address;
        log_.warn("{} DISCOVER: no address to offer (range full or address declined)",
                  r.mac.to_string());
        return std::nullopt;
    }
    // docs/pi-boot.md: the Pi 3 ROM uses the OFFERed address and never REQUESTs it, so its offer
    // is its lease.
    bool binding = r.id.pi3_rom && r.id.pxe;
    Lease lease{r.mac, *ip, now + (binding ? int64_t(settings_.lease_time) : kOfferHoldSeconds),
                binding ? Lease::State::kBound : Lease::State::kOffered};
    if (const Lease* old = leases_.by_mac(r.mac);
        old && old->ip == *ip && old->active(now) && old->expires > lease.expires) {
        lease = *old;  // an OFFER never shortens a lease the client already holds
    }
    leases_.put(lease);
    if (r.id.pxe) pxe_clients_.insert(r.mac);

    Packet reply = reply_base(r, MessageType::kOffer);
    reply.yiaddr = *ip;
    reply.set_u32(opt::kLeaseTime, settings_.lease_time);
    // RFC 2131 §4.4.5 defaults: T1 = 0.5, T2 = 0.875 of the lease.
    reply.set_u32(opt::kRenewalTime, settings_.lease_time / 2);
    reply.set_u32(opt::kRebindingTime, uint32_t(uint64_t(settings_.lease_time) * 7 / 8));
    add_network_options(r, reply, *ip);
    add_boot_options(r, reply, r.id.pxe);
    ++stats_.offers;
    learn_ip(r, *ip);
    clients_.record(r.mac, BootEvent::kDhcpOffer);
    if (log_.should_log(spdlog::level::info)) {
        log_.info("{} OFFER {}{}", r.mac.to_string(), ip->to_string(),
                  r.id.pxe ? " with boot information" : "");
    }
    return deliver(r, std::move(reply));
}

std::optional<Reply> Responder::request(const Request& r, int64_t now) {
    const Packet& p = r.packet;
    auto server_id = p.find_ip(opt::kServerId);
    auto requested = p.find_ip(opt::kRequestedIp);
    // RFC 2131 §4.3.2: SELECTING names a server and an address; INIT-REBOOT only an address;
    // RENEWING/REBINDING neither, with the address in ciaddr.
    if (server_id && *server_id != settings_.server_ip) {
        ++stats_.ignored;  // the client took another server's offer
        return std::nullopt;
    }
    std::optional<Ipv4> wanted = requested;
    if (!wanted && !server_id && !p.ciaddr.is_any()) wanted = p.ciaddr;
    if (!wanted) {
        ++stats_.ignored;
        return std::nullopt;
    }
    auto ip = address_for(r.mac, wanted, now);
    if (!ip || *ip != *wanted) {
        Packet nak = reply_base(r, MessageType::kNak);
        nak.siaddr = Ipv4{};
        nak.set_string(opt::kMessage, "address not available");
        ++stats_.naks;
        log_.info("{} NAK {}: not its address", r.mac.to_string(), wanted->to_string());
        return deliver(r, std::move(nak));
    }
    leases_.put(Lease{r.mac, *ip, now + settings_.lease_time, Lease::State::kBound});
    bool pxe = r.id.pxe || pxe_clients_.contains(r.mac);

    Packet reply = reply_base(r, MessageType::kAck);
    reply.ciaddr = p.ciaddr;
    reply.yiaddr = *ip;
    reply.set_u32(opt::kLeaseTime, settings_.lease_time);
    reply.set_u32(opt::kRenewalTime, settings_.lease_time / 2);
    reply.set_u32(opt::kRebindingTime, uint32_t(uint64_t(settings_.lease_time) * 7 / 8));
    add_network_options(r, reply, *ip);
    add_boot_options(r, reply, pxe);
    ++stats_.acks;
    learn_ip(r, *ip);
    clients_.record(r.mac, BootEvent::kDhcpAck);
    if (log_.should_log(spdlog::level::info)) {
        log_.info("{} ACK {} for {} s", r.mac.to_string(), ip->to_string(), settings_.lease_time);
    }
    return deliver(r, std::move(reply));
}

void Responder::decline(const Request& r, int64_t now) {
    auto server_id = r.packet.find_ip(opt::kServerId);
    auto ip = r.packet.find_ip(opt::kRequestedIp);
    if (!server_id || *server_id != settings_.server_ip || !ip) {
        ++stats_.ignored;
        return;
    }
    const Lease* lease = leases_.by_mac(r.mac);
    if (!lease || lease->ip != *ip) {
        ++stats_.ignored;
        return;
    }
    // RFC 2131 §4.3.3: the address is in use elsewhere; do not hand it out again soon.
    leases_.quarantine(*ip, now + kDeclineHoldSeconds);
    log_.warn("{} DECLINE {}: address in use on the network", r.mac.to_string(), ip->to_string());
}

void Responder::release(const Request& r, int64_t now) {
    auto server_id = r.packet.find_ip(opt::kServerId);
    const Lease* lease = leases_.by_mac(r.mac);
    // RFC 2131 §4.3.4: the address is in ciaddr; the server id must be ours.
    if ((server_id && *server_id != settings_.server_ip) || !lease ||
        lease->ip != r.packet.ciaddr) {
        ++stats_.ignored;
        return;
    }
    Lease released = *lease;
    released.state = Lease::State::kReleased;
    released.expires = now;
    leases_.put(released);  // the address stays with this MAC unless the range runs out
    log_.info("{} RELEASE {}", r.mac.to_string(), lease->ip.to_string());
}

std::optional<Reply> Responder::inform(const Request& r) {
    // RFC 2131 §4.3.5: configuration only: no yiaddr, no lease time; unicast to ciaddr.
    Packet reply = reply_base(r, MessageType::kAck);
    reply.ciaddr = r.packet.ciaddr;
    add_network_options(r, reply, r.packet.ciaddr);
    add_boot_options(r, reply, r.id.pxe);
    ++stats_.acks;
    return deliver(r, std::move(reply));
}

}  // namespace rootfarm::dhcpd
