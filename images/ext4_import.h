#pragma once

// The root partition: an ext2/3/4 filesystem read through libext2fs straight from the image
// file (unix_io with an "offset=" option), copied into a TreeWriter.

#include <filesystem>
#include <string>
#include <vector>

#include "core/result.h"
#include "images/progress.h"
#include "images/region.h"
#include "images/tree_writer.h"

namespace rootfarm::images {

// A file with a security.capability xattr (file capabilities do not cross NFS).
struct CapabilityFile {
    std::string key;    // metadata key, "root/usr/bin/ping"
    std::string value;  // the raw xattr (struct vfs_cap_data)
};

// Whether the partition starts with an ext2/3/4 superblock (magic 0xef53 at byte 1080).
bool has_ext_superblock(const Region& partition);

// Copies the filesystem in `partition` of the image `file` into `out`, and appends the files
// that carry capabilities to `caps`. kTruncated if the filesystem is larger than its partition
// or the file ends early; kCorruptExt4 for anything libext2fs or our checks reject.
Result<void> import_ext4(const std::filesystem::path& file, const Region& partition,
                         TreeWriter& out, Progress& progress, std::vector<CapabilityFile>& caps);

}  // namespace rootfarm::images
