#pragma once

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
// Prints that `what` does not exist yet and where it will come from; exit status 1.
int not_implemented(std::string_view what, std::string_view where);

}  // namespace rootfarm::cli
