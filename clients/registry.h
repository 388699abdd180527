#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/config.h"
#include "core/net.h"

namespace rootfarm {

// How far a client has come in its boot, in order. Operators see it in `rootfarm status`.
enum class BootPhase {
    kUnknown,
    kDhcpOffered,
    kDhcpAcked,
    kTftpBoot,
    kKernelFetched,
    kNfsMounted,
    kUp
};
std::string_view to_string(BootPhase phase);

struct ClientInfo {
    MacAddr mac;
    std::optional<Ipv4> ip;  // configured, leased, or learnt
    bool static_ip = false;  // ip comes from the [[client]] table and is never replaced
    std::string serial;      // lower-case hex, empty if unknown
    std::string model;       // "Pi 3", "Pi 4", "Pi 5", "" if unknown
    std::string hostname;    // configured or "pi-<serial>"
    std::string image;       // configured or [defaults] image
    bool root_squash = false;
    bool configured = false;  // from a [[client]] table (not enrolled at run time)
    BootPhase phase = BootPhase::kUnknown;
    std::chrono::system_clock::time_point phase_since{};
};

// Who is asking: maps addresses, serials and MACs to clients (see DESIGN.md "Who is asking").
// Thread-safe; every service holds the same registry.
class ClientRegistry {
  public:
    explicit ClientRegistry(const Config& config);

    std::optional<ClientInfo> by_mac(const MacAddr& mac) const;
    // Configured static ip, then addresses learnt from our DHCP or TFTP, then the kernel's
    // neighbour table (/proc/net/arp) for hosts on a local segment (proxy mode).
    std::optional<ClientInfo> by_ip(Ipv4 ip) const;
    // The serial is matched case-insensitively; the Pi 5 uses only the low 32 bits, so an
    // 8-digit serial also matches the last 8 digits of a 16-digit one.
    std::optional<ClientInfo> by_serial(std::string_view serial) const;
    std::vector<ClientInfo> all() const;

    // Adds a client that is not in the config (enrol = "any-pi"); no-op if it exists.
    ClientInfo enroll(const MacAddr& mac);
    void learn_ip(const MacAddr& mac, Ipv4 ip);
    void learn_serial(const MacAddr& mac, std::string_view serial, std::string_view model);
    void set_phase(const MacAddr& mac, BootPhase phase);

    // Replaces where the neighbour table is read from (tests).
    void set_neighbour_source(std::function<std::optional<MacAddr>(Ipv4)> fn);

  private:
    std::string default_hostname(const ClientInfo& c) const;

    const Config& config_;
    mutable std::shared_mutex mu_;
    std::unordered_map<MacAddr, ClientInfo> clients_;
    std::unordered_map<Ipv4, MacAddr> by_ip_;
    std::function<std::optional<MacAddr>(Ipv4)> neighbours_;
};

// Reads the kernel's neighbour table for `ip`.
std::optional<MacAddr> lookup_neighbour(Ipv4 ip);

}  // namespace rootfarm
