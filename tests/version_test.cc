// `rootfarm --version` as a user and a package build see it: the number of the root
// CMakeLists.txt's project(VERSION), then the commit when built from a git checkout.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "tests/support/serve_process.h"

#ifndef CMAKE_PROJECT_VERSION
#error "CMAKE_PROJECT_VERSION must be the project(VERSION) CMake configured this build with"
#endif
#ifndef ROOTFARM_SOURCE_DIR
#error "ROOTFARM_SOURCE_DIR must name the source tree"
#endif

namespace rootfarm::testing {
namespace {

namespace fs = std::filesystem;

// The x.y.z of `project(rootfarm VERSION x.y.z ...)` in the root CMakeLists.txt, or "".
std::string cmake_file_version() {
    std::ifstream in(fs::path(ROOTFARM_SOURCE_DIR) / "CMakeLists.txt");
    std::stringstream s;
    s << in.rdbuf();
    const std::string text = s.str();
    static const std::regex project(R"(project\s*\(\s*rootfarm\b[^)]*?\bVERSION\s+([0-9][0-9.]*))",
                                    std::regex::icase);
    std::smatch m;
    return std::regex_search(text, m, project) ? m[1].str() : "";
}

TEST(Version, BinaryAndCMakeFileAgree) {
    const std::string file_version = cmake_file_version();
    ASSERT_THAT(file_version, ::testing::MatchesRegex(R"([0-9]+\.[0-9]+\.[0-9]+)"));
    EXPECT_EQ(file_version, CMAKE_PROJECT_VERSION)
        << "CMakeLists.txt changed since this build was configured: re-run cmake";

    const auto r = run_command({rootfarm_binary().string(), "--version"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(r.out.substr(0, r.out.find_first_of(" \n")), file_version) << r.out;
}

// From a checkout: "0.2.0 (g1a2b3c4)", the commit of HEAD, so a binary built before the last
// commit is caught; elsewhere just "0.2.0".
TEST(Version, NamesTheCommitInACheckout) {
    const auto r = run_command({rootfarm_binary().string(), "--version"});
    ASSERT_EQ(r.status, 0) << r.err;
    const std::string number = CMAKE_PROJECT_VERSION;
    const auto head =
        run_command({"git", "-C", ROOTFARM_SOURCE_DIR, "rev-parse", "--show-toplevel", "HEAD"});
    const fs::path source = fs::canonical(ROOTFARM_SOURCE_DIR);
    const bool checkout =
        head.status == 0 && fs::canonical(head.out.substr(0, head.out.find('\n'))) == source;
    if (!checkout) {
        EXPECT_EQ(r.out, number + "\n");
        return;
    }
    const std::string commit = head.out.substr(head.out.find('\n') + 1, 7);
    ASSERT_THAT(commit, ::testing::MatchesRegex("[0-9a-f]{7}"));
    EXPECT_EQ(r.out, number + " (g" + commit + ")\n")
        << "the binary was built at another commit than HEAD: rebuild";
}

}  // namespace
}  // namespace rootfarm::testing
