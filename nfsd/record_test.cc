#include "nfsd/record.h"

#include <gtest/gtest.h>

#include "nfsd/rpc.h"

namespace rootfarm::nfsd {
namespace {

std::vector<uint8_t> fragment(std::vector<uint8_t> body, bool last) {
    uint32_t mark = static_cast<uint32_t>(body.size()) | (last ? 0x80000000u : 0);
    std::vector<uint8_t> out = {uint8_t(mark >> 24), uint8_t(mark >> 16), uint8_t(mark >> 8),
                                uint8_t(mark)};
    out.insert(out.end(), body.begin(), body.end());
    return out;
}

TEST(Record, SingleFragment) {
    RecordAssembler a;
    auto in = fragment({1, 2, 3, 4}, true);
    size_t consumed = 0;
    std::vector<uint8_t> rec;
    EXPECT_EQ(a.next(in, consumed, rec), RecordAssembler::Status::kRecord);
    EXPECT_EQ(consumed, 8u);
    EXPECT_EQ(rec, (std::vector<uint8_t>{1, 2, 3, 4}));
}

TEST(Record, ReassemblesManyFragments) {
    RecordAssembler a;
    std::vector<uint8_t> in;
    for (uint8_t i = 0; i < 10; ++i) {
        auto f = fragment({i, i}, i == 9);
        in.insert(in.end(), f.begin(), f.end());
    }
    auto second = fragment({42}, true);
    in.insert(in.end(), second.begin(), second.end());
    size_t consumed = 0;
    std::vector<uint8_t> rec;
    ASSERT_EQ(a.next(in, consumed, rec), RecordAssembler::Status::kRecord);
    EXPECT_EQ(rec.size(), 20u);
    EXPECT_EQ(rec[19], 9);
    std::span<const uint8_t> rest = std::span(in).subspan(consumed);
    ASSERT_EQ(a.next(rest, consumed, rec), RecordAssembler::Status::kRecord);
    EXPECT_EQ(rec, std::vector<uint8_t>{42});
}

TEST(Record, PartialInputWaitsAndKeepsEarlierFragments) {
    RecordAssembler a;
    auto f1 = fragment({1, 2}, false);
    auto f2 = fragment({3, 4, 5}, true);
    std::vector<uint8_t> in = f1;
    in.insert(in.end(), f2.begin(), f2.begin() + 5);  // second fragment cut short
    size_t consumed = 0;
    std::vector<uint8_t> rec;
    EXPECT_EQ(a.next(in, consumed, rec), RecordAssembler::Status::kNeedMore);
    EXPECT_EQ(consumed, f1.size());  // the first fragment is taken
    std::vector<uint8_t> rest(f2.begin(), f2.end());
    EXPECT_EQ(a.next(rest, consumed, rec), RecordAssembler::Status::kRecord);
    EXPECT_EQ(rec, (std::vector<uint8_t>{1, 2, 3, 4, 5}));
}

TEST(Record, HugeFragmentLengthIsAnErrorBeforeAnyBody) {
    RecordAssembler a;
    std::vector<uint8_t> in = {0xff, 0xff, 0xff, 0xff};
    size_t consumed = 0;
    std::vector<uint8_t> rec;
    EXPECT_EQ(a.next(in, consumed, rec), RecordAssembler::Status::kError);
}

TEST(Record, FragmentsAddingUpPastTheCapAreAnError) {
    RecordAssembler a(16);
    auto f1 = fragment(std::vector<uint8_t>(10), false);
    auto f2 = fragment(std::vector<uint8_t>(10), true);
    std::vector<uint8_t> in = f1;
    in.insert(in.end(), f2.begin(), f2.end());
    size_t consumed = 0;
    std::vector<uint8_t> rec;
    EXPECT_EQ(a.next(in, consumed, rec), RecordAssembler::Status::kError);
}

TEST(Record, ReplyMarkIsSingleLastFragment) {
    auto reply = new_reply();
    reply.insert(reply.end(), {9, 9, 9, 9, 9, 9, 9, 9});
    set_record_mark(reply);
    EXPECT_EQ(reply[0], 0x80);
    EXPECT_EQ(reply[3], 8);
}

}  // namespace
}  // namespace rootfarm::nfsd
