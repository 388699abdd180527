#pragma once

// A small farm on loopback for the integration tests that start the real `rootfarm serve`:
// one hand-made image and several Pis, each with its own 127.0.0.x address (the server tells
// Pis apart by source address) and serial.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace rootfarm::testing {

struct FarmPi {
    std::string mac;
    std::string ip;      // static address, 127.0.0.x
    std::string serial;  // its <serial>/ TFTP prefix
    std::string hostname;
};

// Pi i (1-based) of a loopback farm: b8:27:eb:00:00:0i at 127.0.0.i, serial 1000000i.
FarmPi farm_pi(int i);

struct FarmPorts {
    uint16_t nfs = 0, mount = 0, portmap = 0, tftp = 0;
    // Four distinct free ports below the kernel's ephemeral range (32768), so that no client
    // socket takes one while the server is down between a kill and its restart.
    static FarmPorts pick();
};

// Creates <state>/images/default: root/ with etc/hostname, tmp/ (1777), and boot/ with
// start4.elf and config.txt.
void make_farm_image(const std::filesystem::path& state);

// The text of a rootfarm.toml serving `state` on 127.0.0.1 (NFS with the built-in portmap,
// TFTP) to `pis` on image "default"; `extra` is appended.
std::string farm_config(const std::filesystem::path& state, const FarmPorts& ports,
                        const std::vector<FarmPi>& pis, const std::string& extra = "");

// Datagrams the kernel dropped on this network namespace's UDP sockets bound to `port` (the
// drops column of /proc/net/udp: a full receive buffer and a socket filter both count there).
uint64_t udp_drops(uint16_t port);

}  // namespace rootfarm::testing
