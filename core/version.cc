#include "core/version.h"

#include <string>

// Generated in the build directory by core/version.cmake at every build.
#include "core/git_commit.h"

#ifndef ROOTFARM_VERSION_NUMBER
#error "ROOTFARM_VERSION_NUMBER must be the project(VERSION) of the root CMakeLists.txt"
#endif

namespace rootfarm {

std::string_view rootfarm_version_number() {
    return ROOTFARM_VERSION_NUMBER;
}

std::string_view rootfarm_git_commit() {
    return ROOTFARM_GIT_COMMIT;
}

std::string_view rootfarm_version() {
    static const std::string version = [] {
        std::string v = ROOTFARM_VERSION_NUMBER;
        if (!rootfarm_git_commit().empty()) v += " (g" + std::string(rootfarm_git_commit()) + ")";
        return v;
    }();
    return version;
}

}  // namespace rootfarm
