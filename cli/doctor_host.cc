// The host checks of `rootfarm doctor`: the network interface and server address, and the state
// directory's permissions for the user serve runs as.

#include <grp.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include "cli/doctor.h"
#include "cli/doctor_store.h"

namespace rootfarm::cli::doctor {
namespace {

namespace fs = std::filesystem;

// Interface name -> its IPv4 addresses, and interfaces that have none.
std::map<std::string, std::vector<Ipv4>> local_interfaces() {
    std::map<std::string, std::vector<Ipv4>> out;
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) return out;
    for (ifaddrs* i = list; i; i = i->ifa_next) {
        auto& addrs = out[i->ifa_name];
        if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET) {
            addrs.push_back(
                Ipv4::from_network(reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr));
        }
    }
    ::freeifaddrs(list);
    return out;
}

std::string addresses_text(const std::vector<Ipv4>& addrs) {
    std::vector<std::string> parts;
    for (Ipv4 a : addrs) parts.push_back(a.to_string());
    return joined(parts);
}

bool contains(const std::vector<Ipv4>& addrs, Ipv4 a) {
    return std::find(addrs.begin(), addrs.end(), a) != addrs.end();
}

}  // namespace

Findings check_network(const Config& config) {
    Findings out;
    const auto interfaces = local_interfaces();
    const Ipv4 server = config.server_ip;
    const std::string server_text = server.to_string();
    std::string holder;  // the interface that carries server_ip
    for (const auto& [name, addrs] : interfaces) {
        if (!server.is_any() && contains(addrs, server)) holder = name;
    }

    if (server.is_any()) {
        if (config.dhcp.enabled) {
            // RFC 2131 §4.3.1: an offer carries the server identifier (option 54); the Pi's boot
            // ROM takes the TFTP server from it or from siaddr (docs/pi-boot.md "Pi: DHCP").
            out.push_back({Severity::kProblem, "network",
                           "server_ip is 0.0.0.0 but DHCP is enabled: the Pis need this "
                           "server's address in the DHCP answer (siaddr, options 54 and 66)",
                           "set server_ip to this machine's address on the Pis' network"});
        } else {
            out.push_back({Severity::kOk, "network",
                           "server_ip is 0.0.0.0: each Pi is answered from the address it asked "
                           "on",
                           ""});
        }
    } else if (holder.empty()) {
        out.push_back({Severity::kProblem, "network",
                       "server_ip " + server_text + " is not an address of this machine",
                       "set server_ip to an address of this machine (see `ip -4 addr`)"});
    } else if (!config.dhcp.enabled || config.dhcp.interface.empty()) {
        out.push_back(
            {Severity::kOk, "network", "server_ip " + server_text + " is on " + holder, ""});
    }

    if (!config.dhcp.enabled) return out;
    const std::string& want = config.dhcp.interface;
    if (want.empty()) {
        if (config.dhcp.mode == DhcpConfig::Mode::kServer) {
            out.push_back({Severity::kWarning, "network",
                           "[dhcp] interface is not set: DHCP hands out addresses on every "
                           "interface of this machine",
                           "set [dhcp] interface to the interface of the Pis' network"});
        }
        return out;
    }
    auto it = interfaces.find(want);
    if (it == interfaces.end() || ::if_nametoindex(want.c_str()) == 0) {
        std::vector<std::string> names;
        for (const auto& [name, addrs] : interfaces) names.push_back(name);
        out.push_back({Severity::kProblem, "network",
                       "[dhcp] interface " + want + " does not exist on this machine",
                       "set [dhcp] interface to one of: " + joined(names)});
        return out;
    }
    if (server.is_any()) return out;
    if (holder == want) {
        out.push_back({Severity::kOk, "network",
                       "server_ip " + server_text + " is on interface " + want, ""});
    } else {
        out.push_back({Severity::kProblem, "network",
                       "server_ip " + server_text + " is not on interface " + want +
                           " (its addresses: " + addresses_text(it->second) + ")" +
                           (holder.empty() ? "" : ", it is on " + holder),
                       "set server_ip to " + want +
                           "'s address, or [dhcp] interface to the interface that "
                           "carries server_ip"});
    }
    return out;
}

std::optional<ServiceUser> service_user() {
    const passwd* pw = ::getpwnam("rootfarm");
    if (!pw) return std::nullopt;
    return ServiceUser{pw->pw_name, pw->pw_uid, pw->pw_gid};
}

