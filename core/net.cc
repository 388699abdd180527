#include "core/net.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstdio>

namespace rootfarm {

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string format_mac(const MacAddr& m, char sep) {
    char buf[18];
    std::snprintf(buf, sizeof buf, "%02x%c%02x%c%02x%c%02x%c%02x%c%02x", m.bytes[0], sep,
                  m.bytes[1], sep, m.bytes[2], sep, m.bytes[3], sep, m.bytes[4], sep, m.bytes[5]);
    return buf;
}

}  // namespace

std::optional<MacAddr> MacAddr::parse(std::string_view text) {
    if (text.size() != 17) return std::nullopt;
    const char sep = text[2];
    if (sep != ':' && sep != '-') return std::nullopt;
    MacAddr mac;
    for (int i = 0; i < 6; ++i) {
        const int hi = hex_value(text[i * 3]);
        const int lo = hex_value(text[i * 3 + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        if (i < 5 && text[i * 3 + 2] != sep) return std::nullopt;
        mac.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
    }
    return mac;
}

std::string MacAddr::to_string() const {
    return format_mac(*this, ':');
}
std::string MacAddr::dashed() const {
    return format_mac(*this, '-');
}

bool is_raspberry_pi_oui(const MacAddr& mac) {
    switch (mac.oui()) {
        case 0xb827eb:  // Raspberry Pi Foundation: Pi 1, 2, 3, Zero
        case 0xdca632:  // Raspberry Pi Trading: Pi 4
        case 0xe45f01:
        case 0xd83add:  // Pi 5, CM4 and later
        case 0x28cdc1:
        case 0x2ccf67:
            return true;
        default:
            return false;
    }
}

std::optional<Ipv4> Ipv4::parse(std::string_view text) {
    // inet_pton accepts exactly the dotted quad (no octal, no short forms).
    if (text.empty() || text.size() > 15) return std::nullopt;
    char buf[16];
    text.copy(buf, text.size());
    buf[text.size()] = 0;
    in_addr a{};
    if (inet_pton(AF_INET, buf, &a) != 1) return std::nullopt;
    return from_network(a);
}

std::string Ipv4::to_string() const {
    char buf[INET_ADDRSTRLEN];
    in_addr a = to_network();
    inet_ntop(AF_INET, &a, buf, sizeof buf);
    return buf;
}

sockaddr_in make_sockaddr(Ipv4 addr, uint16_t port) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr = addr.to_network();
    return sa;
}

std::string to_string(const sockaddr_in& sa) {
    return Ipv4::from_network(sa.sin_addr).to_string() + ":" + std::to_string(ntohs(sa.sin_port));
}

}  // namespace rootfarm
