#pragma once

// What the checks of `rootfarm doctor` share: which images the configuration names and
// for which Pi models, and reading an image through the store's pristine view (with its fix-up
// layers), as TFTP and NFS serve it. Nothing here reads the store's directories.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/doctor.h"

namespace rootfarm::cli::doctor {

enum class Model { kPi3, kPi4, kPi5 };
inline constexpr Model kModels[] = {Model::kPi3, Model::kPi4, Model::kPi5};
// "Pi 3", "Pi 4", "Pi 5".
std::string name(Model m);

// What one image must boot.
struct Need {
    std::map<Model, std::string> models;  // model -> an example client MAC
    bool unknown = false;                 // some Pi of unknown model
};

// Each image the configuration names, with the models of the Pis it serves.
std::map<std::string, Need> referenced_images(const Config& config);

// "a, b, c", or "none".
std::string joined(const std::vector<std::string>& parts);

using View = std::shared_ptr<const store::ClientView>;

// The image's pristine view; nullptr when there is none, with the reason added to `report`
// unless it is null (the image check reports it once, the others skip the image).
View open_image(store::Store& store, const std::string& image, Findings* report);

// The names in directory `dir` of the view.
std::vector<std::string> list_dir(const store::ClientView& view, store::ObjectId dir);

// The content (at most 1 MiB) of the file at `path` below `dir`.
Result<std::string> read_path(const store::ClientView& view, store::ObjectId dir,
                              std::initializer_list<std::string_view> path);

}  // namespace rootfarm::cli::doctor
