#include "bench/flood.h"

#include <poll.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <thread>

#include "bench/proc_stats.h"
#include "bench/report.h"

namespace rootfarm::bench {

namespace {

using Clock = std::chrono::steady_clock;

Result<std::vector<std::unique_ptr<Flooder>>> make_flooders(const FloodOptions& opt) {
    std::vector<std::unique_ptr<Flooder>> f;
    const std::string& m = opt.mode;
    if (m == "rpc-garbage" || m == "all") f.push_back(rpc_garbage_flooder(opt.flood));
    if (m == "oversized-record" || m == "all") f.push_back(oversized_record_flooder(opt.flood));
    if (m == "dhcp-discover" || m == "all") f.push_back(dhcp_discover_flooder(opt.flood));
    if (m == "tftp-rrq" || m == "all") f.push_back(tftp_rrq_flooder(opt.flood));
    if (f.empty() && m != "cpu") return std::errc::invalid_argument;
    return f;
}

// One thread, every flooder in turn, as fast as they go; a short wait only when none of them
// could send (full socket buffers), so the flooder does not spin on a CPU the server needs.
void drive(std::vector<std::unique_ptr<Flooder>>& flooders, const std::atomic<bool>& stop) {
    // "cpu": the control. The flooder's thread spins without sending anything, showing how much
    // of a slowdown is its own CPU on a machine it shares with the server.
    if (flooders.empty()) {
        while (!stop.load(std::memory_order_relaxed)) {
        }
        return;
    }
    while (!stop.load(std::memory_order_relaxed)) {
        bool any = false;
        for (auto& f : flooders) any = f->pump() || any;
        if (!any) ::poll(nullptr, 0, 1);
    }
    for (auto& f : flooders) f->finish(std::chrono::milliseconds(300));
}

// Pins the calling thread to `cpu` (nothing when negative; run_flood checked that it exists).
void pin_to(int cpu) {
    if (cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    ::sched_setaffinity(0, sizeof set, &set);
}

}  // namespace

Result<FloodReport> run_flood(const FloodOptions& opt) {
    FloodReport rep;
    rep.options = opt;
    rep.no_read = opt.mode == "no-read";
    std::vector<std::unique_ptr<Flooder>> flooders;
    std::string fh;
    if (rep.no_read) {
        auto h = nfs_file_handle(opt.flood.source, opt.nfs_target, opt.read_path);
        if (!h) return h.error();
        fh = *h;
    } else {
        auto f = make_flooders(opt);
        if (!f) return f.error();
        flooders = std::move(*f);
    }
    raise_fd_limit();
    for (int cpu : {opt.quiet_cpu, opt.flooder_cpu}) {
        // Checked here, so a bad CPU fails the run instead of leaving a thread unpinned.
        if (cpu >= static_cast<int>(std::thread::hardware_concurrency())) {
            return std::errc::invalid_argument;
        }
    }

    const auto t0 = Clock::now();
    std::atomic<bool> stop_quiet{false}, stop_flood{false};
    std::vector<NfsProbeResult> probes(opt.quiet);
    std::vector<std::jthread> quiet;
    for (uint32_t i = 0; i < opt.quiet; ++i) {
        quiet.emplace_back([&, i] {
            pin_to(opt.quiet_cpu);
            probes[i] = nfs_probe(Ipv4{opt.source_base.value + i}, opt.nfs_target, opt.path, t0,
                                  stop_quiet, i);
        });
    }
    auto rss = [&](uint64_t& rss_kib, uint64_t* fds) {
        if (auto s = sample_resources(opt.server_pid)) {
            rss_kib = s->rss_kib;
            if (fds) *fds = s->fds;
        }
    };
    const auto flood_start = t0 + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(opt.seconds));
    const auto flood_end = flood_start + (flood_start - t0);
    std::this_thread::sleep_until(flood_start);
    rss(rep.rss_before_kib, &rep.fds_before);
    rep.rss_max_kib = rep.rss_before_kib;
    {
        std::jthread flooder([&] {
            pin_to(opt.flooder_cpu);
            if (rep.no_read) {
                rep.no_read_result =
                    no_read_client(opt.flood.source, opt.flood.nfs, fh, 1u << 20, stop_flood);
            } else {
                drive(flooders, stop_flood);
            }
        });
        while (Clock::now() < flood_end) {
            std::this_thread::sleep_for(std::chrono::milliseconds(250));
            uint64_t now = 0;
            rss(now, nullptr);
            rep.rss_max_kib = std::max(rep.rss_max_kib, now);
            if (now > opt.rss_limit_kib && !stop_flood) {
                stop_flood = true;
                rep.rss_limit_hit_s =
                    std::chrono::duration<double>(Clock::now() - flood_start).count();
            }
        }
        stop_quiet = true;
        stop_flood = true;
    }
    // After the flooder has gone: what the server kept.
    std::this_thread::sleep_for(std::chrono::seconds(1));
    rss(rep.rss_after_kib, &rep.fds_after);
    rep.flood_s = std::chrono::duration<double>(flood_end - flood_start).count();
    quiet.clear();
    for (auto& f : flooders) {
        for (auto& s : f->stats()) rep.flooders.push_back(s);
    }

