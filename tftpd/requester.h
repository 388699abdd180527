#pragma once

// Who sent a read request, and so whose boot files it gets.

#include <memory>
#include <optional>
#include <string>

#include "clients/clients.h"
#include "store/store.h"
#include "tftpd/path.h"

namespace rootfarm::tftpd {

struct Requester {
    std::optional<ClientInfo> client;  // nullopt: an unknown address, served the default image
    std::shared_ptr<const store::ClientView> view;
    std::string label;  // "b8:27:eb:01:02:03 (10.0.0.5)" or "10.0.0.5 (unknown client)"
    std::string key;    // what the per-client transfer cap counts: the MAC, else the address
};

// The first files of a boot: bootcode.bin (Pi 3 ROM), start*.elf (Pi 3/4), autoboot.txt, and
// config.txt, which a Pi 5's bootloader reads first (it has no start.elf).
bool starts_a_boot(std::string_view relative_path);

// A serial or MAC prefix naming a known client selects that client and teaches the owner the
// client's address (the Pi asks for <serial>/start4.elf from the address it will keep), unless
// a static address says the request is not that Pi's: the client's static address is another,
// or the source is another client's static address (EACCES). Otherwise the source address
// decides; an address of no known client gets the default image's pristine boot files. A MAC
// prefix of a Raspberry Pi that is not configured enrols it when [defaults] enroll = "any-pi".
// A known client's first boot file starts its boot (Clients::Ask::kBootFiles): a pending
// roll-out happens before it is served.
Result<Requester> identify(const RequestPath& path, Ipv4 source, Clients& clients);

}  // namespace rootfarm::tftpd
