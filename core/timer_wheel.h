#pragma once

#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

namespace rootfarm {

using TimerId = uint64_t;

// A hashed timer wheel counted in ticks. The owner calls advance() once per tick (our loop
// drives it with one io_uring timeout per tick); callbacks run from advance() in the order
// their deadlines fall, timers with equal deadlines in the order they were added.
class TimerWheel {
  public:
    explicit TimerWheel(size_t slots = 512) : slots_(slots) {}

    // Fires after `ticks` calls of advance() (at least one).
    TimerId add(uint64_t ticks, std::function<void()> fn);
    bool cancel(TimerId id);
    // Moves time one tick forward and runs what is due.
    void advance();
    // With no timer pending, moves time straight to `tick` (a later one): an idle owner stops
    // calling advance(), and a timer added after the pause must count from now, not from then.
    void skip_to(uint64_t tick);
    size_t pending() const { return timers_.size(); }
    uint64_t now_tick() const { return now_; }

  private:
    struct Timer {
        uint64_t deadline;
        std::function<void()> fn;
    };
    std::vector<std::vector<TimerId>> slots_;
    std::unordered_map<TimerId, Timer> timers_;
    uint64_t now_ = 0;
    TimerId next_id_ = 1;
};

}  // namespace rootfarm
