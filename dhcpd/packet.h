#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "core/net.h"
#include "core/result.h"

namespace rootfarm::dhcpd {

// RFC 2131 §2: op codes, and the message types of option 53 (RFC 2132 §9.6).
constexpr uint8_t kBootRequest = 1;
constexpr uint8_t kBootReply = 2;
constexpr uint8_t kHtypeEthernet = 1;
constexpr uint16_t kFlagBroadcast = 0x8000;

enum class MessageType : uint8_t {
    kDiscover = 1,
    kOffer = 2,
    kRequest = 3,
    kDecline = 4,
    kAck = 5,
    kNak = 6,
    kRelease = 7,
    kInform = 8,
};
std::string_view to_string(MessageType type);

// Option codes we read or write (RFC 2132, RFC 4578 for 93/94/97, PXE spec for 43).
namespace opt {
constexpr uint8_t kPad = 0;
constexpr uint8_t kSubnetMask = 1;
constexpr uint8_t kRouter = 3;
constexpr uint8_t kDns = 6;
constexpr uint8_t kHostname = 12;
constexpr uint8_t kDomainName = 15;
constexpr uint8_t kBroadcast = 28;
constexpr uint8_t kVendorSpecific = 43;
constexpr uint8_t kRequestedIp = 50;
constexpr uint8_t kLeaseTime = 51;
constexpr uint8_t kOverload = 52;
constexpr uint8_t kMessageType = 53;
constexpr uint8_t kServerId = 54;
constexpr uint8_t kParameterList = 55;
constexpr uint8_t kMessage = 56;
constexpr uint8_t kMaxMessageSize = 57;
constexpr uint8_t kRenewalTime = 58;
constexpr uint8_t kRebindingTime = 59;
constexpr uint8_t kVendorClass = 60;
constexpr uint8_t kClientId = 61;
constexpr uint8_t kTftpServer = 66;
constexpr uint8_t kBootFile = 67;
constexpr uint8_t kClientArch = 93;
constexpr uint8_t kClientNdi = 94;
constexpr uint8_t kClientGuid = 97;
constexpr uint8_t kEnd = 255;
}  // namespace opt

// Why a datagram was not a usable DHCP message. Each is counted by the server.
enum class DecodeError {
    kTruncated = 1,      // shorter than the fixed header plus magic cookie
    kBadCookie,          // no RFC 2131 §3 magic cookie: BOOTP or garbage
    kOptionOverrun,      // an option's length runs past its field
    kBadOverload,        // option 52 malformed, or found inside an overloaded field
    kBadHardwareLength,  // hlen larger than chaddr
};
const std::error_category& decode_category();
std::error_code make_error_code(DecodeError e);

// One BOOTP/DHCP message (RFC 2131 §2). Options keep their order of first appearance; a
// repeated option is concatenated onto the first (RFC 3396 §7).
struct Packet {
    uint8_t op = kBootReply;
    uint8_t htype = kHtypeEthernet;
    uint8_t hlen = 6;
    uint8_t hops = 0;
    uint32_t xid = 0;
    uint16_t secs = 0;
    uint16_t flags = 0;
    Ipv4 ciaddr;
    Ipv4 yiaddr;
    Ipv4 siaddr;
    Ipv4 giaddr;
    std::array<uint8_t, 16> chaddr{};
    std::array<uint8_t, 64> sname{};
    std::array<uint8_t, 128> file{};
    std::vector<std::pair<uint8_t, std::vector<uint8_t>>> options;

    MacAddr mac() const;
    void set_mac(const MacAddr& mac);
    bool broadcast_flag() const { return (flags & kFlagBroadcast) != 0; }

    // nullptr when absent.
    const std::vector<uint8_t>* find(uint8_t code) const;
    std::optional<MessageType> message_type() const;
    std::optional<Ipv4> find_ip(uint8_t code) const;  // exactly 4 bytes, else nullopt
    std::string find_string(uint8_t code) const;      // empty when absent

    // Appends an option, or replaces the value of an option already set (keeping its place).
    void set(uint8_t code, std::vector<uint8_t> value);
    void set_u8(uint8_t code, uint8_t v) { set(code, {v}); }
    void set_u32(uint8_t code, uint32_t v);
    void set_ip(uint8_t code, Ipv4 ip) { set_ips(code, {&ip, 1}); }
    void set_ips(uint8_t code, std::span<const Ipv4> ips);
    // RFC 2132 §2: NVT ASCII options carry no trailing NUL.
    void set_string(uint8_t code, std::string_view s);
};

constexpr size_t kFixedHeaderSize = 236;                 // RFC 2131 §2, up to `file`
constexpr size_t kMinPacketSize = kFixedHeaderSize + 4;  // plus the magic cookie
// RFC 1542 §3.4 and the Linux kernel's ipconfig client (what a Pi's `ip=dhcp` runs): a reply
// shorter than a BOOTP message of 300 octets is ignored, so replies are padded after the end
// option (never before it: the Pi 4 EEPROM rejects pad options inside the options, ee#82).
constexpr size_t kMinReplySize = 300;

// Parses and bounds-checks a datagram. Does not judge op/htype/hlen beyond chaddr's size.
Result<Packet> decode(std::span<const uint8_t> data);

// Encodes into a buffer sized exactly once: fixed header, cookie, options in order (values
// over 255 bytes split per RFC 3396), end option, zero padding up to kMinReplySize.
std::vector<uint8_t> encode(const Packet& packet);

}  // namespace rootfarm::dhcpd

template <>
struct std::is_error_code_enum<rootfarm::dhcpd::DecodeError> : std::true_type {};
