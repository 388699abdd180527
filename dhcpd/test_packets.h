#pragma once

// Byte-level builders for tests: requests as Pi boot firmware sends them (docs/pi-boot.md "DHCP",
// raspberrypi/firmware#871, rpi-eeprom docs on option 97) and expected replies, written out
// field by field without using the codec under test.

#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

#include "core/net.h"

namespace rootfarm::dhcpd::testing {

class Bytes {
  public:
    Bytes& u8(uint8_t v) {
        b_.push_back(v);
        return *this;
    }
    Bytes& raw(std::initializer_list<uint8_t> v) {
        b_.insert(b_.end(), v);
        return *this;
    }
    Bytes& raw(const std::vector<uint8_t>& v) {
        b_.insert(b_.end(), v.begin(), v.end());
        return *this;
    }
    Bytes& u16(uint16_t v) { return u8(uint8_t(v >> 8)).u8(uint8_t(v)); }
    Bytes& u32(uint32_t v) { return u16(uint16_t(v >> 16)).u16(uint16_t(v)); }
    Bytes& ip(std::string_view dotted) { return u32(Ipv4::parse(dotted)->value); }
    Bytes& str(std::string_view s) {
        b_.insert(b_.end(), s.begin(), s.end());
        return *this;
    }
    Bytes& zeros(size_t n) {
        b_.insert(b_.end(), n, 0);
        return *this;
    }
    // One option: code, length, value.
    Bytes& opt(uint8_t code, std::initializer_list<uint8_t> v) {
        return u8(code).u8(uint8_t(v.size())).raw(v);
    }
    Bytes& opt(uint8_t code, const std::vector<uint8_t>& v) {
        return u8(code).u8(uint8_t(v.size())).raw(v);
    }
    Bytes& opt_str(uint8_t code, std::string_view s) {
        return u8(code).u8(uint8_t(s.size())).str(s);
    }
    Bytes& opt_ip(uint8_t code, std::string_view dotted) { return u8(code).u8(4).ip(dotted); }
    Bytes& opt_u32(uint8_t code, uint32_t v) { return u8(code).u8(4).u32(v); }
    Bytes& pad_to(size_t n) {
        if (b_.size() < n) zeros(n - b_.size());
        return *this;
    }
    size_t size() const { return b_.size(); }
    std::vector<uint8_t> take() { return std::move(b_); }

