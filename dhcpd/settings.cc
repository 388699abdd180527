#include "dhcpd/settings.h"

#include <ifaddrs.h>
#include <netinet/in.h>

#include "core/log.h"

namespace rootfarm::dhcpd {
namespace {

Result<Settings> invalid(const Config& config, std::string_view what) {
    dhcp_log().error("{}: {}", config.source.empty() ? "config" : config.source.string(), what);
    return std::errc::invalid_argument;
}

bool same_subnet(Ipv4 a, Ipv4 b, Ipv4 mask) {
    return (a.value & mask.value) == (b.value & mask.value);
}

}  // namespace

std::optional<Ipv4> netmask_of_local_address(Ipv4 ip) {
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) return std::nullopt;
    std::optional<Ipv4> mask;
    for (ifaddrs* a = list; a; a = a->ifa_next) {
        if (!a->ifa_addr || !a->ifa_netmask || a->ifa_addr->sa_family != AF_INET) continue;
        auto* addr = reinterpret_cast<sockaddr_in*>(a->ifa_addr);
        if (Ipv4::from_network(addr->sin_addr) != ip) continue;
        mask = Ipv4::from_network(reinterpret_cast<sockaddr_in*>(a->ifa_netmask)->sin_addr);
        break;
    }
    ::freeifaddrs(list);
    return mask;
}

Result<Settings> make_settings(const Config& config, std::optional<Ipv4> interface_netmask) {
    const DhcpConfig& d = config.dhcp;
    Settings s;
    s.mode = d.mode;
    s.server_ip = config.server_ip;
    s.router = d.router;
    s.dns = d.dns;
    s.domain = d.domain;
    s.lease_time = d.lease_time;
    s.boot_file = d.boot_file;
    s.server_port = d.port;
    s.client_port = d.client_port;
    // DhcpConfig: unset means 1 s in proxy mode (dnsmasq's dhcp-reply-delay for the Pi 3B,
    // docs/pi-boot.md) and none in server mode.
    s.client_packets_per_second = d.client_packets_per_second;
    s.pi3_reply_delay = std::chrono::milliseconds(
        d.pi3_reply_delay_ms.value_or(d.mode == DhcpConfig::Mode::kProxy ? 1000 : 0));

    // Option 54 and siaddr carry it; a Pi finds its TFTP server there (docs/pi-boot.md).
    if (s.server_ip.is_any()) return invalid(config, "server_ip = 0.0.0.0: DHCP needs an address");
    if (s.lease_time < 60) {
        return invalid(config, "dhcp.lease_time = " + std::to_string(s.lease_time) +
                                   ": must be at least 60 seconds");
    }
    if (s.boot_file.size() > 127) {
        return invalid(config, "dhcp.boot_file = " + s.boot_file + ": longer than 127 bytes");
    }
    if (s.mode == DhcpConfig::Mode::kProxy) return s;

    if (d.netmask) {
        s.netmask = *d.netmask;
    } else if (interface_netmask) {
        s.netmask = *interface_netmask;
    } else {
        return invalid(config, "dhcp.netmask unset and server_ip = " + s.server_ip.to_string() +
                                   " is not on a local interface");
    }
    if (d.range_start.has_value() != d.range_end.has_value()) {
        return invalid(config, "dhcp.range_start and dhcp.range_end must be set together");
    }
    if (d.range_start) {
        Ipv4 start = *d.range_start, end = *d.range_end;
        if (start > end) {
            return invalid(config, "dhcp.range_start = " + start.to_string() +
                                       ": after range_end = " + end.to_string());
        }
        if (end.value - start.value >= kMaxRangeSize) {
            return invalid(config, "dhcp.range_start..range_end: more than 65536 addresses");
        }
        if (!same_subnet(start, s.server_ip, s.netmask) ||
            !same_subnet(end, s.server_ip, s.netmask)) {
            return invalid(config, "dhcp.range_start..range_end = " + start.to_string() + ".." +
                                       end.to_string() + ": not in the subnet of server_ip " +
                                       s.server_ip.to_string());
        }
        s.pool.start = start;
        s.pool.end = end;
    }
    // The server's own address is never handed out: reserved for a MAC no client has.
    s.pool.reserved[s.server_ip] = MacAddr{};
    for (const ClientConfig& c : config.clients) {
        if (!c.ip) continue;
        s.static_ips[c.mac] = *c.ip;
        s.pool.reserved[*c.ip] = c.mac;
    }
    return s;
}

}  // namespace rootfarm::dhcpd
