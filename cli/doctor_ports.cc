// The ports check of `rootfarm doctor`: can serve bind what its configuration names?

#include <dirent.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "cli/doctor.h"
#include "nfsd/portmap.h"

namespace rootfarm::cli::doctor {
namespace {

namespace fs = std::filesystem;

struct Port {
    std::string service;  // "NFS", "MOUNT", "portmap", "TFTP", "DHCP"
    std::string key;      // the setting that chooses it, for the fix
    bool tcp = false;
    Ipv4 listen;
    uint16_t port = 0;
    std::string device;  // SO_BINDTODEVICE, as the DHCP service binds
};

std::string describe(const Port& p) {
    return std::string(p.tcp ? "TCP" : "UDP") + " port " + std::to_string(p.port) + " (" +
           p.service + ") on " + p.listen.to_string();
}

// The ports the enabled services bind, as nfsd/tftpd/dhcpd open them.
std::vector<Port> wanted_ports(const Config& c, bool server_running, Findings& out) {
    std::vector<Port> ports;
    auto both = [&](const std::string& service, const std::string& key, uint16_t port, bool udp) {
        ports.push_back({service, key, true, c.nfs.listen, port, ""});
        if (udp) ports.push_back({service, key, false, c.nfs.listen, port, ""});
    };
    if (c.nfs.enabled) {
        both("NFS", "[nfs] port", c.nfs.port, c.nfs.udp);
        if (c.nfs.mount_port != c.nfs.port) {
            both("MOUNT", "[nfs] mount_port", c.nfs.mount_port, c.nfs.udp);
        }
        bool portmap = c.nfs.portmap == NfsConfig::Portmap::kBuiltin;
        if (c.nfs.portmap == NfsConfig::Portmap::kAuto) {
            // nfsd registers with a running rpcbind instead of binding the port itself (our own
            // running serve answers portmap too, so ask only when none runs).
            if (!server_running && nfsd::rpcbind_running()) {
                out.push_back({Severity::kOk, "ports",
                               "rpcbind answers on port 111: serve registers NFS and MOUNT with "
                               "it ([nfs] portmap = \"auto\")",
                               ""});
            } else {
                portmap = true;
            }
        }
        if (portmap) both("portmap", "[nfs] portmap_port", c.nfs.portmap_port, true);
    }
    if (c.tftp.enabled)
        ports.push_back({"TFTP", "[tftp] port", false, c.tftp.listen, c.tftp.port, ""});
    if (c.dhcp.enabled) {
        ports.push_back(
            {"DHCP", "[dhcp] port", false, c.dhcp.listen, c.dhcp.port, c.dhcp.interface});
    }
    return ports;
}

// Binds like serve would, but stricter for UDP: serve sets SO_REUSEADDR, with which two UDP
// sockets may share a port and split its datagrams; here any holder counts. For TCP,
// SO_REUSEADDR only lets connections in TIME_WAIT pass, never a listener.
int bind_test(const Port& p) {
    const int fd = ::socket(AF_INET, (p.tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno;
    const int one = 1;
    if (p.tcp) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (!p.device.empty()) {
        // A missing interface is the network check's finding; bind without it then.
        ::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, p.device.c_str(),
                     static_cast<socklen_t>(p.device.size()));
    }
    const sockaddr_in sa = make_sockaddr(p.listen, p.port);
    const int r = ::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
    const int err = r == 0 ? 0 : errno;
    ::close(fd);
    return err;
}

struct Holder {
    unsigned long inode = 0;
    uid_t uid = 0;
};

// /proc/net/{tcp,udp}[6]: "sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...", the
// local address as the kernel's 32-bit word in hex (host byte order of the raw network bytes)
// and the port in hex. For TCP only listeners (state 0A) hold a port.
std::optional<Holder> find_holder(const Port& p) {
    for (const char* v6 : {"", "6"}) {
        std::ifstream in(std::string("/proc/net/") + (p.tcp ? "tcp" : "udp") + v6);
        std::string line;
        std::getline(in, line);  // header
        while (std::getline(in, line)) {
            std::istringstream s(line);
            std::string sl, local, remote, state, queues, timer, retr;
            unsigned long uid = 0, timeout = 0, inode = 0;
            if (!(s >> sl >> local >> remote >> state >> queues >> timer >> retr >> uid >>
                  timeout >> inode)) {
                continue;
            }
            const size_t colon = local.find(':');
            if (colon == std::string::npos) continue;
            if (std::stoul(local.substr(colon + 1), nullptr, 16) != p.port) continue;
            if (p.tcp && state != "0A") continue;
            const std::string addr = local.substr(0, colon);
            bool overlaps = false;
            if (addr.size() == 8) {
                const uint32_t raw = static_cast<uint32_t>(std::stoul(addr, nullptr, 16));
                const Ipv4 a = Ipv4::from_network(in_addr{raw});
                overlaps = a.is_any() || p.listen.is_any() || a == p.listen;
            } else {
                // Only [::] (which takes IPv4 too unless IPV6_V6ONLY) is counted among v6.
                overlaps = addr.find_first_not_of('0') == std::string::npos;
            }
            if (overlaps) return Holder{inode, static_cast<uid_t>(uid)};
        }
    }
    return std::nullopt;
}

// "pid 812 (in.tftpd)" for the process with a descriptor on socket `inode`; empty when /proc
// does not show it (another user's process and we are not root).
std::string process_of(unsigned long inode) {
    if (inode == 0) return "";
    const std::string want = "socket:[" + std::to_string(inode) + "]";
    DIR* proc = ::opendir("/proc");
    if (!proc) return "";
    std::string found;
    while (dirent* e = ::readdir(proc)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        const fs::path fds = fs::path("/proc") / e->d_name / "fd";
        std::error_code ec;
        for (auto it = fs::directory_iterator(fds, ec); !ec && it != fs::end(it);
             it.increment(ec)) {
            std::error_code lec;
            if (fs::read_symlink(it->path(), lec).string() != want) continue;
            std::ifstream comm(fs::path("/proc") / e->d_name / "comm");
            std::string name;
            std::getline(comm, name);
            found = "pid " + std::string(e->d_name) + " (" + name + ")";
            break;
        }
        if (!found.empty()) break;
    }
    ::closedir(proc);
    return found;
}

std::string user_name(uid_t uid) {
    if (const passwd* pw = ::getpwuid(uid)) return pw->pw_name;
    return "uid " + std::to_string(uid);
}

std::string holder_text(const Port& p) {
    const auto holder = find_holder(p);
    if (!holder) return "another process";
    const std::string proc = process_of(holder->inode);
    if (!proc.empty()) return proc + " of user " + user_name(holder->uid);
    return "a process of user " + user_name(holder->uid) + " (run as root to see which)";
}

// The lowest port an unprivileged process may bind (net.ipv4.ip_unprivileged_port_start).
uint16_t unprivileged_start() {
    std::ifstream in("/proc/sys/net/ipv4/ip_unprivileged_port_start");
    unsigned v = 1024;
    in >> v;
    return static_cast<uint16_t>(v);
}

// The rootfarm.service unit file that grants CAP_NET_BIND_SERVICE, or empty. Only the unit
// files themselves are read, not drop-ins.
std::string unit_granting_bind() {
    for (const char* dir : {"/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system",
                            "/usr/local/lib/systemd/system"}) {
        const fs::path unit = fs::path(dir) / "rootfarm.service";
        std::ifstream in(unit);
        std::string line;
        while (std::getline(in, line)) {
            if (line.starts_with("AmbientCapabilities=") &&
                line.find("CAP_NET_BIND_SERVICE") != std::string::npos) {
                return unit.string();
            }
        }
    }
    return "";
}

}  // namespace

Findings check_ports(const Config& config, bool server_running) {
    Findings out;
    const std::vector<Port> ports = wanted_ports(config, server_running, out);
    if (ports.empty()) {
        out.push_back({Severity::kOk, "ports", "no service enabled binds a port", ""});
        return out;
    }
    std::vector<uint16_t> privileged;
    for (const Port& p : ports) {
        if (p.port == 0) {
            out.push_back({Severity::kOk, "ports",
                           describe(p) + ": any free port (0), chosen when serve starts", ""});
            continue;
        }
        if (p.port < unprivileged_start()) privileged.push_back(p.port);
        const int err = bind_test(p);
        if (err == 0) {
            out.push_back({Severity::kOk, "ports", describe(p) + " is free", ""});
        } else if (err == EADDRINUSE || (err == EACCES && find_holder(p))) {
            if (server_running) {
                out.push_back({Severity::kOk, "ports",
                               describe(p) + " is in use by the rootfarm serve running on " +
                                   config.state_dir.string(),
                               ""});
            } else {
                out.push_back({Severity::kProblem, "ports",
                               describe(p) + " is in use by " + holder_text(p),
                               "stop that service, or set " + p.key + " to a free port"});
            }
        } else if (err == EACCES) {
            out.push_back(
                {Severity::kProblem, "ports",
                 describe(p) + " is privileged and this user is neither root nor has "
                               "CAP_NET_BIND_SERVICE",
                 "run serve as root, or give it the capability (systemd AmbientCapabilities="
                 "CAP_NET_BIND_SERVICE, or setcap cap_net_bind_service=+ep on the binary), or "
                 "set " +
                     p.key + " to a port >= " + std::to_string(unprivileged_start())});
        } else if (err == EADDRNOTAVAIL) {
            out.push_back(
                {Severity::kProblem, "ports",
                 describe(p) + ": " + p.listen.to_string() + " is not an address of this machine",
                 "set the service's listen to one of this machine's addresses, or "
                 "0.0.0.0"});
        } else {
            out.push_back({Severity::kProblem, "ports",
                           describe(p) + " cannot be bound: " + std::strerror(err),
                           "see the error; set " + p.key + " to another port"});
        }
    }
    // The check ran as whoever started doctor; a dedicated service user needs the capability,
    // which the packaged rootfarm.service grants (AmbientCapabilities=).
    if (auto user = service_user(); user && user->uid != 0 && !privileged.empty()) {
        const std::string ports_text = "port " + std::to_string(privileged.front()) + " is below " +
                                       std::to_string(unprivileged_start());
        if (const std::string unit = unit_granting_bind(); !unit.empty()) {
            out.push_back(
                {Severity::kOk, "ports",
                 ports_text + ": " + unit + " gives user " + user->name + " CAP_NET_BIND_SERVICE",
                 ""});
        } else {
            out.push_back(
                {Severity::kWarning, "ports",
                 ports_text + ": user " + user->name + " needs CAP_NET_BIND_SERVICE to bind it",
                 "run serve with AmbientCapabilities=CAP_NET_BIND_SERVICE (systemd), "
                 "or as root"});
        }
    }
    return out;
}

}  // namespace rootfarm::cli::doctor
