#include "nfsd/xdr.h"

namespace rootfarm::nfsd {

uint32_t XdrReader::u32() {
    if (!ok_ || data_.size() - pos_ < 4) {
        ok_ = false;
        return 0;
    }
    const uint8_t* p = data_.data() + pos_;
    pos_ += 4;
    return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

uint64_t XdrReader::u64() {
    uint64_t hi = u32();
    return hi << 32 | u32();
}

std::span<const uint8_t> XdrReader::fixed(size_t n) {
    size_t padded = xdr_pad(n);
    if (!ok_ || padded < n || data_.size() - pos_ < padded) {
        ok_ = false;
        return {};
    }
    auto out = data_.subspan(pos_, n);
    pos_ += padded;
    return out;
}

std::span<const uint8_t> XdrReader::opaque(uint32_t max) {
    uint32_t len = u32();
    if (!ok_ || len > max) {
        ok_ = false;
        return {};
    }
    return fixed(len);
}

std::string_view XdrReader::string(uint32_t max) {
    auto bytes = opaque(max);
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

void XdrWriter::u32(uint32_t v) {
    uint8_t b[4] = {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
    out_.insert(out_.end(), b, b + 4);
}

void XdrWriter::u64(uint64_t v) {
    u32(static_cast<uint32_t>(v >> 32));
    u32(static_cast<uint32_t>(v));
}

void XdrWriter::fixed(std::span<const uint8_t> bytes) {
    out_.insert(out_.end(), bytes.begin(), bytes.end());
    out_.resize(out_.size() + (xdr_pad(bytes.size()) - bytes.size()), 0);
}

void XdrWriter::opaque(std::span<const uint8_t> bytes) {
    u32(static_cast<uint32_t>(bytes.size()));
    fixed(bytes);
}

void XdrWriter::put_u32_at(size_t at, uint32_t v) {
    out_[at] = uint8_t(v >> 24);
    out_[at + 1] = uint8_t(v >> 16);
    out_[at + 2] = uint8_t(v >> 8);
    out_[at + 3] = uint8_t(v);
}

}  // namespace rootfarm::nfsd
