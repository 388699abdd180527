#pragma once

#include <sys/types.h>

#include <array>
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
    std::vector<pid_t> server_pids;  // their CPU and peak RSS are reported
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
};

struct StormReport {
    uint32_t clients = 0;
    double wall_s = 0;
    uint32_t failed = 0;
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

StormReport run_storm(const StormOptions& opt);

}  // namespace rootfarm::bench
