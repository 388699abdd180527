#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "bench/dhcp_client.h"
#include "bench/nfs_replay.h"
#include "bench/proc_stats.h"
#include "bench/stats.h"
#include "bench/tftp_client.h"
#include "bench/trace.h"

namespace rootfarm::bench {

struct StormOptions {
    uint32_t clients = 10;
    bool dhcp = true, tftp = true, nfs = true;
    double ramp_seconds = 0;  // Pi i starts at i * ramp / clients
    Ipv4 source_base;         // Pi i sends from source_base + i
    DhcpTarget dhcp_target;
    TftpTarget tftp_target;
    NfsTarget nfs_target;
    const Trace* trace = nullptr;
    // A pause after each NFS reply before the Pi's next call (0: none; the trace format carries
    // no timing of its own).
    std::chrono::microseconds think{0};
    // Event-loop threads the Pis are spread over (Pi i on thread i % threads); each thread runs
    // all of its Pis from one epoll loop.
    uint32_t threads = 1;
    // Pis not finished this long after the storm's start fail ("not booted within"), so a
    // bounded run still reports what did boot. 0: no limit.
    double time_limit_s = 0;
    std::vector<pid_t> server_pids;  // their CPU, peak RSS and descriptors are reported
};

struct BootRecord {
    uint32_t index = 0;
    Ipv4 source;
    bool ok = false;
    std::string error;
    double start_s = 0;  // offset from the storm's start
    double boot_s = 0;   // start to end of its last phase
    double dhcp_s = 0, tftp_s = 0, nfs_s = 0;
    uint64_t tftp_bytes = 0, tftp_files = 0, tftp_probes = 0;
    uint64_t tftp_timeouts = 0;  // retransmit timeouts, all transfers
    NfsReplayResult nfs;
};

struct PhaseReport {
    std::string name;
    Summary latency;   // per request: DHCP exchange, TFTP file, NFS call
    Summary per_boot;  // the phase's duration per Pi, in microseconds
    uint64_t ops = 0;
    uint64_t bytes = 0;
    double active_s = 0;  // first start to last end across Pis
};

struct ServerCost {
    pid_t pid = 0;
    double cpu_seconds = 0;  // during the storm
    uint64_t peak_rss_kib = 0;
    uint64_t rss_before_kib = 0;  // resident when the storm started
    uint64_t peak_fds = 0;        // open descriptors, sampled every 100 ms
    uint64_t peak_threads = 0;
};

struct StormReport {
    uint32_t clients = 0;
    double wall_s = 0;
    double last_boot_s = 0;  // when the last Pi finished (booted or failed), from the start
    uint32_t failed = 0;
    // The bench's own cost (all its threads, getrusage), to read next to the server's: a client
    // that uses the server's cores paces the storm itself.
    double bench_cpu_s = 0;
    uint64_t bench_peak_rss_kib = 0;
    uint32_t bench_threads = 1;
    std::vector<PhaseReport> phases;
    std::vector<ServerCost> servers;
    std::vector<BootRecord> boots;
    std::array<uint64_t, kProcCount> nfs_calls{};
    std::array<double, kProcCount> nfs_proc_us{};  // summed latency per procedure, all Pis
    // The NFS trace replayed (set by the caller): its file, calls, and "recorded" or
    // "synthetic" (from its header).
    std::string trace_path, trace_kind;
    uint64_t trace_calls = 0;
};

// Every Pi of the storm from `opt.threads` event loops (one thread each): a Pi's TFTP transfers
// and NFS calls cost the client a receive and a send, not a thread wake-up, so the storm is
// paced by the server rather than by the bench's own threads on the same cores.
StormReport run_storm(const StormOptions& opt);

}  // namespace rootfarm::bench
