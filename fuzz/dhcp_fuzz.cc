// A DHCP datagram as the server receives it (dhcpd.cc): decode (RFC 2131 §2, options with
// overload and RFC 3396 concatenation), the client identity from options 60, 93 and 97 (PXE,
// RFC 4578), and the responder's answer in server and proxy mode, whose reply must encode
// into a packet that decodes again.

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <span>

#include "dhcpd/packet.h"
#include "dhcpd/pxe.h"
#include "dhcpd/responder.h"
#include "fuzz/fuzz_util.h"

using namespace rootfarm;
using namespace rootfarm::dhcpd;

namespace {

Config make_config(DhcpConfig::Mode mode) {
    Config config;
    config.state_dir = std::filesystem::temp_directory_path() /
                       ("rootfarm-dhcp-fuzz-" + std::to_string(::getpid()));
    config.server_ip = *Ipv4::parse("10.42.0.1");
    config.dhcp.mode = mode;
    config.dhcp.netmask = *Ipv4::parse("255.255.255.0");
    config.dhcp.range_start = *Ipv4::parse("10.42.0.100");
    config.dhcp.range_end = *Ipv4::parse("10.42.0.150");
    config.dhcp.boot_file = "undionly.kpxe";
    config.defaults.enroll = DefaultsConfig::Enroll::kAnyPi;
    ClientConfig pi;
    pi.mac = *MacAddr::parse("b8:27:eb:12:34:56");
    pi.ip = *Ipv4::parse("10.42.0.20");
    config.clients.push_back(pi);
    return config;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::quiet_logs();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto packet = decode(std::span(data, size));
    if (!packet.ok()) return 0;
    ClientIdentity id = identify(*packet);
    if (!id.serial.empty() && id.serial.size() != 8) std::abort();

    for (auto mode : {DhcpConfig::Mode::kServer, DhcpConfig::Mode::kProxy}) {
        // Fresh state per input, so an input's outcome does not depend on the ones before it
        // (with enroll = any-pi every new Pi MAC would otherwise stay registered).
        static const Config server = make_config(DhcpConfig::Mode::kServer);
        static const Config proxy = make_config(DhcpConfig::Mode::kProxy);
        const Config& config = mode == DhcpConfig::Mode::kServer ? server : proxy;
        auto settings = make_settings(config, std::nullopt);
        if (!settings.ok()) std::abort();
        Clients clients(config, nullptr);
        LeaseTable leases;
        Responder responder(*settings, clients, leases);
        auto reply = responder.handle(*packet, 1764000000);
        if (!reply) continue;
        auto wire = encode(reply->packet);
        if (wire.size() < kMinReplySize) std::abort();
        auto back = decode(wire);
        if (!back.ok() || back->xid != packet->xid || back->op != kBootReply) std::abort();
    }
    return 0;
}
