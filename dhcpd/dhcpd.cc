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

// Lease writes are batched: a boot storm of DISCOVERs costs one fsync per interval, not one
// per packet.
constexpr std::chrono::milliseconds kFlushInterval{500};

int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

Result<std::unique_ptr<DhcpServer>> DhcpServer::create(const Config& config,
                                                       ClientRegistry& clients) {
    auto settings = make_settings(config, netmask_of_local_address(config.server_ip));
    if (!settings) return settings.error();
    std::error_code ec;
    std::filesystem::create_directories(config.state_dir, ec);
    if (ec) {
        dhcp_log().error("state_dir = {}: {}", config.state_dir.string(), ec.message());
        return ec;
    }
    auto path = config.state_dir / "leases";
    auto leases = load_leases(path);
    if (!leases) {
        dhcp_log().error("{}: {}", path.string(), leases.error().message());
        return leases.error();
    }
    dhcp_log().info("{} leases loaded from {}", leases->size(), path.string());
    return std::unique_ptr<DhcpServer>(new DhcpServer(std::move(*settings), clients, path,
                                                      std::move(*leases), config.dhcp.interface,
                                                      config.dhcp.listen));
}

DhcpServer::DhcpServer(Settings settings, ClientRegistry& clients,
                       std::filesystem::path leases_path, LeaseTable leases, std::string interface,
                       Ipv4 listen)
    : settings_(std::move(settings)),
      clients_(clients),
      leases_path_(std::move(leases_path)),
      leases_(std::move(leases)),
      responder_(settings_, clients_, leases_),
      interface_(std::move(interface)),
      listen_(listen),
      log_(dhcp_log()) {
    saved_version_ = leases_.version();
}

DhcpServer::~DhcpServer() {
    if (flush_fd_ >= 0) ::close(flush_fd_);
    if (leases_.version() == saved_version_) return;
    // The loop no longer runs, but an abandoned asynchronous write may still land on
    // "leases.tmp": write the final copy through another temporary name.
    auto final_path = leases_path_;
    final_path += ".final";
    if (auto r = write_file_atomically(final_path, leases_.serialize()); !r) {
        dhcp_log().error("{}: {}", leases_path_.string(), r.error().message());
        return;
    }
    std::error_code ec;
    std::filesystem::rename(final_path, leases_path_, ec);
    if (ec) dhcp_log().error("{}: {}", leases_path_.string(), ec.message());
}

Result<void> DhcpServer::start(Loop& loop) {
    loop_ = &loop;
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
    auto reply = responder_.handle(*packet, unix_now());
    if (leases_.version() != saved_version_) schedule_flush();
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
    // (PI-BOOT.md: the Pi 3 takes the reply's source as its TFTP server).
    socket_->send_to(make_sockaddr(to, reply.to_port), std::move(bytes), ifindex,
                     settings_.server_ip);
    ++stats_.sent;
}

void DhcpServer::schedule_flush() {
    if (flush_scheduled_ || flushing_ || !loop_) return;
    flush_scheduled_ = true;
    loop_->add_timer(kFlushInterval, [this] {
        flush_scheduled_ = false;
        flush_async();
    });
}

void DhcpServer::flush_async() {
    if (leases_.version() == saved_version_) return;
    auto tmp = leases_path_;
    tmp += ".tmp";
    flush_fd_ = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (flush_fd_ < 0) {
        dhcp_log().error("{}: {}", tmp.string(), std::strerror(errno));
        schedule_flush();
        return;
    }
    flushing_ = true;
    flush_text_ = leases_.serialize();
    flush_version_ = leases_.version();
    flush_done_ = 0;
    flush_step_write();
}

void DhcpServer::flush_step_write() {
    if (flush_done_ == flush_text_.size()) {
        loop_->fsync(flush_fd_, false, [this](int res) {
            if (res < 0) return flush_finish(res, "fsync");
            auto tmp = leases_path_;
            tmp += ".tmp";
            if (::rename(tmp.c_str(), leases_path_.c_str()) != 0) {
                return flush_finish(-errno, "rename");
            }
            flush_finish(0, nullptr);
        });
        return;
    }
    std::span<const uint8_t> rest(
        reinterpret_cast<const uint8_t*>(flush_text_.data()) + flush_done_,
        flush_text_.size() - flush_done_);
    loop_->write_at(flush_fd_, flush_done_, rest, [this](int res) {
        if (res <= 0) return flush_finish(res < 0 ? res : -EIO, "write");
        flush_done_ += size_t(res);
        flush_step_write();
    });
}

void DhcpServer::flush_finish(int res, const char* what) {
    ::close(flush_fd_);
    flush_fd_ = -1;
    if (res < 0) {
        dhcp_log().error("{}: {} failed: {}", leases_path_.string(), what, std::strerror(-res));
        flushing_ = false;
        schedule_flush();
        return;
    }
    // The rename is durable once the directory is synced.
    int dir = ::open(leases_path_.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return flush_done(-errno);
    loop_->fsync(dir, false, [this, dir](int r) {
        ::close(dir);
        flush_done(r);
    });
}

void DhcpServer::flush_done(int res) {
    flushing_ = false;
    if (res < 0) {
        dhcp_log().error("{}: directory fsync failed: {}", leases_path_.string(),
                         std::strerror(-res));
    } else {
        saved_version_ = flush_version_;
        ++stats_.lease_writes;
    }
    if (leases_.version() != saved_version_) schedule_flush();
}

}  // namespace rootfarm::dhcpd
