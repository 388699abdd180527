#include "dhcpd/dhcpd.h"

#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/log.h"
#include "core/metrics.h"

namespace rootfarm::dhcpd {
namespace {

// DHCP's series (core/metrics.h): messages by type (RFC 2132 §9.6; "BOOTP" without one),
// replies by type, bytes, and datagrams that do not decode.
struct DhcpMetrics {
    static constexpr size_t kTypes = 9;  // [0]: BOOTP, [1..8]: MessageType
    std::array<metrics::Counter, kTypes> requests, replies;
    std::array<metrics::Histogram, kTypes> durations;
    metrics::Counter received, sent, malformed, flood_dropped;

    DhcpMetrics() {
        for (size_t t = 0; t < kTypes; ++t) {
            const std::string_view op = t == 0 ? "BOOTP" : to_string(static_cast<MessageType>(t));
            requests[t] = metrics::requests_total("dhcp", op);
            durations[t] = metrics::request_duration("dhcp", op);
            replies[t] = metrics::replies_total("dhcp", op);
        }
        received = metrics::received_bytes("dhcp");
        sent = metrics::sent_bytes("dhcp");
        malformed = metrics::errors_total("dhcp", "MALFORMED");
        flood_dropped = metrics::errors_total("dhcp", "FLOOD_DROPPED");
    }

    static size_t index(std::optional<MessageType> type) {
        const auto t = type ? static_cast<size_t>(*type) : 0;
        return t < kTypes ? t : 0;
    }
};

const DhcpMetrics& dhcp_metrics() {
    static const DhcpMetrics m;
    return m;
}

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
      log_(dhcp_log()),
      flood_("DHCP packets", log_,
             SourceLimiter::Options::rate(settings_.client_packets_per_second),
             [](uint64_t key) { return MacAddr::from_u64(key).to_string(); }) {
    flood_.drop_in_kernel(&kernel_drop_);
    dhcp_metrics();  // registered before the first scrape
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
    kernel_drop_.add_socket(socket_->fd());
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
    const auto start = std::chrono::steady_clock::now();
    const DhcpMetrics& m = dhcp_metrics();
    ++stats_.received;
    m.received.add(d.data.size());
    auto packet = decode(d.data);
    if (!packet) {
        ++stats_.malformed;
        m.malformed.add();
        dhcp_log().debug("dropped {} bytes from {}: {}", d.data.size(), rootfarm::to_string(d.from),
                         packet.error().message());
        return;
    }
    if (!flood_.charge(packet->mac().to_u64())) {
        m.flood_dropped.add();
        return;
    }
    const size_t type = DhcpMetrics::index(packet->message_type());
    m.requests[type].add();
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
    // Until the answer is decided: a Pi 3's deliberate reply delay is not latency.
    m.durations[type].observe(std::chrono::steady_clock::now() - start);
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
    const DhcpMetrics& m = dhcp_metrics();
    m.replies[DhcpMetrics::index(reply.packet.message_type())].add();
    m.sent.add(bytes.size());
    socket_->send_to(make_sockaddr(to, reply.to_port), std::move(bytes), ifindex,
                     settings_.server_ip);
    ++stats_.sent;
}

}  // namespace rootfarm::dhcpd
