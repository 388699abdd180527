#include "tftpd/requester.h"

namespace rootfarm::tftpd {

Result<Requester> identify(const RequestPath& path, Ipv4 source, const Config& config,
                           ClientRegistry& clients, store::Store& store) {
    Requester r;
    if (path.serial) {
        r.client = clients.by_serial(*path.serial);
    } else if (path.mac) {
        r.client = clients.by_mac(*path.mac);
        if (!r.client && config.defaults.enroll == DefaultsConfig::Enroll::kAnyPi &&
            is_raspberry_pi_oui(*path.mac)) {
            r.client = clients.enroll(*path.mac);
        }
    }
    if (r.client) {
        clients.learn_ip(r.client->mac, source);
    } else {
        r.client = clients.by_ip(source);
    }
    if (r.client) {
        const std::string& image =
            r.client->image.empty() ? config.defaults.image : r.client->image;
        auto view = store.view(r.client->mac, image);
        if (!view) return view.error();
        r.view = std::move(*view);
        r.label = r.client->mac.to_string() + " (" + source.to_string() + ")";
        r.key = r.client->mac.to_string();
    } else {
        auto view = store.image_view(config.defaults.image);
        if (!view) return view.error();
        r.view = std::move(*view);
        r.label = source.to_string() + " (unknown client)";
        r.key = source.to_string();
    }
    return r;
}

}  // namespace rootfarm::tftpd
