#include "bench/proc_stats.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace rootfarm::bench {

Result<ProcSample> sample_process(pid_t pid) {
    std::string base = "/proc/" + std::to_string(pid);
    std::ifstream stat(base + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return std::errc::no_such_process;
    // proc(5): the command name (field 2) is in parentheses and may contain spaces.
    auto close = line.rfind(')');
    if (close == std::string::npos) return std::errc::invalid_argument;
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    unsigned long long ticks = 0;
    // utime, stime, and cutime, cstime: servers that fork per request (in.tftpd) are charged
    // for the children they have reaped.
    for (int i = 3; i <= 17 && rest >> field; ++i) {
        if (i >= 14) ticks += std::stoull(field);
    }
    ProcSample s;
    s.cpu_seconds = static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
    std::ifstream status(base + "/status");
    while (std::getline(status, line)) {
        if (line.starts_with("VmHWM:")) s.peak_rss_kib = std::stoull(line.substr(6));
    }
    return s;
}

Result<ResourceSample> sample_resources(pid_t pid) {
    std::string base = "/proc/" + std::to_string(pid);
    std::ifstream status(base + "/status");
    if (!status) return std::errc::no_such_process;
    ResourceSample s;
    std::string line;
    while (std::getline(status, line)) {
        if (line.starts_with("VmRSS:")) s.rss_kib = std::stoull(line.substr(6));
        if (line.starts_with("Threads:")) s.threads = std::stoull(line.substr(8));
    }
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(base + "/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        ++s.fds;
    }
    if (ec) return ec;
    return s;
}

}  // namespace rootfarm::bench
