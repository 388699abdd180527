#pragma once

// `rootfarm image import | list | rm`: the golden images under <state_dir>/images/.
//
// An import reads a Raspberry Pi OS disk image (MBR or GPT; FAT16/FAT32 boot partition read by
// images/fat.h, ext2/3/4 root partition read through libext2fs) or a directory, as an ordinary
// user: no loop device, no mount, no root. It writes
//   <state_dir>/images/<NAME>/root/        the root tree, plain files owned by the importer
//   <state_dir>/images/<NAME>/boot/        the boot tree
//   <state_dir>/images/<NAME>/metadata     owner, group, mode (incl. setuid/setgid/sticky) and
//                                          device numbers of every entry (store/image_metadata.h)
//   <state_dir>/images/<NAME>/import.info  source, time and counts, for `image list`
//   <state_dir>/images/<NAME>/capabilities paths with file capabilities (key TAB hex xattr)
//   <state_dir>/images/<NAME>/layers       "<NAME>-fixups": the store stacks that layer on it
//   <state_dir>/layers/<NAME>-fixups/      the generated site layer (images/fixups.h)
// Files on disk carry the data, symlink targets, hard links, sparseness and nanosecond
// atime/mtime; their own modes are the image's permission bits without setuid/setgid/sticky and
// with owner read (files) or owner rwx (directories) added, so the server can read them and
// `image rm` can delete them. Devices, fifos and sockets are empty placeholder files. The
// metadata file is authoritative for everything else.
//
// Everything is written under <state_dir>/images/.tmp-<NAME>-<pid>/ and published with one
// rename(2) and an fsync of images/: an interrupted import leaves no <NAME>; its temporary
// directory is removed by the next import once process <pid> is gone.
//
// Errors: the detail (file, offset, path in the image) is logged once with core_log(); the
// returned code is an ImageErrc (images/errors.h) or an errno code, and its message() is a
// one-line summary suitable for the CLI.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/result.h"
#include "images/errors.h"

namespace rootfarm::images {

struct ImportOptions {
    // Replace an existing image of the same name (atomically, with renameat2 RENAME_EXCHANGE).
    // Refused like `image rm` while a client uses the image.
    bool replace = false;
    bool progress = true;  // draw a progress bar when stderr is a terminal
};

struct ImportReport {
    uint64_t files = 0;  // regular files (each hard-linked inode once)
    uint64_t dirs = 0;   // including the two tree tops
    uint64_t symlinks = 0;
    uint64_t devices = 0;             // character and block devices, fifos and sockets
    uint64_t hardlinks = 0;           // extra names of an already imported inode
    uint64_t bytes = 0;               // file data written (holes excluded)
    std::vector<std::string> fixups;  // one line per fix-up of the site layer, also logged
};

Result<ImportReport> import_image(const Config& config, const std::filesystem::path& source,
                                  std::string_view name, const ImportOptions& options);

struct ImageInfo {
    std::string name;
    uint64_t bytes = 0;       // file data stored, holes excluded (hand-made: blocks used)
    uint64_t files = 0;       // regular files
    std::string imported_at;  // ISO 8601 UTC; for a hand-made image, its directory's mtime
};

// Every image, sorted by name. Hand-made images (no import.info) are walked to count them.
Result<std::vector<ImageInfo>> list_images(const Config& config);

// Removes the image and its fix-up layer, atomically (renamed away, then deleted). kInUse if a
// client is configured for it (ClientConfig::image, or DefaultsConfig::image for clients
// without one; the default image counts as used) or has a delta on it
// (<state_dir>/clients/*/delta.meta).
Result<void> remove_image(const Config& config, std::string_view name);

}  // namespace rootfarm::images
