#pragma once

// What the journal and snapshot targets share: a scratch directory for the store's files, the
// input split into record payloads, and the replay step of ClientViewImpl::replay
// (store/view_state.cc): decode_ops, then DeltaState::apply for each operation.

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store/delta.h"

namespace rootfarm::fuzz {

// <tmp>/rootfarm-<name>-fuzz-<pid>, created once per process and emptied per input. TMPDIR on a
// tmpfs (scripts/fuzz.sh uses /dev/shm) keeps the fdatasyncs of the journal cheap.
inline std::filesystem::path scratch_dir(std::string_view name) {
    static const std::filesystem::path dir = [&] {
        auto d = std::filesystem::temp_directory_path() /
                 ("rootfarm-" + std::string(name) + "-fuzz-" + std::to_string(::getpid()));
        std::filesystem::create_directories(d);
        return d;
    }();
    return dir;
}

inline void write_bytes(const std::filesystem::path& path, std::span<const uint8_t> data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data.data()),
              static_cast<std::streamsize>(data.size()));
    if (!out) std::abort();
}

// Payloads for the store's own writer, so mutations reach decode_ops past the checksums:
// each is a little-endian u16 length and that many bytes (the last one may be cut short).
inline std::vector<std::string> split_payloads(std::span<const uint8_t> data) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i + 2 <= data.size()) {
        size_t n = data[i] | size_t{data[i + 1]} << 8;
        i += 2;
        n = std::min(n, data.size() - i);
        out.emplace_back(reinterpret_cast<const char*>(data.data() + i), n);
        i += n;
    }
    return out;
}

// A delta rebuilt from records, counting the records it accepted.
struct Replayed {
    store::DeltaState state;
    size_t records = 0;

    bool apply(std::string_view payload) {
        std::vector<store::Op> ops;
        if (!store::decode_ops(payload, ops)) return false;
        for (const store::Op& op : ops) state.apply(op);
        ++records;
        return true;
    }
};

// The state a snapshot of `r` replays to must be the same size as `r`: compaction loses
// nothing a replay had built.
inline void check_snapshot_round_trip(const store::DeltaState& state) {
    Replayed again;
    for (const std::string& record : state.snapshot()) {
        if (!again.apply(record)) std::abort();
    }
    if (again.state.objects.size() != state.objects.size() ||
        again.state.entries != state.entries || again.state.data_bytes != state.data_bytes) {
        std::abort();
    }
}

}  // namespace rootfarm::fuzz
