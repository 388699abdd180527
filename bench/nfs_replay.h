#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/trace.h"
#include "core/net.h"
#include "core/result.h"

namespace rootfarm::bench {

struct NfsTarget {
    std::string server = "127.0.0.1";
    uint16_t nfs_port = 2049;
    uint16_t mount_port = 20048;
    // The export a Pi mounts; "{i}" is replaced by the Pi's index (for peers that need one
    // export per client, like nfs-ganesha on a copy of the image per Pi).
    std::string export_path = "/";
    std::chrono::milliseconds call_timeout{30000};
};

struct NfsReplayResult {
    double mount_us = 0;
    std::vector<double> op_us;  // per trace op, in order
    std::array<uint64_t, kProcCount> calls{};
    std::array<double, kProcCount> proc_us{};  // summed latency per procedure
    uint64_t failed_ops = 0;                   // an NFS status other than the expected one
    uint64_t resolve_lookups = 0;              // extra LOOKUPs to turn trace paths into handles
    uint64_t bytes_read = 0;
    uint64_t bytes_written = 0;
    std::string first_error;
};

// Mounts (MOUNT v3 MNT over TCP) from `source` and replays `trace` in order, one call in
// flight, as the kernel's boot issues them mostly serially. Handles are resolved by path on the
// target with LOOKUP and cached like the kernel's dentry cache. A call whose status is not the
// one the trace expects (OK unless the line says otherwise, e.g. "=NOENT" for a negative
// lookup) counts in failed_ops. Errors only when the mount or the connection fails (a call
// unanswered for call_timeout: timed_out). With `think`, each call's reply is followed by that
// pause before the next call (the trace format carries no timing, so the pause is fixed).
//
// As a state machine for an event loop that runs many Pis from one thread: start(), then watch
// fd() for events() (poll(2) bits; none while pausing, fd() -1) and call service() with the
// revents when it is ready, or with 0 once deadline() (the call's timeout or the pause's end)
// has passed, until finished(). `target` and `trace` must outlive it.
class NfsReplay {
  public:
    NfsReplay(Ipv4 source, const NfsTarget& target, const Trace& trace, uint32_t index,
              std::chrono::microseconds think = {});
    ~NfsReplay();
    NfsReplay(const NfsReplay&) = delete;
    NfsReplay& operator=(const NfsReplay&) = delete;

    void start();
    bool finished() const;
    int fd() const;
    short events() const;
    std::chrono::steady_clock::time_point deadline() const;
    void service(int revents);
    // Once finished() (or, given up on, what it did so far): the replay's outcome (moved out),
    // and what first went wrong.
    Result<NfsReplayResult> result();
    std::string first_error() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// The same, driven from the calling thread.
Result<NfsReplayResult> nfs_replay(Ipv4 source, const NfsTarget& target, const Trace& trace,
                                   uint32_t index, std::chrono::microseconds think = {});

// Micro benchmark: `threads` connections each issue `proc` (GETATTR, LOOKUP, READDIRPLUS or
// READ of 1 MiB) on `path` back to back for `seconds`. Returns completed calls.
Result<uint64_t> nfs_micro(Ipv4 source, const NfsTarget& target, Proc proc, const std::string& path,
                           double seconds, uint32_t index, uint32_t read_count = 1 << 20);

// One call of a closed loop: when it started (seconds on the steady clock since `t0` of
// nfs_probe) and how long it took.
struct TimedCall {
    double start_s = 0;
    double us = 0;
};

struct NfsProbeResult {
    std::vector<TimedCall> calls;  // completed calls with status OK
    uint64_t errors = 0;           // failed mounts, connection errors, statuses other than OK
    std::vector<double> error_s;   // when each error happened (as TimedCall::start_s)
    std::string first_error;
};

// A quiet client for fairness measurements: mounts from `source`, then until `stop` is set
// (checked between calls) issues LOOKUP of `path` in its parent, GETATTR and a 4 KiB READ of
// it, in turn, one in flight. A failed call is counted and, when the connection failed, the
// client mounts again (after 100 ms) rather than stopping: the loss is the measurement.
NfsProbeResult nfs_probe(Ipv4 source, const NfsTarget& target, const std::string& path,
                         std::chrono::steady_clock::time_point t0, const std::atomic<bool>& stop,
                         uint32_t index);

// The file handle of `path` (mounted and looked up from `source`), for a raw client that
// builds its own calls.
Result<std::string> nfs_file_handle(Ipv4 source, const NfsTarget& target, const std::string& path);

}  // namespace rootfarm::bench
