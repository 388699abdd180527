#pragma once

// The kernel command line served as cmdline.txt to a netbooted Pi (PI-BOOT.md "Boot and root").

#include <cstdint>
#include <string>
#include <string_view>

#include "core/net.h"

namespace rootfarm::tftpd {

// The image's own line (may be empty) turned into one that mounts the root over NFSv3 from
// `server`: our root=/nfsroot=/ip= settings first, then every kept token of the original.
// Ends with a newline.
std::string generate_cmdline(std::string_view original, Ipv4 server, uint32_t rsize);

}  // namespace rootfarm::tftpd
