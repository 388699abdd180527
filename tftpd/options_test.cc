#include "tftpd/options.h"

#include <gtest/gtest.h>

namespace rootfarm::tftpd {
namespace {

TEST(Options, NoOptionsMeansNoOackAndRfc1350Defaults) {
    Negotiated n = negotiate({}, Mode::kOctet, 1000);
    EXPECT_TRUE(n.oack.empty());
    EXPECT_EQ(n.block_size, 512);
    EXPECT_EQ(n.window, 1);
    EXPECT_FALSE(n.timeout);
}

TEST(Options, Pi4RequestGetsTsizeAndBlksizeInRequestOrder) {
    Negotiated n = negotiate({{"tsize", "0"}, {"blksize", "1024"}}, Mode::kOctet, 2228224);
    ASSERT_EQ(n.oack.size(), 2u);
    EXPECT_EQ(n.oack[0].name, "tsize");
    EXPECT_EQ(n.oack[0].value, "2228224");
    EXPECT_EQ(n.oack[1].name, "blksize");
    EXPECT_EQ(n.oack[1].value, "1024");
    EXPECT_EQ(n.block_size, 1024);
}

TEST(Options, BlksizeBoundsFromRfc2348) {
    EXPECT_EQ(negotiate({{"blksize", "8"}}, Mode::kOctet, 0).block_size, 8);
    EXPECT_EQ(negotiate({{"blksize", "65464"}}, Mode::kOctet, 0).block_size, 65464);
    // Larger is answered with the largest we can do; smaller than 8 is left out.
    Negotiated big = negotiate({{"blksize", "70000"}}, Mode::kOctet, 0);
    EXPECT_EQ(big.block_size, 65464);
    EXPECT_EQ(big.oack.at(0).value, "65464");
    Negotiated tiny = negotiate({{"blksize", "7"}}, Mode::kOctet, 0);
    EXPECT_EQ(tiny.block_size, 512);
    EXPECT_TRUE(tiny.oack.empty());
}

TEST(Options, MalformedNumbersAreIgnored) {
    for (const char* v : {"", "12a", "-1", " 5", "99999999999999999999999"}) {
        Negotiated n = negotiate({{"blksize", v}, {"timeout", v}}, Mode::kOctet, 0);
        EXPECT_TRUE(n.oack.empty()) << v;
        EXPECT_EQ(n.block_size, 512);
    }
}

TEST(Options, TimeoutRangeFromRfc2349) {
    EXPECT_EQ(negotiate({{"timeout", "1"}}, Mode::kOctet, 0).timeout, 1);
    EXPECT_EQ(negotiate({{"timeout", "255"}}, Mode::kOctet, 0).timeout, 255);
    EXPECT_FALSE(negotiate({{"timeout", "0"}}, Mode::kOctet, 0).timeout);
    EXPECT_FALSE(negotiate({{"timeout", "256"}}, Mode::kOctet, 0).timeout);
    EXPECT_TRUE(negotiate({{"timeout", "256"}}, Mode::kOctet, 0).oack.empty());
}

TEST(Options, TsizeIsLeftOutForNetascii) {
    EXPECT_TRUE(negotiate({{"tsize", "0"}}, Mode::kNetascii, 10).oack.empty());
}

TEST(Options, WindowsizeIsCappedByCountAndBytes) {
    Negotiated eight = negotiate({{"windowsize", "8"}}, Mode::kOctet, 0);
    EXPECT_EQ(eight.window, 8);
    EXPECT_EQ(eight.oack.at(0).value, "8");

    OptionLimits limits;
    limits.max_window = 16;
    limits.max_window_bytes = 64 * 1024;
    EXPECT_EQ(negotiate({{"windowsize", "65535"}}, Mode::kOctet, 0, limits).window, 16);
    // The block size comes after the window in this request, and still bounds it.
    Negotiated n =
        negotiate({{"windowsize", "65535"}, {"blksize", "16384"}}, Mode::kOctet, 0, limits);
    EXPECT_EQ(n.window, 4);
    EXPECT_EQ(n.oack.at(0).name, "windowsize");
    EXPECT_EQ(n.oack.at(0).value, "4");
    // A block bigger than the byte budget still gets a window of one.
    EXPECT_EQ(
        negotiate({{"windowsize", "4"}, {"blksize", "65464"}}, Mode::kOctet, 0, limits).window, 1);
    EXPECT_TRUE(negotiate({{"windowsize", "0"}}, Mode::kOctet, 0).oack.empty());
    EXPECT_TRUE(negotiate({{"windowsize", "65536"}}, Mode::kOctet, 0).oack.empty());
}

TEST(Options, UnknownOptionsAreLeftOut) {
    Negotiated n = negotiate({{"multicast", "1"}, {"rollover", "0"}}, Mode::kOctet, 0);
    EXPECT_TRUE(n.oack.empty());
}

}  // namespace
}  // namespace rootfarm::tftpd
