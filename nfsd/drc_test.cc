#include "nfsd/drc.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <thread>

namespace rootfarm::nfsd {
namespace {

std::vector<uint8_t> call(uint32_t xid, uint8_t arg) {
    return {
        uint8_t(xid >> 24), uint8_t(xid >> 16), uint8_t(xid >> 8), uint8_t(xid), 0, 0, 0, 0, arg};
}

TEST(Drc, RetransmitGetsTheFirstReply) {
    Drc drc;
    auto key = drc_key(0x7f000001, call(5, 1));
    EXPECT_EQ(drc.begin(key, nullptr), Drc::State::kNew);
    EXPECT_EQ(drc.begin(key, nullptr), Drc::State::kInProgress);
    drc.complete(key, {1, 2, 3});
    std::vector<uint8_t> cached;
    EXPECT_EQ(drc.begin(drc_key(0x7f000001, call(5, 1)), &cached), Drc::State::kDone);
    EXPECT_EQ(cached, (std::vector<uint8_t>{1, 2, 3}));
}

TEST(Drc, SameXidWithOtherArgumentsOrAddressIsNew) {
    Drc drc;
    auto key = drc_key(0x7f000001, call(5, 1));
    ASSERT_EQ(drc.begin(key, nullptr), Drc::State::kNew);
    drc.complete(key, {1});
    EXPECT_EQ(drc.begin(drc_key(0x7f000001, call(5, 2)), nullptr), Drc::State::kNew);
    EXPECT_EQ(drc.begin(drc_key(0x7f000002, call(5, 1)), nullptr), Drc::State::kNew);
}

TEST(Drc, BoundedEvictsOldestCompletedOnly) {
    Drc drc(2);
    auto in_progress = drc_key(1, call(100, 0));
    ASSERT_EQ(drc.begin(in_progress, nullptr), Drc::State::kNew);
    for (uint32_t x = 0; x < 10; ++x) {
        auto k = drc_key(1, call(x, 0));
        ASSERT_EQ(drc.begin(k, nullptr), Drc::State::kNew);
        drc.complete(k, {uint8_t(x)});
    }
    EXPECT_EQ(drc.size(), 3u);  // two completed + the one in progress
    EXPECT_EQ(drc.begin(in_progress, nullptr), Drc::State::kInProgress);
    EXPECT_EQ(drc.begin(drc_key(1, call(0, 0)), nullptr), Drc::State::kNew);  // evicted
    std::vector<uint8_t> cached;
    EXPECT_EQ(drc.begin(drc_key(1, call(9, 0)), &cached), Drc::State::kDone);
    EXPECT_EQ(cached, std::vector<uint8_t>{9});
}

TEST(Drc, ForgetAllowsARetry) {
    Drc drc;
    auto key = drc_key(1, call(1, 1));
    ASSERT_EQ(drc.begin(key, nullptr), Drc::State::kNew);
    drc.forget(key);
    EXPECT_EQ(drc.begin(key, nullptr), Drc::State::kNew);
}

// Every worker shares one cache: a call that reaches several workers at once (a retransmit on
// a new connection) runs once, and every later copy gets that run's reply.
TEST(Drc, ConcurrentRetransmitsRunEachCallOnce) {
    constexpr int kThreads = 4;
    constexpr uint32_t kCalls = 256;
    Drc drc;
    std::array<std::atomic<int>, kCalls> runs{};
    std::atomic<int> wrong_replies = 0;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&] {
            for (int round = 0; round < 4; ++round) {
                for (uint32_t xid = 0; xid < kCalls; ++xid) {
                    const DrcKey key = drc_key(0x7f000001, call(xid, 7));
                    std::vector<uint8_t> cached;
                    switch (drc.begin(key, &cached)) {
                        case Drc::State::kNew:
                            ++runs[xid];
                            drc.complete(key, {uint8_t(xid), uint8_t(xid >> 8)});
                            break;
                        case Drc::State::kDone:
                            if (cached != std::vector<uint8_t>{uint8_t(xid), uint8_t(xid >> 8)}) {
                                ++wrong_replies;
                            }
                            break;
                        case Drc::State::kInProgress:
                            break;
                    }
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    for (uint32_t xid = 0; xid < kCalls; ++xid) EXPECT_EQ(runs[xid], 1) << "xid " << xid;
    EXPECT_EQ(wrong_replies, 0);
    EXPECT_EQ(drc.size(), kCalls);
}

}  // namespace
}  // namespace rootfarm::nfsd
