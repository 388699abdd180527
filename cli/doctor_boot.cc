// The boot files check of `rootfarm doctor`: a kernel, and the firmware of each Pi model an
// image serves.

#include <algorithm>
#include <set>

#include "cli/doctor_store.h"

namespace rootfarm::cli::doctor {
namespace {

// The files a model's firmware reads before the kernel (docs/pi-boot.md "Pi: TFTP"); empty
// when all are there.
std::vector<std::string> missing_for(Model m, const std::set<std::string>& files) {
    std::vector<std::string> missing;
    auto need = [&](const std::string& f) {
        if (!files.contains(f)) missing.push_back(f);
    };
    switch (m) {
        case Model::kPi3:
            need("bootcode.bin");
            need("start.elf");
            break;
        case Model::kPi4:
            need("start4.elf");
            break;
        case Model::kPi5:
            // No start.elf: the EEPROM reads config.txt, the kernel and the dtb itself.
            need("config.txt");
            if (std::none_of(files.begin(), files.end(), [](const std::string& f) {
                    return f.starts_with("bcm2712") && f.ends_with(".dtb");
                })) {
                missing.push_back("a bcm2712 dtb (bcm2712-rpi-5-b.dtb)");
            }
            break;
    }
    return missing;
}

}  // namespace

Findings check_images(const Config& config, store::Store& store) {
    Findings out;
    for (const auto& [image, need] : referenced_images(config)) {
        View view = open_image(store, image, &out);
        if (!view) continue;
        const std::vector<std::string> names = list_dir(*view, view->boot_root());
        const std::set<std::string> files(names.begin(), names.end());
        const std::string fix_boot =
            "copy the Raspberry Pi firmware files into the image's boot partition (re-import "
            "a Raspberry Pi OS image)";
        // kernel.img, kernel7l.img, kernel8.img, kernel_2712.img (Pi firmware); vmlinuz* (iPXE).
        const bool kernel = std::any_of(files.begin(), files.end(), [](const std::string& f) {
            return (f.starts_with("kernel") && f.ends_with(".img")) || f.starts_with("vmlinuz");
        });
        if (!kernel) {
            out.push_back(
                {Severity::kProblem, "image",
                 "image " + image + " has no kernel (kernel*.img or vmlinuz*) in its boot files",
                 fix_boot});
        }
        for (const auto& [model, mac] : need.models) {
            auto missing = missing_for(model, files);
            if (missing.empty()) {
                out.push_back({Severity::kOk, "image",
                               "image " + image + " has the boot files of a " + name(model) + " (" +
                                   mac + ")",
                               ""});
            } else {
                out.push_back({Severity::kProblem, "image",
                               "image " + image + " cannot boot " + mac + " (a " + name(model) +
                                   " by its MAC prefix): missing " + joined(missing),
                               fix_boot});
            }
        }
        if (!need.unknown) continue;
        std::vector<std::string> boots;
        for (Model m : kModels) {
            if (missing_for(m, files).empty()) boots.push_back(name(m));
        }
        if (boots.empty()) {
            out.push_back({Severity::kProblem, "image",
                           "image " + image +
                               " has the complete boot files of no Pi model (Pi 3: "
                               "bootcode.bin + start.elf, Pi 4: start4.elf, Pi 5: "
                               "config.txt + bcm2712-rpi-5-b.dtb)",
                           fix_boot});
        } else {
            out.push_back({Severity::kOk, "image",
                           "image " + image + " can boot " + joined(boots) +
                               (kernel ? "" : " (once it has a kernel)"),
                           ""});
        }
    }
    return out;
}

}  // namespace rootfarm::cli::doctor
