// Replay of a client's snapshot (store/journal.h read_snapshot) as ClientViewImpl::replay does
// it before the journal: every record must be intact (a damaged snapshot is EIO), each payload
// decoded into delta operations (store/delta.h) and applied.
//
// Input: byte 0 picks the mode. Even: the rest is the snapshot file as it lies on disk. Odd:
// the rest is a list of payloads (replay_util.h) that write_snapshot writes first, so that
// mutations get past the checksums into decode_ops.

#include <cstdint>
#include <cstdlib>
#include <span>

#include "fuzz/fuzz_util.h"
#include "fuzz/replay_util.h"
#include "store/journal.h"

using namespace rootfarm;
using namespace rootfarm::fuzz;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    quiet_logs();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const auto path = scratch_dir("snapshot") / "snapshot";
    std::span<const uint8_t> rest(data + 1, size - 1);
    if (data[0] & 1) {
        if (!store::write_snapshot(*store::Env::Default(), path, split_payloads(rest)).ok()) std::abort();
    } else {
        write_bytes(path, rest);
    }
    Replayed replayed;
    auto r = store::read_snapshot(*store::Env::Default(), path, [&](std::string_view p) { return replayed.apply(p); });
    if (!r.ok()) return 0;  // damaged: EIO, the client's delta does not load
    if (!*r) std::abort();  // the file is there
    check_snapshot_round_trip(replayed.state);
    return 0;
}
