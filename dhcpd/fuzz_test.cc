// Random mutations of valid requests: nothing may crash, every reply must encode into a packet
// that decodes again. (The hardening issue adds a libFuzzer target; this runs in every build.)

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include <random>

#include "core/log.h"
#include "dhcpd/responder.h"
#include "dhcpd/test_packets.h"

namespace rootfarm::dhcpd {
namespace {

std::vector<uint8_t> mutate(std::vector<uint8_t> b, std::mt19937& rng) {
    auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
    int edits = 1 + int(pick(8));
    for (int i = 0; i < edits && !b.empty(); ++i) {
        switch (pick(6)) {
            case 0:
                b[pick(b.size())] ^= uint8_t(1u << pick(8));
                break;
            case 1:
                b[pick(b.size())] = uint8_t(pick(256));
                break;
            // Hit the options area, where lengths live, more often than the header.
            case 2:
                if (b.size() > 240) b[240 + pick(b.size() - 240)] = uint8_t(pick(256));
                break;
            case 3:
                b.resize(pick(b.size() + 1));
                break;
            case 4:
                b.insert(b.begin() + long(pick(b.size() + 1)), uint8_t(pick(256)));
                break;
            case 5:
                // A plausible option 52 or end byte somewhere in file/sname/options.
                b[pick(b.size())] = pick(2) ? opt::kOverload : opt::kEnd;
                break;
        }
    }
    return b;
}

TEST(Fuzz, RandomMutationsNeverCrashAndRepliesStayValid) {
    Config config;
    config.server_ip = *Ipv4::parse("10.42.0.1");
    config.dhcp.netmask = *Ipv4::parse("255.255.255.0");
    config.dhcp.range_start = *Ipv4::parse("10.42.0.100");
    config.dhcp.range_end = *Ipv4::parse("10.42.0.150");
    config.dhcp.boot_file = "undionly.kpxe";
    config.defaults.enroll = DefaultsConfig::Enroll::kAnyPi;
    ClientConfig pc;
    pc.mac = *MacAddr::parse("52:54:00:12:34:56");
    config.clients.push_back(pc);

    const std::vector<std::vector<uint8_t>> seeds = {
        testing::pi3_discover(),
        testing::eeprom_discover(1, testing::pi4_mac(), testing::pi4_guid()),
        testing::eeprom_request(1, testing::pi4_mac(), testing::pi4_guid(), "10.42.0.100",
                                "10.42.0.1"),
        testing::eeprom_discover(2, testing::pi5_mac(), testing::pi5_guid()),
        testing::plain(1, 3, pc.mac),
        testing::plain(3, 4, pc.mac, "10.42.0.101"),
    };

    auto level = dhcp_log().level();
    dhcp_log().set_level(spdlog::level::warn);  // a line per reply would swamp the test log
    std::mt19937 rng(20261125);
    size_t decoded = 0, replies = 0;
    for (auto mode : {DhcpConfig::Mode::kServer, DhcpConfig::Mode::kProxy}) {
        config.dhcp.mode = mode;
        auto settings = make_settings(config, std::nullopt);
        ASSERT_TRUE(settings.ok());
        config.state_dir = std::filesystem::temp_directory_path() /
                           ("rootfarm-fuzz-" + std::to_string(::getpid()));
        Clients clients(config, nullptr);
        LeaseTable leases;
        Responder responder(*settings, clients, leases);
        for (int i = 0; i < 50000; ++i) {
            auto bytes = mutate(seeds[size_t(i) % seeds.size()], rng);
            auto packet = decode(bytes);
            if (!packet.ok()) continue;
            ++decoded;
            auto reply = responder.handle(*packet, 1764000000 + i);
            if (!reply) continue;
            ++replies;
            auto wire = encode(reply->packet);
            ASSERT_GE(wire.size(), kMinReplySize);
            auto back = decode(wire);
            ASSERT_TRUE(back.ok()) << back.error().message();
            EXPECT_EQ(back->op, kBootReply);
            EXPECT_EQ(back->xid, packet->xid);
        }
    }
    dhcp_log().set_level(level);
    // The mutations must leave enough valid packets to exercise the responder at all.
    EXPECT_GT(decoded, 1000u);
    EXPECT_GT(replies, 100u);
}

}  // namespace
}  // namespace rootfarm::dhcpd
