#pragma once

// rootfarm-bench soak: simulated Pis run a steady mixed workload (the NFS trace again and again,
// small TFTP fetches, DHCP renewals) against a running server for a bounded time while the
// server's resources are sampled, and a verdict says whether they stayed flat.

#include <sys/types.h>

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "bench/dhcp_client.h"
#include "bench/nfs_replay.h"
#include "bench/stats.h"
#include "bench/tftp_client.h"
#include "bench/trace.h"
#include "core/result.h"

namespace rootfarm::bench {

struct SoakOptions {
    uint32_t pis = 64;
    double seconds = 600;      // no Pi starts a new round after this; rounds under way finish
    double sample_every = 10;  // server sampling period
    double tftp_every = 60;    // each Pi fetches its small boot files this often
    double dhcp_every = 60;    // each Pi renews its lease this often
    Ipv4 source_base;          // Pi i sends from source_base + i
    DhcpTarget dhcp_target;
    TftpTarget tftp_target;
    NfsTarget nfs_target;
    const Trace* trace = nullptr;  // must leave the view as it found it (bench/synth.h)
    pid_t server_pid = 0;
    std::filesystem::path state_dir;  // the server's state_dir; empty: journals not sampled

    // The verdict. Warm-up is the first `warmup_fraction` of `seconds` or, with a state_dir,
    // until every client's journal has been compacted once if that is later: until then the
    // store holds a growing, bounded amount per client (the journal since its snapshot), and a
    // 64-Pi run on 2 cores takes about 8 minutes to get there. After the warm-up, the largest
    // RSS sample may exceed the largest of the warm-up by at most rss_growth_pct, descriptors and
    // threads by at most their slack. A client journal may hold at most
    // max(journal_cap_bytes, 2 x its snapshot + 1 MiB) in any sample.
    // Descriptors move with the workload: every Pi closes its MOUNT and NFS connections after a
    // round and opens new ones, and TFTP transfers come and go, so a sample catches some of
    // them. fd_slack < 0 means max(8, pis / 2); a leak of one descriptor per round still adds
    // one per replay, hundreds in a 10-minute run of 64 Pis.
    double warmup_fraction = 0.2;
    double rss_growth_pct = 10;
    int64_t fd_slack = -1;
    uint64_t thread_slack = 0;
    // The store compacts a journal once it holds more than max(4 MiB, 2 x the last snapshot)
    // (store/view_state.cc); 1 MiB more covers the commit that crossed the threshold.
    uint64_t journal_cap_bytes = 5u << 20;
};

struct SoakSample {
    double t_s = 0;
    bool ok = false;  // the server process was there to sample
    uint64_t rss_kib = 0, fds = 0, threads = 0;
    uint64_t journals = 0;            // clients/*/journal files
    uint64_t journal_bytes = 0;       // their total size
    uint64_t journal_max_bytes = 0;   // the largest one
    uint64_t snapshot_bytes = 0;      // total of clients/*/snapshot
    uint64_t over_bound = 0;          // journals above their bound (SoakOptions)
    uint64_t compacted = 0;           // clients whose journal has shrunk at least once so far
    uint64_t rounds = 0, errors = 0;  // the workload's totals so far
};

struct SoakCheck {
    std::string name;
    bool ok = false;
    std::string detail;
};

struct SoakReport {
    SoakOptions options;
    double wall_s = 0;
    uint64_t rounds = 0;  // complete trace replays
    uint64_t nfs_calls = 0, tftp_fetches = 0, dhcp_exchanges = 0;
    uint64_t errors = 0;
    std::vector<std::string> first_errors;            // up to 10, "t=12.3s pi 4: ..."
    Summary nfs_latency, tftp_latency, dhcp_latency;  // NFS: every 10th call
    uint64_t compactions_seen = 0;  // a journal found smaller than at the sample before
    std::vector<SoakSample> samples;
    std::vector<SoakCheck> checks;
    bool pass = false;
};

SoakReport run_soak(const SoakOptions& opt);

// When the warm-up ends (seconds from the start), as SoakOptions says.
double soak_warmup_end(const SoakReport& rep);

// The verdict over `rep.samples` and the error count (fills checks and pass).
void judge_soak(SoakReport& rep);

void print_soak(std::ostream& out, const SoakReport& rep);
std::string soak_json(const SoakReport& rep);
// RSS, descriptors, threads and journal bytes over time (gnuplot, as write_plot).
Result<void> plot_soak(const SoakReport& rep, const std::filesystem::path& png,
                       std::string& message);

}  // namespace rootfarm::bench
