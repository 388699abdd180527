#pragma once

// Option negotiation for a read request: RFC 2347 (framework), 2348 (blksize), 2349 (timeout,
// tsize), 7440 (windowsize).

#include <cstdint>
#include <optional>
#include <vector>

#include "tftpd/packet.h"

namespace rootfarm::tftpd {

struct OptionLimits {
    // RFC 7440 lets the server answer a smaller window; we cap both the count and the bytes a
    // window holds, because each transfer keeps one window in memory.
    uint16_t max_window = 64;
    size_t max_window_bytes = 256 * 1024;
};

struct Negotiated {
    uint16_t block_size = 512;       // RFC 1350 default
    uint16_t window = 1;             // RFC 7440 default: lock-step
    std::optional<uint8_t> timeout;  // seconds, when the client asked for a valid one
    std::vector<Option> oack;        // accepted options in request order; empty = no OACK
};

// Accepts what we support and drops the rest, as RFC 2347 lets a server do by leaving an option
// out of the OACK. `file_size` answers tsize; with netascii the size on the wire differs from
// the file's, so tsize is left out then (as dnsmasq does).
Negotiated negotiate(const std::vector<Option>& requested, Mode mode, uint64_t file_size,
                     const OptionLimits& limits = {});

}  // namespace rootfarm::tftpd
