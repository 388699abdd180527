#pragma once

#include <cstdint>
#include <vector>

namespace rootfarm::bench {

// Latency samples of one phase or operation kind, in microseconds.
struct Summary {
    uint64_t count = 0;
    double p50_us = 0;
    double p99_us = 0;
    double max_us = 0;
};

// Nearest-rank percentile (the smallest sample with at least q of the samples at or below it),
// so a reported p99 is always a latency that some request really had. q in [0, 1]. `sorted`
// must be ascending; 0 for an empty set.
double percentile(const std::vector<double>& sorted, double q);

// Sorts a copy and summarises it.
Summary summarise(std::vector<double> samples_us);

}  // namespace rootfarm::bench
