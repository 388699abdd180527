#include "tftpd/options.h"

#include <algorithm>
#include <charconv>
#include <string>

namespace rootfarm::tftpd {
namespace {

// A decimal number with nothing else around it; nullopt for "", "12a", "-1", overflow.
std::optional<uint64_t> parse_number(const std::string& s) {
    uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) return std::nullopt;
    return v;
}

}  // namespace

Negotiated negotiate(const std::vector<Option>& requested, Mode mode, uint64_t file_size,
                     const OptionLimits& limits) {
    Negotiated n;
    std::optional<uint64_t> window_request;
    size_t window_index = 0;
    for (const Option& opt : requested) {
        auto value = parse_number(opt.value);
        if (!value) continue;  // RFC 2347: an option the server cannot use is left out
        if (opt.name == "blksize") {
            // RFC 2348: valid 8..65464; for more, the server may answer a smaller size.
            if (*value < 8) continue;
            n.block_size = static_cast<uint16_t>(std::min<uint64_t>(*value, kMaxBlockSize));
            n.oack.push_back({opt.name, std::to_string(n.block_size)});
        } else if (opt.name == "timeout") {
            // RFC 2349: 1..255 seconds; the server must answer the same value or leave it out.
            if (*value < 1 || *value > 255) continue;
            n.timeout = static_cast<uint8_t>(*value);
            n.oack.push_back({opt.name, std::to_string(*value)});
        } else if (opt.name == "tsize") {
            // RFC 2349: a read request carries 0 and the server answers the size.
            if (mode == Mode::kNetascii) continue;
            n.oack.push_back({opt.name, std::to_string(file_size)});
        } else if (opt.name == "windowsize") {
            // RFC 7440: 1..65535; the server may answer a smaller window. It depends on the
            // block size, which may come later in the request, so it is settled below.
            if (*value < 1 || *value > 65535) continue;
            window_request = *value;
            window_index = n.oack.size();
            n.oack.push_back({opt.name, ""});
        }
    }
    if (window_request) {
        size_t by_bytes = std::max<size_t>(1, limits.max_window_bytes / n.block_size);
        uint64_t w = std::min<uint64_t>({*window_request, limits.max_window, by_bytes});
        n.window = static_cast<uint16_t>(std::max<uint64_t>(w, 1));
        n.oack[window_index].value = std::to_string(n.window);
    }
    return n;
}

}  // namespace rootfarm::tftpd
