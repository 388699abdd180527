#pragma once

// The optional attribute file of an image, `<state_dir>/images/<name>/metadata`.
//
// A hand-made image (the two partitions copied with `cp -a` as root) needs none: owners, modes
// and device numbers come from the files. An image imported by an ordinary user (`rootfarm
// image import`) cannot chown files or mknod devices, so the importer writes here what the
// files cannot carry. Format, UTF-8 text, one line per path:
//
//   # comment lines and empty lines are ignored
//   <key> TAB <type> TAB <mode> TAB <uid> TAB <gid> [TAB <major> TAB <minor>]
//
//   key    "root/<path>" or "boot/<path>": the tree and the path inside it, no leading or
//          trailing slash ("root" alone is the root tree's top directory). Backslash, tab and
//          newline in a path are written \\, \t and \n.
//   type   f regular, d directory, l symlink, c char device, b block device, p fifo, s socket
//   mode   permission bits in octal, including setuid/setgid/sticky (e.g. 4755)
//   uid    numeric owner; gid numeric group
//   major, minor   device numbers, decimal, for c and b
//
// For f, d and l the file must exist with that type (the line only sets owner and mode). For
// c, b, p and s the file may be missing (the node is added to the image) or be an empty
// regular placeholder (it becomes the device, fifo or socket). Bad lines are logged and
// skipped, never fatal.

#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_map>

#include "store/store.h"

namespace rootfarm::store {

struct MetadataEntry {
    FileType type = FileType::kRegular;
    uint32_t mode = 0;
    uint32_t uid = 0;
    uint32_t gid = 0;
    uint32_t rdev_major = 0;
    uint32_t rdev_minor = 0;
};

// key -> entry. Missing file: empty.
std::unordered_map<std::string, MetadataEntry> parse_image_metadata(std::string_view text,
                                                                    std::string_view source);
std::unordered_map<std::string, MetadataEntry> load_image_metadata(
    const std::filesystem::path& path);

// One line of the format above (with its newline), for the importer and for tests.
std::string format_metadata_line(const std::string& key, const MetadataEntry& entry);

}  // namespace rootfarm::store
