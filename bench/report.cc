#include "bench/report.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace rootfarm::bench {

namespace {

double rate(double n, double s) {
    return s > 0 ? n / s : 0;
}

}  // namespace

std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

std::string summary_json(const Summary& s) {
    std::ostringstream o;
    o << "{\"count\": " << s.count << ", \"p50_us\": " << fmt("%.1f", s.p50_us)
      << ", \"p99_us\": " << fmt("%.1f", s.p99_us) << ", \"max_us\": " << fmt("%.1f", s.max_us)
      << "}";
    return o.str();
}

void print_table(std::ostream& out, const StormReport& rep) {
    out << "storm: " << rep.clients << " Pis, wall " << fmt("%.3f", rep.wall_s)
        << " s, failed boots " << rep.failed << "\n";
    if (!rep.trace_path.empty()) {
        out << "nfs trace: " << rep.trace_path << " (" << rep.trace_kind << ", " << rep.trace_calls
            << " calls per Pi)\n";
    }
    char line[256];
    std::snprintf(line, sizeof line, "%-5s %9s %10s %10s %10s %11s %11s %12s\n", "phase", "ops",
                  "p50 ms", "p99 ms", "max ms", "ops/s", "MiB/s", "boot p50 ms");
    out << line;
    for (const PhaseReport& p : rep.phases) {
        std::snprintf(line, sizeof line, "%-5s %9llu %10.3f %10.3f %10.3f %11.0f %11.2f %12.1f\n",
                      p.name.c_str(), static_cast<unsigned long long>(p.ops),
                      p.latency.p50_us / 1e3, p.latency.p99_us / 1e3, p.latency.max_us / 1e3,
                      rate(static_cast<double>(p.ops), p.active_s),
                      rate(static_cast<double>(p.bytes) / (1 << 20), p.active_s),
                      p.per_boot.p50_us / 1e3);
        out << line;
    }
    for (const ServerCost& s : rep.servers) {
        out << "server pid " << s.pid << ": CPU " << fmt("%.3f", s.cpu_seconds) << " s ("
            << fmt("%.4f", rep.clients ? s.cpu_seconds / rep.clients : 0)
            << " s per boot), peak RSS " << s.peak_rss_kib / 1024 << " MiB ("
            << s.rss_before_kib / 1024 << " MiB before, "
            << fmt("%.0f",
                   rep.clients && s.peak_rss_kib > s.rss_before_kib
                       ? static_cast<double>(s.peak_rss_kib - s.rss_before_kib) / rep.clients
                       : 0)
            << " KiB per Pi), peak fds " << s.peak_fds << ", threads " << s.peak_threads << "\n";
    }
    out << "bench: CPU " << fmt("%.3f", rep.bench_cpu_s) << " s ("
        << fmt("%.4f", rep.clients ? rep.bench_cpu_s / rep.clients : 0) << " s per boot) on "
        << rep.bench_threads << " event-loop thread" << (rep.bench_threads == 1 ? "" : "s")
        << ", peak RSS " << rep.bench_peak_rss_kib / 1024 << " MiB; last boot at "
        << fmt("%.3f", rep.last_boot_s) << " s\n";
    bool any = false;
    for (int k = 0; k < kProcCount; ++k) any = any || rep.nfs_calls[k];
    if (any) {
        out << "nfs mean ms per call:";
        for (int k = 0; k < kProcCount; ++k) {
            if (!rep.nfs_calls[k]) continue;
            out << " " << proc_name(static_cast<Proc>(k)) << " "
                << fmt("%.2f", rep.nfs_proc_us[k] / rep.nfs_calls[k] / 1e3);
        }
        out << "\n";
    }
    for (const BootRecord& b : rep.boots) {
        if (!b.ok) {
            out << "  Pi " << b.index << " (" << b.source.to_string() << ") failed: " << b.error
                << "\n";
            break;  // the first one; the JSON has them all
        }
    }
}

