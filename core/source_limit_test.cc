#include "core/source_limit.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>

namespace rootfarm {
namespace {

using namespace std::chrono_literals;
using Clock = SourceLimiter::Clock;

class SourceLimiterTest : public ::testing::Test {
  protected:
    SourceLimiterTest()
        : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(lines_)), log_("test", sink_) {
        log_.set_pattern("%v");
    }

    SourceLimiter make(double per_second, double burst, size_t max_sources = 4096) {
        return SourceLimiter("bogus calls", log_, {per_second, burst, 10s, max_sources},
                             [](uint64_t key) { return "src" + std::to_string(key); });
    }

    int log_lines() const {
        std::string s = lines_.str();
        return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
    }

    std::ostringstream lines_;
    std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
    spdlog::logger log_;
    Clock::time_point t0_ = Clock::now();
};

TEST_F(SourceLimiterTest, ABurstPassesThenTheSustainedRate) {
    auto limiter = make(10, 5);
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.charge(1, t0_)) << i;
    EXPECT_FALSE(limiter.charge(1, t0_));
    EXPECT_TRUE(limiter.blocked(1, t0_));
    // 10 a second: one more after 100 ms, not before.
    EXPECT_FALSE(limiter.charge(1, t0_ + 50ms));
    EXPECT_TRUE(limiter.charge(1, t0_ + 160ms));
    EXPECT_FALSE(limiter.charge(1, t0_ + 170ms));
    // Quiet for a while: the whole burst again, and no longer blocked.
    EXPECT_FALSE(limiter.blocked(1, t0_ + 2s));
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.charge(1, t0_ + 2s)) << i;
}

TEST_F(SourceLimiterTest, ACostlyRequestIsServedThenPaidOffBeforeTheNext) {
    auto limiter = make(10, 5);
    // With budget left, 40 units are spent at once: the source is 35 in debt.
    EXPECT_TRUE(limiter.spend(1, 40, t0_));
    EXPECT_TRUE(limiter.blocked(1, t0_));
    EXPECT_FALSE(limiter.charge(1, t0_ + 3s));  // 30 paid off: still 5 short of one
    EXPECT_TRUE(limiter.blocked(1, t0_ + 3s));
    EXPECT_TRUE(limiter.charge(1, t0_ + 3600ms));  // debt paid and one unit more
    // Less than one unit costs one.
    EXPECT_TRUE(limiter.spend(2, 0.25, t0_));
    for (int i = 0; i < 4; ++i) EXPECT_TRUE(limiter.charge(2, t0_)) << i;
    EXPECT_FALSE(limiter.charge(2, t0_));
}

TEST_F(SourceLimiterTest, OneSourceOverItsBudgetCostsOthersNothing) {
    auto limiter = make(10, 5);
    for (int i = 0; i < 1000; ++i) (void)limiter.charge(1, t0_);
    EXPECT_TRUE(limiter.blocked(1, t0_));
    EXPECT_FALSE(limiter.blocked(2, t0_));
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.charge(2, t0_)) << i;
}

TEST_F(SourceLimiterTest, AFloodIsLoggedOnceAtOnceThenOncePerInterval) {
    auto limiter = make(10, 5);
    // 100,000 refused calls over 25 s: a line at the first, then one count per 10 s.
    for (int i = 0; i < 100000; ++i) (void)limiter.charge(7, t0_ + i * 250us);
    EXPECT_EQ(log_lines(), 3) << lines_.str();
    EXPECT_NE(lines_.str().find("src7: more than 10 bogus calls a second"), std::string::npos)
        << lines_.str();
    EXPECT_NE(lines_.str().find("src7: dropped "), std::string::npos) << lines_.str();
    // After a whole quiet interval the next flood is announced again.
    lines_.str("");
    (void)limiter.charge(8, t0_ + 40s);  // an interval boundary passes with source 7 quiet
    (void)limiter.charge(8, t0_ + 55s);
    for (int i = 0; i < 100; ++i) (void)limiter.charge(7, t0_ + 56s);
    EXPECT_NE(lines_.str().find("src7: more than"), std::string::npos) << lines_.str();
}

TEST_F(SourceLimiterTest, SpoofedSourcesNeverGrowTheTableBeyondItsBound) {
    auto limiter = make(10, 5, 64);
    for (uint64_t key = 0; key < 10000; ++key) EXPECT_TRUE(limiter.charge(key, t0_));
    EXPECT_LE(limiter.tracked(), 64u);
}

TEST_F(SourceLimiterTest, ZeroRateMeansNoLimit) {
    auto limiter = make(0, 0);
    for (int i = 0; i < 10000; ++i) EXPECT_TRUE(limiter.charge(1, t0_));
    EXPECT_FALSE(limiter.blocked(1, t0_));
    EXPECT_EQ(log_lines(), 0);
}

}  // namespace
}  // namespace rootfarm
