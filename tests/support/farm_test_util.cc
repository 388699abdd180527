#include "tests/support/farm_test_util.h"

#include <sys/stat.h>

#include <fstream>
#include <set>
#include <sstream>

#include "tests/support/serve_process.h"

namespace rootfarm::testing {

namespace fs = std::filesystem;

FarmPi farm_pi(int i) {
    const std::string n = std::to_string(i);
    return FarmPi{"b8:27:eb:00:00:0" + n, "127.0.0." + n, "1000000" + n, "pi" + n};
}

FarmPorts FarmPorts::pick() {
    std::set<uint16_t> taken;
    auto next = [&taken] {
        for (int i = 0; i < 1000; ++i) {
            const uint16_t p = free_port();
            if (p < 32768 && taken.insert(p).second) return p;
        }
        throw std::runtime_error("no free port below 32768");
    };
    FarmPorts ports;
    ports.nfs = next();
    ports.mount = next();
    ports.portmap = next();
    ports.tftp = next();
    return ports;
}

void make_farm_image(const fs::path& state) {
    const fs::path image = state / "images/default";
    write_text(image / "root/etc/hostname", "raspberrypi\n");
    fs::create_directories(image / "root/tmp");
    ::chmod((image / "root/tmp").c_str(), 01777);
    write_text(image / "boot/start4.elf", "start4 of the image\n");
    write_text(image / "boot/config.txt", "arm_64bit=1\n");
}

std::string farm_config(const fs::path& state, const FarmPorts& ports,
                        const std::vector<FarmPi>& pis, const std::string& extra) {
    std::ostringstream c;
    c << "state_dir = \"" << state.string() << "\"\n"
      << "server_ip = \"127.0.0.1\"\n"
      << "[nfs]\nlisten = \"127.0.0.1\"\nport = " << ports.nfs << "\nmount_port = " << ports.mount
      << "\nportmap_port = " << ports.portmap << "\nportmap = \"builtin\"\nthreads = 2\n"
      << "[tftp]\nlisten = \"127.0.0.1\"\nport = " << ports.tftp << "\n";
    for (const auto& pi : pis) {
        c << "[[client]]\nmac = \"" << pi.mac << "\"\n";
        if (!pi.ip.empty()) c << "ip = \"" << pi.ip << "\"\n";
        if (!pi.serial.empty()) c << "serial = \"" << pi.serial << "\"\n";
        if (!pi.hostname.empty()) c << "hostname = \"" << pi.hostname << "\"\n";
        c << "image = \"default\"\n";
    }
    c << extra;
    return c.str();
}

uint64_t udp_drops(uint16_t port) {
    std::ifstream in("/proc/net/udp");
    std::string line;
    std::getline(in, line);  // the header
    uint64_t drops = 0;
    while (std::getline(in, line)) {
        // "sl local_address rem_address ... drops": the local address is ADDR:PORT in hex.
        std::istringstream fields(line);
        std::string sl, local;
        fields >> sl >> local;
        const size_t colon = local.find(':');
        if (colon == std::string::npos || std::stoul(local.substr(colon + 1), nullptr, 16) != port) {
            continue;
        }
        std::string last;
        for (std::string f; fields >> f;) last = f;
        drops += std::stoull(last);
    }
    return drops;
}

}  // namespace rootfarm::testing
