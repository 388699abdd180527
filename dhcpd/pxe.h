#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/net.h"
#include "dhcpd/packet.h"

namespace rootfarm::dhcpd {

// What a request tells us about the machine that sent it.
struct ClientIdentity {
    bool pxe = false;      // option 60 starts with "PXEClient" (PXE spec §2.2)
    bool pi = false;       // Raspberry Pi by MAC OUI or option 97 magic
    bool pi3_rom = false;  // b8:27:eb: Pi 3 boot ROM / bootcode.bin (docs/pi-boot.md "DHCP")
    std::string model;     // "Pi 3", "Pi 4", "Pi 5" or ""
    std::string serial;    // 8 lower-case hex digits from option 97, or ""
};

// Reads option 60, option 97 and the MAC OUI.
ClientIdentity identify(const Packet& request);

// Option 43 as dnsmasq's `pxe-service=0,"Raspberry Pi Boot"` builds it (docs/pi-boot.md "What a
// working reply contains"): discovery control 3, menu prompt "PXE" with timeout 0, one menu
// item of type 0, end. `three_spaces` gives the "Raspberry Pi Boot   " item the Pi 3B ROM
// compares exactly; EEPROMs match it as a substring, so both variants boot them.
std::vector<uint8_t> pi_vendor_options(bool three_spaces);

// The bytes of option 60 in a PXE reply.
constexpr std::string_view kPxeClient = "PXEClient";

}  // namespace rootfarm::dhcpd
