#pragma once

// A byte range of the source file (one partition), read with pread(2) and bounds-checked: a
// read outside the range or past the end of the file is an error, never a short buffer.

#include <cstddef>
#include <cstdint>

#include "core/result.h"

namespace rootfarm::images {

struct Region {
    int fd = -1;
    uint64_t offset = 0;  // of the range in the file
    uint64_t size = 0;

    // Reads [pos, pos+len) of the range. kTruncated if it lies outside the range or the file
    // ends early; errno codes for I/O errors.
    Result<void> read(uint64_t pos, void* buf, size_t len) const;
};

}  // namespace rootfarm::images
