#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "core/config.h"
#include "store/store.h"

// The offline commands: they read the configuration and the state directory, not a running
// server. Each returns the process exit status and prints its own errors.
namespace rootfarm::cli {

// The store settings of a configuration.
store::StoreOptions store_options(const Config& config);

int image_list(const Config& config);
int image_import(const Config& config, const std::string& source, const std::string& name,
                 bool replace);
int image_rm(const Config& config, const std::string& name);
int client_list(const Config& config);
int client_reset(const Config& config, std::string_view mac);
int client_diff(const Config& config, std::string_view mac);
int status(const Config& config);

// The keys of one [[client]] table; empty strings are left out.
struct NewClient {
    std::string mac, ip, serial, hostname, image;
    bool root_squash = false;
};
// Appends the client to the configuration file if the result is a valid configuration (exit
// status 2 and the file untouched otherwise).
int client_add(const std::filesystem::path& config_path, const NewClient& client);

}  // namespace rootfarm::cli
