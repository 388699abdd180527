#pragma once

// Little-endian encoding of journal records, snapshots and handles. The decoder checks every
// length against what is left, so a torn or hostile buffer only ever makes it return false.

#include <cstdint>
#include <string>
#include <string_view>

#include "store/store.h"

namespace rootfarm::store {

class Encoder {
  public:
    void u8(uint8_t v) { buf_.push_back(static_cast<char>(v)); }
    void u32(uint32_t v) { put(v, 4); }
    void u64(uint64_t v) { put(v, 8); }
    void str(std::string_view s) {
        u32(static_cast<uint32_t>(s.size()));
        buf_.append(s);
    }
    void time(const Time& t) {
        u64(static_cast<uint64_t>(t.sec));
        u32(t.nsec);
    }
    void attr(const Attr& a);

    const std::string& bytes() const { return buf_; }
    std::string take() { return std::move(buf_); }
    void clear() { buf_.clear(); }

  private:
    void put(uint64_t v, int n) {
        for (int i = 0; i < n; ++i) buf_.push_back(static_cast<char>(v >> (8 * i)));
    }
    std::string buf_;
};

class Decoder {
  public:
    explicit Decoder(std::string_view data) : data_(data) {}

    bool u8(uint8_t& v) {
        uint64_t x;
        if (!get(x, 1)) return false;
        v = static_cast<uint8_t>(x);
        return true;
    }
    bool u32(uint32_t& v) {
        uint64_t x;
        if (!get(x, 4)) return false;
        v = static_cast<uint32_t>(x);
        return true;
    }
    bool u64(uint64_t& v) { return get(v, 8); }
    bool str(std::string& s) {
        uint32_t n;
        if (!u32(n) || n > data_.size() - pos_) return false;
        s.assign(data_.substr(pos_, n));
        pos_ += n;
        return true;
    }
    bool time(Time& t) {
        uint64_t sec;
        if (!u64(sec) || !u32(t.nsec)) return false;
        t.sec = static_cast<int64_t>(sec);
        return t.nsec < 1000000000u;
    }
    bool attr(Attr& a);

    bool done() const { return pos_ == data_.size(); }

  private:
    bool get(uint64_t& v, int n) {
        if (data_.size() - pos_ < static_cast<size_t>(n)) return false;
        v = 0;
        for (int i = 0; i < n; ++i) v |= uint64_t{static_cast<uint8_t>(data_[pos_ + i])} << (8 * i);
        pos_ += n;
        return true;
    }
    std::string_view data_;
    size_t pos_ = 0;
};

inline void Encoder::attr(const Attr& a) {
    u8(static_cast<uint8_t>(a.type));
    u32(a.mode);
    u32(a.nlink);
    u32(a.uid);
    u32(a.gid);
    u64(a.size);
    u32(a.rdev_major);
    u32(a.rdev_minor);
    time(a.atime);
    time(a.mtime);
    time(a.ctime);
}

inline bool Decoder::attr(Attr& a) {
    uint8_t type;
    if (!u8(type) || type < 1 || type > 7) return false;
    a.type = static_cast<FileType>(type);
    return u32(a.mode) && u32(a.nlink) && u32(a.uid) && u32(a.gid) && u64(a.size) &&
           u32(a.rdev_major) && u32(a.rdev_minor) && time(a.atime) && time(a.mtime) &&
           time(a.ctime);
}

}  // namespace rootfarm::store
