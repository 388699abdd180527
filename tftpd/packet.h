#pragma once

// TFTP wire format: RFC 1350 §5 (RRQ/WRQ/DATA/ACK/ERROR) and RFC 2347 (options, OACK).
// Decoders check every length and return EBADMSG for anything malformed; encoders write into
// buffers sized exactly for the packet.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace rootfarm::tftpd {

// RFC 1350 §5, RFC 2347 (OACK = 6).
enum class Opcode : uint16_t { kRrq = 1, kWrq = 2, kData = 3, kAck = 4, kError = 5, kOack = 6 };

// RFC 1350 Appendix "Error Codes", RFC 2347 (8 = option negotiation refused).
enum class ErrorCode : uint16_t {
    kNotDefined = 0,
    kFileNotFound = 1,
    kAccessViolation = 2,
    kDiskFull = 3,
    kIllegalOperation = 4,
    kUnknownTid = 5,
    kFileExists = 6,
    kNoSuchUser = 7,
    kOptionRefused = 8,
};

enum class Mode { kOctet, kNetascii };

struct Option {
    std::string name;  // lower-cased: option names are case-insensitive (RFC 2347)
    std::string value;
};

struct Request {
    Opcode op = Opcode::kRrq;  // kRrq or kWrq
    std::string filename;
    Mode mode = Mode::kOctet;
    std::vector<Option> options;  // in the order the client sent them, duplicates dropped
};

struct Ack {
    uint16_t block = 0;
};

struct ErrorPacket {
    uint16_t code = 0;
    std::string message;
};

// RFC 2348: the largest block that fits an IPv4 UDP datagram.
inline constexpr size_t kMaxBlockSize = 65464;
inline constexpr size_t kDataHeaderSize = 4;
// Longer file names are refused: no boot file is near this, and it bounds per-request work.
inline constexpr size_t kMaxFilenameLength = 512;
// More options than any client sends; a request with more is malformed.
inline constexpr size_t kMaxOptions = 16;

// The opcode of any packet, EBADMSG if shorter than 2 bytes.
Result<Opcode> decode_opcode(std::span<const uint8_t> packet);
// RRQ/WRQ: opcode, filename NUL, mode NUL, then name NUL value NUL pairs (RFC 2347). The mode
// is "octet" or "netascii" in any case; "mail" (obsolete, RFC 1350) and unknown modes are
// EINVAL, anything malformed EBADMSG.
Result<Request> decode_request(std::span<const uint8_t> packet);
Result<Ack> decode_ack(std::span<const uint8_t> packet);
// The message may be missing its NUL (some clients omit it); it is cut at the first NUL.
Result<ErrorPacket> decode_error(std::span<const uint8_t> packet);

// Writes the 4-byte DATA header (RFC 1350 §5) into out[0..4); out.size() must be >= 4.
void encode_data_header(std::span<uint8_t> out, uint16_t block);
std::vector<uint8_t> encode_error(ErrorCode code, std::string_view message);
// OACK (RFC 2347): name NUL value NUL for each accepted option.
std::vector<uint8_t> encode_oack(const std::vector<Option>& options);
// For tests and the raw client in them.
std::vector<uint8_t> encode_ack(uint16_t block);
std::vector<uint8_t> encode_request(const Request& request);

}  // namespace rootfarm::tftpd
