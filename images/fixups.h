#pragma once

// The generated site layer of an image, <state_dir>/layers/<NAME>-fixups/: the changes a
// network-booted Pi needs, kept out of the imported image so it stays byte-for-byte the
// vendor's. The image names it in its `layers` file, so the store stacks it on the image
// (store/image_index.h). Layout, like an image (images/import.h):
//   root/etc/fstab   the image's fstab without the SD card lines for / and /boot*
//   boot/ssh         empty, when [image] enable_ssh (Raspberry Pi OS enables sshd on seeing it)
//   metadata         owner and mode of the layer's files, and with [image] setcap_fallback
//                    setuid root for the image's files that carry file capabilities
//                    (store/image_metadata.h format; keys are paths of the merged image)
// Directories in the layer exist only to hold these files and have no metadata lines: the
// merged view takes directory attributes from the image.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/result.h"

namespace rootfarm::images {

// Writes the layer for the image tree in `image_dir` (root/, boot/, metadata, capabilities)
// into the new directory `layer_dir`. Returns one line per fix-up, each also logged.
Result<std::vector<std::string>> build_fixup_layer(const Config& config,
                                                   const std::filesystem::path& image_dir,
                                                   const std::filesystem::path& layer_dir);

// Regenerates <state_dir>/layers/<name>-fixups/ for the imported image `name` from the current
// configuration (e.g. after [image] enable_ssh changed), replacing the old layer atomically.
Result<std::vector<std::string>> write_fixup_layer(const Config& config, std::string_view name);

// A security.capability xattr (struct vfs_cap_data) in getcap's notation, e.g.
// "cap_net_raw=ep"; "?" for a value it cannot decode.
std::string describe_capability(std::string_view xattr);

// fstab text without the lines that mount the SD card's partitions on / or /boot*: those name
// the card by PARTUUID=, LABEL= or /dev/mmcblk*, which a network-booted Pi does not have, and
// systemd would wait for them. `removed` receives the dropped lines.
std::string strip_sd_card_mounts(std::string_view fstab, std::vector<std::string>& removed);

}  // namespace rootfarm::images
