#pragma once

// A Pi's identity in its own view, generated without touching the shared image. A shared image
// means shared identity; each of these files would otherwise be the same on every Pi:
// - /etc/hostname, and the 127.0.1.1 line of /etc/hosts that names the host (Debian's
//   convention, the line raspi-config rewrites), so `sudo` and mDNS resolve the name;
// - /etc/machine-id (and /var/lib/dbus/machine-id where it is a file of its own):
//   systemd-networkd and NetworkManager derive the DHCP client id / DUID from it, so two Pis
//   with one machine-id fight over one address (machine-id(5));
// - the SSH host keys /etc/ssh/ssh_host_{ed25519,ecdsa,rsa}_key(.pub) when the image carries
//   them: made at the Pi's first boot, kept across boots, new after a reset.
// Each file is written only where the image has it, and the Pi's own edits win (store.h
// GeneratedFile).

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "store/store.h"

namespace rootfarm {

// /etc/hosts with its 127.0.1.1 line(s) naming `hostname` (appended if it has none).
std::string hosts_with_hostname(std::string_view hosts, std::string_view hostname);

// machine-id(5): 32 lower-case hex digits and a newline, from 16 bytes, marked as a random
// (version 4) UUID as systemd's own sd_id128_randomize() does.
std::string machine_id_text(std::array<uint8_t, 16> bytes);

struct SshKeyPair {
    std::string private_key;  // OpenSSH format, as ssh-keygen writes it
    std::string public_key;   // one line: "<type> <base64> <comment>"
};
// A new host key of `type` ("ed25519", "ecdsa", "rsa") made by ssh-keygen, with the sizes
// `ssh-keygen -A` uses; `comment` is its last field (root@<hostname>).
Result<SshKeyPair> make_ssh_host_key(std::string_view type, std::string_view comment);

struct Identity {
    std::string hostname;
    std::array<uint8_t, 16> machine_id{};
};

// The files that give a Pi `identity` in its view.
std::vector<store::GeneratedFile> identity_files(const Identity& identity);

}  // namespace rootfarm
