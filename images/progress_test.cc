#include "images/progress.h"

#include <gtest/gtest.h>

namespace rootfarm::images {
namespace {

using namespace std::chrono_literals;

TEST(Progress, ABarWithRateAndTimeLeftOnATerminal) {
    ProgressState s{120, 5000, 200u << 20, 800u << 20, 5s};
    EXPECT_EQ(format_progress(s, true),
              "importing: 120/5000 files, 200.0 of 800.0 MiB [#######                       ] "
              "25%, 40.0 MiB/s, 15 s left");
}

TEST(Progress, APlainLineElsewhere) {
    ProgressState s{120, 5000, 200u << 20, 800u << 20, 100s};
    EXPECT_EQ(format_progress(s, false),
              "importing: 120/5000 files, 200.0 of 800.0 MiB 25%, 2.0 MiB/s, 5 min 0 s left");
}

TEST(Progress, UnknownTotalsAndTheFirstSecondShowNoEstimate) {
    EXPECT_EQ(format_progress({3, 0, 1u << 20, 0, 500ms}, false), "importing: 3 files, 1.0 MiB");
    EXPECT_EQ(format_progress({3, 0, 4u << 20, 0, 2s}, false),
              "importing: 3 files, 4.0 MiB, 2.0 MiB/s");
    // Past the estimated total: 100%, nothing left.
    EXPECT_EQ(format_progress({9, 9, 9u << 20, 8u << 20, 1s}, false),
              "importing: 9/9 files, 9.0 of 8.0 MiB 100%, 9.0 MiB/s");
}

}  // namespace
}  // namespace rootfarm::images
