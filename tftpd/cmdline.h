#pragma once

// The kernel command line served as cmdline.txt to a netbooted Pi (docs/pi-boot.md, "Boot and
// root"; the kernel's Documentation/admin-guide/nfs/nfsroot.rst).

#include <cstdint>
#include <string>
#include <string_view>

#include "core/net.h"

namespace rootfarm::tftpd {

// The image's own line (may be empty) turned into one that mounts the root over NFSv3 from
// `server`: our root=/nfsroot=/ip= settings first, then every kept token of the original.
// Ends with a newline.
std::string generate_cmdline(std::string_view original, Ipv4 server, uint32_t rsize);

// Whether a kernel command line already mounts its root over NFS: root=/dev/nfs together with
// an nfsroot= (the kernel's nfsroot and initramfs-tools' scripts/nfs both read them). Only the
// first line counts, as the firmware reads only that.
bool mounts_nfs_root(std::string_view cmdline);

}  // namespace rootfarm::tftpd
