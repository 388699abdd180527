#include "tftpd/requester.h"

namespace rootfarm::tftpd {

bool starts_a_boot(std::string_view path) {
    const size_t slash = path.rfind('/');
    const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
    return name == "bootcode.bin" || name == "autoboot.txt" || name == "config.txt" ||
           (name.starts_with("start") && name.ends_with(".elf"));
}

Result<Requester> identify(const RequestPath& path, Ipv4 source, Clients& clients) {
    Requester r;
    if (path.serial) {
        r.client = clients.by_serial(*path.serial);
    } else if (path.mac) {
        r.client = clients.admit(*path.mac, is_raspberry_pi_oui(*path.mac));
    }
    if (r.client) {
        // A configured static address is authoritative (ClientRegistry::learn_ip never moves
        // one). A prefix naming a Pi whose static address is another, or sent from another Pi's
        // static address, is a different host claiming that Pi's identity: serving it would
        // hand out that Pi's boot files, and learning the address would serve that Pi's NFS
        // root to the sender's address from then on (RFC 1350 §7: access violation).
        if (r.client->static_ip && r.client->ip != source) return std::errc::permission_denied;
        const auto owner = clients.by_ip(source);
        if (owner && owner->static_ip && owner->mac != r.client->mac) {
            return std::errc::permission_denied;
        }
        clients.learn_ip(r.client->mac, source);
    } else {
        r.client = clients.by_ip(source);
        // A Pi asking with a serial no Pi has: the boot ROM drops the prefix for the rest of the
        // boot when the file is missing, so without this hint a wrong serial goes unnoticed.
        if (r.client && path.serial) {
            clients.note(r.client->mac, Trouble::kUnknownSerial,
                         *path.serial + "/" + path.relative());
        }
    }
    if (!r.client) {
        auto view = clients.pristine_default();
        if (!view) return view.error();
        r.view = std::move(*view);
        r.label = source.to_string() + " (unknown client)";
        r.key = source.to_string();
        return r;
    }
    const auto ask =
        starts_a_boot(path.relative()) ? Clients::Ask::kBootFiles : Clients::Ask::kCall;
    auto view = clients.view(*r.client, ask);
    if (!view) return view.error();
    r.view = std::move(*view);
    r.label = r.client->mac.to_string() + " (" + source.to_string() + ")";
    r.key = r.client->mac.to_string();
    return r;
}

}  // namespace rootfarm::tftpd
