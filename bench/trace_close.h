#pragma once

// Closing a recorded trace so it replays again against the same client. A boot leaves its
// root changed (logs created, /var/lib state renamed into place, stale files removed); a second
// replay of the same calls against that client would then answer EXIST where the first
// answered OK, NOENT where it found a file, and fail. The synthetic trace removes what it
// creates; a recording needs closing calls appended: computed here by following the trace's
// namespace calls over the image tree it was recorded on.

#include <filesystem>
#include <vector>

#include "bench/trace.h"

namespace rootfarm::bench {

// The calls that bring every name the trace created, removed or renamed back to what `root`
// (the image's root tree on disk, as the recording started from it) holds: names it added are
// removed (deepest first); image names it removed are made again with the same type, mode,
// size and symlink target (file contents are pattern bytes: a replay never checks them).
// Limits: the contents of files already in the image that the trace rewrote are not restored
// (no status depends on them), nor are image entries below a directory the trace renamed away.
std::vector<TraceOp> closing_ops(const Trace& trace, const std::filesystem::path& root);

}  // namespace rootfarm::bench
