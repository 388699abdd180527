#include "dhcpd/packet.h"

#include <algorithm>
#include <cstring>

namespace rootfarm::dhcpd {
namespace {

constexpr std::array<uint8_t, 4> kMagicCookie = {99, 130, 83, 99};  // RFC 2131 §3

// Offsets of the fixed fields (RFC 2131 §2, figure 1).
constexpr size_t kOffXid = 4;
constexpr size_t kOffSecs = 8;
constexpr size_t kOffFlags = 10;
constexpr size_t kOffCiaddr = 12;
constexpr size_t kOffYiaddr = 16;
constexpr size_t kOffSiaddr = 20;
constexpr size_t kOffGiaddr = 24;
constexpr size_t kOffChaddr = 28;
constexpr size_t kOffSname = 44;
constexpr size_t kOffFile = 108;
constexpr size_t kOffCookie = 236;

uint16_t get16(const uint8_t* p) {
    return uint16_t(p[0] << 8 | p[1]);
}
uint32_t get32(const uint8_t* p) {
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
void put16(uint8_t* p, uint16_t v) {
    p[0] = uint8_t(v >> 8);
    p[1] = uint8_t(v);
}
void put32(uint8_t* p, uint32_t v) {
    p[0] = uint8_t(v >> 24);
    p[1] = uint8_t(v >> 16);
    p[2] = uint8_t(v >> 8);
    p[3] = uint8_t(v);
}

void append_option(Packet& p, uint8_t code, std::span<const uint8_t> value) {
    for (auto& [c, v] : p.options) {
        if (c == code) {
            v.insert(v.end(), value.begin(), value.end());
            return;
        }
    }
    p.options.emplace_back(code, std::vector<uint8_t>(value.begin(), value.end()));
}

// Reads one options area. `overload` receives option 52's value when `allow_overload`;
// an overload option inside an overloaded field (file/sname) is rejected, which is what stops
// a field from pointing at itself (RFC 2131 §4.1 allows option 52 in `options` only).
std::error_code parse_options(std::span<const uint8_t> area, Packet& p, bool allow_overload,
                              uint8_t* overload) {
    size_t i = 0;
    while (i < area.size()) {
        uint8_t code = area[i];
        if (code == opt::kPad) {
            ++i;
            continue;
        }
        if (code == opt::kEnd) return {};
        if (i + 1 >= area.size()) return DecodeError::kOptionOverrun;
        size_t len = area[i + 1];
        if (i + 2 + len > area.size()) return DecodeError::kOptionOverrun;
        auto value = area.subspan(i + 2, len);
        if (code == opt::kOverload) {
            if (!allow_overload || len != 1 || value[0] < 1 || value[0] > 3 || *overload != 0) {
                return DecodeError::kBadOverload;
            }
            *overload = value[0];
        } else {
            append_option(p, code, value);
        }
        i += 2 + len;
    }
    // A missing end option is tolerated: the field's own size bounds the walk.
    return {};
}

class DecodeCategory : public std::error_category {
  public:
    const char* name() const noexcept override { return "dhcp-decode"; }
    std::string message(int ev) const override {
        switch (static_cast<DecodeError>(ev)) {
            case DecodeError::kTruncated:
                return "truncated DHCP packet";
            case DecodeError::kBadCookie:
                return "missing DHCP magic cookie";
            case DecodeError::kOptionOverrun:
                return "DHCP option overruns its field";
            case DecodeError::kBadOverload:
                return "bad DHCP option overload";
            case DecodeError::kBadHardwareLength:
                return "bad DHCP hardware address length";
        }
        return "unknown DHCP decode error";
    }
};

}  // namespace

std::string_view to_string(MessageType type) {
    switch (type) {
        case MessageType::kDiscover:
            return "DISCOVER";
        case MessageType::kOffer:
            return "OFFER";
        case MessageType::kRequest:
            return "REQUEST";
        case MessageType::kDecline:
            return "DECLINE";
        case MessageType::kAck:
            return "ACK";
        case MessageType::kNak:
            return "NAK";
        case MessageType::kRelease:
            return "RELEASE";
        case MessageType::kInform:
            return "INFORM";
    }
    return "UNKNOWN";
}

const std::error_category& decode_category() {
    static const DecodeCategory category;
    return category;
}

std::error_code make_error_code(DecodeError e) {
    return {static_cast<int>(e), decode_category()};
}

MacAddr Packet::mac() const {
    MacAddr m;
    std::copy_n(chaddr.begin(), 6, m.bytes.begin());
    return m;
}

void Packet::set_mac(const MacAddr& mac) {
    chaddr.fill(0);
    std::copy(mac.bytes.begin(), mac.bytes.end(), chaddr.begin());
    htype = kHtypeEthernet;
    hlen = 6;
}

const std::vector<uint8_t>* Packet::find(uint8_t code) const {
    for (const auto& [c, v] : options) {
        if (c == code) return &v;
    }
    return nullptr;
}

std::optional<MessageType> Packet::message_type() const {
    const auto* v = find(opt::kMessageType);
    if (!v || v->size() != 1 || (*v)[0] < 1 || (*v)[0] > 8) return std::nullopt;
    return static_cast<MessageType>((*v)[0]);
}

std::optional<Ipv4> Packet::find_ip(uint8_t code) const {
    const auto* v = find(code);
    if (!v || v->size() != 4) return std::nullopt;
    return Ipv4{get32(v->data())};
}

std::string Packet::find_string(uint8_t code) const {
    const auto* v = find(code);
    if (!v) return {};
    return std::string(v->begin(), v->end());
}

void Packet::set(uint8_t code, std::vector<uint8_t> value) {
    for (auto& [c, v] : options) {
        if (c == code) {
            v = std::move(value);
            return;
        }
    }
    options.emplace_back(code, std::move(value));
}

void Packet::set_u32(uint8_t code, uint32_t v) {
    std::vector<uint8_t> b(4);
    put32(b.data(), v);
    set(code, std::move(b));
}

void Packet::set_ips(uint8_t code, std::span<const Ipv4> ips) {
    std::vector<uint8_t> b(4 * ips.size());
    for (size_t i = 0; i < ips.size(); ++i) put32(b.data() + 4 * i, ips[i].value);
    set(code, std::move(b));
}

void Packet::set_string(uint8_t code, std::string_view s) {
    set(code, std::vector<uint8_t>(s.begin(), s.end()));
}

Result<Packet> decode(std::span<const uint8_t> data) {
    if (data.size() < kMinPacketSize) return make_error_code(DecodeError::kTruncated);
    const uint8_t* d = data.data();
    if (!std::equal(kMagicCookie.begin(), kMagicCookie.end(), d + kOffCookie)) {
        return make_error_code(DecodeError::kBadCookie);
    }
    Packet p;
    // A Pi's DISCOVER carries 7 options, a PC's up to ~12: one allocation instead of a
    // growth step per option.
    p.options.reserve(16);
    p.op = d[0];
    p.htype = d[1];
    p.hlen = d[2];
    p.hops = d[3];
    if (p.hlen > p.chaddr.size()) return make_error_code(DecodeError::kBadHardwareLength);
    p.xid = get32(d + kOffXid);
    p.secs = get16(d + kOffSecs);
    p.flags = get16(d + kOffFlags);
    p.ciaddr = Ipv4{get32(d + kOffCiaddr)};
    p.yiaddr = Ipv4{get32(d + kOffYiaddr)};
    p.siaddr = Ipv4{get32(d + kOffSiaddr)};
    p.giaddr = Ipv4{get32(d + kOffGiaddr)};
    std::memcpy(p.chaddr.data(), d + kOffChaddr, p.chaddr.size());
    std::memcpy(p.sname.data(), d + kOffSname, p.sname.size());
    std::memcpy(p.file.data(), d + kOffFile, p.file.size());

    uint8_t overload = 0;
    if (auto ec = parse_options(data.subspan(kMinPacketSize), p, true, &overload)) return ec;
    // RFC 2131 §4.1: with option 52 the `file` field is read first, then `sname`.
    if (overload & 1) {
        auto ec = parse_options(data.subspan(kOffFile, p.file.size()), p, false, &overload);
        if (ec) return ec;
        p.file.fill(0);
    }
    if (overload & 2) {
        auto ec = parse_options(data.subspan(kOffSname, p.sname.size()), p, false, &overload);
        if (ec) return ec;
        p.sname.fill(0);
    }
    return p;
}

std::vector<uint8_t> encode(const Packet& p) {
    size_t options_size = 0;
    for (const auto& [code, value] : p.options) {
        size_t chunks = std::max<size_t>(1, (value.size() + 254) / 255);
        options_size += 2 * chunks + value.size();
    }
    size_t size = std::max(kMinPacketSize + options_size + 1, kMinReplySize);
    std::vector<uint8_t> out(size, 0);
    uint8_t* d = out.data();
    d[0] = p.op;
    d[1] = p.htype;
    d[2] = p.hlen;
    d[3] = p.hops;
    put32(d + kOffXid, p.xid);
    put16(d + kOffSecs, p.secs);
    put16(d + kOffFlags, p.flags);
    put32(d + kOffCiaddr, p.ciaddr.value);
    put32(d + kOffYiaddr, p.yiaddr.value);
    put32(d + kOffSiaddr, p.siaddr.value);
    put32(d + kOffGiaddr, p.giaddr.value);
    std::memcpy(d + kOffChaddr, p.chaddr.data(), p.chaddr.size());
    std::memcpy(d + kOffSname, p.sname.data(), p.sname.size());
    std::memcpy(d + kOffFile, p.file.data(), p.file.size());
    std::copy(kMagicCookie.begin(), kMagicCookie.end(), d + kOffCookie);
    uint8_t* w = d + kMinPacketSize;
    for (const auto& [code, value] : p.options) {
        size_t done = 0;
        do {
            size_t n = std::min<size_t>(255, value.size() - done);
            *w++ = code;
            *w++ = uint8_t(n);
            if (n) std::memcpy(w, value.data() + done, n);
            w += n;
            done += n;
        } while (done < value.size());
    }
    *w = opt::kEnd;
    return out;
}

}  // namespace rootfarm::dhcpd
