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

}  // namespace rootfarm::bench
