#include "clients/leases.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace rootfarm {
namespace {

MacAddr mac(int n) {
    return MacAddr{{0xdc, 0xa6, 0x32, 0, 0, uint8_t(n)}};
}
Ipv4 ip(std::string_view s) {
    return *Ipv4::parse(s);
}

Pool pool(std::string_view start, std::string_view end) {
    Pool p;
    p.start = ip(start);
    p.end = ip(end);
    return p;
}

TEST(Leases, HandsOutRangeInOrderAndKeepsAddressPerMac) {
    LeaseTable t;
    Pool p = pool("10.0.0.10", "10.0.0.12");
    EXPECT_EQ(t.choose(mac(1), std::nullopt, p, 100), ip("10.0.0.10"));
    t.put({mac(1), ip("10.0.0.10"), 200, Lease::State::kOffered});
    EXPECT_EQ(t.choose(mac(2), std::nullopt, p, 100), ip("10.0.0.11"));
    // Long after the offer expired, the first MAC still gets its address back.
    EXPECT_EQ(t.choose(mac(1), std::nullopt, p, 100000), ip("10.0.0.10"));
}

TEST(Leases, HonoursRequestedAddressOnlyWhenFree) {
    LeaseTable t;
    Pool p = pool("10.0.0.10", "10.0.0.20");
    t.put({mac(1), ip("10.0.0.15"), 1000, Lease::State::kBound});
    EXPECT_EQ(t.choose(mac(2), ip("10.0.0.15"), p, 100), ip("10.0.0.10"));
    EXPECT_EQ(t.choose(mac(2), ip("10.0.0.17"), p, 100), ip("10.0.0.17"));
    EXPECT_EQ(t.choose(mac(2), ip("192.168.1.5"), p, 100), ip("10.0.0.10"));
}

TEST(Leases, SkipsReservedAddresses) {
    LeaseTable t;
    Pool p = pool("10.0.0.10", "10.0.0.11");
    p.reserved[ip("10.0.0.10")] = mac(9);
    EXPECT_EQ(t.choose(mac(1), std::nullopt, p, 0), ip("10.0.0.11"));
    EXPECT_EQ(t.choose(mac(9), ip("10.0.0.10"), p, 0), ip("10.0.0.10"));
    // A lease that now collides with a static address is not handed back.
    t.put({mac(2), ip("10.0.0.10"), 10, Lease::State::kBound});
    EXPECT_EQ(t.choose(mac(2), std::nullopt, p, 0), ip("10.0.0.11"));
}

TEST(Leases, FullRangeReusesTheLongestExpiredLease) {
    LeaseTable t;
    Pool p = pool("10.0.0.10", "10.0.0.11");
    t.put({mac(1), ip("10.0.0.10"), 500, Lease::State::kBound});
    t.put({mac(2), ip("10.0.0.11"), 300, Lease::State::kBound});
    EXPECT_EQ(t.choose(mac(3), std::nullopt, p, 100), std::nullopt);  // both still active
    EXPECT_EQ(t.choose(mac(3), std::nullopt, p, 600), ip("10.0.0.11"));
    t.put({mac(3), ip("10.0.0.11"), 4000, Lease::State::kBound});
    EXPECT_EQ(t.by_mac(mac(2)), nullptr);  // the old holder lost it
    EXPECT_EQ(t.by_ip(ip("10.0.0.11"))->mac, mac(3));
}

TEST(Leases, ReleasedLeaseIsReusableButPreferredByItsMac) {
    LeaseTable t;
    Pool p = pool("10.0.0.10", "10.0.0.10");
    t.put({mac(1), ip("10.0.0.10"), 50, Lease::State::kReleased});
    EXPECT_EQ(t.choose(mac(1), std::nullopt, p, 10), ip("10.0.0.10"));
    EXPECT_EQ(t.choose(mac(2), std::nullopt, p, 10), ip("10.0.0.10"));
}

TEST(Leases, QuarantinedAddressIsSkippedUntilItEnds) {
    LeaseTable t;
    Pool p = pool("10.0.0.10", "10.0.0.11");
    t.put({mac(1), ip("10.0.0.10"), 500, Lease::State::kBound});
    t.quarantine(ip("10.0.0.10"), 1000);
    EXPECT_EQ(t.by_mac(mac(1)), nullptr);
    EXPECT_EQ(t.choose(mac(1), std::nullopt, p, 999), ip("10.0.0.11"));
    EXPECT_EQ(t.choose(mac(1), std::nullopt, p, 1000), ip("10.0.0.10"));
}

TEST(Leases, SerializeParseRoundTrip) {
    LeaseTable t;
    t.put({mac(1), ip("10.0.0.10"), 1764000000, Lease::State::kBound});
    t.put({mac(2), ip("10.0.0.11"), 1764000100, Lease::State::kOffered});
    t.put({mac(3), ip("10.0.0.12"), 1764000200, Lease::State::kReleased});
    size_t skipped = 99;
    LeaseTable back = LeaseTable::parse(t.serialize(), &skipped);
    EXPECT_EQ(skipped, 0u);
    ASSERT_EQ(back.size(), 3u);
    for (int n = 1; n <= 3; ++n) {
        const Lease* a = t.by_mac(mac(n));
        const Lease* b = back.by_mac(mac(n));
        ASSERT_NE(b, nullptr);
        EXPECT_EQ(a->ip, b->ip);
        EXPECT_EQ(a->expires, b->expires);
        EXPECT_EQ(a->state, b->state);
    }
}

TEST(Leases, ParseSkipsGarbageLines) {
    std::string text =
        "# rootfarm leases v1\n"
        "dc:a6:32:00:00:01 10.0.0.10 1764000000 bound\n"
        "not a lease\n"
        "dc:a6:32:00:00:02 10.0.0.300 1 bound\n"
        "dc:a6:32:00:00:03 10.0.0.12 12x bound\n"
        "dc:a6:32:00:00:04 10.0.0.13 1 sleeping\n"
        "dc:a6:32:00:00:05 10.0.0.14 7 offered";
    size_t skipped = 0;
    LeaseTable t = LeaseTable::parse(text, &skipped);
    EXPECT_EQ(skipped, 4u);
    EXPECT_EQ(t.size(), 2u);
    EXPECT_EQ(t.by_mac(mac(5))->expires, 7);
}

class LeaseFile : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("rootfarm-leases-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::filesystem::path dir_;
};

TEST_F(LeaseFile, MissingFileIsEmptyTable) {
    auto t = load_leases(dir_ / "leases");
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->size(), 0u);
}

TEST_F(LeaseFile, WriteThenLoad) {
    LeaseTable t;
    t.put({mac(1), ip("10.0.0.10"), 1764000000, Lease::State::kBound});
    ASSERT_TRUE(save_leases(dir_ / "leases", t.serialize()).ok());
    EXPECT_FALSE(std::filesystem::exists(dir_ / "leases.tmp"));
    auto back = load_leases(dir_ / "leases");
    ASSERT_TRUE(back.ok());
    ASSERT_NE(back->by_mac(mac(1)), nullptr);
    EXPECT_EQ(back->by_mac(mac(1))->ip, ip("10.0.0.10"));
}

TEST_F(LeaseFile, WriteIntoMissingDirectoryFails) {
    EXPECT_FALSE(save_leases(dir_ / "nope" / "leases", "x").ok());
}

}  // namespace
}  // namespace rootfarm
