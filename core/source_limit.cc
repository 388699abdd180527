#include "core/source_limit.h"

#include <algorithm>

namespace rootfarm {

SourceLimiter::SourceLimiter(std::string what, spdlog::logger& log, Options options,
                             std::function<std::string(uint64_t)> describe)
    : what_(std::move(what)), log_(log), options_(options), describe_(std::move(describe)) {}

void SourceLimiter::refill(Bucket& b, Clock::time_point now) const {
    if (now <= b.refilled) return;
    const double seconds = std::chrono::duration<double>(now - b.refilled).count();
    b.tokens = std::min(options_.burst, b.tokens + seconds * options_.per_second);
    b.refilled = now;
}

void SourceLimiter::set_over(Bucket& b, bool over) {
    if (b.over == over) return;
    b.over = over;
    over_.fetch_add(over ? 1 : -1, std::memory_order_relaxed);
}

bool SourceLimiter::spend(uint64_t source, double units, Clock::time_point now) {
    if (options_.per_second <= 0) return true;
    MutexLock lock(mu_);
    if (now >= next_report_) report(now);
    auto it = buckets_.find(source);
    if (it == buckets_.end()) {
        if (buckets_.size() >= options_.max_sources) forget_idle(now);
        it = buckets_.emplace(source, Bucket{options_.burst, now}).first;
    }
    Bucket& b = it->second;
    refill(b, now);
    if (b.tokens >= 1) {
        b.tokens -= std::max(units, 1.0);
        set_over(b, b.tokens < 1);
        return true;
    }
    refuse(b, source, now);
    return false;
}

void SourceLimiter::refuse(Bucket& b, uint64_t source, Clock::time_point now) {
    set_over(b, true);
    ++b.dropped;
    if (kernel_ != nullptr) (void)kernel_->hold(source, now);
    if (!b.flooding) {
        b.flooding = true;
        log_.warn("{}: more than {:g} {} a second: dropping them, with a count every {} s{}",
                  describe_(source), options_.per_second, what_, options_.report_every.count(),
                  kernel_ != nullptr ? " (the kernel drops its datagrams meanwhile, uncounted)"
                                     : "");
    }
}

bool SourceLimiter::blocked(uint64_t source, Clock::time_point now) {
    if (over_.load(std::memory_order_relaxed) == 0) return false;
    MutexLock lock(mu_);
    if (now >= next_report_) report(now);
    auto it = buckets_.find(source);
    if (it == buckets_.end()) return false;
    Bucket& b = it->second;
    refill(b, now);
    if (b.tokens >= 1) {
        set_over(b, false);
        return false;
    }
    refuse(b, source, now);
    return true;
}

size_t SourceLimiter::tracked() const {
    MutexLock lock(mu_);
    return buckets_.size();
}

// Once per interval: one line per source that had drops, and buckets that have refilled stop
// counting as over (a source that went quiet must not keep blocked() off its fast path).
void SourceLimiter::report(Clock::time_point now) {
    next_report_ = now + options_.report_every;
    for (auto& [source, b] : buckets_) {
        refill(b, now);
        set_over(b, b.tokens < 1);
        if (b.dropped > 0) {
            log_.warn("{}: dropped {} {} in the last {} s", describe_(source), b.dropped, what_,
                      options_.report_every.count());
        } else {
            b.flooding = false;  // a whole quiet interval: the next refusal is news again
        }
        b.dropped = 0;
    }
}

// Makes room for a new source: first the sources whose budget is full again (they cost
// nothing to forget); when every tracked source is spending (a flood from spoofed addresses),
// all of them, since a forgotten source only regains its burst.
void SourceLimiter::forget_idle(Clock::time_point now) {
    for (auto it = buckets_.begin(); it != buckets_.end();) {
        Bucket& b = it->second;
        refill(b, now);
        if (b.tokens < options_.burst || b.flooding) {
            ++it;
            continue;
        }
        set_over(b, false);
        it = buckets_.erase(it);
    }
    if (buckets_.size() < options_.max_sources) return;
    for (auto& [source, b] : buckets_) set_over(b, false);
    buckets_.clear();
}

}  // namespace rootfarm
