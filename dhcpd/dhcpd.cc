#include "dhcpd/dhcpd.h"

#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/log.h"

namespace rootfarm::dhcpd {
namespace {

int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

Result<std::unique_ptr<DhcpServer>> DhcpServer::create(const Config& config, Clients& clients) {
    auto settings = make_settings(config, netmask_of_local_address(config.server_ip));
    if (!settings) return settings.error();
    dhcp_log().info("{} leases known", clients.leases().table.size());
    return std::unique_ptr<DhcpServer>(
        new DhcpServer(std::move(*settings), clients, config.dhcp.interface, config.dhcp.listen));
}

DhcpServer::DhcpServer(Settings settings, Clients& clients, std::string interface, Ipv4 listen)
    : settings_(std::move(settings)),
      clients_(clients),
      responder_(settings_, clients_, clients_.leases().table),
      interface_(std::move(interface)),
      listen_(listen),
      log_(dhcp_log()) {
    // A reloaded configuration's static addresses: the responder takes them on its own thread.
    std::weak_ptr<Loop*> alive = alive_;
    clients_.on_reconfigure([this, alive](const Config& config) {
        auto settings = make_settings(config, netmask_of_local_address(config.server_ip));
        if (!settings) return;  // the owner took it, so it was valid; the [dhcp] part waits
        auto held = alive.lock();
        if (!held || *held == nullptr) return;
        (*held)->post([this, alive, s = std::move(*settings)] {
            if (alive.lock()) responder_.reconfigure(s);
        });
    });
}

DhcpServer::~DhcpServer() {
    *alive_ = nullptr;
}

Result<void> DhcpServer::start(Loop& loop) {
    loop_ = &loop;
    *alive_ = &loop;
    UdpOptions options;
    options.broadcast = true;  // replies to clients without an address go to 255.255.255.255
    options.bind_device = interface_;
    auto sock = loop.open_udp(listen_, settings_.server_port, this, options);
    if (!sock) {
        dhcp_log().error("cannot listen on {}:{}{}{}: {}", listen_.to_string(),
                         settings_.server_port, interface_.empty() ? "" : " on ", interface_,
                         sock.error().message());
        return sock.error();
    }
    socket_ = *sock;
    dhcp_log().info("DHCP {} on {}:{}{}{}, server {}",
                    settings_.mode == DhcpConfig::Mode::kProxy ? "proxy" : "server",
                    listen_.to_string(), socket_->local_port(), interface_.empty() ? "" : " dev ",
                    interface_, settings_.server_ip.to_string());
    return {};
}

DhcpStats DhcpServer::stats() const {
    DhcpStats s = stats_;
    s.responder = responder_.stats();
    return s;
}

void DhcpServer::on_datagram(UdpSocket& sock, const Datagram& d) {
    ++stats_.received;
    auto packet = decode(d.data);
    if (!packet) {
        ++stats_.malformed;
        dhcp_log().debug("dropped {} bytes from {}: {}", d.data.size(), rootfarm::to_string(d.from),
                         packet.error().message());
        return;
    }
    std::optional<Reply> reply;
    {
        auto leases = clients_.leases();
        const uint64_t before = leases.table.version();
        reply = responder_.handle(*packet, unix_now());
        if (leases.table.version() != before) {
            leases.lock.unlock();
            clients_.leases_changed();
        }
    }
    if (!reply) return;
    MacAddr mac = packet->mac();
    if (auto it = delayed_.find(mac); it != delayed_.end()) {
        loop_->cancel_timer(it->second);
        delayed_.erase(it);
    }
    int ifindex = d.ifindex;
    if (reply->delay.count() > 0) {
        TimerId id = loop_->add_timer(reply->delay, [this, mac, r = *reply, ifindex] {
            delayed_.erase(mac);
            send(r, ifindex);
        });
        delayed_[mac] = id;
        return;
    }
    send(*reply, ifindex);
}

bool DhcpServer::prime_arp(Ipv4 ip, const MacAddr& mac, int ifindex) {
    char name[IF_NAMESIZE] = {};
    if (ifindex == 0 || ::if_indextoname(unsigned(ifindex), name) == nullptr) return false;
    arpreq req{};
    auto* pa = reinterpret_cast<sockaddr_in*>(&req.arp_pa);
    pa->sin_family = AF_INET;
    pa->sin_addr = ip.to_network();
    req.arp_ha.sa_family = ARPHRD_ETHER;
    std::memcpy(req.arp_ha.sa_data, mac.bytes.data(), mac.bytes.size());
    req.arp_flags = ATF_COM;
    std::memcpy(req.arp_dev, name, std::min(std::strlen(name), sizeof req.arp_dev - 1));
    if (::ioctl(socket_->fd(), SIOCSARP, &req) != 0) {
        dhcp_log().debug("{}: cannot add ARP entry for {} on {}: {}", mac.to_string(),
                         ip.to_string(), name, std::strerror(errno));
        return false;
    }
    return true;
}

void DhcpServer::send(const Reply& reply, int ifindex) {
    if (!socket_) return;
    Ipv4 to = reply.to_ip;
    if (reply.delivery == Delivery::kHardware && !prime_arp(to, reply.packet.mac(), ifindex)) {
        // RFC 2131 §4.1: when unicasting to chaddr is impossible, broadcast.
        ++stats_.arp_fallbacks;
        to = Ipv4{0xffffffff};
    }
    auto bytes = encode(reply.packet);
    if (log_.should_log(spdlog::level::debug)) {
        log_.debug("{} {} to {}:{}", reply.packet.mac().to_string(),
                   to_string(reply.packet.message_type().value_or(MessageType::kAck)),
                   to.to_string(), reply.to_port);
    }
    // Leave through the interface the request came in on, from the address that serves TFTP
    // (docs/pi-boot.md: the Pi 3 takes the reply's source as its TFTP server).
    socket_->send_to(make_sockaddr(to, reply.to_port), std::move(bytes), ifindex,
                     settings_.server_ip);
    ++stats_.sent;
}

}  // namespace rootfarm::dhcpd
