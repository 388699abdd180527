#pragma once

#include "core/config.h"

namespace rootfarm::cli {

// Runs the enabled services until SIGINT or SIGTERM. Returns the process exit status:
// 0 after a clean stop, 1 when a service cannot start (the reason is logged).
int serve(const Config& config);

}  // namespace rootfarm::cli
