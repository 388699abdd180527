#include "tftpd/packet.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace rootfarm::tftpd {
namespace {

uint16_t get16(std::span<const uint8_t> p, size_t at) {
    return static_cast<uint16_t>(p[at] << 8 | p[at + 1]);
}

void put16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}

// Reads one NUL-terminated string starting at `pos`; false if there is no NUL before the end.
bool next_string(std::span<const uint8_t> p, size_t& pos, std::string& out) {
    const uint8_t* begin = p.data() + pos;
    const uint8_t* end = p.data() + p.size();
    const uint8_t* nul = std::find(begin, end, uint8_t{0});
    if (nul == end) return false;
    out.assign(reinterpret_cast<const char*>(begin), nul - begin);
    pos = (nul - p.data()) + 1;
    return true;
}

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

void append_string(std::vector<uint8_t>& out, std::string_view s) {
    out.insert(out.end(), s.begin(), s.end());
    out.push_back(0);
}

}  // namespace

Result<Opcode> decode_opcode(std::span<const uint8_t> packet) {
    if (packet.size() < 2) return std::errc::bad_message;
    uint16_t op = get16(packet, 0);
    if (op < 1 || op > 6) return std::errc::bad_message;
    return static_cast<Opcode>(op);
}

Result<Request> decode_request(std::span<const uint8_t> packet) {
    auto op = decode_opcode(packet);
    if (!op) return op.error();
    if (*op != Opcode::kRrq && *op != Opcode::kWrq) return std::errc::bad_message;
    Request req;
    req.op = *op;
    size_t pos = 2;
    std::string mode;
    if (!next_string(packet, pos, req.filename) || !next_string(packet, pos, mode)) {
        return std::errc::bad_message;
    }
    if (req.filename.empty() || req.filename.size() > kMaxFilenameLength) {
        return std::errc::bad_message;
    }
    mode = lower(std::move(mode));
    if (mode == "octet") {
        req.mode = Mode::kOctet;
    } else if (mode == "netascii") {
        req.mode = Mode::kNetascii;
    } else {
        return std::errc::invalid_argument;
    }
    // RFC 2347: options follow as name/value pairs. Some clients pad the request with trailing
    // NULs; an empty name ends the list.
    while (pos < packet.size()) {
        Option opt;
        if (!next_string(packet, pos, opt.name)) return std::errc::bad_message;
        if (opt.name.empty()) break;
        if (!next_string(packet, pos, opt.value)) return std::errc::bad_message;
        opt.name = lower(std::move(opt.name));
        bool duplicate = std::any_of(req.options.begin(), req.options.end(),
                                     [&](const Option& o) { return o.name == opt.name; });
        if (duplicate) continue;
        if (req.options.size() == kMaxOptions) return std::errc::bad_message;
        req.options.push_back(std::move(opt));
    }
    return req;
}

Result<Ack> decode_ack(std::span<const uint8_t> packet) {
    // RFC 1350 §5: exactly opcode + block; extra bytes are tolerated (padding on some stacks).
    auto op = decode_opcode(packet);
    if (!op) return op.error();
    if (*op != Opcode::kAck || packet.size() < 4) return std::errc::bad_message;
    return Ack{get16(packet, 2)};
}

Result<ErrorPacket> decode_error(std::span<const uint8_t> packet) {
    auto op = decode_opcode(packet);
    if (!op) return op.error();
    if (*op != Opcode::kError || packet.size() < 4) return std::errc::bad_message;
    ErrorPacket e;
    e.code = get16(packet, 2);
    auto msg = packet.subspan(4);
    auto nul = std::find(msg.begin(), msg.end(), uint8_t{0});
    e.message.assign(msg.begin(), nul);
    return e;
}

void encode_data_header(std::span<uint8_t> out, uint16_t block) {
    put16(out.data(), static_cast<uint16_t>(Opcode::kData));
    put16(out.data() + 2, block);
}

std::vector<uint8_t> encode_error(ErrorCode code, std::string_view message) {
    std::vector<uint8_t> out(4);
    out.reserve(4 + message.size() + 1);
    put16(out.data(), static_cast<uint16_t>(Opcode::kError));
    put16(out.data() + 2, static_cast<uint16_t>(code));
    append_string(out, message.substr(0, message.find('\0')));
    return out;
}

std::vector<uint8_t> encode_oack(const std::vector<Option>& options) {
    size_t size = 2;
    for (const auto& o : options) size += o.name.size() + o.value.size() + 2;
    std::vector<uint8_t> out(2);
    out.reserve(size);
    put16(out.data(), static_cast<uint16_t>(Opcode::kOack));
    for (const auto& o : options) {
        append_string(out, o.name);
        append_string(out, o.value);
    }
    return out;
}

std::vector<uint8_t> encode_ack(uint16_t block) {
    std::vector<uint8_t> out(4);
    put16(out.data(), static_cast<uint16_t>(Opcode::kAck));
    put16(out.data() + 2, block);
    return out;
}

std::vector<uint8_t> encode_request(const Request& request) {
    std::vector<uint8_t> out(2);
    put16(out.data(), static_cast<uint16_t>(request.op));
    append_string(out, request.filename);
    append_string(out, request.mode == Mode::kNetascii ? "netascii" : "octet");
    for (const auto& o : request.options) {
        append_string(out, o.name);
        append_string(out, o.value);
    }
    return out;
}

}  // namespace rootfarm::tftpd
