#pragma once

// The small text files an import writes beside the trees (metadata, capabilities, import.info,
// the fix-up layer's files) and reads back.

#include <sys/types.h>

#include <filesystem>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace rootfarm::images {

// The lines of `text`, without their '\n'; a final line without one is included.
std::vector<std::string_view> split_lines(std::string_view text);

// Creates `path` (which must not exist) with `data` and `mode`. Durability comes later, from
// the syncfs before the tree is published (catalog.h).
Result<void> write_new_file(const std::filesystem::path& path, std::string_view data, mode_t mode);

}  // namespace rootfarm::images
