#include "core/net.h"

#include <gtest/gtest.h>

namespace rootfarm {
namespace {

TEST(MacAddr, ParsesColonsAndDashesCaseInsensitive) {
    auto a = MacAddr::parse("B8:27:EB:0a:1b:2c");
    auto b = MacAddr::parse("b8-27-eb-0A-1B-2C");
    ASSERT_TRUE(a && b);
    EXPECT_EQ(*a, *b);
    EXPECT_EQ(a->to_string(), "b8:27:eb:0a:1b:2c");
    EXPECT_EQ(a->dashed(), "b8-27-eb-0a-1b-2c");
    EXPECT_EQ(a->oui(), 0xb827ebu);
}

TEST(MacAddr, RejectsMalformed) {
    for (const char* bad : {"", "b8:27:eb:0a:1b", "b8:27:eb:0a:1b:2c:3d", "b8:27-eb:0a:1b:2c",
                            "g8:27:eb:0a:1b:2c", "b8.27.eb.0a.1b.2c", "b827eb0a1b2c"}) {
        EXPECT_FALSE(MacAddr::parse(bad)) << bad;
    }
}

TEST(MacAddr, KnowsRaspberryPiOuis) {
    EXPECT_TRUE(is_raspberry_pi_oui(*MacAddr::parse("b8:27:eb:00:00:01")));
    EXPECT_TRUE(is_raspberry_pi_oui(*MacAddr::parse("dc:a6:32:00:00:01")));
    EXPECT_TRUE(is_raspberry_pi_oui(*MacAddr::parse("d8:3a:dd:00:00:01")));
    EXPECT_FALSE(is_raspberry_pi_oui(*MacAddr::parse("52:54:00:12:34:56")));  // QEMU
}

TEST(Ipv4, ParsesAndFormats) {
    auto ip = Ipv4::parse("192.168.7.1");
    ASSERT_TRUE(ip);
    EXPECT_EQ(ip->value, 0xc0a80701u);
    EXPECT_EQ(ip->to_string(), "192.168.7.1");
    EXPECT_EQ(to_string(make_sockaddr(*ip, 2049)), "192.168.7.1:2049");
    for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "a.b.c.d", "1.2.3.4 "}) {
        EXPECT_FALSE(Ipv4::parse(bad)) << bad;
    }
}

}  // namespace
}  // namespace rootfarm
