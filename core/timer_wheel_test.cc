#include "core/timer_wheel.h"

#include <gtest/gtest.h>

namespace rootfarm {
namespace {

TEST(TimerWheel, FiresInDeadlineOrderThenInsertionOrder) {
    TimerWheel wheel(8);  // small, so deadlines wrap the wheel several times
    std::vector<int> fired;
    wheel.add(20, [&] { fired.push_back(20); });
    wheel.add(3, [&] { fired.push_back(3); });
    wheel.add(11, [&] { fired.push_back(11); });  // same slot as 3 (mod 8), two rounds later
    wheel.add(3, [&] { fired.push_back(33); });
    wheel.add(1, [&] { fired.push_back(1); });
    for (int i = 0; i < 25; ++i) wheel.advance();
    EXPECT_EQ(fired, (std::vector<int>{1, 3, 33, 11, 20}));
    EXPECT_EQ(wheel.pending(), 0u);
}

TEST(TimerWheel, NeverFiresEarly) {
    TimerWheel wheel(8);
    bool fired = false;
    wheel.add(10, [&] { fired = true; });
    for (int i = 0; i < 9; ++i) {
        wheel.advance();
        ASSERT_FALSE(fired) << "after " << i + 1 << " ticks";
    }
    wheel.advance();
    EXPECT_TRUE(fired);
}

TEST(TimerWheel, CancelledTimersDoNotFire) {
    TimerWheel wheel;
    int count = 0;
    const TimerId a = wheel.add(2, [&] { ++count; });
    TimerId b = 0;
    // A callback may cancel a timer due in the same tick.
    wheel.add(2, [&] { wheel.cancel(b); });
    b = wheel.add(2, [&] { count += 100; });
    EXPECT_TRUE(wheel.cancel(a));
    EXPECT_FALSE(wheel.cancel(a));
    wheel.advance();
    wheel.advance();
    EXPECT_EQ(count, 0);
}

TEST(TimerWheel, CallbackMayAddTimers) {
    TimerWheel wheel(4);
    int fired = 0;
    wheel.add(1, [&] { wheel.add(4, [&] { ++fired; }); });  // lands in the slot being run
    for (int i = 0; i < 4; ++i) wheel.advance();
    EXPECT_EQ(fired, 0);
    wheel.advance();
    EXPECT_EQ(fired, 1);
}

TEST(TimerWheel, SkipToMovesAnIdleClockOnly) {
    TimerWheel wheel(8);
    wheel.skip_to(1000);
    EXPECT_EQ(wheel.now_tick(), 1000u);
    bool fired = false;
    wheel.add(3, [&] { fired = true; });
    wheel.skip_to(5000);  // a timer is pending: time moves only by advance()
    EXPECT_EQ(wheel.now_tick(), 1000u);
    wheel.advance();
    wheel.advance();
    EXPECT_FALSE(fired);
    wheel.advance();
    EXPECT_TRUE(fired);
}

}  // namespace
}  // namespace rootfarm
