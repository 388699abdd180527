#pragma once

// `rootfarm doctor`: checks a configuration against this machine and says what to fix before
// `rootfarm serve` runs into it (a port someone else holds, an image without boot files, a
// cmdline.txt that mounts another server's root, another DHCP server on the Pis' segment).
//
// Each check returns findings and changes nothing; only Store::open (the images' checks) creates
// the store's own subdirectories in an existing state directory, as every command does.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "store/store.h"

namespace rootfarm::cli::doctor {

enum class Severity { kOk, kWarning, kProblem };

struct Finding {
    Severity severity = Severity::kOk;
    std::string check;    // "ports", "network", "state-dir", "image", "cmdline", "fstab", "dhcp"
    std::string message;  // what was found
    std::string fix;      // how to fix it; empty when there is nothing to do
};
using Findings = std::vector<Finding>;

// One line: "problem  ports: TCP port 2049 (NFS) on 0.0.0.0 is in use by ... -> fix: ...".
std::string format(const Finding& finding);
// 1 when any finding is a problem, else 0.
int exit_status(const Findings& findings);

// Bind-tests every port an enabled service will listen on, at its configured address. A port in
// use is fine when `server_running` (a `rootfarm serve` answers on this state directory's
// control socket): it is ours. Otherwise the finding names the process holding it when
// /proc shows it.
Findings check_ports(const Config& config, bool server_running);

// [dhcp] interface exists and carries server_ip; server_ip is an address of this machine;
// server_ip 0.0.0.0 with DHCP enabled.
Findings check_network(const Config& config);

// The user `rootfarm serve` will run as: the `rootfarm` system user if there is one.
struct ServiceUser {
    std::string name;
    uid_t uid = 0;
    gid_t gid = 0;
};
std::optional<ServiceUser> service_user();

// The state directory exists (or its nearest existing parent lets `user` create it) and `user`
// may write to it and to the directories serve writes below it. Without a `user`, the current
// user is asked (access(2)).
Findings check_state_dir(const std::filesystem::path& state_dir,
                         const std::optional<ServiceUser>& user);

// Every image the configuration names ([defaults] image, [[client]] image) exists in the store
// and has a kernel and the boot files of the Pi models it serves (guessed from the clients' MAC
// prefixes; when unknown, at least one model's complete set).
Findings check_images(const Config& config, store::Store& store);

// The cmdline.txt TFTP will serve for each image mounts its root over NFS from server_ip.
Findings check_cmdline(const Config& config, store::Store& store);

// The image's /etc/fstab (with its fix-up layers) names no SD-card partition.
Findings check_fstab(const Config& config, store::Store& store);

// In [dhcp] mode "server": broadcasts a DHCPDISCOVER from [dhcp] interface and reports every
// OFFER from a server other than server_ip that arrives within `wait`.
Findings check_foreign_dhcp(const Config& config, std::chrono::milliseconds wait);

}  // namespace rootfarm::cli::doctor

namespace rootfarm::cli {

struct DoctorOptions {
    std::chrono::milliseconds dhcp_wait{3000};
};

// Runs every check, prints one line per finding, returns exit_status().
int run_doctor(const Config& config, const DoctorOptions& options);

}  // namespace rootfarm::cli
