#include "dhcpd/packet.h"

#include <gtest/gtest.h>

#include "dhcpd/test_packets.h"

namespace rootfarm::dhcpd {
namespace {

using testing::Bytes;
using testing::header;

TEST(Packet, DecodesPi3RomDiscover) {
    auto bytes = testing::pi3_discover();
    ASSERT_EQ(bytes.size(), 322u);
    auto p = decode(bytes);
    ASSERT_TRUE(p.ok()) << p.error().message();
    EXPECT_EQ(p->op, kBootRequest);
    EXPECT_EQ(p->xid, testing::kPi3Xid);
    EXPECT_EQ(p->flags, 0);
    EXPECT_EQ(p->mac(), testing::pi3_mac());
    EXPECT_EQ(p->message_type(), MessageType::kDiscover);
    EXPECT_EQ(p->find_string(opt::kVendorClass), testing::kPxeVendorClass);
    ASSERT_NE(p->find(opt::kClientGuid), nullptr);
    EXPECT_EQ(*p->find(opt::kClientGuid), testing::pi3_guid());
    EXPECT_EQ(*p->find(opt::kClientArch), (std::vector<uint8_t>{0, 0}));
    EXPECT_EQ(p->find(opt::kParameterList)->size(), 14u);
    EXPECT_EQ(p->find(opt::kRequestedIp), nullptr);
}

TEST(Packet, EncodeRoundTripsAndPadsAfterEndOption) {
    Packet p;
    p.xid = 0x01020304;
    p.flags = kFlagBroadcast;
    p.yiaddr = *Ipv4::parse("10.0.0.9");
    p.set_mac(testing::pi4_mac());
    p.set_u8(opt::kMessageType, 2);
    p.set_ip(opt::kServerId, *Ipv4::parse("10.0.0.1"));
    p.set_string(opt::kHostname, "pi");
    auto bytes = encode(p);
    ASSERT_EQ(bytes.size(), kMinReplySize);

    auto expected =
        header(2, 0x01020304, 0x8000, "0.0.0.0", "10.0.0.9", "0.0.0.0", testing::pi4_mac())
            .opt(53, {2})
            .opt_ip(54, "10.0.0.1")
            .opt_str(12, "pi")
            .u8(255)
            .pad_to(300)
            .take();
    EXPECT_EQ(bytes, expected);

    auto back = decode(bytes);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->op, kBootReply);
    EXPECT_EQ(back->yiaddr, p.yiaddr);
    EXPECT_EQ(back->options, p.options);
}

TEST(Packet, LongOptionIsSplitAndConcatenatedBack) {
    // RFC 3396: values over 255 bytes go out as several instances of the option.
    Packet p;
    std::vector<uint8_t> big(300);
    for (size_t i = 0; i < big.size(); ++i) big[i] = uint8_t(i);
    p.set(opt::kVendorSpecific, big);
    auto bytes = encode(p);
    EXPECT_EQ(bytes[240], opt::kVendorSpecific);
    EXPECT_EQ(bytes[241], 255);
    EXPECT_EQ(bytes[240 + 2 + 255], opt::kVendorSpecific);
    EXPECT_EQ(bytes[240 + 2 + 255 + 1], 45);
    auto back = decode(bytes);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back->find(opt::kVendorSpecific), big);
}

TEST(Packet, RejectsTruncatedPackets) {
    auto bytes = testing::pi3_discover();
    for (size_t n : {0, 1, 100, 235, 236, 239}) {
        auto r = decode(std::span(bytes).first(n));
        ASSERT_FALSE(r.ok()) << n;
        EXPECT_EQ(r.error(), DecodeError::kTruncated);
    }
    // Cut inside an option: the option's length runs past the datagram.
    auto r = decode(std::span(bytes).first(240 + 3 + 10));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), DecodeError::kOptionOverrun);
}

TEST(Packet, RejectsMissingMagicCookie) {
    auto bytes = testing::pi3_discover();
    bytes[236] = 0;
    auto r = decode(bytes);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), DecodeError::kBadCookie);
}

TEST(Packet, RejectsOversizedHardwareLength) {
    auto bytes = testing::pi3_discover();
    bytes[2] = 17;
    EXPECT_EQ(decode(bytes).error(), DecodeError::kBadHardwareLength);
}