std::string to_json(const StormReport& rep, const std::string& label) {
    std::ostringstream o;
    o << "{\n  \"label\": " << json_string(label) << ",\n  \"clients\": " << rep.clients
      << ",\n  \"wall_s\": " << fmt("%.6f", rep.wall_s) << ",\n  \"failed_boots\": " << rep.failed;
    double cpu = 0;
    uint64_t rss = 0;
    for (const ServerCost& s : rep.servers) {
        cpu += s.cpu_seconds;
        rss += s.peak_rss_kib;
    }
    // Totals over the server's processes (dnsmasq + ganesha count as one server set).
    o << ",\n  \"server_cpu_s\": " << fmt("%.3f", cpu)
      << ",\n  \"server_cpu_s_per_boot\": " << fmt("%.6f", rep.clients ? cpu / rep.clients : 0)
      << ",\n  \"server_peak_rss_kib\": " << rss
      << ",\n  \"bench_cpu_s\": " << fmt("%.3f", rep.bench_cpu_s)
      << ",\n  \"bench_cpu_s_per_boot\": "
      << fmt("%.6f", rep.clients ? rep.bench_cpu_s / rep.clients : 0)
      << ",\n  \"bench_peak_rss_kib\": " << rep.bench_peak_rss_kib
      << ",\n  \"bench_threads\": " << rep.bench_threads
      << ",\n  \"last_boot_s\": " << fmt("%.6f", rep.last_boot_s)
      << ",\n  \"trace\": {\"path\": " << json_string(rep.trace_path)
      << ", \"kind\": " << json_string(rep.trace_kind) << ", \"calls\": " << rep.trace_calls << "}"
      << ",\n  \"phases\": [";
    for (size_t i = 0; i < rep.phases.size(); ++i) {
        const PhaseReport& p = rep.phases[i];
        o << (i ? "," : "") << "\n    {\"name\": " << json_string(p.name) << ", \"ops\": " << p.ops
          << ", \"bytes\": " << p.bytes << ", \"active_s\": " << fmt("%.6f", p.active_s)
          << ", \"ops_per_s\": " << fmt("%.1f", rate(static_cast<double>(p.ops), p.active_s))
          << ", \"bytes_per_s\": " << fmt("%.1f", rate(static_cast<double>(p.bytes), p.active_s))
          << ",\n     \"latency\": " << summary_json(p.latency)
          << ",\n     \"per_boot\": " << summary_json(p.per_boot) << "}";
    }
    o << "\n  ],\n  \"servers\": [";
    for (size_t i = 0; i < rep.servers.size(); ++i) {
        const ServerCost& s = rep.servers[i];
        o << (i ? ", " : "") << "{\"pid\": " << s.pid
          << ", \"cpu_s\": " << fmt("%.3f", s.cpu_seconds)
          << ", \"cpu_s_per_boot\": " << fmt("%.6f", rep.clients ? s.cpu_seconds / rep.clients : 0)
          << ", \"peak_rss_kib\": " << s.peak_rss_kib
          << ", \"rss_before_kib\": " << s.rss_before_kib << ", \"peak_fds\": " << s.peak_fds
          << ", \"peak_threads\": " << s.peak_threads << "}";
    }
    o << "],\n  \"nfs_calls\": {";
    for (int k = 0; k < kProcCount; ++k) {
        o << (k ? ", " : "") << json_string(std::string(proc_name(static_cast<Proc>(k)))) << ": "
          << rep.nfs_calls[k];
    }
    o << "},\n  \"nfs_mean_us\": {";
    for (int k = 0; k < kProcCount; ++k) {
        double mean = rep.nfs_calls[k] ? rep.nfs_proc_us[k] / rep.nfs_calls[k] : 0;
        o << (k ? ", " : "") << json_string(std::string(proc_name(static_cast<Proc>(k)))) << ": "
          << fmt("%.1f", mean);
    }
    o << "},\n  \"boots\": [";
    for (size_t i = 0; i < rep.boots.size(); ++i) {
        const BootRecord& b = rep.boots[i];
        o << (i ? "," : "") << "\n    {\"index\": " << b.index
          << ", \"source\": " << json_string(b.source.to_string())
          << ", \"ok\": " << (b.ok ? "true" : "false")
          << ", \"start_s\": " << fmt("%.6f", b.start_s)
          << ", \"boot_s\": " << fmt("%.6f", b.boot_s) << ", \"dhcp_s\": " << fmt("%.6f", b.dhcp_s)
          << ", \"tftp_s\": " << fmt("%.6f", b.tftp_s) << ", \"nfs_s\": " << fmt("%.6f", b.nfs_s)
          << ", \"tftp_bytes\": " << b.tftp_bytes << ", \"tftp_files\": " << b.tftp_files
          << ", \"tftp_probes\": " << b.tftp_probes << ", \"tftp_timeouts\": " << b.tftp_timeouts
          << ", \"nfs_calls\": " << b.nfs.op_us.size()
          << ", \"nfs_resolve_lookups\": " << b.nfs.resolve_lookups
          << ", \"nfs_failed\": " << b.nfs.failed_ops;
        if (!b.error.empty()) o << ", \"error\": " << json_string(b.error);
        o << "}";
    }
    o << "\n  ]\n}\n";
    return o.str();
}

