#include "tftpd/source.h"

#include <algorithm>
#include <cstring>

namespace rootfarm::tftpd {

void read_source(Loop& loop, const Source& source, uint64_t offset, std::span<uint8_t> buf,
                 std::function<void(int)> done) {
    if (buf.empty()) return done(0);
    if (source.in_memory) {
        std::memcpy(buf.data(), source.memory.data() + offset, buf.size());
        return done(0);
    }
    if (!source.file) {
        std::memset(buf.data(), 0, buf.size());
        return done(0);
    }
    loop.read_at(source.file->fd(), offset, buf,
                 [&loop, &source, offset, buf, done = std::move(done)](int res) mutable {
                     if (res < 0) return done(res);
                     auto got = static_cast<size_t>(res);
                     if (got == 0) {
                         // The backing file ends before attr.size: the rest is a hole.
                         std::memset(buf.data(), 0, buf.size());
                         return done(0);
                     }
                     if (got >= buf.size()) return done(0);
                     read_source(loop, source, offset + got, buf.subspan(got), std::move(done));
                 });
}

void read_whole(Loop& loop, Source source, uint64_t max_size,
                std::function<void(Result<std::string>)> done) {
    if (source.in_memory) return done(std::move(source.memory));
    if (source.size > max_size) return done(std::errc::file_too_large);
    struct State {
        Source source;
        std::string bytes;
        std::function<void(Result<std::string>)> done;
    };
    auto state = std::make_shared<State>();
    state->source = std::move(source);
    state->bytes.resize(state->source.size);
    state->done = std::move(done);
    std::span<uint8_t> buf(reinterpret_cast<uint8_t*>(state->bytes.data()), state->bytes.size());
    read_source(loop, state->source, 0, buf, [state](int res) {
        if (res < 0) return state->done(errno_error(-res));
        state->done(std::move(state->bytes));
    });
}

std::string to_netascii(std::string_view text) {
    std::string out;
    out.reserve(text.size() + text.size() / 16);
    for (char c : text) {
        if (c == '\n') {
            out += "\r\n";
        } else if (c == '\r') {
            out += '\r';
            out += '\0';
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace rootfarm::tftpd
