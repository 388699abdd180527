#include "tftpd/cmdline.h"

#include <string>
#include <vector>

namespace rootfarm::tftpd {
namespace {

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

// Splits like the kernel's parse_args(): on spaces, tabs and newlines, except inside double
// quotes (param="a b" is one token).
std::vector<std::string_view> split_tokens(std::string_view line) {
    std::vector<std::string_view> tokens;
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
        if (i == line.size()) break;
        size_t start = i;
        bool quoted = false;
        while (i < line.size() &&
               (quoted || (line[i] != ' ' && line[i] != '\t' && line[i] != '\r'))) {
            if (line[i] == '"') quoted = !quoted;
            ++i;
        }
        tokens.push_back(line.substr(start, i - start));
    }
    return tokens;
}

// Tokens of the image's line that a netbooted Pi must not get:
// - root=, rootfstype=: name the SD card's ext4 partition (PARTUUID=…), which is not there;
// - nfsroot=, ip=: replaced by ours;
// - rw, ro, rootwait: ours say rw and rootwait once;
// - init= of the first-boot partition resizers (Raspberry Pi OS
//   init=/usr/lib/raspberrypi-sys-mods/firstboot, older init=/usr/lib/raspi-config/init_resize.sh):
//   they grow the SD card's root partition and reboot; over NFS there is no partition and the
//   boot would fail. Any other init= is the operator's choice and stays.
bool dropped(std::string_view token) {
    for (std::string_view p : {"root=", "rootfstype=", "nfsroot=", "ip="}) {
        if (starts_with(token, p)) return true;
    }
    if (token == "rw" || token == "ro" || token == "rootwait") return true;
    if (starts_with(token, "init=")) {
        return token.find("firstboot") != std::string_view::npos ||
               token.find("resize") != std::string_view::npos;
    }
    return false;
}

}  // namespace

bool mounts_nfs_root(std::string_view cmdline) {
    cmdline = cmdline.substr(0, cmdline.find('\n'));
    bool nfs_device = false, nfsroot = false;
    for (std::string_view token : split_tokens(cmdline)) {
        if (token == "--") break;  // the rest are init's arguments
        // The kernel keeps the last of repeated parameters.
        if (starts_with(token, "root=")) nfs_device = token == "root=/dev/nfs";
        if (starts_with(token, "nfsroot=")) nfsroot = token.size() > 8;
    }
    return nfs_device && nfsroot;
}

std::string generate_cmdline(std::string_view original, Ipv4 server, uint32_t rsize) {
    // The firmware reads only the first line of cmdline.txt.
    original = original.substr(0, original.find('\n'));
    std::string size = std::to_string(rsize);
    // The kernel's default rsize/wsize for nfsroot is 4 KiB (docs/pi-boot.md), hence explicit sizes.
    std::string line = "root=/dev/nfs nfsroot=" + server.to_string() +
                       ":/,vers=3,tcp,rsize=" + size + ",wsize=" + size + " ip=dhcp rw rootwait";
    // Ours come first so that everything after a "--" (arguments for init) stays after it; past
    // "--" nothing is the kernel's, so nothing there is dropped.
    bool init_args = false;
    for (std::string_view token : split_tokens(original)) {
        if (token == "--") init_args = true;
        if (!init_args && dropped(token)) continue;
        line += ' ';
        line += token;
    }
    line += '\n';
    return line;
}

}  // namespace rootfarm::tftpd
