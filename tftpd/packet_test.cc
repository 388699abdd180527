#include "tftpd/packet.h"

#include <gtest/gtest.h>

#include <string>

namespace rootfarm::tftpd {
namespace {

std::vector<uint8_t> bytes(std::string_view s) {
    return {s.begin(), s.end()};
}

// The RRQ a Pi 4 EEPROM sends for its first boot file (docs/pi-boot.md: tsize 0, blksize 1024).
const std::string kPi4Rrq(
    "\x00\x01"
    "1a2b3c4d/start4.elf\x00"
    "octet\x00"
    "tsize\x00"
    "0\x00"
    "blksize\x00"
    "1024\x00",
    2 + 20 + 6 + 6 + 2 + 8 + 5);

TEST(Packet, DecodesPi4ReadRequestWithOptions) {
    auto req = decode_request(bytes(kPi4Rrq));
    ASSERT_TRUE(req.ok()) << req.error().message();
    EXPECT_EQ(req->op, Opcode::kRrq);
    EXPECT_EQ(req->filename, "1a2b3c4d/start4.elf");
    EXPECT_EQ(req->mode, Mode::kOctet);
    ASSERT_EQ(req->options.size(), 2u);
    EXPECT_EQ(req->options[0].name, "tsize");
    EXPECT_EQ(req->options[0].value, "0");
    EXPECT_EQ(req->options[1].name, "blksize");
    EXPECT_EQ(req->options[1].value, "1024");
}

TEST(Packet, EveryTruncationOfARequestIsRejected) {
    // Cutting inside the filename, the mode or an option value leaves a string without its NUL.
    // A cut right after a complete name/value pair is a valid shorter request.
    for (size_t n = 0; n < kPi4Rrq.size(); ++n) {
        auto req = decode_request(bytes(kPi4Rrq.substr(0, n)));
        bool pair_boundary = n == 2 + 20 + 6 || n == 2 + 20 + 6 + 6 + 2;
        EXPECT_EQ(req.ok(), pair_boundary) << "length " << n;
    }
}

TEST(Packet, ModeAndOptionNamesAreCaseInsensitive) {
    std::string pkt(
        "\x00\x01"
        "a\x00"
        "NetASCII\x00"
        "BlkSize\x00"
        "512\x00",
        2 + 2 + 9 + 8 + 4);
    auto req = decode_request(bytes(pkt));
    ASSERT_TRUE(req.ok());
    EXPECT_EQ(req->mode, Mode::kNetascii);
    EXPECT_EQ(req->options.at(0).name, "blksize");
}

TEST(Packet, RejectsMailModeAndUnknownModes) {
    std::string mail(
        "\x00\x01"
        "a\x00"
        "mail\x00",
        2 + 2 + 5);
    EXPECT_EQ(decode_request(bytes(mail)).error(), std::errc::invalid_argument);
    std::string junk(
        "\x00\x01"
        "a\x00"
        "binary\x00",
        2 + 2 + 7);
    EXPECT_EQ(decode_request(bytes(junk)).error(), std::errc::invalid_argument);
}

TEST(Packet, RejectsEmptyAndOverlongFilenames) {
    std::string empty(
        "\x00\x01\x00"
        "octet\x00",
        2 + 1 + 6);
    EXPECT_FALSE(decode_request(bytes(empty)).ok());
    std::string longname(kMaxFilenameLength + 1, 'a');
    std::string pkt = std::string("\x00\x01", 2) + longname + std::string("\x00octet\x00", 7);
    EXPECT_FALSE(decode_request(bytes(pkt)).ok());
    std::string justfits(kMaxFilenameLength, 'a');
    pkt = std::string("\x00\x01", 2) + justfits + std::string("\x00octet\x00", 7);
    EXPECT_TRUE(decode_request(bytes(pkt)).ok());
}

TEST(Packet, OptionWithoutValueIsMalformed) {
    std::string pkt(
        "\x00\x01"
        "a\x00"
        "octet\x00"
        "tsize\x00",
        2 + 2 + 6 + 6);
    EXPECT_EQ(decode_request(bytes(pkt)).error(), std::errc::bad_message);
}

TEST(Packet, TrailingNulPaddingEndsTheOptions) {
    std::string pkt(
        "\x00\x01"
        "a\x00"
        "octet\x00"
        "\x00\x00\x00",
        2 + 2 + 6 + 3);
    auto req = decode_request(bytes(pkt));
    ASSERT_TRUE(req.ok());
    EXPECT_TRUE(req->options.empty());
}

TEST(Packet, DuplicateOptionsKeepTheFirstAndTooManyAreRejected) {
    Request r{Opcode::kRrq, "f", Mode::kOctet, {{"blksize", "1024"}, {"BLKSIZE", "8"}}};
    auto req = decode_request(encode_request(r));
    ASSERT_TRUE(req.ok());
    ASSERT_EQ(req->options.size(), 1u);
    EXPECT_EQ(req->options[0].value, "1024");

    Request many{Opcode::kRrq, "f", Mode::kOctet, {}};
    for (size_t i = 0; i <= kMaxOptions; ++i)
        many.options.push_back({"x" + std::to_string(i), "1"});
    EXPECT_FALSE(decode_request(encode_request(many)).ok());
}

TEST(Packet, WriteRequestDecodesAsWrq) {
    std::string pkt(
        "\x00\x02"
        "up\x00"
        "octet\x00",
        2 + 3 + 6);
    auto req = decode_request(bytes(pkt));
    ASSERT_TRUE(req.ok());
    EXPECT_EQ(req->op, Opcode::kWrq);
}

TEST(Packet, AckAndOpcodeBounds) {
    EXPECT_FALSE(decode_opcode(bytes(std::string("\x00", 1))).ok());
    EXPECT_FALSE(decode_opcode(bytes(std::string("\x00\x07", 2))).ok());
    EXPECT_FALSE(decode_opcode(bytes(std::string("\x00\x00", 2))).ok());
    EXPECT_FALSE(decode_ack(bytes(std::string("\x00\x04\x01", 3))).ok());
    auto ack = decode_ack(bytes(std::string("\x00\x04\xff\xfe", 4)));
    ASSERT_TRUE(ack.ok());
    EXPECT_EQ(ack->block, 0xfffe);
    // A DATA packet is not an ACK.
    EXPECT_FALSE(decode_ack(bytes(std::string("\x00\x03\x00\x01", 4))).ok());
}

TEST(Packet, ErrorDecodesWithAndWithoutNul) {
    auto e =
        decode_error(bytes(std::string("\x00\x05\x00\x00"
                                       "Early terminate\x00",
                                       4 + 16)));
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->code, 0);
    EXPECT_EQ(e->message, "Early terminate");
    auto bare =
        decode_error(bytes(std::string("\x00\x05\x00\x01"
                                       "gone",
                                       8)));
    ASSERT_TRUE(bare.ok());
    EXPECT_EQ(bare->code, 1);
    EXPECT_EQ(bare->message, "gone");
    EXPECT_FALSE(decode_error(bytes(std::string("\x00\x05\x00", 3))).ok());
}

TEST(Packet, EncodesGoldenBytes) {
    EXPECT_EQ(encode_error(ErrorCode::kFileNotFound, "File not found"),
              bytes(std::string("\x00\x05\x00\x01"
                                "File not found\x00",
                                4 + 15)));
    EXPECT_EQ(encode_oack({{"tsize", "1234"}, {"blksize", "1024"}}),
              bytes(std::string("\x00\x06"
                                "tsize\x00"
                                "1234\x00"
                                "blksize\x00"
                                "1024\x00",
                                2 + 6 + 5 + 8 + 5)));
    EXPECT_EQ(encode_ack(0x1234), bytes(std::string("\x00\x04\x12\x34", 4)));
    std::vector<uint8_t> data(6, 0xaa);
    encode_data_header(data, 0xff01);
    EXPECT_EQ(data, bytes(std::string("\x00\x03\xff\x01\xaa\xaa", 6)));
    EXPECT_EQ(encode_request({Opcode::kRrq, "x", Mode::kNetascii, {}}),
              bytes(std::string("\x00\x01x\x00netascii\x00", 2 + 2 + 9)));
}

TEST(Packet, ErrorMessageStopsAtEmbeddedNul) {
    auto pkt = encode_error(ErrorCode::kNotDefined, std::string_view("ab\0cd", 5));
    EXPECT_EQ(pkt, bytes(std::string("\x00\x05\x00\x00"
                                     "ab\x00",
                                     7)));
}

}  // namespace
}  // namespace rootfarm::tftpd
