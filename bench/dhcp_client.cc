#include "bench/dhcp_client.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <random>

#include "bench/udp.h"
#include "dhcpd/packet.h"

namespace rootfarm::bench {

namespace {

using namespace rootfarm::dhcpd;

// docs/pi-boot.md: the EEPROM's parameter request list and PXE identity.
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

namespace {

void set_xid(std::vector<uint8_t>& bytes, uint32_t xid) {
    for (int i = 0; i < 4; ++i) bytes[4 + i] = static_cast<uint8_t>(xid >> (24 - 8 * i));
}

}  // namespace

DhcpExchange::DhcpExchange(const PiIdentity& pi, const DhcpTarget& target, uint32_t xid,
                           DhcpPacketCache* cache)
    : pi_(pi), target_(target), xid_(xid), cache_(cache) {
    if (cache_ && !cache_->discover.empty()) {
        bytes_ = cache_->discover;
        set_xid(bytes_, xid);
        return;
    }
    Packet discover = base(pi, xid, MessageType::kDiscover, 0);
    discover.set(opt::kClientArch, {0, 0});
    discover.set(opt::kClientNdi, {1, 2, 1});
    discover.set(opt::kClientGuid, guid(pi));
    discover.set_string(opt::kVendorClass, kVendorClass);
    bytes_ = encode(discover);
    if (cache_) cache_->discover = bytes_;
}

const std::vector<uint8_t>& DhcpExchange::next() {
    ++out_.packets;
    t0_ = Clock::now();
    return bytes_;
}

Result<DhcpResult> DhcpExchange::result() const {
    if (error_) return error_;
    return out_;
}

bool DhcpExchange::on_timeout() {
    if (++attempt_ <= target_.retries) return true;
    finish(std::make_error_code(std::errc::timed_out));
    return false;
}

bool DhcpExchange::on_datagram(std::span<const uint8_t> d) {
    // Another Pi's reply, told apart without decoding it: xid (bytes 4-7).
    if (d.size() < 8 ||
        (uint32_t(d[4]) << 24 | uint32_t(d[5]) << 16 | uint32_t(d[6]) << 8 | d[7]) != xid_) {
        return false;
    }
    auto reply = decode(d);
    if (!reply || reply->op != kBootReply || reply->xid != xid_ || reply->mac() != pi_.mac) {
        return false;  // another Pi's reply on a shared relay port, or noise
    }
    auto type = reply->message_type();
    if (type == MessageType::kNak) {
        finish(std::make_error_code(std::errc::connection_refused));
        return true;
    }
    const MessageType want = offered_ ? MessageType::kAck : MessageType::kOffer;
    if (type != want) return false;
    const double us = std::chrono::duration<double, std::micro>(Clock::now() - t0_).count();
    if (offered_) {
        out_.request_us = us;
        out_.yiaddr = reply->yiaddr;
        finish({});
        return true;
    }
    out_.discover_us = us;
    out_.pxe =
        reply->find_string(opt::kVendorSpecific).find("Raspberry Pi Boot") != std::string::npos;
    auto sid = reply->find_ip(opt::kServerId);
    if (!sid) {
        finish(std::make_error_code(std::errc::protocol_error));
        return true;
    }
    out_.server_id = *sid;
    if (cache_ && !cache_->request.empty() && cache_->request_ip == reply->yiaddr &&
        cache_->request_server == *sid) {
        bytes_ = cache_->request;
        set_xid(bytes_, xid_);
    } else {
        // docs/pi-boot.md: the EEPROM's REQUEST has no option 60.
        Packet request = base(pi_, xid_, MessageType::kRequest, 1);
        request.set_ip(opt::kRequestedIp, reply->yiaddr);
        request.set_ip(opt::kServerId, *sid);
        request.set(opt::kClientArch, {0, 0});
        request.set(opt::kClientNdi, {1, 2, 1});
        request.set(opt::kClientGuid, guid(pi_));
        bytes_ = encode(request);
        if (cache_) *cache_ = {cache_->discover, bytes_, reply->yiaddr, *sid};
    }
    offered_ = true;
    attempt_ = 0;
    return true;
}

void DhcpExchange::finish(std::error_code ec) {
    done_ = true;
    error_ = ec;
}

Result<DhcpResult> dhcp_boot(const PiIdentity& pi, const DhcpTarget& target) {
    auto sock = UdpClient::bind(pi.source, target.relay_port);
    if (!sock) return sock.error();
    std::mt19937 rng(pi.serial);
    DhcpExchange x(pi, target, rng(), nullptr);  // docs/pi-boot.md: the Pi 4 uses a random xid
    std::array<uint8_t, 1500> buf;
    bool send = true;
    while (!x.finished()) {
        if (send) {
            if (auto r = sock->send_to(target.server, x.next()); !r) return r.error();
        }
        // The wait restarts with each send (one timeout per attempt), not with noise.
        auto deadline = DhcpExchange::Clock::now() + target.timeout;
        send = false;
        while (!send && !x.finished()) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - DhcpExchange::Clock::now());
            sockaddr_in from{};
            auto n = sock->recv_from(buf, from, left);
            if (!n) {
                send = x.on_timeout();
                break;
            }
            send = x.on_datagram({buf.data(), *n});
        }
    }
    return x.result();
}

