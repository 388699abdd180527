#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "clients/leases.h"
#include "core/config.h"
#include "core/net.h"
#include "core/result.h"

namespace rootfarm::dhcpd {

// The [dhcp] section checked and resolved into what the responder needs.
struct Settings {
    DhcpConfig::Mode mode = DhcpConfig::Mode::kServer;
    Ipv4 server_ip;
    Ipv4 netmask;
    std::optional<Ipv4> router;
    std::vector<Ipv4> dns;
    std::string domain;
    uint32_t lease_time = 3600;
    std::string boot_file;
    std::chrono::milliseconds pi3_reply_delay{0};
    uint32_t client_packets_per_second = 10;  // per MAC; 0 = no limit
    uint16_t server_port = 67;
    uint16_t client_port = 68;
    Pool pool;                                     // range plus reserved addresses
    std::unordered_map<MacAddr, Ipv4> static_ips;  // [[client]] ip
};

// The largest dynamic range we accept; allocation scans it.
constexpr uint32_t kMaxRangeSize = 1u << 16;

// Validates `config` for the DHCP service. `interface_netmask` is the netmask of server_ip on
// its interface, used when [dhcp] netmask is unset. On error, logs one line naming the key and
// value on dhcp_log() and returns std::errc::invalid_argument.
Result<Settings> make_settings(const Config& config, std::optional<Ipv4> interface_netmask);

// The netmask of the local interface that holds `ip` (getifaddrs), if any.
std::optional<Ipv4> netmask_of_local_address(Ipv4 ip);

}  // namespace rootfarm::dhcpd
