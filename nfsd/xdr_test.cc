#include "nfsd/xdr.h"

#include <gtest/gtest.h>

namespace rootfarm::nfsd {
namespace {

TEST(Xdr, ReadsBigEndianIntegersAndPaddedOpaque) {
    const std::vector<uint8_t> bytes = {0x00, 0x01, 0x86, 0xa3,                          //
                                        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,  //
                                        0x00, 0x00, 0x00, 0x05, 'h',  'e',  'l',  'l',
                                        'o',  0,    0,    0};
    XdrReader r(bytes);
    EXPECT_EQ(r.u32(), 100003u);
    EXPECT_EQ(r.u64(), 0x0000000100000002ull);
    EXPECT_EQ(r.string(255), "hello");
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.remaining(), 0u);
}

TEST(Xdr, TruncatedInputLatchesFailure) {
    const std::vector<uint8_t> bytes = {0x00, 0x00, 0x00, 0x08, 'a', 'b', 'c', 'd'};
    XdrReader r(bytes);
    auto o = r.opaque(64);  // claims 8 bytes, has 4
    EXPECT_FALSE(r.ok());
    EXPECT_TRUE(o.empty());
    EXPECT_EQ(r.u32(), 0u);  // later reads stay failed
    EXPECT_FALSE(r.ok());
}

TEST(Xdr, LengthAboveMaximumFails) {
    const std::vector<uint8_t> bytes = {0x00, 0x00, 0x01, 0x00};
    XdrReader r(bytes);
    r.opaque(64);
    EXPECT_FALSE(r.ok());
}

TEST(Xdr, HugeLengthDoesNotOverflow) {
    const std::vector<uint8_t> bytes = {0xff, 0xff, 0xff, 0xfe, 1, 2, 3, 4};
    XdrReader r(bytes);
    r.opaque(UINT32_MAX);
    EXPECT_FALSE(r.ok());
}

TEST(Xdr, MissingPaddingIsTruncation) {
    const std::vector<uint8_t> bytes = {0x00, 0x00, 0x00, 0x01, 'x'};
    XdrReader r(bytes);
    r.opaque(64);
    EXPECT_FALSE(r.ok());
}

TEST(Xdr, WriterRoundTrips) {
    std::vector<uint8_t> out;
    XdrWriter w(out);
    w.u32(7);
    w.u64(0x123456789abcdef0ull);
    w.string("abcde");
    w.put_u32_at(0, 9);
    EXPECT_EQ(out.size(), 4u + 8 + 4 + 8);
    XdrReader r(out);
    EXPECT_EQ(r.u32(), 9u);
    EXPECT_EQ(r.u64(), 0x123456789abcdef0ull);
    EXPECT_EQ(r.string(10), "abcde");
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(out[out.size() - 1], 0);  // padding is zero
}

}  // namespace
}  // namespace rootfarm::nfsd
