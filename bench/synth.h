#pragma once

// A demo image the bench creates, and a SYNTHETIC boot trace over it. The trace is generated
// from the call mix docs/pi-boot.md ("What the kernel client sends") measured for a real kernel boot (debootstrap minbase root plus
// a file-system self-test, ~9,000 calls); it is not a recording. A trace recorded with
// `[nfs] trace = PATH` from the end-to-end VM boot replaces it.

#include <cstdint>
#include <filesystem>

#include "bench/trace.h"
#include "core/result.h"

namespace rootfarm::bench {

struct ImageSpec {
    uint64_t kernel_bytes = 8u << 20;    // kernel8.img; a Pi OS arm64 kernel is ~8-9 MB
    uint64_t start_bytes = 2270u << 10;  // start4.elf of current firmware
};

// Writes <dir>/root (a small Debian-like tree: usr/bin, usr/lib with .so symlinks, etc, var,
// merged-/usr symlinks) and <dir>/boot (the Pi 4 firmware files the bench fetches). Contents
// are deterministic pseudo-random bytes, so no layer can shortcut zeros.
Result<void> make_image(const std::filesystem::path& dir, const ImageSpec& spec);

// The measured call mix, in Proc order.
extern const uint64_t kMeasuredMix[kProcCount];

// Generates a trace over `root` (an image made by make_image) whose call mix approximates
// kMeasuredMix. It leaves the client's view as it found it (every name it creates is removed),
// so it can be replayed again against the same server state.
Trace generate_trace(const std::filesystem::path& root, uint64_t seed);

}  // namespace rootfarm::bench
