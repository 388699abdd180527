#pragma once

// Who sent a read request, and so whose boot files it gets (DESIGN.md "Who is asking").

#include <memory>
#include <optional>
#include <string>

#include "core/clients.h"
#include "core/config.h"
#include "store/store.h"
#include "tftpd/path.h"

namespace rootfarm::tftpd {

struct Requester {
    std::optional<ClientInfo> client;  // nullopt: an unknown address, served the default image
    std::shared_ptr<const store::ClientView> view;
    std::string label;  // "b8:27:eb:01:02:03 (10.0.0.5)" or "10.0.0.5 (unknown client)"
    std::string key;    // what the per-client transfer cap counts: the MAC, else the address
};

// A serial or MAC prefix naming a known client selects that client, wherever the request comes
// from, and teaches the registry the client's address (the Pi asks for <serial>/start4.elf from
// the address it will keep). Otherwise the source address decides; an address of no known
// client gets the default image's pristine boot files. A MAC prefix of a Raspberry Pi that is
// not configured enrols it when [defaults] enroll = "any-pi".
Result<Requester> identify(const RequestPath& path, Ipv4 source, const Config& config,
                           ClientRegistry& clients, store::Store& store);

}  // namespace rootfarm::tftpd
