#include "dhcpd/pxe.h"

#include <gtest/gtest.h>

#include "dhcpd/test_packets.h"

namespace rootfarm::dhcpd {
namespace {

Packet decoded(const std::vector<uint8_t>& bytes) {
    auto p = decode(bytes);
    EXPECT_TRUE(p.ok());
    return p.ok() ? *p : Packet{};
}

TEST(Pxe, Option43MatchesPiBootBytes) {
    auto plain = pi_vendor_options(false);
    EXPECT_EQ(plain.size(), 32u);
    EXPECT_EQ(plain, testing::pi_option43(false));
    auto spaced = pi_vendor_options(true);
    EXPECT_EQ(spaced.size(), 35u);
    EXPECT_EQ(spaced, testing::pi_option43(true));
    // No pad (0) option before the end byte (rpi-eeprom#82): the sub-options run back to back.
    EXPECT_EQ(spaced.back(), 0xff);
}

TEST(Pxe, IdentifiesPi3RomByOui) {
    auto id = identify(decoded(testing::pi3_discover()));
    EXPECT_TRUE(id.pxe);
    EXPECT_TRUE(id.pi);
    EXPECT_TRUE(id.pi3_rom);
    EXPECT_EQ(id.model, "Pi 3");
    EXPECT_EQ(id.serial, "");
}

TEST(Pxe, ReadsPi4ModelAndSerialFromOption97) {
    auto id =
        identify(decoded(testing::eeprom_discover(1, testing::pi4_mac(), testing::pi4_guid())));
    EXPECT_TRUE(id.pxe);
    EXPECT_TRUE(id.pi);
    EXPECT_FALSE(id.pi3_rom);
    EXPECT_EQ(id.model, "Pi 4");
    EXPECT_EQ(id.serial, "5b154510");
}

TEST(Pxe, ReadsPi5FromOption97EvenWithAForeignMac) {
    // A Pi with a MAC from customer OTP (rpi-eeprom#448) is still a Pi by its option 97.
    auto mac = *MacAddr::parse("02:00:00:aa:bb:cc");
    auto id = identify(decoded(testing::eeprom_discover(2, mac, testing::pi5_guid())));
    EXPECT_TRUE(id.pi);
    EXPECT_EQ(id.model, "Pi 5");
    EXPECT_EQ(id.serial, "8e3a1b2c");
}

TEST(Pxe, ReadsSerialFromOldRepeatedGuid) {
    std::vector<uint8_t> guid = {0};
    for (int i = 0; i < 4; ++i) guid.insert(guid.end(), {0x10, 0x45, 0x15, 0x5b});
    auto id = identify(decoded(testing::eeprom_discover(3, testing::pi4_mac(), guid)));
    EXPECT_EQ(id.serial, "5b154510");
    EXPECT_EQ(id.model, "");
    EXPECT_TRUE(id.pi);  // by OUI
}

TEST(Pxe, PcFirmwareIsPxeButNotAPi) {
    auto mac = *MacAddr::parse("52:54:00:12:34:56");
    std::vector<uint8_t> guid(17, 0x33);
    guid[0] = 0;
    auto id = identify(decoded(testing::eeprom_discover(4, mac, guid)));
    EXPECT_TRUE(id.pxe);
    EXPECT_FALSE(id.pi);
    EXPECT_EQ(id.model, "");
    EXPECT_EQ(id.serial, "");
}

TEST(Pxe, PlainClientIsNotPxe) {
    auto id = identify(decoded(testing::plain(1, 5, testing::pi4_mac())));
    EXPECT_FALSE(id.pxe);
    EXPECT_TRUE(id.pi);
}

}  // namespace
}  // namespace rootfarm::dhcpd
