#include <gtest/gtest.h>

#include <algorithm>

#include "bench/soak.h"

namespace rootfarm::bench {
namespace {

// A 100 s soak sampled every 10 s (warm-up: the first 20 s), flat unless a test bends it.
SoakReport flat_run() {
    SoakReport rep;
    rep.options.seconds = 100;
    rep.options.state_dir = "/state";
    rep.rounds = 50;
    for (int t = 0; t <= 100; t += 10) {
        SoakSample s;
        s.t_s = t;
        s.ok = true;
        s.rss_kib = t == 0 ? 10000 : 50000 + (t % 20);  // idle at 0, then steady
        s.fds = t == 0 ? 20 : 150;
        s.threads = 53;
        s.journals = 64;
        s.journal_max_bytes = 1u << 20;
        rep.samples.push_back(s);
    }
    return rep;
}

bool check_ok(const SoakReport& rep, const std::string& name) {
    auto it = std::find_if(rep.checks.begin(), rep.checks.end(),
                           [&](const SoakCheck& c) { return c.name == name; });
    EXPECT_NE(it, rep.checks.end()) << name;
    return it != rep.checks.end() && it->ok;
}

TEST(SoakVerdict, FlatRunPasses) {
    SoakReport rep = flat_run();
    judge_soak(rep);
    EXPECT_TRUE(rep.pass);
}

TEST(SoakVerdict, RssGrowingPastTheLimitAfterWarmUpFails) {
    SoakReport rep = flat_run();
    rep.samples.back().rss_kib = 50000 * 111 / 100;  // +11% over the warm-up's largest
    judge_soak(rep);
    EXPECT_FALSE(check_ok(rep, "rss flat"));
    EXPECT_FALSE(rep.pass);
    rep.samples.back().rss_kib = 50000 * 109 / 100;
    judge_soak(rep);
    EXPECT_TRUE(rep.pass);
}

TEST(SoakVerdict, DescriptorAndThreadGrowthFail) {
    SoakReport rep = flat_run();
    rep.options.pis = 4;
    rep.samples.back().fds = 150 + 9;  // slack max(8, 4 / 2)
    judge_soak(rep);
    EXPECT_FALSE(check_ok(rep, "fds flat"));
    rep.options.pis = 64;  // slack 32: a sample catches some of 128 connections in flux
    judge_soak(rep);
    EXPECT_TRUE(check_ok(rep, "fds flat"));
    rep = flat_run();
    rep.samples.back().threads = 54;  // slack 0
    judge_soak(rep);
    EXPECT_FALSE(check_ok(rep, "threads flat"));
    EXPECT_FALSE(rep.pass);
}

TEST(SoakVerdict, ErrorsJournalsAndMissingSamplesFail) {
    SoakReport rep = flat_run();
    rep.errors = 1;
    judge_soak(rep);
    EXPECT_FALSE(check_ok(rep, "errors"));
    rep = flat_run();
    rep.samples[5].over_bound = 1;
    judge_soak(rep);
    EXPECT_FALSE(check_ok(rep, "journals bounded"));
    rep = flat_run();
    rep.samples[7].ok = false;  // the server died, or was restarted under another pid
    judge_soak(rep);
    EXPECT_FALSE(check_ok(rep, "server alive"));
    rep = flat_run();
    rep.samples.resize(2);  // nothing after the warm-up to judge
    judge_soak(rep);
    EXPECT_FALSE(rep.pass);
}

TEST(SoakVerdict, WarmUpLastsUntilEveryJournalWasCompactedOnce) {
    SoakReport rep = flat_run();
    for (SoakSample& s : rep.samples) {
        s.compacted = s.t_s >= 60 ? 64 : 10;
        if (s.t_s > 0 && s.t_s < 60) s.rss_kib = 44000;  // still growing before compaction
    }
    EXPECT_EQ(soak_warmup_end(rep), 60);
    judge_soak(rep);
    EXPECT_TRUE(rep.pass);
    rep.options.state_dir.clear();  // journals unknown: the fraction alone, and +13.7%
    EXPECT_EQ(soak_warmup_end(rep), 20);
    judge_soak(rep);
    EXPECT_FALSE(rep.pass);
    for (SoakSample& s : rep.samples) s.compacted = 10;  // never all compacted
    rep.options.state_dir = "/state";
    EXPECT_EQ(soak_warmup_end(rep), 20);
}

}  // namespace
}  // namespace rootfarm::bench
