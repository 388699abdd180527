#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "core/config.h"
#include "store/store.h"

// The commands other than serve. They read the configuration and ask the store (never its
// directories); those that change a running server's state reach it through its control socket
// (control.h). Each returns the process exit status and prints its own errors.
namespace rootfarm::cli {

// The store settings of a configuration.
store::StoreOptions store_options(const Config& config);

int image_list(const Config& config);
int image_import(const Config& config, const std::string& source, const std::string& name,
                 bool replace);
int image_rm(const Config& config, const std::string& name);
int client_list(const Config& config);
// On a running server (its control socket): dropped at once when the Pi is off, between boots
// or idle; refused while its root is mounted and in use unless `force`. With no server running,
// through the store directly.
int client_reset(const Config& config, std::string_view mac, bool force);
int client_diff(const Config& config, std::string_view mac);
// The Pis with their boot phases, from a running server (its control socket); without one, the
// configuration and the overlays, and it says it is offline. `watch` redraws every 2 s.
int status(const Config& config, bool json, bool watch);
// Makes a running server re-read its configuration file (exit 2 if the file is invalid).
int reload(const Config& config);

// The keys of one [[client]] table; empty strings are left out.
struct NewClient {
    std::string mac, ip, serial, hostname, image;
    bool root_squash = false;
    bool root_squash_set = false;  // root_squash was given
};
// Each edits the configuration file if the result is a valid configuration (exit status 2 and
// the file untouched otherwise), then reloads a running server.
// Appends a [[client]] table.
int client_add(const std::filesystem::path& config_path, const NewClient& client);
// Removes the [[client]] table of `mac`.
int client_rm(const std::filesystem::path& config_path, std::string_view mac);
// Sets the given keys in the [[client]] table of client.mac.
int client_set(const std::filesystem::path& config_path, const NewClient& client);

}  // namespace rootfarm::cli
