#include "cli/commands.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <thread>

#include "cli/control.h"
#include "clients/clients.h"
#include "clients/report.h"
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
        std::printf("%-20s  %10s  %8llu  %s%s\n", i.name.c_str(), human_bytes(i.bytes).c_str(),
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
        static_cast<unsigned long long>(report->hardlinks), human_bytes(report->bytes).c_str());
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
    auto store = open_store(config);
    if (!store) return 1;
    // Configured clients, then overlays of clients that are not (enrolled as "any-pi").
    std::map<MacAddr, const ClientConfig*> rows;
    for (const auto& c : config.clients) rows[c.mac] = &c;
    for (const MacAddr& mac : store->clients_with_delta()) rows.try_emplace(mac, nullptr);
    std::printf("%-17s  %-15s  %-16s  %-16s  %-12s  %s\n", "MAC", "IP", "SERIAL", "HOSTNAME",
                "IMAGE", "OVERLAY");
    for (const auto& [mac, c] : rows) {
        auto on = store->delta_image(mac);
        const std::string overlay = on ? human_bytes(store->delta_bytes(mac)) : "none";
        std::string image = c && !c->image.empty() ? c->image : config.defaults.image;
        if (on && *on != image) image += " (overlay on " + *on + " until its next boot)";
        std::printf("%-17s  %-15s  %-16s  %-16s  %-12s  %s\n", mac.to_string().c_str(),
                    c && c->ip ? c->ip->to_string().c_str() : "-",
                    c && !c->serial.empty() ? c->serial.c_str() : "-",
                    c && !c->hostname.empty() ? c->hostname.c_str() : "-", image.c_str(),
                    (overlay + (c ? "" : "  (not in config)")).c_str());
    }
    return 0;
}

int client_reset(const Config& config, std::string_view text, bool force) {
    const auto mac = parse_mac_arg(text);
    if (!mac) return 2;
    if (auto reply =
            control_call(config.state_dir, "reset " + mac->to_string() + (force ? " force" : ""))) {
        std::fputs(reply->text.c_str(), reply->status == 0 ? stdout : stderr);
        return reply->status;
    }
    // No server running: nothing can be using the overlay.
    auto store = open_store(config);
    if (!store) return 1;
    const std::vector<MacAddr> with = store->clients_with_delta();
    if (std::find(with.begin(), with.end(), *mac) == with.end()) {
        std::printf("%s has no overlay: it already boots the pristine image\n",
                    mac->to_string().c_str());
        return 0;
    }
    const uint64_t size = store->delta_bytes(*mac);
    if (auto r = store->reset(*mac); !r) {
        std::fprintf(stderr, "rootfarm: cannot reset %s: %s\n", mac->to_string().c_str(),
                     r.error().message().c_str());
        return 1;
    }
    std::printf("reset %s: removed its overlay (%s); it boots the pristine image next time\n",
                mac->to_string().c_str(), human_bytes(size).c_str());
    return 0;
}

int reload(const Config& config) {
    auto reply = control_call(config.state_dir, "reload");
    if (!reply) {
        std::fprintf(stderr, "rootfarm: no running `rootfarm serve` with state in %s\n",
                     config.state_dir.c_str());
        return 1;
    }
    std::fputs(reply->text.c_str(), reply->status == 0 ? stdout : stderr);
    return reply->status;
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

namespace {

// What `status` shows without a running server: the configured Pis and the overlays in the
// store, with no phases.
std::vector<PiStatus> offline_status(const Config& config, store::Store& store) {
    Clients clients(config, &store);
    std::vector<PiStatus> pis = clients.status_all();
    for (const MacAddr& mac : store.clients_with_delta()) {
        if (!clients.by_mac(mac)) pis.push_back(clients.status(mac));
    }
    return pis;
}

}  // namespace

int status(const Config& config, bool json, bool watch) {
    for (;;) {
        std::string text;
        auto reply = control_call(config.state_dir, json ? "status json" : "status");
        if (reply && reply->status == 0) {
            text = json ? reply->text
                        : "rootfarm serve is running (state in " + config.state_dir.string() +
                              ")\n\n" + reply->text;
        } else {
            auto store = open_store(config);
            if (!store) return 1;
            std::vector<PiStatus> pis;
            try {
                pis = offline_status(config, *store);
            } catch (const std::system_error& e) {
                std::fprintf(stderr, "rootfarm: %s\n", e.what());
                return 1;
            }
            text = json ? status_json(pis, false)
                        : "offline: no rootfarm serve is running with state in " +
                              config.state_dir.string() + "; configuration and overlays only\n\n" +
                              status_table(pis, std::chrono::system_clock::now());
        }
        if (!watch) {
            std::fputs(text.c_str(), stdout);
            return 0;
        }
        // Redraw in place: cursor home, clear the screen.
        std::printf("\033[H\033[2J%s", text.c_str());
        std::fflush(stdout);
        std::this_thread::sleep_for(std::chrono::seconds(2));
    }
}

}  // namespace rootfarm::cli
