#include "core/clients.h"

#include <gtest/gtest.h>

namespace rootfarm {
namespace {

Config two_clients() {
    return parse_config(R"(
[defaults]
image = "golden"
[[client]]
mac = "b8:27:eb:00:00:01"
ip = "10.0.0.11"
serial = "00000000ABCDEF01"
[[client]]
mac = "dc:a6:32:00:00:02"
hostname = "kitchen"
image = "other"
)",
                        "t.toml");
}

TEST(ClientRegistry, FindsConfiguredClients) {
    const Config config = two_clients();
    ClientRegistry reg(config);
    reg.set_neighbour_source([](Ipv4) { return std::nullopt; });
    auto a = reg.by_ip(*Ipv4::parse("10.0.0.11"));
    ASSERT_TRUE(a);
    EXPECT_EQ(a->mac.to_string(), "b8:27:eb:00:00:01");
    EXPECT_EQ(a->image, "golden");
    EXPECT_EQ(a->hostname, "pi-abcdef01");
    auto b = reg.by_mac(*MacAddr::parse("dc:a6:32:00:00:02"));
    ASSERT_TRUE(b);
    EXPECT_EQ(b->hostname, "kitchen");
    EXPECT_EQ(b->image, "other");
    EXPECT_FALSE(reg.by_ip(*Ipv4::parse("10.0.0.99")));
}

TEST(ClientRegistry, SerialMatchesFullAndLow32Bits) {
    const Config config = two_clients();
    ClientRegistry reg(config);
    EXPECT_TRUE(reg.by_serial("00000000abcdef01"));
    EXPECT_TRUE(reg.by_serial("ABCDEF01"));  // Pi 5 / EEPROM prefix: low 32 bits
    EXPECT_FALSE(reg.by_serial("bcdef01"));
    EXPECT_FALSE(reg.by_serial("11111111abcdef01"));
}

TEST(ClientRegistry, LearnsLeasesButStaticAddressWins) {
    const Config config = two_clients();
    ClientRegistry reg(config);
    reg.set_neighbour_source([](Ipv4) { return std::nullopt; });
    const auto mac2 = *MacAddr::parse("dc:a6:32:00:00:02");
    reg.learn_ip(mac2, *Ipv4::parse("10.0.0.50"));
    EXPECT_EQ(reg.by_ip(*Ipv4::parse("10.0.0.50"))->mac, mac2);
    reg.learn_ip(mac2, *Ipv4::parse("10.0.0.51"));
    EXPECT_FALSE(reg.by_ip(*Ipv4::parse("10.0.0.50")));
    EXPECT_EQ(reg.by_ip(*Ipv4::parse("10.0.0.51"))->mac, mac2);

    const auto mac1 = *MacAddr::parse("b8:27:eb:00:00:01");
    reg.learn_ip(mac1, *Ipv4::parse("10.0.0.77"));
    EXPECT_FALSE(reg.by_ip(*Ipv4::parse("10.0.0.77")));
    EXPECT_EQ(reg.by_ip(*Ipv4::parse("10.0.0.11"))->mac, mac1);
}

TEST(ClientRegistry, NeighbourTableMapsUnknownAddresses) {
    const Config config = two_clients();
    ClientRegistry reg(config);
    const auto mac2 = *MacAddr::parse("dc:a6:32:00:00:02");
    reg.set_neighbour_source([&](Ipv4 ip) -> std::optional<MacAddr> {
        if (ip == *Ipv4::parse("192.168.1.40")) return mac2;
        if (ip == *Ipv4::parse("192.168.1.41")) return *MacAddr::parse("52:54:00:00:00:01");
        return std::nullopt;
    });
    EXPECT_EQ(reg.by_ip(*Ipv4::parse("192.168.1.40"))->mac, mac2);
    // A neighbour that is no client of ours gets nothing.
    EXPECT_FALSE(reg.by_ip(*Ipv4::parse("192.168.1.41")));
}

TEST(ClientRegistry, EnrollAndPhases) {
    const Config config = two_clients();
    ClientRegistry reg(config);
    const auto mac = *MacAddr::parse("d8:3a:dd:12:34:56");
    EXPECT_FALSE(reg.by_mac(mac));
    const ClientInfo c = reg.enroll(mac);
    EXPECT_FALSE(c.configured);
    EXPECT_EQ(c.image, "golden");
    EXPECT_EQ(c.hostname, "pi-12-34-56");
    reg.learn_serial(mac, "1234ABCD", "Pi 5");
    EXPECT_EQ(reg.by_mac(mac)->hostname, "pi-1234abcd");
    EXPECT_EQ(reg.by_serial("1234abcd")->model, "Pi 5");
    reg.set_phase(mac, BootPhase::kTftpBoot);
    EXPECT_EQ(reg.by_mac(mac)->phase, BootPhase::kTftpBoot);
    EXPECT_EQ(to_string(BootPhase::kNfsMounted), "nfs-mounted");
}

}  // namespace
}  // namespace rootfarm
