#include "core/timer_wheel.h"

#include <algorithm>

namespace rootfarm {

TimerId TimerWheel::add(uint64_t ticks, std::function<void()> fn) {
    const TimerId id = next_id_++;
    const uint64_t deadline = now_ + std::max<uint64_t>(ticks, 1);
    timers_.emplace(id, Timer{deadline, std::move(fn)});
    slots_[deadline % slots_.size()].push_back(id);
    return id;
}

bool TimerWheel::cancel(TimerId id) {
    // The id stays in its slot and is skipped when the slot comes round.
    return timers_.erase(id) > 0;
}

void TimerWheel::skip_to(uint64_t tick) {
    if (timers_.empty() && tick > now_) {
        for (auto& slot : slots_) slot.clear();  // only cancelled ids can be left there
        now_ = tick;
    }
}

void TimerWheel::advance() {
    ++now_;
    auto& slot = slots_[now_ % slots_.size()];
    if (slot.empty()) return;
    // Ids are added in increasing order, so a slot lists equal deadlines in insertion order.
    std::vector<TimerId> due;
    std::vector<TimerId> later;
    for (TimerId id : slot) {
        auto it = timers_.find(id);
        if (it == timers_.end()) continue;
        (it->second.deadline <= now_ ? due : later).push_back(id);
    }
    slot = std::move(later);
    for (TimerId id : due) {
        auto it = timers_.find(id);
        if (it == timers_.end()) continue;  // cancelled by an earlier callback
        auto fn = std::move(it->second.fn);
        timers_.erase(it);
        fn();
    }
}

}  // namespace rootfarm
