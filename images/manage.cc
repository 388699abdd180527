// `rootfarm image list` and `rootfarm image rm`.

#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <set>

#include "images/catalog.h"
#include "images/import.h"
#include "images/text_file.h"
#include "store/env.h"

namespace rootfarm::images {

namespace {

std::string iso_time(time_t t) {
    tm tm;
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// import.info: "key value" lines. False if the file is missing or lacks a count.
bool read_info(const std::filesystem::path& path, ImageInfo& info) {
    Result<std::string> text = store::Env::Default()->read_file(path);
    if (!text) return false;
    bool have_files = false, have_bytes = false;
    for (std::string_view line : split_lines(*text)) {
        size_t space = line.find(' ');
        if (space == std::string_view::npos) continue;
        std::string_view key = line.substr(0, space), value = line.substr(space + 1);
        const char* end = value.data() + value.size();
        if (key == "imported_at") info.imported_at = value;
        if (key == "files")
            have_files = std::from_chars(value.data(), end, info.files).ec == std::errc{};
        if (key == "bytes")
            have_bytes = std::from_chars(value.data(), end, info.bytes).ec == std::errc{};
    }
    return have_files && have_bytes;
}

// A hand-made image: count its regular files (each inode once, like an import) and the bytes
// they occupy.
void walk_counts(const std::filesystem::path& dir, ImageInfo& info) {
    std::error_code ec;
    info.files = info.bytes = 0;
    std::set<std::pair<dev_t, ino_t>> seen;
    for (const char* tree : {"root", "boot"}) {
        auto it = std::filesystem::recursive_directory_iterator(
            dir / tree, std::filesystem::directory_options::skip_permission_denied, ec);
        for (; !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
            struct stat st;
            if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
            if (st.st_nlink > 1 && !seen.emplace(st.st_dev, st.st_ino).second) continue;
            ++info.files;
            info.bytes += static_cast<uint64_t>(st.st_blocks) * 512;
        }
    }
}

}  // namespace

Result<std::vector<ImageInfo>> list_images(const Config& config) {
    std::vector<ImageInfo> out;
    std::error_code ec;
    std::filesystem::directory_iterator it(images_dir(config), ec);
    if (ec) {
        if (ec == std::errc::no_such_file_or_directory) return out;
        return system_error(ec.value(), "list " + images_dir(config).string());
    }
    for (const auto& entry : it) {
        std::string name = entry.path().filename().string();
        if (!valid_image_name(name) || !entry.is_directory(ec)) continue;
        ImageInfo info;
        info.name = name;
        if (!read_info(entry.path() / "import.info", info)) {
            walk_counts(entry.path(), info);
            struct stat st;
            if (::stat(entry.path().c_str(), &st) == 0) info.imported_at = iso_time(st.st_mtime);
        }
        out.push_back(std::move(info));
    }
    std::sort(out.begin(), out.end(),
              [](const ImageInfo& a, const ImageInfo& b) { return a.name < b.name; });
    return out;
}

Result<void> remove_image(const Config& config, std::string_view name) {
    if (!valid_image_name(name)) {
        return image_error(ImageErrc::kBadName, "\"{}\" is not a valid image name", name);
    }
    std::filesystem::path image = images_dir(config) / std::string(name);
    std::error_code ec;
    if (!std::filesystem::is_directory(image, ec)) {
        return image_error(ImageErrc::kNotFound, "no image {} in {}", name,
                           images_dir(config).string());
    }
    if (auto r = check_unused(config, name); !r) return r;
    remove_stale_temps(images_dir(config));
    if (auto r = remove_tree(image); !r) return r;
    std::filesystem::path layer = fixup_layer_dir(config, name);
    if (std::filesystem::exists(layer, ec)) {
        if (auto r = remove_tree(layer); !r) return r;
    }
    core_log().info("image {} removed", name);
    return {};
}

}  // namespace rootfarm::images
