// The fstab check of `rootfarm doctor`: an image's /etc/fstab (with its fix-up layers) names no
// SD-card partition.

#include <sstream>

#include "cli/doctor_store.h"

namespace rootfarm::cli::doctor {

Findings check_fstab(const Config& config, store::Store& store) {
    Findings out;
    for (const auto& [image, need] : referenced_images(config)) {
        View view = open_image(store, image, nullptr);
        if (!view) continue;
        auto text = read_path(*view, view->root(), {"etc", "fstab"});
        if (!text) {
            if (text.error() == std::errc::no_such_file_or_directory) {
                out.push_back(
                    {Severity::kOk, "fstab", "image " + image + " has no /etc/fstab", ""});
            } else {
                out.push_back(
                    {Severity::kProblem, "fstab",
                     "image " + image + ": /etc/fstab cannot be read: " + text.error().message(),
                     "check the file in the image"});
            }
            continue;
        }
        std::istringstream in(*text);
        std::string line;
        int number = 0, flagged = 0;
        while (std::getline(in, line)) {
            ++number;
            std::istringstream fields(line);
            std::string device, mount_point, type, options;
            if (!(fields >> device) || device[0] == '#') continue;
            fields >> mount_point >> type >> options;
            // Raspberry Pi OS names the SD card's partitions by PARTUUID (docs/pi-boot.md "Boot
            // and root"); over NFS there is no such disk and systemd waits for it, then drops to
            // the emergency shell. A UUID= elsewhere may be a USB disk the Pi really has.
            const bool sd_card = device.starts_with("PARTUUID=") || device.starts_with("LABEL=") ||
                                 device.starts_with("/dev/mmcblk");
            const bool root_or_boot = mount_point == "/" || mount_point.starts_with("/boot");
            if (!sd_card && !(device.starts_with("UUID=") && root_or_boot)) continue;
            ++flagged;
            const bool nofail = ("," + options + ",").find(",nofail,") != std::string::npos;
            out.push_back({nofail ? Severity::kWarning : Severity::kProblem, "fstab",
                           "image " + image + ": /etc/fstab line " + std::to_string(number) +
                               " mounts " + mount_point + " from the SD card (" + device + ")" +
                               (nofail ? ", nofail: the boot waits for it, then goes on" : ""),
                           "remove the line: re-import the image (the import drops it in its "
                           "fix-up layer), or put an fstab without it in a layer of the image"});
        }
        if (flagged == 0) {
            out.push_back({Severity::kOk, "fstab",
                           "image " + image + ": /etc/fstab names no SD-card partition", ""});
        }
    }
    return out;
}

}  // namespace rootfarm::cli::doctor
