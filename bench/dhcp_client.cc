#include "bench/dhcp_client.h"

#include <array>
#include <chrono>
#include <cstdio>
#include <random>

#include "bench/udp.h"
#include "dhcpd/packet.h"

namespace rootfarm::bench {

namespace {

using namespace rootfarm::dhcpd;

// PI-BOOT.md: the EEPROM's parameter request list and PXE identity.
const std::vector<uint8_t> kRequestList = {1,   3,   43,  60,  66,  67,  128,
                                           129, 130, 131, 132, 133, 134, 135};
constexpr std::string_view kVendorClass = "PXEClient:Arch:00000:UNDI:002001";

// Option 97 of a Pi 4: 0, "RPi4", board revision (LE), MAC low 4 bytes, serial (LE).
std::vector<uint8_t> guid(const PiIdentity& pi) {
    std::vector<uint8_t> g = {0, 'R', 'P', 'i', '4', 0x11, 0x31, 0xa0, 0x00};
    for (int i = 2; i < 6; ++i) g.push_back(pi.mac.bytes[i]);
    for (int i = 0; i < 4; ++i) g.push_back(static_cast<uint8_t>(pi.serial >> (8 * i)));
    return g;
}

Packet base(const PiIdentity& pi, uint32_t xid, MessageType type, uint16_t secs) {
    Packet p;
    p.op = kBootRequest;
    p.xid = xid;
    p.secs = secs;
    p.hops = 1;
    p.giaddr = pi.source;
    p.set_mac(pi.mac);
    p.set_u8(opt::kMessageType, static_cast<uint8_t>(type));
    p.set(opt::kParameterList, kRequestList);
    return p;
}

}  // namespace

std::string PiIdentity::serial_hex() const {
    char buf[9];
    std::snprintf(buf, sizeof buf, "%08x", serial);
    return buf;
}

PiIdentity make_pi(uint32_t index, Ipv4 source) {
    PiIdentity pi;
    pi.mac.bytes = {0xdc,
                    0xa6,
                    0x32,
                    static_cast<uint8_t>(0xb0 | (index >> 16 & 0x0f)),
                    static_cast<uint8_t>(index >> 8),
                    static_cast<uint8_t>(index)};
    pi.serial = 0x5b000000u | index;
    pi.source = source;
    return pi;
}

Result<DhcpResult> dhcp_boot(const PiIdentity& pi, const DhcpTarget& target) {
    auto sock = UdpClient::bind(pi.source, target.relay_port);
    if (!sock) return sock.error();
    std::mt19937 rng(pi.serial);
    uint32_t xid = rng();  // PI-BOOT.md: the Pi 4 uses a random xid
    DhcpResult out;
    std::array<uint8_t, 1500> buf;
    using Clock = std::chrono::steady_clock;

    // Sends `p` and waits for a reply of `want` to our xid, retrying on timeout.
    auto exchange = [&](const Packet& p, MessageType want, double& us) -> Result<Packet> {
        auto bytes = encode(p);
        for (int attempt = 0; attempt <= target.retries; ++attempt) {
            auto t0 = Clock::now();
            if (auto r = sock->send_to(target.server, bytes); !r) return r.error();
            ++out.packets;
            auto deadline = t0 + target.timeout;
            while (Clock::now() < deadline) {
                sockaddr_in from{};
                auto left =
                    std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
                auto n = sock->recv_from(buf, from, left);
                if (!n) break;
                auto reply = decode({buf.data(), *n});
                if (!reply || reply->op != kBootReply || reply->xid != xid ||
                    reply->mac() != pi.mac) {
                    continue;  // another Pi's reply on a shared relay port, or noise
                }
                auto type = reply->message_type();
                if (type == MessageType::kNak) return std::errc::connection_refused;
                if (type != want) continue;
                us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
                return std::move(*reply);
            }
        }
        return std::errc::timed_out;
    };

    Packet discover = base(pi, xid, MessageType::kDiscover, 0);
    discover.set(opt::kClientArch, {0, 0});
    discover.set(opt::kClientNdi, {1, 2, 1});
    discover.set(opt::kClientGuid, guid(pi));
    discover.set_string(opt::kVendorClass, kVendorClass);
    auto offer = exchange(discover, MessageType::kOffer, out.discover_us);
    if (!offer) return offer.error();
    out.pxe =
        offer->find_string(opt::kVendorSpecific).find("Raspberry Pi Boot") != std::string::npos;
    auto sid = offer->find_ip(opt::kServerId);
    if (!sid) return std::errc::protocol_error;
    out.server_id = *sid;

    // PI-BOOT.md: the EEPROM's REQUEST has no option 60.
    Packet request = base(pi, xid, MessageType::kRequest, 1);
    request.set_ip(opt::kRequestedIp, offer->yiaddr);
    request.set_ip(opt::kServerId, *sid);
    request.set(opt::kClientArch, {0, 0});
    request.set(opt::kClientNdi, {1, 2, 1});
    request.set(opt::kClientGuid, guid(pi));
    auto ack = exchange(request, MessageType::kAck, out.request_us);
    if (!ack) return ack.error();
    out.yiaddr = ack->yiaddr;
    return out;
}

}  // namespace rootfarm::bench