  private:
    std::vector<uint8_t> b_;
};

// RFC 2131 §2 fixed header up to and including the magic cookie.
inline Bytes header(uint8_t op, uint32_t xid, uint16_t flags, std::string_view ciaddr,
                    std::string_view yiaddr, std::string_view siaddr, const MacAddr& mac) {
    Bytes b;
    b.u8(op).u8(1).u8(6).u8(0).u32(xid).u16(0).u16(flags);
    b.ip(ciaddr).ip(yiaddr).ip(siaddr).ip("0.0.0.0");
    for (uint8_t x : mac.bytes) b.u8(x);
    b.zeros(10).zeros(64).zeros(128);
    b.raw({99, 130, 83, 99});
    return b;
}

inline const std::string_view kPxeVendorClass = "PXEClient:Arch:00000:UNDI:002001";
inline const uint32_t kPi3Xid = 0x26f30339;  // every Pi 3 ROM DISCOVER carries it

inline MacAddr pi3_mac() {
    return *MacAddr::parse("b8:27:eb:0f:69:01");
}
inline MacAddr pi4_mac() {
    return *MacAddr::parse("dc:a6:32:2e:f8:ed");
}
inline MacAddr pi5_mac() {
    return *MacAddr::parse("2c:cf:67:aa:bb:cc");
}

// Pi 3 ROM client GUID (17 bytes; the ROM's value is opaque to servers).
inline std::vector<uint8_t> pi3_guid() {
    return {0x00, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44,
            0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44};
}
// Pi 4 EEPROM option 97: 0, "RPi4", board revision 0x00a03111 LE, MAC low 4 bytes, serial
// 0x5b154510 LE (matches a dnsmasq log of a real Pi 4 fetching 5b154510/start4.elf).
inline std::vector<uint8_t> pi4_guid() {
    return {0x00, 'R',  'P',  'i',  '4',  0x11, 0x31, 0xa0, 0x00,
            0x32, 0x2e, 0xf8, 0xed, 0x10, 0x45, 0x15, 0x5b};
}
// Pi 5: "RPi5", revision 0x00d04170, MAC low bytes, serial 0x8e3a1b2c.
inline std::vector<uint8_t> pi5_guid() {
    return {0x00, 'R',  'P',  'i',  '5',  0x70, 0x41, 0xd0, 0x00,
            0x67, 0xaa, 0xbb, 0xcc, 0x2c, 0x1b, 0x3a, 0x8e};
}

// Pi 3B+ ROM DISCOVER as captured in raspberrypi/firmware#871 (UDP payload 322 bytes).
inline std::vector<uint8_t> pi3_discover() {
    Bytes b = header(1, kPi3Xid, 0, "0.0.0.0", "0.0.0.0", "0.0.0.0", pi3_mac());
    b.opt(53, {1});
    b.opt(55, {43, 60, 67, 128, 129, 130, 131, 132, 133, 134, 135, 66, 1, 3});
    b.opt(93, {0, 0});
    b.opt(94, {1, 2, 1});
    b.opt(97, pi3_guid());
    b.opt_str(60, kPxeVendorClass);
    b.u8(255);
    return b.pad_to(322).take();
}

inline const std::vector<uint8_t> kEepromRequestList = {1,   3,   43,  60,  66,  67,  128,
                                                        129, 130, 131, 132, 133, 134, 135};

inline std::vector<uint8_t> eeprom_discover(uint32_t xid, const MacAddr& mac,
                                            const std::vector<uint8_t>& guid) {
    Bytes b = header(1, xid, 0, "0.0.0.0", "0.0.0.0", "0.0.0.0", mac);
    b.opt(53, {1});
    b.opt(55, kEepromRequestList);
    b.opt(93, {0, 0});
    b.opt(94, {1, 2, 1});
    b.opt(97, guid);
    b.opt_str(60, kPxeVendorClass);
    b.u8(255);
    return b.pad_to(300).take();
}

// The EEPROM's REQUEST: same identity, no option 60 (rpi-eeprom#87).
inline std::vector<uint8_t> eeprom_request(uint32_t xid, const MacAddr& mac,
                                           const std::vector<uint8_t>& guid,
                                           std::string_view requested, std::string_view server) {
    Bytes b = header(1, xid, 0, "0.0.0.0", "0.0.0.0", "0.0.0.0", mac);
    b.opt(53, {3});
    b.opt(55, kEepromRequestList);
    b.opt_ip(50, requested);
    b.opt_ip(54, server);
    b.opt(93, {0, 0});
    b.opt(94, {1, 2, 1});
    b.opt(97, guid);
    b.u8(255);
    return b.pad_to(300).take();
}

// A plain (non-PXE) client message, as udhcpc sends it.
inline std::vector<uint8_t> plain(uint8_t type, uint32_t xid, const MacAddr& mac,
                                  std::string_view ciaddr = "0.0.0.0",
                                  std::string_view requested = "", std::string_view server = "",
                                  uint16_t flags = 0) {
    Bytes b = header(1, xid, flags, ciaddr, "0.0.0.0", "0.0.0.0", mac);
    b.opt(53, {type});
    if (!requested.empty()) b.opt_ip(50, requested);
    if (!server.empty()) b.opt_ip(54, server);
    b.opt(55, {1, 3, 6, 12, 15, 28, 42, 51, 58, 59});
    b.u8(255);
    return b.pad_to(300).take();
}

// Option 43 bytes from docs/pi-boot.md.
inline std::vector<uint8_t> pi_option43(bool three_spaces) {
    Bytes b;
    b.raw({0x06, 0x01, 0x03, 0x0a, 0x04, 0x00, 'P', 'X', 'E'});
    if (three_spaces) {
        b.raw({0x09, 0x17, 0x00, 0x00, 0x14}).str("Raspberry Pi Boot   ");
    } else {
        b.raw({0x09, 0x14, 0x00, 0x00, 0x11}).str("Raspberry Pi Boot");
    }
    b.u8(0xff);
    return b.take();
}

}  // namespace rootfarm::dhcpd::testing
