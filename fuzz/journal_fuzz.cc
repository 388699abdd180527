// Replay of a client's journal (store/journal.h) as ClientViewImpl::replay does it at start:
// framed records checked and cut at the first torn or damaged one, each payload decoded into
// delta operations (store/delta.h) and applied.
//
// Input: byte 0 picks the mode. Even: the rest is the journal file as it lies on disk. Odd: the
// rest is a list of payloads (replay_util.h) that Journal::append writes first, so that
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
    const auto path = scratch_dir("journal") / "journal";
    std::filesystem::remove(path);
    std::span<const uint8_t> rest(data + 1, size - 1);
    if (data[0] & 1) {
        auto writer = store::Journal::open(*store::Env::Default(), path, [](std::string_view) { return true; });
        if (!writer.ok()) std::abort();
        for (const std::string& payload : split_payloads(rest)) {
            if (!(*writer)->append(payload).ok()) std::abort();
        }
    } else {
        write_bytes(path, rest);
    }

    Replayed first;
    auto journal = store::Journal::open(*store::Env::Default(), path, [&](std::string_view p) { return first.apply(p); });
    if (!journal.ok()) return 0;  // a record that does not decode: EIO, as the store reports
    check_snapshot_round_trip(first.state);

    // After the torn tail is cut, an appended record must follow the intact ones on replay.
    store::Op op;
    op.kind = store::Op::Kind::kNextId;
    op.id = 42;
    if (!(*journal)->append(store::encode_ops({&op, 1})).ok()) std::abort();
    journal->reset();
    Replayed second;
    auto again = store::read_journal(*store::Env::Default(), path, [&](std::string_view p) { return second.apply(p); });
    if (!again.ok() || !*again || second.records != first.records + 1) std::abort();
    return 0;
}
