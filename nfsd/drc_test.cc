#include "nfsd/drc.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace rootfarm::nfsd
