#pragma once

// Raspberry Pi OS ships its images as .img.xz. An import decompresses one (liblzma) into a
// sparse temporary file and reads that, so the disk holds the image's data, not its zeros.

#include <filesystem>

#include "core/result.h"
#include "images/progress.h"

namespace rootfarm::images {

// Whether the file starts with the .xz stream header magic (xz file format 1.1.0, §2.1.1.1).
bool is_xz(int fd);

// Decompresses `src` into the new file `dst`, leaving all-zero blocks as holes. A damaged or
// truncated stream is ImageErrc::kNotAnImage (logged with the offset reached); a failed write,
// its errno. `dst` is removed on error.
Result<void> decompress_xz(const std::filesystem::path& src, const std::filesystem::path& dst,
                           Progress& progress);

}  // namespace rootfarm::images
