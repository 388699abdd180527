#pragma once

// Where images and layers live under <state_dir>, and the steps that make an import or a
// removal atomic: temporary directories named after their process, publication by rename(2),
// and the "is a client using it" check.

#include <filesystem>
#include <string>
#include <string_view>

#include "core/config.h"
#include "core/result.h"

namespace rootfarm::images {

std::filesystem::path images_dir(const Config& config);  // <state_dir>/images
std::filesystem::path layers_dir(const Config& config);  // <state_dir>/layers
// The fix-up layer of image `name`: <state_dir>/layers/<name>-fixups.
std::filesystem::path fixup_layer_dir(const Config& config, std::string_view name);

// ".tmp-<what>-<pid>" in `dir`, for this process.
std::filesystem::path temp_path(const std::filesystem::path& dir, std::string_view what);
// Removes the ".tmp-*-<pid>" entries of `dir` whose process is gone (an interrupted import or
// removal). Those of live processes are left alone.
void remove_stale_temps(const std::filesystem::path& dir);

// Makes everything under `tree` durable (syncfs), then renames it to `final` and fsyncs the
// parent. With `replace`, an existing `final` is swapped out atomically (RENAME_EXCHANGE) and
// deleted; without, an existing `final` is kExists and `tree` stays where it is.
Result<void> publish(const std::filesystem::path& tree, const std::filesystem::path& final,
                     bool replace);

// Renames `path` away to a temporary name (atomically, durably), then deletes it.
Result<void> remove_tree(const std::filesystem::path& path);

// kInUse (logged with the client's MAC) if a configured client or a delta uses image `name`.
Result<void> check_unused(const Config& config, std::string_view name);

}  // namespace rootfarm::images
