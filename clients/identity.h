#pragma once

// A client's identity in its own view, generated without touching the image (issue 7):
// /etc/hostname holds its hostname, and the 127.0.1.1 line of /etc/hosts names it, as
// Raspberry Pi OS's own first-boot rename does, so `sudo` and mDNS resolve the name.

#include <string>
#include <string_view>
#include <vector>

#include "store/store.h"

namespace rootfarm::store {

// /etc/hosts with its 127.0.1.1 line(s) naming `hostname` (appended if it has none).
std::string hosts_with_hostname(std::string_view hosts, std::string_view hostname);

std::vector<GeneratedFile> identity_files(std::string_view hostname);

}  // namespace rootfarm::store
