#include "clients/registry.h"

#include <cctype>
#include <fstream>
#include <sstream>

namespace rootfarm {

namespace {

// The Pi 5 (and Pi 4 EEPROM TFTP_PREFIX) use the low 32 bits of the serial: 8 hex digits.
bool serial_matches(std::string_view stored, std::string_view asked) {
    if (stored.empty() || asked.empty()) return false;
    if (stored == asked) return true;
    const auto tail = [](std::string_view s) { return s.size() > 8 ? s.substr(s.size() - 8) : s; };
    return tail(stored) == tail(asked) && (stored.size() == 8 || asked.size() == 8);
}

}  // namespace

ClientRegistry::ClientRegistry(const Config& config)
    : defaults_(config.defaults), neighbours_(lookup_neighbour) {
    for (const auto& cc : config.clients) {
        ClientInfo c = from_config(cc);
        if (c.ip) by_ip_[*c.ip] = c.mac;
        clients_.emplace(c.mac, std::move(c));
    }
}

ClientInfo ClientRegistry::from_config(const ClientConfig& cc) const {
    ClientInfo c;
    c.mac = cc.mac;
    c.ip = cc.ip;
    c.static_ip = cc.ip.has_value();
    c.serial = canonical_serial(cc.serial);
    c.hostname = cc.hostname;
    c.image = cc.image.empty() ? defaults_.image : cc.image;
    c.root_squash = cc.root_squash;
    c.configured = true;
    if (c.hostname.empty()) c.hostname = default_hostname(c);
    return c;
}

RegistryChanges ClientRegistry::reconfigure(const Config& config) {
    WriterLock lock(mu_);
    RegistryChanges changes;
    defaults_ = config.defaults;
    std::unordered_map<MacAddr, ClientInfo> next;
    for (const auto& cc : config.clients) {
        ClientInfo c = from_config(cc);
        if (auto old = clients_.find(c.mac); old != clients_.end()) {
            const ClientInfo& was = old->second;
            // What the Pi told us about itself stays; the configuration wins where it speaks.
            if (!c.static_ip) c.ip = was.ip;
            if (c.serial.empty() && !was.serial.empty()) {
                c.serial = was.serial;
                if (cc.hostname.empty()) c.hostname = default_hostname(c);
            }
            c.model = was.model;
            if (was.image != c.image) changes.image_changed.push_back(c.mac);
            if (was.hostname != c.hostname) changes.hostname_changed.push_back(c.mac);
        } else {
            changes.added.push_back(c.mac);
        }
        next.emplace(c.mac, std::move(c));
    }
    for (auto& [mac, was] : clients_) {
        if (next.contains(mac)) continue;
        if (was.configured || defaults_.enroll != DefaultsConfig::Enroll::kAnyPi) {
            // Removed from the file (or enrolment turned off): refused from now on. A Pi may
            // enrol again at its next boot when enroll = "any-pi".
            changes.removed.push_back(mac);
            continue;
        }
        ClientInfo c = was;  // enrolled at run time: it follows [defaults]
        if (c.image != defaults_.image) changes.image_changed.push_back(mac);
        c.image = defaults_.image;
        next.emplace(mac, std::move(c));
    }
    clients_ = std::move(next);
    by_ip_.clear();
    for (const auto& [mac, c] : clients_) {
        if (c.ip && !c.static_ip) by_ip_[*c.ip] = mac;
    }
    for (const auto& [mac, c] : clients_) {
        if (c.static_ip) by_ip_[*c.ip] = mac;  // a configured address always wins
    }
    return changes;
}

DefaultsConfig ClientRegistry::defaults() const {
    ReaderLock lock(mu_);
    return defaults_;
}

std::string ClientRegistry::default_hostname(const ClientInfo& c) const {
    if (!c.serial.empty()) {
        const std::string_view s = c.serial;
        return "pi-" + std::string(s.size() > 8 ? s.substr(s.size() - 8) : s);
    }
    std::string d = c.mac.dashed();
    return "pi-" + d.substr(9);  // the three device bytes of the MAC
}

std::optional<ClientInfo> ClientRegistry::by_mac(const MacAddr& mac) const {
    ReaderLock lock(mu_);
    auto it = clients_.find(mac);
    if (it == clients_.end()) return std::nullopt;
    return it->second;
}

std::optional<ClientInfo> ClientRegistry::by_ip(Ipv4 ip) const {
    std::function<std::optional<MacAddr>(Ipv4)> neighbours;
    {
        ReaderLock lock(mu_);
        if (auto it = by_ip_.find(ip); it != by_ip_.end()) {
            if (auto c = clients_.find(it->second); c != clients_.end()) return c->second;
        }
        neighbours = neighbours_;
    }
    // Proxy mode: the router leased the address; the kernel's neighbour table knows its MAC.
    if (!neighbours) return std::nullopt;
    const auto mac = neighbours(ip);
    if (!mac) return std::nullopt;
    ReaderLock lock(mu_);
    auto c = clients_.find(*mac);
    if (c == clients_.end()) return std::nullopt;
    ClientInfo info = c->second;
    // A static address in the config wins: a neighbour entry must not hand its view to another.
    if (info.static_ip && *info.ip != ip) return std::nullopt;
    return info;
}

std::optional<ClientInfo> ClientRegistry::by_serial(std::string_view serial) const {
    const std::string asked = canonical_serial(serial);
    ReaderLock lock(mu_);
    for (const auto& [mac, c] : clients_) {
        if (serial_matches(c.serial, asked)) return c;
    }
    return std::nullopt;
}

std::vector<ClientInfo> ClientRegistry::all() const {
    ReaderLock lock(mu_);
    std::vector<ClientInfo> out;
    out.reserve(clients_.size());
    for (const auto& [mac, c] : clients_) out.push_back(c);
    return out;
}

ClientInfo ClientRegistry::enroll(const MacAddr& mac) {
    WriterLock lock(mu_);
    auto [it, inserted] = clients_.try_emplace(mac);
    if (inserted) {
        it->second.mac = mac;
        it->second.image = defaults_.image;
        it->second.hostname = default_hostname(it->second);
    }
    return it->second;
}

void ClientRegistry::learn_ip(const MacAddr& mac, Ipv4 ip) {
    WriterLock lock(mu_);
    auto it = clients_.find(mac);
    if (it == clients_.end()) return;
    // A configured static address is authoritative.
    if (it->second.static_ip) return;
    if (it->second.ip && *it->second.ip != ip) by_ip_.erase(*it->second.ip);
    it->second.ip = ip;
    by_ip_[ip] = mac;
}

void ClientRegistry::learn_serial(const MacAddr& mac, std::string_view serial,
                                  std::string_view model) {
    WriterLock lock(mu_);
    auto it = clients_.find(mac);
    if (it == clients_.end()) return;
    ClientInfo& c = it->second;
    if (!serial.empty() && c.serial.empty()) {
        const bool default_name = c.hostname == default_hostname(c);
        c.serial = canonical_serial(serial);
        if (default_name) c.hostname = default_hostname(c);
    }
    if (!model.empty()) c.model = model;
}

void ClientRegistry::set_neighbour_source(std::function<std::optional<MacAddr>(Ipv4)> fn) {
    WriterLock lock(mu_);
    neighbours_ = std::move(fn);
}

std::optional<MacAddr> lookup_neighbour(Ipv4 ip) {
    // /proc/net/arp: "IP address  HW type  Flags  HW address  Mask  Device"; flags 0x0 means
    // the entry is incomplete.
    std::ifstream arp("/proc/net/arp");
    std::string line;
    std::getline(arp, line);
    const std::string want = ip.to_string();
    while (std::getline(arp, line)) {
        std::istringstream fields(line);
        std::string addr, hwtype, flags, hw;
        if (!(fields >> addr >> hwtype >> flags >> hw)) continue;
        if (addr != want || flags == "0x0") continue;
        return MacAddr::parse(hw);
    }
    return std::nullopt;
}

}  // namespace rootfarm
