#pragma once

#include <sys/types.h>

#include <cstdint>

#include "core/result.h"

namespace rootfarm::bench {

// A server process's cost so far, from /proc: utime+stime+cutime+cstime of /proc/PID/stat
// (fields 14-17, proc(5); children count once reaped) and its peak resident set, VmHWM of
// /proc/PID/status (the parent's only). Start servers in the foreground so the pid is the server.
struct ProcSample {
    double cpu_seconds = 0;
    uint64_t peak_rss_kib = 0;
};

Result<ProcSample> sample_process(pid_t pid);

// What a long-running server holds right now, for leak checks: its resident set (VmRSS of
// /proc/PID/status), open descriptors (entries of /proc/PID/fd; needs the server's user or
// root) and threads (Threads of /proc/PID/status).
struct ResourceSample {
    uint64_t rss_kib = 0;
    uint64_t fds = 0;
    uint64_t threads = 0;
};

Result<ResourceSample> sample_resources(pid_t pid);

}  // namespace rootfarm::bench
