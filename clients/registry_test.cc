#include "clients/registry.h"

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

TEST(ClientRegistry, Enroll) {
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
}

TEST(ClientRegistry, ReconfigureAddsRemovesAndKeepsWhatWasLearnt) {
    ClientRegistry reg(two_clients());
    reg.set_neighbour_source([](Ipv4) { return std::nullopt; });
    const auto kitchen = *MacAddr::parse("dc:a6:32:00:00:02");
    reg.learn_ip(kitchen, *Ipv4::parse("10.0.0.50"));
    reg.learn_serial(kitchen, "cafe0001", "Pi 4");
    RegistryChanges changes = reg.reconfigure(parse_config(R"(
[defaults]
image = "golden"
[[client]]
mac = "dc:a6:32:00:00:02"
hostname = "pantry"
image = "newer"
[[client]]
mac = "dc:a6:32:00:00:03"
)",
                                                           "t.toml"));
    ASSERT_EQ(changes.added.size(), 1u);
    EXPECT_EQ(changes.added[0].to_string(), "dc:a6:32:00:00:03");
    ASSERT_EQ(changes.removed.size(), 1u);
    EXPECT_EQ(changes.removed[0].to_string(), "b8:27:eb:00:00:01");
    ASSERT_EQ(changes.image_changed.size(), 1u);
    ASSERT_EQ(changes.hostname_changed.size(), 1u);
    EXPECT_FALSE(reg.by_mac(*MacAddr::parse("b8:27:eb:00:00:01")));
    EXPECT_FALSE(reg.by_ip(*Ipv4::parse("10.0.0.11")));
    auto k = reg.by_ip(*Ipv4::parse("10.0.0.50"));
    ASSERT_TRUE(k);
    EXPECT_EQ(k->image, "newer");
    EXPECT_EQ(k->hostname, "pantry");
    EXPECT_EQ(k->serial, "cafe0001");
    EXPECT_EQ(k->model, "Pi 4");
}

TEST(ClientRegistry, ReconfigureMovesEnrolledPisToTheNewDefaultImage) {
    ClientRegistry reg(parse_config("[defaults]\nimage = \"a\"\nenroll = \"any-pi\"\n", "t"));
    const auto mac = *MacAddr::parse("d8:3a:dd:12:34:56");
    reg.enroll(mac);
    RegistryChanges changes =
        reg.reconfigure(parse_config("[defaults]\nimage = \"b\"\nenroll = \"any-pi\"\n", "t"));
    ASSERT_EQ(changes.image_changed.size(), 1u);
    EXPECT_EQ(reg.by_mac(mac)->image, "b");
    // Enrolment turned off: an enrolled Pi is refused from now on.
    changes = reg.reconfigure(parse_config("[defaults]\nimage = \"b\"\n", "t"));
    ASSERT_EQ(changes.removed.size(), 1u);
    EXPECT_FALSE(reg.by_mac(mac));
}

}  // namespace
}  // namespace rootfarm
