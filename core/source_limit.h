#pragma once

// What one source (an address, a MAC) may cost per second before a service stops answering
// it, and a log line per interval that says how much was dropped instead of one per packet.
// A token bucket per source: `burst` at once, refilled at `per_second`.

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>

#include "core/datagram_filter.h"
#include "core/mutex.h"
#include "core/thread_annotations.h"

namespace rootfarm {

class SourceLimiter {
  public:
    using Clock = std::chrono::steady_clock;

    struct Options {
        double per_second = 50;  // sustained budget; 0 = no limit
        double burst = 100;      // what a source may spend at once
        std::chrono::seconds report_every{10};
        size_t max_sources = 4096;  // sources tracked at once (bounds memory under a spoof flood)

        // `per_second`, with bursts of five seconds' worth: a client's boot comes in bursts.
        static Options rate(double per_second) { return {per_second, 5 * per_second}; }
    };

    // `what` names the unit in log lines ("bogus RPC calls"); `describe` turns a source key
    // into what an operator recognises (an address, a MAC). `log` must outlive this object.
    SourceLimiter(std::string what, spdlog::logger& log, Options options,
                  std::function<std::string(uint64_t)> describe);

    // Charges one unit to `source`. False when it has no budget left: the caller drops what
    // the source asked for. The first refusal is logged at once, later ones once per
    // report_every as a count.
    bool charge(uint64_t source, Clock::time_point now = Clock::now()) {
        return spend(source, 1, now);
    }

    // As charge(), for something that cost `units` (>= 1): a source with budget left is served
    // and may go into debt, which it pays off before it is served again. So one costly request
    // (a megabyte of an oversized record) weighs as much as that many cheap ones.
    bool spend(uint64_t source, double units, Clock::time_point now = Clock::now());

    // True when `source` is over its budget right now: the caller drops its request, which is
    // counted as charge() counts a refusal. Within budget nothing is charged (the caller charges
    // what turns out to cost). Costs one atomic load while no source is over its budget, so it
    // can sit on a hot path.
    bool blocked(uint64_t source, Clock::time_point now = Clock::now());

    // From now on a source refused for being over its budget is also held in `filter` (keyed
    // as this limiter's sources), so the kernel drops its datagrams for a while instead of
    // waking the service for each. `filter` must outlive this object.
    void drop_in_kernel(DatagramDropFilter* filter) { kernel_ = filter; }

    // Sources tracked right now (for tests of the bound).
    size_t tracked() const;

  private:
    struct Bucket {
        double tokens = 0;
        Clock::time_point refilled;
        uint64_t dropped = 0;   // since the last report
        bool over = false;      // counted in over_
        bool flooding = false;  // refused since its last quiet interval (announced)
    };

    void refill(Bucket& b, Clock::time_point now) const;
    void set_over(Bucket& b, bool over);
    void refuse(Bucket& b, uint64_t source, Clock::time_point now);
    void report(Clock::time_point now) REQUIRES(mu_);
    void forget_idle(Clock::time_point now) REQUIRES(mu_);

    const std::string what_;
    spdlog::logger& log_;
    const Options options_;
    const std::function<std::string(uint64_t)> describe_;

    mutable Mutex mu_;
    std::unordered_map<uint64_t, Bucket> buckets_ GUARDED_BY(mu_);
    Clock::time_point next_report_ GUARDED_BY(mu_){};
    std::atomic<int> over_{0};  // buckets with over == true
    DatagramDropFilter* kernel_ = nullptr;
};

}  // namespace rootfarm
