#pragma once

#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace rootfarm {

// An Ethernet MAC address. A client is identified by its MAC.
struct MacAddr {
    std::array<uint8_t, 6> bytes{};

    // Accepts "b8:27:eb:01:02:03", "b8-27-eb-01-02-03" (case-insensitive); nullopt otherwise.
    static std::optional<MacAddr> parse(std::string_view text);
    // "b8:27:eb:01:02:03"
    std::string to_string() const;
    // "b8-27-eb-01-02-03": the Pi 4 EEPROM's TFTP_PREFIX=2 directory name, and our state dir name.
    std::string dashed() const;
    // The first three bytes as one number (0xb827eb).
    uint32_t oui() const { return bytes[0] << 16 | bytes[1] << 8 | bytes[2]; }
    // The six bytes as one number (0xb827eb010203), and back: a key for maps and limiters.
    uint64_t to_u64() const {
        uint64_t v = 0;
        for (uint8_t b : bytes) v = v << 8 | b;
        return v;
    }
    static MacAddr from_u64(uint64_t v) {
        MacAddr mac;
        for (int i = 5; i >= 0; --i, v >>= 8) mac.bytes[i] = static_cast<uint8_t>(v);
        return mac;
    }

    auto operator<=>(const MacAddr&) const = default;
};

// Organisationally unique identifiers of Raspberry Pi boards (Raspberry Pi Foundation and
// Raspberry Pi Trading): b8:27:eb (Pi 1-3), dc:a6:32, e4:5f:01, d8:3a:dd, 28:cd:c1, 2c:cf:67.
bool is_raspberry_pi_oui(const MacAddr& mac);

// An IPv4 address, kept in host byte order.
struct Ipv4 {
    uint32_t value = 0;

    static std::optional<Ipv4> parse(std::string_view dotted_quad);
    static Ipv4 from_network(in_addr a) { return Ipv4{ntohl(a.s_addr)}; }
    in_addr to_network() const { return in_addr{htonl(value)}; }
    std::string to_string() const;
    bool is_any() const { return value == 0; }

    auto operator<=>(const Ipv4&) const = default;
};

// A sockaddr_in for addr:port.
sockaddr_in make_sockaddr(Ipv4 addr, uint16_t port);
// "1.2.3.4:567"
std::string to_string(const sockaddr_in& sa);

}  // namespace rootfarm

template <>
struct std::hash<rootfarm::MacAddr> {
    size_t operator()(const rootfarm::MacAddr& m) const noexcept {
        return std::hash<uint64_t>{}(m.to_u64());
    }
};

template <>
struct std::hash<rootfarm::Ipv4> {
    size_t operator()(const rootfarm::Ipv4& a) const noexcept {
        return std::hash<uint32_t>{}(a.value);
    }
};
