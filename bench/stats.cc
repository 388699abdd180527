#include "bench/stats.h"

#include <algorithm>
#include <cmath>

namespace rootfarm::bench {

double percentile(const std::vector<double>& sorted, double q) {
    if (sorted.empty()) return 0;
    q = std::clamp(q, 0.0, 1.0);
    auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
    if (rank == 0) rank = 1;
    return sorted[rank - 1];
}

Summary summarise(std::vector<double> samples_us) {
    std::sort(samples_us.begin(), samples_us.end());
    Summary s;
    s.count = samples_us.size();
    s.p50_us = percentile(samples_us, 0.50);
    s.p99_us = percentile(samples_us, 0.99);
    s.max_us = samples_us.empty() ? 0 : samples_us.back();
    return s;
}

}  // namespace rootfarm::bench