TEST(Packet, RejectsOptionLengthByteAtEndOfBuffer) {
    auto b = header(1, 1, 0, "0.0.0.0", "0.0.0.0", "0.0.0.0", testing::pi4_mac())
                 .opt(53, {1})
                 .u8(12)
                 .take();
    EXPECT_EQ(decode(b).error(), DecodeError::kOptionOverrun);
}

TEST(Packet, ToleratesMissingEndOption) {
    auto b =
        header(1, 1, 0, "0.0.0.0", "0.0.0.0", "0.0.0.0", testing::pi4_mac()).opt(53, {1}).take();
    auto p = decode(b);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->message_type(), MessageType::kDiscover);
}

// A DISCOVER whose options continue in `file` (option 52 = 1) and `sname` (= 3).
std::vector<uint8_t> overloaded(uint8_t overload, std::vector<uint8_t> file_opts,
                                std::vector<uint8_t> sname_opts) {
    auto b = header(1, 7, 0, "0.0.0.0", "0.0.0.0", "0.0.0.0", testing::pi4_mac())
                 .opt(53, {1})
                 .opt(52, {overload})
                 .u8(255)
                 .pad_to(300)
                 .take();
    std::copy(file_opts.begin(), file_opts.end(), b.begin() + 108);
    std::copy(sname_opts.begin(), sname_opts.end(), b.begin() + 44);
    return b;
}

TEST(Packet, ReadsOverloadedFileThenSname) {
    auto b = overloaded(3, Bytes().opt_str(12, "from").u8(255).take(),
                        Bytes().opt_str(12, "-sname").opt_str(60, "x").u8(255).take());
    auto p = decode(b);
    ASSERT_TRUE(p.ok()) << p.error().message();
    EXPECT_EQ(p->find_string(opt::kHostname), "from-sname");
    EXPECT_EQ(p->find_string(opt::kVendorClass), "x");
    EXPECT_EQ(p->file[0], 0);  // the field held options, not a file name
}

TEST(Packet, RejectsOverloadLoops) {
    // Option 52 inside the overloaded `file` field would point at itself again.
    auto loop = overloaded(1, Bytes().opt(52, {1}).u8(255).take(), {});
    EXPECT_EQ(decode(loop).error(), DecodeError::kBadOverload);
    auto into_sname = overloaded(3, {}, Bytes().opt(52, {2}).u8(255).take());
    EXPECT_EQ(decode(into_sname).error(), DecodeError::kBadOverload);
    auto twice = header(1, 7, 0, "0.0.0.0", "0.0.0.0", "0.0.0.0", testing::pi4_mac())
                     .opt(52, {1})
                     .opt(52, {2})
                     .u8(255)
                     .pad_to(300)
                     .take();
    EXPECT_EQ(decode(twice).error(), DecodeError::kBadOverload);
    EXPECT_EQ(decode(overloaded(4, {}, {})).error(), DecodeError::kBadOverload);
}

TEST(Packet, RejectsOverrunInsideOverloadedField) {
    auto b = overloaded(1, Bytes().u8(12).u8(0).take(), {});
    // A 128-byte `file` field: an option claiming 200 bytes cannot fit.
    b[108] = 12;
    b[109] = 200;
    EXPECT_EQ(decode(b).error(), DecodeError::kOptionOverrun);
}

TEST(Packet, RepeatedOptionsAreConcatenated) {
    auto b = header(1, 1, 0, "0.0.0.0", "0.0.0.0", "0.0.0.0", testing::pi4_mac())
                 .opt_str(60, "PXE")
                 .opt(53, {1})
                 .opt_str(60, "Client")
                 .u8(255)
                 .take();
    auto p = decode(b);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->find_string(opt::kVendorClass), "PXEClient");
}

TEST(Packet, MessageTypeMustBeOneValidByte) {
    auto bad = header(1, 1, 0, "0.0.0.0", "0.0.0.0", "0.0.0.0", testing::pi4_mac())
                   .opt(53, {9})
                   .u8(255)
                   .take();
    auto p = decode(bad);
    ASSERT_TRUE(p.ok());
    EXPECT_FALSE(p->message_type().has_value());
}

}  // namespace
}  // namespace rootfarm::dhcpd
