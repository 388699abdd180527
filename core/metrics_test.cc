#include "core/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

namespace rootfarm::metrics {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

std::string text_of(const Registry& r) {
    Exposition out;
    r.write(out);
    return out.text();
}

TEST(Metrics, CountersAreWrittenWithHelpTypeAndLabels) {
    Registry r;
    Counter getattr = r.counter("rootfarm_requests_total", "Requests by service and operation.",
                                {{"service", "nfs"}, {"op", "GETATTR"}});
    Counter rrq = r.counter("rootfarm_requests_total", "ignored: the first help text stays",
                            {{"service", "tftp"}, {"op", "RRQ"}});
    getattr.add();
    getattr.add(2);
    rrq.add();
    EXPECT_EQ(text_of(r),
              "# HELP rootfarm_requests_total Requests by service and operation.\n"
              "# TYPE rootfarm_requests_total counter\n"
              "rootfarm_requests_total{service=\"nfs\",op=\"GETATTR\"} 3\n"
              "rootfarm_requests_total{service=\"tftp\",op=\"RRQ\"} 1\n");
}

TEST(Metrics, RegisteringASeriesAgainCountsIntoTheSameOne) {
    Registry r;
    r.counter("rootfarm_x_total", "x", {{"a", "1"}}).add(5);
    r.counter("rootfarm_x_total", "x", {{"a", "1"}}).add(1);
    EXPECT_THAT(text_of(r), HasSubstr("rootfarm_x_total{a=\"1\"} 6\n"));
}

TEST(Metrics, HistogramBucketsAreCumulativeWithSumAndCount) {
    Registry r;
    const double bounds[] = {0.001, 0.01, 1};
    Histogram h = r.histogram("rootfarm_d_seconds", "Durations.", {{"op", "READ"}}, bounds);
    h.observe(500us);  // <= 0.001
    h.observe(1ms);    // exactly on a bound: counted in it ("le")
    h.observe(5ms);
    h.observe(2s);  // only +Inf
    EXPECT_EQ(text_of(r),
              "# HELP rootfarm_d_seconds Durations.\n"
              "# TYPE rootfarm_d_seconds histogram\n"
              "rootfarm_d_seconds_bucket{op=\"READ\",le=\"0.001\"} 2\n"
              "rootfarm_d_seconds_bucket{op=\"READ\",le=\"0.01\"} 3\n"
              "rootfarm_d_seconds_bucket{op=\"READ\",le=\"1\"} 3\n"
              "rootfarm_d_seconds_bucket{op=\"READ\",le=\"+Inf\"} 4\n"
              "rootfarm_d_seconds_sum{op=\"READ\"} 2.0065\n"
              "rootfarm_d_seconds_count{op=\"READ\"} 4\n");
}

TEST(Metrics, HistogramWithoutLabels) {
    Registry r;
    const double bounds[] = {10};
    r.histogram("rootfarm_boot_duration_seconds", "Boots.", {}, bounds).observe(12s);
    EXPECT_THAT(text_of(r), HasSubstr("rootfarm_boot_duration_seconds_bucket{le=\"10\"} 0\n"
                                      "rootfarm_boot_duration_seconds_bucket{le=\"+Inf\"} 1\n"
                                      "rootfarm_boot_duration_seconds_sum 12\n"
                                      "rootfarm_boot_duration_seconds_count 1\n"));
}

TEST(Metrics, LabelValuesAndHelpAreEscapedAsTheFormatAsks) {
    EXPECT_EQ(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    Exposition out;
    out.family("rootfarm_g", "two\nlines \\ \"quoted\"", "gauge");
    out.sample("rootfarm_g", {{"hostname", "pi \"one\"\n"}}, 1.5);
    EXPECT_EQ(out.text(),
              "# HELP rootfarm_g two\\nlines \\\\ \"quoted\"\n"
              "# TYPE rootfarm_g gauge\n"
              "rootfarm_g{hostname=\"pi \\\"one\\\"\\n\"} 1.5\n");
}

TEST(Metrics, UpdatesFromManyThreadsAreAllCounted) {
    Registry r;
    Counter c = r.counter("rootfarm_threads_total", "t", {});
    Histogram h = r.histogram("rootfarm_threads_seconds", "t", {});
    std::vector<std::thread> threads;
    for (int t = 0; t < 20; ++t) {  // more threads than shards
        threads.emplace_back([&] {
            for (int i = 0; i < 10000; ++i) {
                c.add();
                h.observe(1ms);
            }
        });
    }
    for (auto& t : threads) t.join();
    const std::string text = text_of(r);
    EXPECT_THAT(text, HasSubstr("rootfarm_threads_total 200000\n"));
    EXPECT_THAT(text, HasSubstr("rootfarm_threads_seconds_count 200000\n"));
    EXPECT_THAT(text, HasSubstr("rootfarm_threads_seconds_sum 200\n"));
}

TEST(Metrics, DefaultHandlesCountNowhereVisible) {
    Registry r;
    Counter().add(7);
    Histogram().observe(1s);
    EXPECT_EQ(text_of(r), "");
}

TEST(MetricsDeathTest, AMalformedNameIsAProgrammingError) {
    Registry r;
    EXPECT_DEATH(r.counter("rootfarm requests", "x", {}), "bad metric name");
    EXPECT_DEATH(r.counter("rootfarm_ok_total", "x", {{"1abc", "v"}}), "bad label name");
    r.counter("rootfarm_kind", "x", {});
    EXPECT_DEATH(r.histogram("rootfarm_kind", "x", {}), "both a counter and a histogram");
}

}  // namespace
}  // namespace rootfarm::metrics
