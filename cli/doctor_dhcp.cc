// The foreign DHCP server check of `rootfarm doctor`: does another server answer DHCPDISCOVERs
// on the Pis' segment? A Pi takes the first usable OFFER (RFC 2131 §4.4.1), so in server mode a
// second server hands some Pis addresses and boot answers that are not ours.

#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>

#include "cli/doctor.h"
#include "dhcpd/packet.h"

namespace rootfarm::cli::doctor {
namespace {

// RFC 2131 §4.1: servers send to port 67, replies to clients go to port 68.
constexpr uint16_t kServerPort = 67;
constexpr uint16_t kClientPort = 68;

Finding skipped(const std::string& why) {
    return {Severity::kOk, "dhcp", "foreign DHCP server check skipped: " + why, ""};
}

// A DISCOVER from a made-up, locally administered MAC (02:00:00:xx:xx:xx; RFC 7042 §2.1), so
// no server mistakes us for a Pi it knows. The broadcast flag asks for broadcast replies
// (RFC 2131 §4.1): the interface may have no address the server could unicast to.
dhcpd::Packet discover(uint32_t xid, const MacAddr& mac) {
    dhcpd::Packet p;
    p.op = dhcpd::kBootRequest;
    p.xid = xid;
    p.flags = dhcpd::kFlagBroadcast;
    p.set_mac(mac);
    p.set_u8(dhcpd::opt::kMessageType, static_cast<uint8_t>(dhcpd::MessageType::kDiscover));
    p.set(dhcpd::opt::kParameterList,
          {dhcpd::opt::kSubnetMask, dhcpd::opt::kRouter, dhcpd::opt::kServerId});
    return p;
}

struct Offer {
    Ipv4 offered;
    Ipv4 from;  // the datagram's source address
};

}  // namespace

Findings check_foreign_dhcp(const Config& config, std::chrono::milliseconds wait) {
    const DhcpConfig& d = config.dhcp;
    if (!d.enabled) return {skipped("DHCP is disabled")};
    if (d.mode == DhcpConfig::Mode::kProxy) {
        return {skipped("proxy mode answers beside the segment's own DHCP server")};
    }
    if (d.interface.empty()) return {skipped("no [dhcp] interface to send a DISCOVER from")};
    if (::if_nametoindex(d.interface.c_str()) == 0) {
        return {skipped("interface " + d.interface + " does not exist")};
    }

    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return {skipped(std::string("socket: ") + std::strerror(errno))};
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
    if (::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, d.interface.c_str(),
                     static_cast<socklen_t>(d.interface.size())) != 0) {
        const int err = errno;
        ::close(fd);
        return {skipped("cannot bind to interface " + d.interface + ": " + std::strerror(err))};
    }
    // No SO_REUSEADDR: if a DHCP client holds port 68, the OFFERs are its, not ours to read.
    const sockaddr_in local = make_sockaddr(Ipv4{}, kClientPort);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
        const int err = errno;
        ::close(fd);
        return {skipped(err == EADDRINUSE ? "port 68 is in use (a DHCP client runs here)"
                                          : std::string("cannot bind port 68: ") +
                                                std::strerror(err) + " (run as root)")};
    }

    std::random_device random;
    const uint32_t xid = random();
    MacAddr mac;
    mac.bytes = {0x02, 0x00, 0x00, uint8_t(random()), uint8_t(random()), uint8_t(random())};
    const std::vector<uint8_t> bytes = dhcpd::encode(discover(xid, mac));
    const sockaddr_in to = make_sockaddr(Ipv4{0xffffffff}, kServerPort);
    auto send = [&] {
        return ::sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                        sizeof to) == static_cast<ssize_t>(bytes.size());
    };
    if (!send()) {
        const int err = errno;
        ::close(fd);
        return {skipped("cannot send a DISCOVER on " + d.interface + ": " + std::strerror(err))};
    }

    // Server identifier (option 54, RFC 2131 §4.3.1) -> what it offered.
    std::map<Ipv4, Offer> offers;
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + wait;
    bool resent = false;
    std::vector<uint8_t> buf(2048);
    for (;;) {
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline) break;
        // One retransmission after a second, as clients do (RFC 2131 §4.1), for a lost datagram.
        if (!resent && now - start >= std::chrono::seconds(1)) {
            resent = true;
            send();
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
        pollfd p{fd, POLLIN, 0};
        const int timeout = static_cast<int>(std::min<int64_t>(left.count(), resent ? 1000 : 200));
        if (::poll(&p, 1, std::max(timeout, 1)) <= 0) continue;
        sockaddr_in from{};
        socklen_t from_len = sizeof from;
        const ssize_t n = ::recvfrom(fd, buf.data(), buf.size(), 0,
                                     reinterpret_cast<sockaddr*>(&from), &from_len);
        if (n <= 0) continue;
        auto packet = dhcpd::decode({buf.data(), static_cast<size_t>(n)});
        if (!packet || packet->op != dhcpd::kBootReply || packet->xid != xid ||
            packet->mac() != mac || packet->message_type() != dhcpd::MessageType::kOffer) {
            continue;
        }
        const Ipv4 source = Ipv4::from_network(from.sin_addr);
        const Ipv4 id = packet->find_ip(dhcpd::opt::kServerId).value_or(source);
        if (!config.server_ip.is_any() && id == config.server_ip) continue;  // ours
        offers.try_emplace(id, Offer{packet->yiaddr, source});
    }
    ::close(fd);

    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%g", static_cast<double>(wait.count()) / 1000);
    if (offers.empty()) {
        return {{Severity::kOk, "dhcp",
                 "no other DHCP server answered a DISCOVER on " + d.interface + " within " +
                     std::string(seconds) + " s",
                 ""}};
    }
    Findings out;
    for (const auto& [id, offer] : offers) {
        out.push_back({Severity::kProblem, "dhcp",
                       "another DHCP server answers on " + d.interface + ": server " +
                           id.to_string() + " offered " + offer.offered.to_string() +
                           (offer.from == id ? "" : " (sent from " + offer.from.to_string() + ")"),
                       "turn that server off on this segment (or exclude the Pis there), or set "
                       "[dhcp] mode = \"proxy\" to answer only the Pis' boot requests beside it"});
    }
    return out;
}

}  // namespace rootfarm::cli::doctor
