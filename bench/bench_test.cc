#include <gtest/gtest.h>

#include "bench/stats.h"
#include "bench/trace.h"

namespace rootfarm::bench {
namespace {

TEST(Percentile, NearestRankIsAlwaysARealSample) {
    std::vector<double> v;
    for (int i = 1; i <= 100; ++i) v.push_back(i);
    EXPECT_EQ(percentile(v, 0.50), 50);
    EXPECT_EQ(percentile(v, 0.99), 99);
    EXPECT_EQ(percentile(v, 1.0), 100);
    EXPECT_EQ(percentile({7}, 0.99), 7);
    EXPECT_EQ(percentile({}, 0.5), 0);
    Summary s = summarise({5, 1, 3});
    EXPECT_EQ(s.count, 3u);
    EXPECT_EQ(s.p50_us, 3);
    EXPECT_EQ(s.max_us, 5);
}

TEST(TraceLine, ParsesRoundTripsAndRejectsMalformed) {
    auto r = parse_trace_line("READ /usr/lib/libc.so.6 131072 65536");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->proc, Proc::kRead);
    EXPECT_EQ(r->path, "/usr/lib/libc.so.6");
    EXPECT_EQ(r->offset, 131072u);
    EXPECT_EQ(r->count, 65536u);
    for (const char* line :
         {"LOOKUP /usr/lib libc.so.6", "RENAME /var/tmp a /var/tmp b", "SETATTR /etc/x mode 644",
          "SETATTR /var/f size 0", "SYMLINK /tmp l ../etc/hostname", "LINK /tmp/f /tmp g",
          "READDIRPLUS /"}) {
        auto op = parse_trace_line(line);
        ASSERT_TRUE(op) << line;
        EXPECT_EQ(format_trace_op(*op), line);
    }
    EXPECT_EQ(parse_trace_line("# comment").error(), std::errc::no_message);
    EXPECT_EQ(parse_trace_line("   ").error(), std::errc::no_message);
    for (const char* bad : {"FROB /x", "LOOKUP /usr", "LOOKUP usr lib", "LOOKUP /usr a/b",
                            "LOOKUP /usr ..", "READ /f 0", "READ /f 0 99999999999", "READ /f x 1",
                            "SETATTR /f mode 9", "GETATTR /f extra"}) {
        EXPECT_FALSE(parse_trace_line(bad)) << bad;
    }
}

}  // namespace
}  // namespace rootfarm::bench