Result<double> dhcp_renew(const PiIdentity& pi, const DhcpTarget& target, Ipv4 address) {
    auto sock = UdpClient::bind(pi.source, target.relay_port);
    if (!sock) return sock.error();
    std::random_device rd;
    const uint32_t xid = rd();
    Packet request = base(pi, xid, MessageType::kRequest, 0);
    request.ciaddr = address;
    const std::vector<uint8_t> bytes = encode(request);
    std::array<uint8_t, 1500> buf;
    using Clock = std::chrono::steady_clock;
    for (int attempt = 0; attempt <= target.retries; ++attempt) {
        const auto t0 = Clock::now();
        if (auto r = sock->send_to(target.server, bytes); !r) return r.error();
        const auto deadline = t0 + target.timeout;
        for (;;) {
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            sockaddr_in from{};
            auto n = sock->recv_from(buf, from, left);
            if (!n) break;
            auto reply = decode({buf.data(), *n});
            if (!reply || reply->op != kBootReply || reply->xid != xid || reply->mac() != pi.mac) {
                continue;  // another Pi's reply on the shared relay port, or noise
            }
            if (reply->message_type() == MessageType::kNak) return std::errc::connection_refused;
            if (reply->message_type() != MessageType::kAck) continue;
            return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
        }
    }
    return std::errc::timed_out;
}

DhcpMicroResult dhcp_micro(std::span<const PiIdentity> pis, const DhcpTarget& target,
                           std::chrono::duration<double> duration) {
    using Clock = DhcpExchange::Clock;
    struct Pi {
        UdpClient sock;
        std::mt19937 rng;
        DhcpPacketCache cache;
        std::optional<DhcpExchange> x;
        Clock::time_point deadline;
    };
    DhcpMicroResult out;
    const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(duration);
    UdpPoller poller;
    if (!poller.ok()) {
        out.failed = pis.size();
        return out;
    }
    std::vector<std::unique_ptr<Pi>> all(pis.size());
    size_t running = 0;
    auto stop = [&](size_t i) {
        poller.remove(all[i]->sock);
        all[i].reset();
        --running;
    };
    // Sends the exchange's next packet; a Pi whose send fails stops.
    auto send = [&](size_t i) {
        Pi& pi = *all[i];
        pi.deadline = Clock::now() + target.timeout;
        if (pi.sock.send_to(target.server, pi.x->next())) return;
        ++out.failed;
        stop(i);
    };
    // One exchange ended: count it and start the next boot, or stop the Pi.
    auto next_boot = [&](size_t i) {
        Pi& pi = *all[i];
        const bool ok = pi.x->result().ok();
        if (ok) ++out.leases;
        if (!ok || Clock::now() >= end) {
            if (!ok) ++out.failed;
            stop(i);
            return;
        }
        pi.x.emplace(pis[i], target, pi.rng(), &pi.cache);
        send(i);
    };
    for (size_t i = 0; i < pis.size(); ++i) {
        auto sock = UdpClient::bind(pis[i].source, target.relay_port);
        if (!sock) {
            ++out.failed;
            continue;
        }
        all[i].reset(new Pi{std::move(*sock), std::mt19937(pis[i].serial), {}, std::nullopt, {}});
        all[i]->x.emplace(pis[i], target, all[i]->rng(), &all[i]->cache);
        poller.add(all[i]->sock, i);
        ++running;
        send(i);
    }
    std::array<uint8_t, 1500> buf;
    while (running > 0) {
        auto next = Clock::now() + target.timeout;
        for (auto& pi : all) {
            if (pi) next = std::min(next, pi->deadline);
        }
        const bool ok = poller.wait(next, [&](uint64_t i) {
            sockaddr_in from{};
            while (all[i]) {
                auto got = all[i]->sock.recv_now(buf, from);
                if (!got) break;
                if (!all[i]->x->on_datagram({buf.data(), *got})) continue;
                if (all[i]->x->finished()) {
                    next_boot(i);
                } else {
                    send(i);
                }
            }
        });
        if (!ok) break;
        const auto now = Clock::now();
        for (size_t i = 0; i < all.size(); ++i) {
            if (!all[i] || all[i]->deadline > now) continue;
            if (all[i]->x->on_timeout()) {
                send(i);
            } else {
                next_boot(i);
            }
        }
    }
    return out;
}

}  // namespace rootfarm::bench
