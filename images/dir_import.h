#pragma once

// A directory SOURCE: a tree copied as it is (e.g. an image unpacked by hand, or the root and
// boot directories of another rootfarm). Owners, modes and device numbers come from lstat, so
// a tree copied with `cp -a` as root keeps them; the import itself needs no privilege.

#include <filesystem>
#include <vector>

#include "core/result.h"
#include "images/ext4_import.h"
#include "images/tree_writer.h"

namespace rootfarm::images {

// Copies `source` (a directory) into `out`; files with a security.capability xattr are
// appended to `caps` with keys under `tree` ("root" or "boot").
Result<void> import_directory(const std::filesystem::path& source, const std::string& tree,
                              TreeWriter& out, std::vector<CapabilityFile>& caps);

}  // namespace rootfarm::images
