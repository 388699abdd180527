#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string_view>

namespace rootfarm {

// Sets up one logger per service ("core", "store", "nfs", "tftp", "dhcp", "pis") on stderr at
// `level`
// ("trace", "debug", "info", "warn", "error", "off"). Safe to call more than once.
// Returns false if `level` is not one of those names.
bool setup_logging(std::string_view level);

// The logger of one service; created on first use if setup_logging was not called.
spdlog::logger& core_log();
spdlog::logger& store_log();
spdlog::logger& nfs_log();
spdlog::logger& tftp_log();
spdlog::logger& dhcp_log();
// The Pis' owner (clients/): boot phases, roll-outs, identity, resets.
spdlog::logger& clients_log();

}  // namespace rootfarm
