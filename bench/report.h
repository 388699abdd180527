#pragma once

#include <filesystem>
#include <ostream>
#include <string>

#include "bench/storm.h"
#include "core/result.h"

namespace rootfarm::bench {

// `v` formatted by the printf format `f` (one double conversion).
std::string fmt(const char* f, double v);
// A JSON string literal of `s` (quotes, backslashes and control characters escaped).
std::string json_string(const std::string& s);
// {"count": .., "p50_us": .., "p99_us": .., "max_us": ..}
std::string summary_json(const Summary& s);

// The human table: wall time, failed boots, per-phase latency/throughput, server cost.
void print_table(std::ostream& out, const StormReport& rep);

// The same as JSON (hand-formatted), with one record per simulated boot. `label` names the
// server set ("rootfarm", "dnsmasq+ganesha") for bench/compare.
std::string to_json(const StormReport& rep, const std::string& label);

// Time-to-boot CDF. Writes FILE.dat and FILE.gp next to `png` and runs Debian's gnuplot on
// them when it is installed; without it, says so and leaves the script for later.
Result<void> write_plot(const StormReport& rep, const std::filesystem::path& png,
                        std::string& message);

// Runs Debian's gnuplot on the script `gp` that draws `png` (pngcairo, or png when this gnuplot
// lacks cairo). Without gnuplot, says so in `message` and leaves the script for later.
Result<void> run_gnuplot(const std::filesystem::path& gp, const std::filesystem::path& png,
                         std::string& message);

}  // namespace rootfarm::bench
