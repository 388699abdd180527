#include "dhcpd/pxe.h"

#include <string_view>

namespace rootfarm::dhcpd {
namespace {

constexpr uint32_t kPi3Oui = 0xb827eb;

// PXE spec §2.4 option 43 sub-options.
constexpr uint8_t kPxeDiscoveryControl = 6;
constexpr uint8_t kPxeBootMenu = 9;
constexpr uint8_t kPxeMenuPrompt = 10;
constexpr uint8_t kPxeEnd = 255;

// Option 97 of a Pi 4/5 EEPROM (bcm2711-bootloader.adoc, DHCP_OPTION97 default): type 0, then
// the fourcc "RPi4"/"RPi5", board revision (4 bytes LE), the low 4 bytes of the MAC and the
// serial number (4 bytes LE). Older EEPROMs, and DHCP_OPTION97=0, send the serial four times.
struct Guid {
    std::string model;
    std::string serial;
};

uint32_t le32(const uint8_t* p) {
    return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

// As "%08x", without printf: it runs for every request from a Pi.
std::string hex8(uint32_t v) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string s(8, '0');
    for (int i = 7; i >= 0; --i, v >>= 4) s[i] = kDigits[v & 0xf];
    return s;
}

Guid parse_guid(const std::vector<uint8_t>* opt97, const MacAddr& mac) {
    if (!opt97 || opt97->size() != 17 || (*opt97)[0] != 0) return {};
    const uint8_t* g = opt97->data() + 1;
    std::string_view magic(reinterpret_cast<const char*>(g), 4);
    if (magic == "RPi4" || magic == "RPi5") {
        return {magic == "RPi4" ? "Pi 4" : "Pi 5", hex8(le32(g + 12))};
    }
    // The old format only from a Pi 4-era OUI: other firmware's GUIDs may repeat too.
    if (!is_raspberry_pi_oui(mac) || mac.oui() == kPi3Oui) return {};
    uint32_t first = le32(g);
    if (first != 0 && first == le32(g + 4) && first == le32(g + 8) && first == le32(g + 12)) {
        return {"", hex8(first)};
    }
    return {};
}

}  // namespace

ClientIdentity identify(const Packet& request) {
    ClientIdentity id;
    const auto* vendor = request.find(opt::kVendorClass);
    id.pxe =
        vendor && std::string_view(reinterpret_cast<const char*>(vendor->data()), vendor->size())
                      .starts_with(kPxeClient);
    MacAddr mac = request.mac();
    Guid guid = parse_guid(request.find(opt::kClientGuid), mac);
    id.serial = guid.serial;
    id.model = guid.model;
    id.pi3_rom = mac.oui() == kPi3Oui;
    if (id.model.empty() && id.pi3_rom) id.model = "Pi 3";
    id.pi = is_raspberry_pi_oui(mac) || !guid.model.empty();
    return id;
}

std::vector<uint8_t> pi_vendor_options(bool three_spaces) {
    std::string_view item = three_spaces ? "Raspberry Pi Boot   " : "Raspberry Pi Boot";
    std::vector<uint8_t> v = {kPxeDiscoveryControl, 1, 3, kPxeMenuPrompt, 4, 0, 'P', 'X', 'E'};
    // Menu item: 2-byte boot server type 0 (local), 1-byte description length, description.
    v.push_back(kPxeBootMenu);
    v.push_back(uint8_t(3 + item.size()));
    v.push_back(0);
    v.push_back(0);
    v.push_back(uint8_t(item.size()));
    v.insert(v.end(), item.begin(), item.end());
    v.push_back(kPxeEnd);
    return v;
}

}  // namespace rootfarm::dhcpd
