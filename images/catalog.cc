#include "images/catalog.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

#include "images/errors.h"
#include "images/import.h"
#include "store/env.h"
#include "store/store.h"

namespace rootfarm::images {

namespace {

constexpr std::string_view kTempPrefix = ".tmp-";

bool process_alive(pid_t pid) {
    return ::kill(pid, 0) == 0 || errno == EPERM;
}

}  // namespace

std::filesystem::path images_dir(const Config& config) {
    return config.state_dir / "images";
}
std::filesystem::path layers_dir(const Config& config) {
    return config.state_dir / "layers";
}

std::filesystem::path fixup_layer_dir(const Config& config, std::string_view name) {
    return layers_dir(config) / (std::string(name) + "-fixups");
}

std::filesystem::path temp_path(const std::filesystem::path& dir, std::string_view what) {
    return dir / (std::string(kTempPrefix) + std::string(what) + "-" + std::to_string(::getpid()));
}

void remove_stale_temps(const std::filesystem::path& dir) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        std::string name = entry.path().filename().string();
        if (!name.starts_with(kTempPrefix)) continue;
        size_t dash = name.rfind('-');
        pid_t pid = 0;
        auto [end, err] = std::from_chars(name.data() + dash + 1, name.data() + name.size(), pid);
        if (err != std::errc{} || end != name.data() + name.size() || pid <= 0) continue;
        if (process_alive(pid)) continue;
        core_log().info("removing {} left by an interrupted import (process {} is gone)",
                        entry.path().string(), pid);
        std::filesystem::remove_all(entry.path(), ec);
        if (ec) core_log().warn("removing {}: {}", entry.path().string(), ec.message());
    }
}

Result<void> publish(const std::filesystem::path& tree, const std::filesystem::path& final,
                     bool replace) {
    store::Env& env = *store::Env::Default();
    // One syncfs instead of an fsync per file: the tree is complete on disk before its name
    // appears, so a crash after the rename cannot expose missing data.
    if (Result<void> r = env.sync_filesystem(tree); !r) return system_error(r.failure());
    bool exchanged = false;
    if (Result<void> r = env.rename(tree, final, RENAME_NOREPLACE); !r) {
        if (r.error() != std::errc::file_exists) return system_error(r.failure());
        if (!replace) {
            return image_error(ImageErrc::kExists, "{} exists (use --replace)", final.string());
        }
        if (Result<void> x = env.rename(tree, final, RENAME_EXCHANGE); !x) {
            return system_error(x.failure());
        }
        exchanged = true;
    }
    if (Result<void> r = env.sync_dir(final.parent_path()); !r) return system_error(r.failure());
    if (exchanged) {
        // `tree` now holds the previous version; its temporary name keeps it out of sight.
        if (Result<void> r = env.remove_all(tree); !r) {
            core_log().warn("removing the replaced image: {}", r.message());
        }
    }
    return {};
}

Result<void> remove_tree(const std::filesystem::path& path) {
    store::Env& env = *store::Env::Default();
    std::filesystem::path doomed = temp_path(path.parent_path(), path.filename().string());
    if (Result<void> r = env.rename(path, doomed); !r) return system_error(r.failure());
    if (Result<void> r = env.sync_dir(path.parent_path()); !r) return system_error(r.failure());
    if (Result<void> r = env.remove_all(doomed); !r) return system_error(r.failure());
    return {};
}

Result<void> check_unused(const Config& config, std::string_view name) {
    // The default image is what a client without its own `image` boots, and what TFTP serves
    // to unknown clients, so it counts as used even with no [[client]] table.
    if (config.defaults.image == name) {
        return image_error(ImageErrc::kInUse, "image {} is [defaults] image", name);
    }
    for (const ClientConfig& c : config.clients) {
        if (c.image == name) {
            return image_error(ImageErrc::kInUse, "image {} is configured for client {}", name,
                               c.mac.to_string());
        }
    }
    // An overlay records the image it was made on; dropping that image would leave the
    // overlay's object ids pointing nowhere. The store says which images overlays are on.
    store::StoreOptions options;
    options.state_dir = config.state_dir;
    options.boot_mount = config.store.boot_mount;
    Result<std::unique_ptr<store::Store>> st = store::Store::open(options);
    if (!st) return st.error();
    for (const MacAddr& mac : (*st)->clients_with_delta()) {
        Result<std::string> on = (*st)->delta_image(mac);
        if (on && *on == name) {
            return image_error(ImageErrc::kInUse, "image {} holds the overlay of client {}", name,
                               mac.to_string());
        }
    }
    return {};
}

}  // namespace rootfarm::images