Result<void> write_plot(const StormReport& rep, const std::filesystem::path& png,
                        std::string& message) {
    std::vector<double> times;
    for (const BootRecord& b : rep.boots) {
        if (b.ok) times.push_back(b.boot_s);
    }
    std::sort(times.begin(), times.end());
    if (times.empty()) {
        message = "no Pi booted: nothing to plot";
        return {};
    }
    auto dat = png;
    dat.replace_extension(".dat");
    auto gp = png;
    gp.replace_extension(".gp");
    {
        std::ofstream d(dat);
        // A CDF starts at 0: no Pi has booted before the fastest one.
        d << times.front() << " 0\n";
        for (size_t i = 0; i < times.size(); ++i) {
            d << times[i] << ' ' << static_cast<double>(i + 1) / rep.clients << '\n';
        }
        std::ofstream g(gp);
        g << "set terminal pngcairo size 900,560\nset output '" << png.string() << "'\n"
          << "set title 'rootfarm-bench: " << rep.clients << " Pis, time to boot per Pi (CDF)'\n"
          << "set xlabel 'seconds from the Pi''s first DHCP packet to its last NFS reply'\n"
          << "set ylabel 'fraction of Pis booted'\n"
          << "set yrange [0:1]\nset grid\nset key off\n"
          << "plot '" << dat.string() << "' using 1:2 with steps lw 2\n";
        if (!d || !g) return std::errc::io_error;
    }
    return run_gnuplot(gp, png, message);
}

Result<void> run_gnuplot(const std::filesystem::path& gp, const std::filesystem::path& png,
                         std::string& message) {
    // No plotting library among our dependencies: use Debian's gnuplot when present.
    if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
        message = "gnuplot not installed: wrote " + gp.string() + " (run `gnuplot " + gp.string() +
                  "` to draw " + png.string() + ")";
        return {};
    }
    std::string cmd = "gnuplot '" + gp.string() + "'";
    if (std::system(cmd.c_str()) != 0) {
        // pngcairo missing (gnuplot-nox has it; some builds do not): fall back to png.
        std::string text;
        {
            std::ifstream in(gp);
            std::stringstream ss;
            ss << in.rdbuf();
            text = ss.str();
        }
        auto pos = text.find("pngcairo");
        if (pos != std::string::npos) text.replace(pos, 8, "png");
        std::ofstream(gp) << text;
        if (std::system(cmd.c_str()) != 0) return std::errc::io_error;
    }
    message = "plot written by gnuplot: " + png.string();
    return {};
}

}  // namespace rootfarm::bench
