#pragma once

// rootfarm-bench flood: fairness under hostile traffic. Quiet Pis measure NFS latency in a
// closed loop, first alone, then while one other source address floods the server.

#include <sys/types.h>

#include <ostream>
#include <string>
#include <vector>

#include "bench/flooders.h"
#include "bench/nfs_replay.h"
#include "bench/stats.h"

namespace rootfarm::bench {

struct FloodOptions {
    uint32_t quiet = 8;   // quiet Pi i sends from source_base + i
    double seconds = 10;  // each phase
    // rpc-garbage, oversized-record, dhcp-discover, tftp-rrq, all (those four interleaved in
    // one thread), no-read, or cpu (the control: a flooder thread that only spins).
    std::string mode = "all";
    std::string path = "/etc/hostname";  // the quiet Pis' LOOKUP/GETATTR/READ object
    // no-read: READ calls of 1 MiB of this file (its replies fill the unread connection).
    std::string read_path = "/usr/lib/aarch64-linux-gnu/libcrypto.so.3";
    Ipv4 source_base;
    FloodTargets flood;  // flood.source: the flooder's address (default source_base + quiet)
    NfsTarget nfs_target;
    pid_t server_pid = 0;  // its RSS is sampled around the flood
    double max_ratio = 0;  // > 0: p99 flooded / p99 quiet above it fails the run
    // The flooder stops early once the server's RSS passes this: a server that buffers without
    // bound must not take the machine down with it.
    uint64_t rss_limit_kib = 2u << 20;
    // >= 0: the CPU the quiet Pis' threads, and the flooder's thread, are pinned to. A flooder
    // is another Pi with a CPU of its own: on a machine with few cores, pinning it away from the
    // server (and the server away from it, e.g. with taskset) keeps its own spinning out of the
    // quiet Pis' latency, which the "cpu" control mode shows.
    int quiet_cpu = -1;
    int flooder_cpu = -1;
};

struct FloodReport {
    FloodOptions options;
    Summary quiet, flooded;  // the quiet Pis' calls in each phase
    uint64_t quiet_errors = 0, flooded_errors = 0;
    std::vector<std::string> first_errors;
    double ratio = 0;  // flooded.p99_us / quiet.p99_us
    double flood_s = 0;
    std::vector<FlooderStats> flooders;
    bool no_read = false;
    NoReadResult no_read_result;
    // The server's VmRSS before the flood phase, the largest during it, and 1 s after the
    // flooder stopped; its descriptors before and after.
    uint64_t rss_before_kib = 0, rss_after_kib = 0, rss_max_kib = 0;
    uint64_t fds_before = 0, fds_after = 0;
    double rss_limit_hit_s = -1;  // when the flooder was stopped at rss_limit_kib (-1: never)
    bool pass = false;            // no quiet errors, and the ratio within max_ratio when set
};

// Errors: invalid_argument for an unknown mode; the no-read client's file handle lookup.
Result<FloodReport> run_flood(const FloodOptions& opt);

void print_flood(std::ostream& out, const FloodReport& rep);
std::string flood_json(const FloodReport& rep);

}  // namespace rootfarm::bench
