#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <array>

#include "core/mutex.h"

namespace rootfarm {

namespace {

constexpr std::array<const char*, 6> kServices = {"core", "store", "nfs", "tftp", "dhcp", "pis"};

Mutex g_mu;
spdlog::level::level_enum g_level GUARDED_BY(g_mu) = spdlog::level::info;

spdlog::logger& get(const char* name) {
    if (auto existing = spdlog::get(name)) return *existing;
    MutexLock lock(g_mu);
    if (auto existing = spdlog::get(name)) return *existing;
    auto logger = spdlog::stderr_color_mt(name);
    logger->set_level(g_level);
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %-5n %v");
    return *logger;
}

}  // namespace

bool setup_logging(std::string_view level) {
    const std::string name(level);
    const auto parsed = spdlog::level::from_str(name);
    // from_str answers "off" for anything it does not know; accept "off" only when asked for.
    if (parsed == spdlog::level::off && name != "off") return false;
    {
        MutexLock lock(g_mu);
        g_level = parsed;
    }
    for (const char* service : kServices) get(service).set_level(parsed);
    return true;
}

spdlog::logger& core_log() {
    return get("core");
}
spdlog::logger& store_log() {
    return get("store");
}
spdlog::logger& nfs_log() {
    return get("nfs");
}
spdlog::logger& tftp_log() {
    return get("tftp");
}
spdlog::logger& dhcp_log() {
    return get("dhcp");
}
spdlog::logger& clients_log() {
    return get("pis");
}

}  // namespace rootfarm
