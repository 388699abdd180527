// The soak's verdict, table, JSON and plot.

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "bench/report.h"
#include "bench/soak.h"

namespace rootfarm::bench {

namespace {

std::string kib(uint64_t bytes) {
    return std::to_string(bytes / 1024);
}

// Largest `field` over the samples with warm == (t <= warm-up end).
template <class Field>
uint64_t max_of(const std::vector<SoakSample>& ss, double warm_end, bool warm, Field field) {
    uint64_t m = 0;
    for (const SoakSample& s : ss) {
        if (s.ok && (s.t_s <= warm_end) == warm) m = std::max(m, s.*field);
    }
    return m;
}

}  // namespace

double soak_warmup_end(const SoakReport& rep) {
    const SoakOptions& o = rep.options;
    double end = o.warmup_fraction * o.seconds;
    if (o.state_dir.empty()) return end;
    for (const SoakSample& s : rep.samples) {
        if (s.journals > 0 && s.compacted >= s.journals) return std::max(end, s.t_s);
    }
    return end;
}

void judge_soak(SoakReport& rep) {
    const SoakOptions& o = rep.options;
    rep.checks.clear();
    auto check = [&](std::string name, bool ok, std::string detail) {
        rep.checks.push_back({std::move(name), ok, std::move(detail)});
    };
    check("errors", rep.errors == 0, std::to_string(rep.errors) + " errors");
    check("workload", rep.rounds > 0,
          std::to_string(rep.rounds) + " complete trace replays (at least one needed)");
    const auto& ss = rep.samples;
    size_t missing = std::count_if(ss.begin(), ss.end(), [](const SoakSample& s) { return !s.ok; });
    check("server alive", missing == 0 && !ss.empty(),
          std::to_string(ss.size() - missing) + " of " + std::to_string(ss.size()) +
              " samples found the server process");
    const double warm_end = soak_warmup_end(rep);
    size_t warm = std::count_if(ss.begin(), ss.end(),
                                [&](const SoakSample& s) { return s.ok && s.t_s <= warm_end; });
    size_t post = std::count_if(ss.begin(), ss.end(),
                                [&](const SoakSample& s) { return s.ok && s.t_s > warm_end; });
    const bool by_compaction = warm_end > o.warmup_fraction * o.seconds;
    const std::string when = "after warm-up (" + fmt("%.0f", warm_end) + " s" +
                             (by_compaction ? ", when every journal had been compacted once" : "") +
                             ", " + std::to_string(post) + " samples) vs during it (" +
                             std::to_string(warm) + " samples)";
    if (warm == 0 || post < 2) {
        check("enough samples", false,
              "need samples during and at least 2 after the warm-up: " + when);
    }
    uint64_t rss_w = max_of(ss, warm_end, true, &SoakSample::rss_kib);
    uint64_t rss_p = max_of(ss, warm_end, false, &SoakSample::rss_kib);
    double growth = rss_w ? 100.0 * (static_cast<double>(rss_p) - rss_w) / rss_w : 0;
    check("rss flat", rss_p <= rss_w * (1 + o.rss_growth_pct / 100),
          "max RSS " + std::to_string(rss_p) + " KiB " + when + " " + std::to_string(rss_w) +
              " KiB: " + fmt("%+.1f", growth) + "% (limit " + fmt("%.0f", o.rss_growth_pct) + "%)");
    uint64_t fd_w = max_of(ss, warm_end, true, &SoakSample::fds);
    uint64_t fd_p = max_of(ss, warm_end, false, &SoakSample::fds);
    const uint64_t fd_slack =
        o.fd_slack >= 0 ? static_cast<uint64_t>(o.fd_slack) : std::max<uint64_t>(8, o.pis / 2);
    check("fds flat", fd_p <= fd_w + fd_slack,
          "max fds " + std::to_string(fd_p) + " " + when + " " + std::to_string(fd_w) + " (slack " +
              std::to_string(fd_slack) + ")");
    uint64_t th_w = max_of(ss, warm_end, true, &SoakSample::threads);
    uint64_t th_p = max_of(ss, warm_end, false, &SoakSample::threads);
    check("threads flat", th_p <= th_w + o.thread_slack,
          "max threads " + std::to_string(th_p) + " " + when + " " + std::to_string(th_w) +
              " (slack " + std::to_string(o.thread_slack) + ")");
    if (!o.state_dir.empty()) {
        uint64_t over = 0, biggest = 0, journals = 0;
        for (const SoakSample& s : ss) {
            over += s.over_bound;
            biggest = std::max(biggest, s.journal_max_bytes);
            journals = std::max(journals, s.journals);
        }
        check("journals bounded", over == 0 && journals > 0,
              std::to_string(journals) + " journals; largest seen " + kib(biggest) +
                  " KiB; samples over max(" + kib(o.journal_cap_bytes) +
                  " KiB, 2 x snapshot + 1 MiB): " + std::to_string(over) + "; compactions seen " +
                  std::to_string(rep.compactions_seen) +
                  (ss.empty() || ss.back().compacted < journals
                       ? " (not every journal compacted yet: the run may be too short to show "
                         "the steady state)"
                       : ""));
    }
    rep.pass =
        std::all_of(rep.checks.begin(), rep.checks.end(), [](const SoakCheck& c) { return c.ok; });
}

void print_soak(std::ostream& out, const SoakReport& rep) {
    const SoakOptions& o = rep.options;
    out << "soak: " << o.pis << " Pis, " << fmt("%.0f", o.seconds) << " s planned, wall "
        << fmt("%.1f", rep.wall_s) << " s; " << rep.rounds << " trace replays (" << rep.nfs_calls
        << " NFS calls), " << rep.tftp_fetches << " TFTP files, " << rep.dhcp_exchanges
        << " DHCP exchanges; errors " << rep.errors << "\n";
    out << "latency ms p50/p99/max: nfs (every 10th call) "
        << fmt("%.2f", rep.nfs_latency.p50_us / 1e3) << "/"
        << fmt("%.2f", rep.nfs_latency.p99_us / 1e3) << "/"
        << fmt("%.1f", rep.nfs_latency.max_us / 1e3) << ", tftp file "
        << fmt("%.2f", rep.tftp_latency.p50_us / 1e3) << "/"
        << fmt("%.2f", rep.tftp_latency.p99_us / 1e3) << "/"
        << fmt("%.1f", rep.tftp_latency.max_us / 1e3) << ", dhcp "
        << fmt("%.2f", rep.dhcp_latency.p50_us / 1e3) << "/"
        << fmt("%.2f", rep.dhcp_latency.p99_us / 1e3) << "/"
        << fmt("%.1f", rep.dhcp_latency.max_us / 1e3) << "\n";
    for (const std::string& e : rep.first_errors) out << "  error: " << e << "\n";
    char line[256];
    std::snprintf(line, sizeof line, "%8s %10s %6s %8s %9s %12s %14s %12s %8s %7s\n", "t s",
                  "rss KiB", "fds", "threads", "journals", "journal KiB", "max journal KiB",
                  "snapshot KiB", "rounds", "errors");
    out << line;
    for (const SoakSample& s : rep.samples) {
        if (!s.ok) {
            std::snprintf(line, sizeof line, "%8.1f  (server not found)\n", s.t_s);
        } else {
            std::snprintf(line, sizeof line,
                          "%8.1f %10llu %6llu %8llu %9llu %12llu %14llu %12llu %8llu %7llu\n",
                          s.t_s, static_cast<unsigned long long>(s.rss_kib),
                          static_cast<unsigned long long>(s.fds),
                          static_cast<unsigned long long>(s.threads),
                          static_cast<unsigned long long>(s.journals),
                          static_cast<unsigned long long>(s.journal_bytes / 1024),
                          static_cast<unsigned long long>(s.journal_max_bytes / 1024),
                          static_cast<unsigned long long>(s.snapshot_bytes / 1024),
                          static_cast<unsigned long long>(s.rounds),
                          static_cast<unsigned long long>(s.errors));
        }
        out << line;
    }
    for (const SoakCheck& c : rep.checks) {
        out << (c.ok ? "  ok    " : "  FAIL  ") << c.name << ": " << c.detail << "\n";
    }
    out << "verdict: " << (rep.pass ? "PASS" : "FAIL") << "\n";
}

std::string soak_json(const SoakReport& rep) {
    const SoakOptions& o = rep.options;
    std::ostringstream j;
    j << "{\n  \"mode\": \"soak\", \"pis\": " << o.pis << ", \"seconds\": " << o.seconds
      << ", \"sample_every_s\": " << o.sample_every << ", \"warmup_s\": " << soak_warmup_end(rep)
      << ",\n  \"wall_s\": " << fmt("%.3f", rep.wall_s) << ", \"rounds\": " << rep.rounds
      << ", \"nfs_calls\": " << rep.nfs_calls << ", \"tftp_fetches\": " << rep.tftp_fetches
      << ", \"dhcp_exchanges\": " << rep.dhcp_exchanges << ", \"errors\": " << rep.errors
      << ", \"compactions_seen\": " << rep.compactions_seen
      << ",\n  \"latency\": {\"nfs\": " << summary_json(rep.nfs_latency)
      << ", \"tftp\": " << summary_json(rep.tftp_latency)
      << ", \"dhcp\": " << summary_json(rep.dhcp_latency) << "},\n  \"first_errors\": [";
    for (size_t i = 0; i < rep.first_errors.size(); ++i) {
        j << (i ? ", " : "") << json_string(rep.first_errors[i]);
    }
    j << "],\n  \"samples\": [";
    for (size_t i = 0; i < rep.samples.size(); ++i) {
        const SoakSample& s = rep.samples[i];
        j << (i ? ",\n    " : "\n    ") << "{\"t_s\": " << fmt("%.2f", s.t_s)
          << ", \"ok\": " << (s.ok ? "true" : "false") << ", \"rss_kib\": " << s.rss_kib
          << ", \"fds\": " << s.fds << ", \"threads\": " << s.threads
          << ", \"journals\": " << s.journals << ", \"journal_bytes\": " << s.journal_bytes
          << ", \"journal_max_bytes\": " << s.journal_max_bytes
          << ", \"snapshot_bytes\": " << s.snapshot_bytes << ", \"over_bound\": " << s.over_bound
          << ", \"compacted\": " << s.compacted << ", \"rounds\": " << s.rounds
          << ", \"errors\": " << s.errors << "}";
    }
    j << "\n  ],\n  \"checks\": [";
    for (size_t i = 0; i < rep.checks.size(); ++i) {
        const SoakCheck& c = rep.checks[i];
        j << (i ? ",\n    " : "\n    ") << "{\"name\": " << json_string(c.name)
          << ", \"ok\": " << (c.ok ? "true" : "false") << ", \"detail\": " << json_string(c.detail)
          << "}";
    }
    j << "\n  ],\n  \"pass\": " << (rep.pass ? "true" : "false") << "\n}\n";
    return j.str();
}

Result<void> plot_soak(const SoakReport& rep, const std::filesystem::path& png,
                       std::string& message) {
    auto dat = png;
    dat.replace_extension(".dat");
    auto gp = png;
    gp.replace_extension(".gp");
    {
        std::ofstream d(dat);
        for (const SoakSample& s : rep.samples) {
            if (!s.ok) continue;
            d << s.t_s << ' ' << s.rss_kib / 1024.0 << ' ' << s.fds << ' ' << s.threads << ' '
              << s.journal_bytes / 1048576.0 << ' ' << s.journal_max_bytes / 1048576.0 << '\n';
        }
        const double warm = soak_warmup_end(rep);
        std::ofstream g(gp);
        g << "set terminal pngcairo size 1000,700\nset output '" << png.string() << "'\n"
          << "set multiplot layout 2,2 title 'rootfarm-bench soak: " << rep.options.pis << " Pis, "
          << rep.options.seconds << " s (" << (rep.pass ? "PASS" : "FAIL") << ")'\n"
          << "set grid\nset key off\nset xlabel 's'\n"
          << "set arrow 1 from " << warm << ", graph 0 to " << warm
          << ", graph 1 nohead dt 2\n"  // the end of the warm-up
          << "set title 'server RSS (MiB)'\nplot '" << dat.string()
          << "' using 1:2 with linespoints\n"
          << "set title 'open fds'\nplot '" << dat.string() << "' using 1:3 with linespoints\n"
          << "set title 'threads'\nset offsets 0, 0, 1, 1\nplot '" << dat.string()
          << "' using 1:4 with linespoints\n"
          << "set offsets 0, 0, 0, 0\nset key top left\nset title 'journals (MiB)'\nplot '"
          << dat.string()
          << "' using 1:5 with linespoints title 'total', '' using 1:6 with linespoints title "
             "'largest'\n"
          << "unset multiplot\n";
        if (!d || !g) return std::errc::io_error;
    }
    return run_gnuplot(gp, png, message);
}

}  // namespace rootfarm::bench
