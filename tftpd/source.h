#pragma once

// What a transfer sends: a file of the store (read with io_uring as the transfer goes) or bytes
// held in memory (a generated cmdline.txt, a file converted to netascii).

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/loop.h"
#include "core/result.h"
#include "store/store.h"

namespace rootfarm::tftpd {

struct Source {
    std::shared_ptr<store::BackingFile> file;  // nullptr: empty/all-hole file, or `memory`
    uint64_t size = 0;
    bool in_memory = false;
    std::string memory;

    static Source from_file(const store::ReadTarget& target) {
        return Source{target.file, target.attr.size, false, {}};
    }
    static Source from_memory(std::string bytes) {
        uint64_t n = bytes.size();
        return Source{nullptr, n, true, std::move(bytes)};
    }
};

// Fills buf with the source's bytes at [offset, offset + buf.size()), which must lie below
// size, then calls done (0 or -errno) on the loop thread. Bytes past the backing file's end read
// as zeros (store.h ReadTarget). A short read is continued, so one call may take several reads.
// `buf` and `source` must stay valid until done runs.
void read_source(Loop& loop, const Source& source, uint64_t offset, std::span<uint8_t> buf,
                 std::function<void(int)> done);

// The whole source as a string, for small files (cmdline.txt, netascii); EFBIG above max_size.
void read_whole(Loop& loop, Source source, uint64_t max_size,
                std::function<void(Result<std::string>)> done);

// RFC 1350 / RFC 764: netascii sends a line end as CR LF and a bare CR as CR NUL. Unix text
// files end lines with LF, so LF becomes CR LF and CR becomes CR NUL.
std::string to_netascii(std::string_view text);

}  // namespace rootfarm::tftpd
