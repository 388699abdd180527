#pragma once

// Who is asking: which Pi an address, a serial or a MAC belongs to. Part of the Pis' owner
// (clients.h); services reach it through Clients, never directly.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/config.h"
#include "core/mutex.h"
#include "core/net.h"

namespace rootfarm {

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
};

// What a new configuration changed for the clients it keeps (ClientRegistry::reconfigure).
struct RegistryChanges {
    std::vector<MacAddr> added;
    std::vector<MacAddr> removed;
    std::vector<MacAddr> image_changed;
    std::vector<MacAddr> hostname_changed;
};

// Maps addresses, serials and MACs to clients. Thread-safe.
// Addresses are known, in order, from the configured static ip, our DHCP leases and TFTP
// requests (learn_ip), and the kernel's neighbour table for a host on a local segment (proxy
// mode, where another server hands out addresses).
class ClientRegistry {
  public:
    explicit ClientRegistry(const Config& config);

    std::optional<ClientInfo> by_mac(const MacAddr& mac) const;
    std::optional<ClientInfo> by_ip(Ipv4 ip) const;
    // The serial is matched case-insensitively; the Pi 5 uses only the low 32 bits, so an
    // 8-digit serial also matches the last 8 digits of a 16-digit one.
    std::optional<ClientInfo> by_serial(std::string_view serial) const;
    std::vector<ClientInfo> all() const;
    DefaultsConfig defaults() const;

    // Adds a client that is not in the config (enroll = "any-pi"); no-op if it exists.
    ClientInfo enroll(const MacAddr& mac);
    void learn_ip(const MacAddr& mac, Ipv4 ip);
    void learn_serial(const MacAddr& mac, std::string_view serial, std::string_view model);

    // Takes the [[client]] tables and [defaults] of a new configuration: new clients are known
    // from now on, removed ones are forgotten (an enrolled Pi stays while enroll = "any-pi"),
    // and what was learnt of a kept client (address, serial, model) stays.
    RegistryChanges reconfigure(const Config& config);

    // Replaces where the neighbour table is read from (tests).
    void set_neighbour_source(std::function<std::optional<MacAddr>(Ipv4)> fn);

  private:
    std::string default_hostname(const ClientInfo& c) const;
    ClientInfo from_config(const ClientConfig& cc) const REQUIRES_SHARED(mu_);

    mutable SharedMutex mu_;
    DefaultsConfig defaults_ GUARDED_BY(mu_);
    std::unordered_map<MacAddr, ClientInfo> clients_ GUARDED_BY(mu_);
    std::unordered_map<Ipv4, MacAddr> by_ip_ GUARDED_BY(mu_);
    std::function<std::optional<MacAddr>(Ipv4)> neighbours_ GUARDED_BY(mu_);
};

// Reads the kernel's neighbour table for `ip`.
std::optional<MacAddr> lookup_neighbour(Ipv4 ip);

}  // namespace rootfarm
