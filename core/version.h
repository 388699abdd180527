#pragma once

#include <string_view>

namespace rootfarm {

// The version of this build, as `rootfarm --version` prints it: "0.2.0 (g1a2b3c4)" when built
// from a git checkout, "0.2.0" otherwise. The number is the root CMakeLists.txt's
// project(VERSION); the commit is read at every build, so a new commit changes it.
std::string_view rootfarm_version();

// The parts of rootfarm_version(), for build metadata (Prometheus rootfarm_build_info, the
// package version): "0.2.0", and the 7 hex digits of the commit or "" outside a checkout.
std::string_view rootfarm_version_number();
std::string_view rootfarm_git_commit();

}  // namespace rootfarm
