#pragma once

// The boot partition: a FAT16/FAT32 volume (images/fat.h) copied into a TreeWriter.

#include "core/result.h"
#include "images/region.h"
#include "images/tree_writer.h"

namespace rootfarm::images {

// Entries get the attributes Linux vfat shows with Raspberry Pi OS's default mount options
// (fmask = dmask = 0022): owner root, directories 0755, files 0755, or 0555 when the FAT
// read-only attribute is set.
Result<void> import_fat(const Region& partition, TreeWriter& out);

}  // namespace rootfarm::images