namespace {

// Whether `user` may write (`write`) and search a directory with attributes `st`, by its mode
// bits (owner, then group incl. supplementary groups, then others), as the kernel decides.
bool allows(const struct stat& st, const ServiceUser& user, bool write) {
    if (user.uid == 0) return true;
    const mode_t want = write ? 03 : 01;  // wx or x, in the "other" position
    if (st.st_uid == user.uid) return ((st.st_mode >> 6) & want) == want;
    std::vector<gid_t> groups(64);
    int n = static_cast<int>(groups.size());
    if (::getgrouplist(user.name.c_str(), user.gid, groups.data(), &n) < 0) {
        groups.resize(static_cast<size_t>(n));
        ::getgrouplist(user.name.c_str(), user.gid, groups.data(), &n);
    }
    groups.resize(static_cast<size_t>(std::max(n, 0)));
    if (std::find(groups.begin(), groups.end(), st.st_gid) != groups.end() ||
        st.st_gid == user.gid) {
        return ((st.st_mode >> 3) & want) == want;
    }
    return (st.st_mode & want) == want;
}

// Whether the user may write into `dir` (which exists): mode bits for a named user, access(2)
// for ourselves; a read-only file system refuses everyone.
std::optional<std::string> write_refused(const fs::path& dir,
                                         const std::optional<ServiceUser>& user) {
    struct statvfs vfs {};
    if (::statvfs(dir.c_str(), &vfs) == 0 && (vfs.f_flag & ST_RDONLY)) {
        return "it is on a read-only file system";
    }
    if (!user) {
        if (::access(dir.c_str(), W_OK | X_OK) != 0) return std::string(std::strerror(errno));
        return std::nullopt;
    }
    // Every directory above must let the user through.
    for (fs::path p = dir.parent_path(); !p.empty(); p = p.parent_path()) {
        struct stat st {};
        if (::stat(p.c_str(), &st) == 0 && !allows(st, *user, false)) {
            return p.string() + " does not let user " + user->name + " through";
        }
        if (p == p.root_path()) break;
    }
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return std::string(std::strerror(errno));
    if (!allows(st, *user, true)) {
        return "its owner is uid " + std::to_string(st.st_uid) + " and mode " +
               std::to_string((st.st_mode >> 6) & 7) + std::to_string((st.st_mode >> 3) & 7) +
               std::to_string(st.st_mode & 7);
    }
    return std::nullopt;
}

}  // namespace

Findings check_state_dir(const fs::path& state_dir, const std::optional<ServiceUser>& user) {
    Findings out;
    const passwd* me = ::getpwuid(::geteuid());
    const std::string who =
        user ? "user " + user->name
             : "the current user (" +
                   (me ? std::string(me->pw_name) : "uid " + std::to_string(::geteuid())) + ")";
    const std::string fix_owner = user ? "chown -R " + user->name + " " + state_dir.string()
                                       : "run serve as a user that may write it, or chown it";
    std::error_code ec;
    const fs::path dir = fs::absolute(state_dir, ec);
    if (!fs::exists(dir, ec)) {
        fs::path parent = dir.parent_path();
        while (!parent.empty() && !fs::exists(parent, ec) && parent != parent.root_path()) {
            parent = parent.parent_path();
        }
        if (auto refused = write_refused(parent, user)) {
            out.push_back({Severity::kProblem, "state-dir",
                           "state_dir " + state_dir.string() + " does not exist and " + who +
                               " cannot create it in " + parent.string() + ": " + *refused,
                           "create it and give it to " + who});
        } else {
            out.push_back({Severity::kOk, "state-dir",
                           "state_dir " + state_dir.string() + " does not exist yet; " + who +
                               " can create it",
                           ""});
        }
        return out;
    }
    if (!fs::is_directory(dir, ec)) {
        out.push_back({Severity::kProblem, "state-dir",
                       "state_dir " + state_dir.string() + " is not a directory",
                       "set state_dir to a directory"});
        return out;
    }
    // serve writes the state directory itself (leases, secret, control.sock) and below it the
    // clients' deltas and the images' id maps. The first refusal is the one to fix.
    for (const fs::path& p : {dir, dir / "clients", dir / "index"}) {
        if (p != dir && !fs::is_directory(p, ec)) continue;
        if (auto refused = write_refused(p, user)) {
            const bool read_only = refused->find("read-only") != std::string::npos;
            out.push_back({Severity::kProblem, "state-dir",
                           p.string() + " is not writable by " + who + ": " + *refused,
                           read_only ? "mount that file system read-write, or set state_dir to "
                                       "a directory on a writable one"
                                     : fix_owner});
            return out;
        }
    }
    out.push_back({Severity::kOk, "state-dir",
                   "state_dir " + state_dir.string() + " is writable by " + who, ""});
    return out;
}

}  // namespace rootfarm::cli::doctor
