#include "cli/commands.h"

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <map>

#include "core/net.h"
#include "images/import.h"
#include "store/store.h"

namespace rootfarm::cli {

namespace fs = std::filesystem;

namespace {

std::unique_ptr<store::Store> open_store(const Config& config) {
    auto s = store::Store::open(store_options(config));
    if (!s) {
        std::fprintf(stderr, "rootfarm: cannot open the store in %s: %s\n",
                     config.state_dir.c_str(), s.error().message().c_str());
        return nullptr;
    }
    return std::move(*s);
}

fs::path client_dir(const Config& config, const MacAddr& mac) {
    return config.state_dir / "clients" / mac.dashed();
}

// Bytes allocated on disk below `dir` (what the overlay really costs).
uint64_t disk_usage(const fs::path& dir) {
    uint64_t total = 0;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
        struct stat st;
        if (::lstat(it->path().c_str(), &st) == 0)
            total += static_cast<uint64_t>(st.st_blocks) * 512;
    }
    return total;
}

std::string human(uint64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
    return buf;
}

std::optional<MacAddr> parse_mac_arg(std::string_view text) {
    auto mac = MacAddr::parse(text);
    if (!mac) {
        std::fprintf(stderr, "rootfarm: '%.*s' is not a MAC address (expected b8:27:eb:12:34:56)\n",
                     static_cast<int>(text.size()), text.data());
    }
    return mac;
}

}  // namespace

store::StoreOptions store_options(const Config& config) {
    store::StoreOptions options;
    options.state_dir = config.state_dir;
    options.boot_mount = config.store.boot_mount;
    options.client_quota = config.store.client_quota;
    return options;
}

int image_list(const Config& config) {
    auto images = images::list_images(config);
    if (!images) {
        std::fprintf(stderr, "rootfarm: %s\n", images.error().message().c_str());
        return 1;
    }
    std::printf("%-20s  %10s  %8s  %s\n", "NAME", "SIZE", "FILES", "IMPORTED");
    for (const auto& i : *images) {
        std::printf("%-20s  %10s  %8llu  %s%s\n", i.name.c_str(), human(i.bytes).c_str(),
                    static_cast<unsigned long long>(i.files), i.imported_at.c_str(),
                    i.name == config.defaults.image ? "  (default)" : "");
    }
    return 0;
}

int image_import(const Config& config, const std::string& source, const std::string& name,
                 bool replace) {
    images::ImportOptions options;
    options.replace = replace;
    // The importer logged the detail (file, offset, path in the image); this is the summary.
    auto report = images::import_image(config, source, name, options);
    if (!report) {
        std::fprintf(stderr, "rootfarm: image import %s: %s\n", source.c_str(),
                     report.error().message().c_str());
        return 1;
    }
    std::printf(
        "imported %s as '%s': %llu files, %llu directories, %llu symlinks, %llu devices, "
        "%llu hard links, %s\n",
        source.c_str(), name.c_str(), static_cast<unsigned long long>(report->files),
        static_cast<unsigned long long>(report->dirs),
        static_cast<unsigned long long>(report->symlinks),
        static_cast<unsigned long long>(report->devices),
        static_cast<unsigned long long>(report->hardlinks), human(report->bytes).c_str());
    for (const auto& f : report->fixups) std::printf("  fix-up: %s\n", f.c_str());
    return 0;
}

int image_rm(const Config& config, const std::string& name) {
    if (auto r = images::remove_image(config, name); !r) {
        std::fprintf(stderr, "rootfarm: image rm %s: %s\n", name.c_str(),
                     r.error().message().c_str());
        return 1;
    }
    std::printf("removed image '%s'\n", name.c_str());
    return 0;
}

int client_list(const Config& config) {
    // Configured clients, then overlays of clients that are not (enrolled as "any-pi").
    std::map<std::string, const ClientConfig*> rows;
    for (const auto& c : config.clients) rows[c.mac.dashed()] = &c;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(config.state_dir / "clients", ec)) {
        if (e.is_directory() && MacAddr::parse(e.path().filename().string())) {
            rows.try_emplace(e.path().filename().string(), nullptr);
        }
    }
    std::printf("%-17s  %-15s  %-16s  %-16s  %-12s  %s\n", "MAC", "IP", "SERIAL", "HOSTNAME",
                "IMAGE", "OVERLAY");
    for (const auto& [dashed, c] : rows) {
        const MacAddr mac = *MacAddr::parse(dashed);
        const fs::path dir = client_dir(config, mac);
        const std::string overlay = fs::exists(dir) ? human(disk_usage(dir)) : "none";
        std::printf("%-17s  %-15s  %-16s  %-16s  %-12s  %s\n", mac.to_string().c_str(),
                    c && c->ip ? c->ip->to_string().c_str() : "-",
                    c && !c->serial.empty() ? c->serial.c_str() : "-",
                    c && !c->hostname.empty() ? c->hostname.c_str() : "-",
                    c && !c->image.empty() ? c->image.c_str() : config.defaults.image.c_str(),
                    (overlay + (c ? "" : "  (not in config)")).c_str());
    }
    return 0;
}

int client_reset(const Config& config, std::string_view text) {
    const auto mac = parse_mac_arg(text);
    if (!mac) return 2;
    const fs::path dir = client_dir(config, *mac);
    if (!fs::exists(dir)) {
        std::printf("%s has no overlay: it already boots the pristine image\n",
                    mac->to_string().c_str());
        return 0;
    }
    const uint64_t size = disk_usage(dir);
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (ec) {
        std::fprintf(stderr, "rootfarm: cannot remove %s: %s\n", dir.c_str(), ec.message().c_str());
        return 1;
    }
    std::printf("reset %s: removed its overlay (%s); it boots the pristine image next time\n",
                mac->to_string().c_str(), human(size).c_str());
    return 0;
}

int client_diff(const Config& config, std::string_view text) {
    const auto mac = parse_mac_arg(text);
    if (!mac) return 2;
    auto store = open_store(config);
    if (!store) return 1;
    auto changes = store->diff(*mac);
    if (!changes) {
        std::fprintf(stderr, "rootfarm: %s: %s\n", mac->to_string().c_str(),
                     changes.error().message().c_str());
        return 1;
    }
    for (const auto& c : *changes) std::printf("%c %s\n", c.kind, c.path.c_str());
    return 0;
}

int status(const Config& config) {
    std::printf("state directory: %s\n", config.state_dir.c_str());
    std::printf("default image:   %s\n\n", config.defaults.image.c_str());
    const int rc = client_list(config);
    std::printf(
        "\nlive boot phases are reported by a running server; this command reads only "
        "the configuration and the state directory\n");
    return rc;
}

}  // namespace rootfarm::cli