    // The quiet phase leaves out its first second (mounts, cold caches), as the flood phase
    // has none.
    const double skip = std::min(1.0, opt.seconds / 5);
    std::vector<double> q, fl;
    for (const NfsProbeResult& p : probes) {
        for (const TimedCall& c : p.calls) {
            if (c.start_s >= skip && c.start_s < opt.seconds) q.push_back(c.us);
            if (c.start_s >= opt.seconds && c.start_s < 2 * opt.seconds) fl.push_back(c.us);
        }
        for (double t : p.error_s) ++(t < opt.seconds ? rep.quiet_errors : rep.flooded_errors);
        if (!p.first_error.empty() && rep.first_errors.size() < 10) {
            rep.first_errors.push_back(p.first_error);
        }
    }
    rep.quiet = summarise(std::move(q));
    rep.flooded = summarise(std::move(fl));
    rep.ratio = rep.quiet.p99_us > 0 ? rep.flooded.p99_us / rep.quiet.p99_us : 0;
    rep.pass = rep.quiet_errors + rep.flooded_errors == 0 && rep.quiet.count > 0 &&
               rep.flooded.count > 0 && (opt.max_ratio <= 0 || rep.ratio <= opt.max_ratio);
    return rep;
}

void print_flood(std::ostream& out, const FloodReport& rep) {
    const FloodOptions& o = rep.options;
    out << "flood: mode " << o.mode << ", " << o.quiet << " quiet Pis (LOOKUP/GETATTR/READ 4K of "
        << o.path << "), " << fmt("%.0f", o.seconds) << " s quiet then " << fmt("%.0f", o.seconds)
        << " s flooded from " << o.flood.source.to_string() << "\n";
    if (o.quiet_cpu >= 0 || o.flooder_cpu >= 0) {
        out << "pinned: quiet Pis to CPU " << o.quiet_cpu << ", the flooder to CPU "
            << o.flooder_cpu << "\n";
    }
    char line[256];
    std::snprintf(line, sizeof line, "%-8s %9s %9s %9s %9s %7s\n", "phase", "calls", "p50 ms",
                  "p99 ms", "max ms", "errors");
    out << line;
    auto row = [&](const char* name, const Summary& s, uint64_t errors) {
        std::snprintf(line, sizeof line, "%-8s %9llu %9.3f %9.3f %9.1f %7llu\n", name,
                      static_cast<unsigned long long>(s.count), s.p50_us / 1e3, s.p99_us / 1e3,
                      s.max_us / 1e3, static_cast<unsigned long long>(errors));
        out << line;
    };
    row("quiet", rep.quiet, rep.quiet_errors);
    row("flooded", rep.flooded, rep.flooded_errors);
    out << "p99 flooded / quiet: " << fmt("%.2f", rep.ratio) << " (target <= 2"
        << (o.max_ratio > 0 ? ", enforced at " + fmt("%.2f", o.max_ratio) : std::string()) << ")\n";
    for (const std::string& e : rep.first_errors) out << "  error: " << e << "\n";
    if (!rep.flooders.empty()) {
        std::snprintf(line, sizeof line, "%-20s %10s %10s %9s %8s %8s %6s\n", "flooder", "sent",
                      "sent/s", "answered", "conns", "cut", "errors");
        out << line;
        for (const FlooderStats& s : rep.flooders) {
            std::snprintf(line, sizeof line, "%-20s %10llu %10.0f %9llu %8llu %8llu %6llu\n",
                          s.kind.c_str(), static_cast<unsigned long long>(s.sent),
                          rep.flood_s > 0 ? s.sent / rep.flood_s : 0,
                          static_cast<unsigned long long>(s.answered),
                          static_cast<unsigned long long>(s.connections),
                          static_cast<unsigned long long>(s.closed_by_server),
                          static_cast<unsigned long long>(s.errors));
            out << line;
            if (!s.first_error.empty()) out << "  " << s.kind << ": " << s.first_error << "\n";
        }
    }
    if (rep.no_read) {
        const NoReadResult& n = rep.no_read_result;
        out << "no-read: " << n.calls_sent << " READ calls (" << n.bytes_sent
            << " bytes) sent, none read; the socket last took data at "
            << fmt("%.2f", n.last_send_s) << " s; "
            << (n.cut_off ? "cut off by the server after " + fmt("%.2f", n.cut_after_s) + " s"
                          : std::string("NOT cut off"))
            << (n.error.empty() ? "" : "; error: " + n.error) << "\n";
    }
    if (rep.rss_limit_hit_s >= 0) {
        out << "flooder STOPPED after " << fmt("%.2f", rep.rss_limit_hit_s)
            << " s: the server's RSS passed " << o.rss_limit_kib << " KiB\n";
    }
    out << "server RSS KiB: before " << rep.rss_before_kib << ", max " << rep.rss_max_kib
        << ", after " << rep.rss_after_kib << "; fds before " << rep.fds_before << ", after "
        << rep.fds_after << "\n";
    out << "verdict: " << (rep.pass ? "PASS" : "FAIL") << "\n";
}

std::string flood_json(const FloodReport& rep) {
    const FloodOptions& o = rep.options;
    std::ostringstream j;
    j << "{\n  \"mode\": \"flood\", \"flood_mode\": " << json_string(o.mode)
      << ", \"quiet_pis\": " << o.quiet << ", \"seconds\": " << o.seconds
      << ", \"flooder_source\": " << json_string(o.flood.source.to_string())
      << ", \"quiet_cpu\": " << o.quiet_cpu << ", \"flooder_cpu\": " << o.flooder_cpu
      << ",\n  \"quiet\": " << summary_json(rep.quiet) << ", \"quiet_errors\": " << rep.quiet_errors
      << ",\n  \"flooded\": " << summary_json(rep.flooded)
      << ", \"flooded_errors\": " << rep.flooded_errors
      << ",\n  \"errors\": " << rep.quiet_errors + rep.flooded_errors
      << ", \"p99_ratio\": " << fmt("%.3f", rep.ratio) << ", \"first_errors\": [";
    for (size_t i = 0; i < rep.first_errors.size(); ++i) {
        j << (i ? ", " : "") << json_string(rep.first_errors[i]);
    }
    j << "],\n  \"flooders\": [";
    for (size_t i = 0; i < rep.flooders.size(); ++i) {
        const FlooderStats& s = rep.flooders[i];
        j << (i ? ",\n    " : "\n    ") << "{\"kind\": " << json_string(s.kind)
          << ", \"sent\": " << s.sent
          << ", \"sent_per_s\": " << fmt("%.1f", rep.flood_s > 0 ? s.sent / rep.flood_s : 0)
          << ", \"answered\": " << s.answered << ", \"connections\": " << s.connections
          << ", \"closed_by_server\": " << s.closed_by_server
          << ", \"bytes_sent\": " << s.bytes_sent << ", \"errors\": " << s.errors
          << ", \"first_error\": " << json_string(s.first_error) << "}";
    }
    j << "\n  ],\n";
    if (rep.no_read) {
        const NoReadResult& n = rep.no_read_result;
        j << "  \"no_read\": {\"calls_sent\": " << n.calls_sent
          << ", \"bytes_sent\": " << n.bytes_sent
          << ", \"cut_off\": " << (n.cut_off ? "true" : "false")
          << ", \"cut_after_s\": " << fmt("%.3f", n.cut_after_s)
          << ", \"last_send_s\": " << fmt("%.3f", n.last_send_s)
          << ", \"error\": " << json_string(n.error) << "},\n";
    }
    j << "  \"server\": {\"rss_before_kib\": " << rep.rss_before_kib
      << ", \"rss_max_kib\": " << rep.rss_max_kib << ", \"rss_after_kib\": " << rep.rss_after_kib
      << ", \"fds_before\": " << rep.fds_before << ", \"fds_after\": " << rep.fds_after
      << ", \"rss_limit_hit_s\": " << fmt("%.3f", rep.rss_limit_hit_s)
      << "},\n  \"pass\": " << (rep.pass ? "true" : "false") << "\n}\n";
    return j.str();
}

}  // namespace rootfarm::bench
