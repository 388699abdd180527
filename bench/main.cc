// rootfarm-bench: simulates N Raspberry Pi 4s booting at once (DHCP, TFTP, NFS trace replay)
// against any DHCP/TFTP/NFS server set, and micro benchmarks of each service.

#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "bench/echo_floor.h"
#include "bench/flood.h"
#include "bench/report.h"
#include "bench/soak.h"
#include "bench/storm.h"
#include "bench/synth.h"
#include "bench/trace_close.h"

namespace rb = rootfarm::bench;
using rootfarm::Ipv4;

namespace {

using Clock = std::chrono::steady_clock;

// "ADDR:PORT" or "ADDR" (default port).
bool parse_endpoint(const std::string& s, uint16_t default_port, Ipv4& addr, uint16_t& port) {
    auto colon = s.find(':');
    auto ip = Ipv4::parse(s.substr(0, colon));
    if (!ip) return false;
    addr = *ip;
    port = default_port;
    if (colon != std::string::npos) {
        int p = std::atoi(s.c_str() + colon + 1);
        if (p <= 0 || p > 65535) return false;
        port = static_cast<uint16_t>(p);
    }
    return true;
}

struct Targets {
    std::string dhcp = "127.0.0.1:67";
    std::string tftp = "127.0.0.1:69";
    std::string nfs = "127.0.0.1:2049";
    uint16_t mount_port = 20048;
    std::string export_path = "/";
    std::string source = "127.1.0.1";
    uint32_t tftp_timeout_ms = 1000;
};

void add_targets(CLI::App* app, Targets& t) {
    app->add_option("--dhcp", t.dhcp, "DHCP server ADDR:PORT")->capture_default_str();
    app->add_option("--tftp", t.tftp, "TFTP server ADDR:PORT")->capture_default_str();
    app->add_option("--nfs", t.nfs, "NFS server ADDR:PORT")->capture_default_str();
    app->add_option("--mount-port", t.mount_port, "MOUNT v3 port (TCP)")->capture_default_str();
    app->add_option("--export", t.export_path,
                    "export each Pi mounts; {i} = the Pi's index (one export per Pi)")
        ->capture_default_str();
    app->add_option("--source", t.source,
                    "first source address; Pi i uses source+i (must be local: 127.x, or "
                    "addresses bench/compare adds inside its namespace)")
        ->capture_default_str();
    app->add_option("--tftp-timeout-ms", t.tftp_timeout_ms, "TFTP retransmit timeout")
        ->capture_default_str();
}

bool resolve_targets(const Targets& t, rb::StormOptions& o) {
    Ipv4 a;
    uint16_t port;
    if (!parse_endpoint(t.dhcp, 67, a, port)) return false;
    o.dhcp_target.server = rootfarm::make_sockaddr(a, port);
    o.dhcp_target.relay_port = port;
    if (!parse_endpoint(t.tftp, 69, a, port)) return false;
    o.tftp_target.server = rootfarm::make_sockaddr(a, port);
    o.tftp_target.timeout = std::chrono::milliseconds(t.tftp_timeout_ms);
    if (!parse_endpoint(t.nfs, 2049, a, port)) return false;
    o.nfs_target.server = a.to_string();
    o.nfs_target.nfs_port = port;
    o.nfs_target.mount_port = t.mount_port;
    o.nfs_target.export_path = t.export_path;
    auto src = Ipv4::parse(t.source);
    if (!src) return false;
    o.source_base = *src;
    return true;
}

void write_json(const std::string& path, const std::string& json) {
    if (path.empty()) return;
    std::ofstream(path) << json;
}

// Runs `fn(i)` on `n` threads for `seconds`; fn returns completed ops or -1 on failure.
template <class Fn>
std::pair<uint64_t, uint64_t> run_parallel(uint32_t n, Fn fn) {
    std::atomic<uint64_t> ops{0}, failed{0};
    {
        std::vector<std::jthread> threads;
        for (uint32_t i = 0; i < n; ++i) {
            threads.emplace_back([&, i] {
                int64_t r = fn(i);
                if (r < 0) {
                    ++failed;
                } else {
                    ops += static_cast<uint64_t>(r);
                }
            });
        }
    }
    return {ops.load(), failed.load()};
}

std::string micro_json(const std::string& mode, const std::string& label, uint64_t ops,
                       uint64_t failed, double secs, uint64_t bytes, double cpu) {
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "{\"mode\": \"%s\", \"label\": \"%s\", \"ops\": %llu, \"failed_workers\": "
                  "%llu, \"seconds\": %.6f, \"ops_per_s\": %.1f, \"bytes_per_s\": %.1f, "
                  "\"server_cpu_s\": %.3f}\n",
                  mode.c_str(), label.c_str(), static_cast<unsigned long long>(ops),
                  static_cast<unsigned long long>(failed), secs, secs > 0 ? ops / secs : 0,
                  secs > 0 ? bytes / secs : 0, cpu);
    return buf;
}

double cpu_of(const std::vector<pid_t>& pids) {
    double total = 0;
    for (pid_t p : pids) {
        if (auto s = rb::sample_process(p)) total += s->cpu_seconds;
    }
    return total;
}

// A recorded trace, closed (bench/trace_close.h): its text as it is, a header line saying so,
// and the closing calls at the end.
int close_trace_file(const std::string& in, const std::string& root, const std::string& out) {
    size_t bad = 0;
    auto trace = rb::load_trace(in, &bad);
    if (!trace) {
        std::cerr << in << ":" << bad << ": " << trace.error().message() << "\n";
        return 2;
    }
    std::vector<std::string> lines;
    {
        std::ifstream f(in);
        for (std::string l; std::getline(f, l);) {
            if (l.starts_with("# closing:")) {
                std::cerr << in << " is closed already\n";
                return 2;
            }
            lines.push_back(std::move(l));
        }
    }
    auto closing = rb::closing_ops(*trace, root);
    std::ostringstream text;
    size_t i = 0;
    while (i < lines.size() && lines[i].starts_with("#")) text << lines[i++] << "\n";
    text << "# closed by `rootfarm-bench close-trace` over the root it was recorded on: the "
         << closing.size() << " calls\n# after \"# closing:\" undo its namespace changes, so it "
         << "replays again on the same client\n";
    while (i < lines.size()) text << lines[i++] << "\n";
    text << "# closing: " << closing.size() << " calls\n";
    for (const auto& op : closing) text << rb::format_trace_op(op) << "\n";
    std::ofstream o(out);
    o << text.str();
    if (!o) {
        std::cerr << "cannot write " << out << "\n";
        return 1;
    }
    std::cout << "appended " << closing.size() << " closing calls; " << out << "\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"rootfarm-bench: Raspberry Pi boot storms and micro benchmarks"};
    app.require_subcommand(1);

    // storm
    auto* storm = app.add_subcommand("storm", "N Pi 4s boot at once: DHCP, TFTP, NFS replay");
    rb::StormOptions so;
    Targets st;
    std::string phases = "dhcp,tftp,nfs", trace_path, json_path, plot_path, label = "server";
    std::vector<int> pids;
    storm->add_option("--clients", so.clients, "simulated Pis")
        ->check(CLI::Range(1, 500))
        ->capture_default_str();
    storm->add_option("--phases", phases, "comma list of dhcp,tftp,nfs")->capture_default_str();
    storm->add_option("--ramp", so.ramp_seconds, "spread the starts over this many seconds")
        ->capture_default_str();
    storm->add_option("--trace", trace_path, "NFS trace to replay (bench/traces/*.trace)");
    storm->add_option("--json", json_path, "write the report as JSON here");
    storm->add_option("--plot", plot_path, "write a time-to-boot CDF PNG (via gnuplot)");
    storm->add_option("--label", label, "name of the server set, for the JSON");
    storm->add_option("--server-pid", pids,
                      "server process(es) whose CPU, peak RSS and descriptors to report");
    uint32_t think_us = 0;
    storm
        ->add_option("--think-us", think_us,
                     "pause after each NFS reply before the Pi's next call (the trace carries no "
                     "timing); 0 = back to back")
        ->capture_default_str();
    storm
        ->add_option("--bench-threads", so.threads,
                     "event-loop threads the simulated Pis are spread over")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    storm
        ->add_option("--time-limit", so.time_limit_s,
                     "seconds: Pis not booted by then fail, and the report is written (0: none)")
        ->capture_default_str();
    add_targets(storm, st);

    // micro-nfs
    auto* mnfs = app.add_subcommand("micro-nfs", "NFS ops/s of one call type");
    Targets mt;
    std::string op = "getattr", path = "/etc/hostname", mjson, mlabel = "server";
    uint32_t mthreads = 4;
    double secs = 5;
    std::vector<int> mpids;
    mnfs->add_option("--op", op, "getattr|lookup|readdirplus|read1m|read64k|read4k")->capture_default_str();
    mnfs->add_option("--path", path, "object (lookup: its parent is resolved once)")
        ->capture_default_str();
    mnfs->add_option("--threads", mthreads, "connections in parallel")->capture_default_str();
    mnfs->add_option("--seconds", secs)->capture_default_str();
    // What every micro benchmark reports, and where to.
    auto add_report = [&](CLI::App* micro) {
        micro->add_option("--json", mjson);
        micro->add_option("--label", mlabel);
        micro->add_option("--server-pid", mpids);
        add_targets(micro, mt);
    };
    add_report(mnfs);

    // echo-server / micro-echo: the floor under a call/reply (bench/echo_floor.h)
    rb::EchoSizes esizes;
    std::string elisten = "127.0.0.1:7049", etarget = "127.0.0.1:7049";
    auto* eserve = app.add_subcommand(
        "echo-server",
        "the cheapest call/reply server: one blocking thread per TCP connection reads a call "
        "and writes a reply of fixed sizes, until killed");
    eserve->add_option("--listen", elisten, "ADDR:PORT")->capture_default_str();
    auto* mecho = app.add_subcommand(
        "micro-echo", "call/reply round trips against echo-server: the floor under micro-nfs");
    mecho->add_option("--echo", etarget, "echo-server ADDR:PORT")->capture_default_str();
    mecho->add_option("--threads", mthreads, "connections in parallel")->capture_default_str();
    mecho->add_option("--seconds", secs)->capture_default_str();
    for (auto* a : {eserve, mecho}) {
        a->add_option("--call-bytes", esizes.call, "bytes of each call (a GETATTR's)")
            ->check(CLI::Range(1, 1 << 20))
            ->capture_default_str();
        a->add_option("--reply-bytes", esizes.reply, "bytes of each reply (a GETATTR's)")
            ->check(CLI::Range(1, 1 << 20))
            ->capture_default_str();
    }
    add_report(mecho);

    // micro-tftp
    auto* mtftp = app.add_subcommand("micro-tftp", "concurrent whole-file TFTP transfers");
    std::string tfile = "kernel8.img";
    uint32_t tn = 50;
    mtftp->add_option("--file", tfile)->capture_default_str();
    mtftp->add_option("--transfers", tn)->capture_default_str();
    add_report(mtftp);

    // micro-dhcp
    auto* mdhcp = app.add_subcommand("micro-dhcp", "DISCOVER..ACK exchanges per second");
    uint32_t dn = 50;
    mdhcp->add_option("--clients", dn, "Pis exchanging in parallel")->capture_default_str();
    mdhcp->add_option("--seconds", secs)->capture_default_str();
    add_report(mdhcp);

    // make-image / gen-trace
    auto* mk = app.add_subcommand("make-image", "write the demo image (root/ and boot/)");
    std::string image_dir;
    rb::ImageSpec spec;
    mk->add_option("dir", image_dir)->required();
    mk->add_option("--kernel-bytes", spec.kernel_bytes)->capture_default_str();
    auto* gen = app.add_subcommand("gen-trace", "generate the SYNTHETIC trace over a demo root");
    std::string gen_root, gen_out;
    uint64_t seed = 1;
    gen->add_option("root", gen_root, "the image's root/ directory")->required();
    gen->add_option("out", gen_out, "trace file to write")->required();
    gen->add_option("--seed", seed)->capture_default_str();

    auto* close = app.add_subcommand(
        "close-trace", "append the calls that undo a recorded trace's namespace changes");
    std::string close_in, close_root, close_out;
    close->add_option("trace", close_in, "recorded trace (rewritten unless --out)")->required();
    close->add_option("root", close_root, "the image root tree it was recorded on")->required();
    close->add_option("--out", close_out, "write the closed trace here");

    // soak
    auto* soak = app.add_subcommand(
        "soak",
        "N Pis replay the NFS trace, fetch boot files and renew leases for a while; "
        "the server's RSS, fds, threads and journals must stay flat");
    rb::SoakOptions ko;
    Targets kt;
    std::string ktrace, kjson, kplot, kstate;
    int kpid = 0;
    soak->add_option("--pis", ko.pis, "simulated Pis")
        ->check(CLI::Range(1, 500))
        ->capture_default_str();
    soak->add_option("--seconds", ko.seconds, "run time (rounds under way then finish)")
        ->capture_default_str();
    soak->add_option("--sample-every", ko.sample_every, "server sampling period, seconds")
        ->capture_default_str();
    soak->add_option("--tftp-every", ko.tftp_every, "each Pi fetches its small boot files")
        ->capture_default_str();
    soak->add_option("--dhcp-every", ko.dhcp_every, "each Pi renews its lease")
        ->capture_default_str();
    std::string kroot;
    auto* ktrace_opt = soak->add_option(
        "--trace", ktrace,
        "NFS trace that leaves the view as found (bench/traces/synthetic-boot.trace)");
    soak->add_option("--root", kroot,
                     "or: generate the SYNTHETIC trace (gen-trace, seed 1) over this make-image "
                     "root/ directory")
        ->excludes(ktrace_opt);
    soak->add_option("--server-pid", kpid, "the server process to sample")->required();
    soak->add_option("--state", kstate, "the server's state_dir: sample clients/*/journal sizes");
    soak->add_option("--warmup", ko.warmup_fraction, "warm-up, as a fraction of --seconds")
        ->capture_default_str();
    soak->add_option("--rss-growth-pct", ko.rss_growth_pct,
                     "allowed RSS growth after warm-up over the warm-up's largest")
        ->capture_default_str();
    soak->add_option("--fd-slack", ko.fd_slack,
                     "allowed fds above the warm-up's largest (-1: max(8, pis / 2))")
        ->capture_default_str();
    soak->add_option("--thread-slack", ko.thread_slack,
                     "allowed threads above the warm-up's largest")
        ->capture_default_str();
    soak->add_option("--json", kjson, "write the report as JSON here");
    soak->add_option("--plot", kplot, "write RSS/fds/threads/journals over time as PNG (gnuplot)");
    add_targets(soak, kt);

    // flood
    auto* flood = app.add_subcommand(
        "flood", "quiet Pis' NFS latency alone, then while one address floods the server");
    rb::FloodOptions fo;
    Targets ft;
    std::string fjson, fsource, fmac = "fixed", fixed_mac;
    int fpid = 0;
    flood
        ->add_option(
            "--mode", fo.mode,
            "rpc-garbage|oversized-record|dhcp-discover|tftp-rrq|all|no-read|cpu (a spinning "
            "flooder thread that sends nothing: the control)")
        ->check(CLI::IsMember({"rpc-garbage", "oversized-record", "dhcp-discover", "tftp-rrq",
                               "all", "no-read", "cpu"}))
        ->capture_default_str();
    flood->add_option("--quiet", fo.quiet, "quiet Pis")
        ->check(CLI::Range(1, 500))
        ->capture_default_str();
    flood->add_option("--seconds", fo.seconds, "length of each phase")->capture_default_str();
    flood->add_option("--path", fo.path, "the quiet Pis' file")->capture_default_str();
    flood->add_option("--read-path", fo.read_path, "no-read: the file its READs ask for")
        ->capture_default_str();
    flood->add_option("--flooder-source", fsource,
                      "the flooder's address (default: --source + --quiet)");
    flood
        ->add_option("--dhcp-mac", fmac,
                     "dhcp-discover: fixed (--dhcp-fixed-mac), random (strangers) or random-pi "
                     "(random under the Raspberry Pi OUI)")
        ->check(CLI::IsMember({"fixed", "random", "random-pi"}))
        ->capture_default_str();
    flood->add_option("--dhcp-fixed-mac", fixed_mac,
                      "default: the MAC of the Pi whose index is the flooder's address minus "
                      "--source (as make_pi and bench/compare number them)");
    flood->add_option("--tftp-file", fo.flood.tftp_file, "tftp-rrq: an existing file")
        ->capture_default_str();
    flood->add_option("--server-pid", fpid, "the server process whose RSS and fds to sample");
    flood
        ->add_option("--max-ratio", fo.max_ratio,
                     "fail when p99 flooded / p99 quiet exceeds this (0: report only)")
        ->capture_default_str();
    uint64_t rss_limit_mib = fo.rss_limit_kib >> 10;
    flood
        ->add_option("--rss-limit-mib", rss_limit_mib,
                     "stop the flooder once the server's RSS passes this")
        ->capture_default_str();
    flood
        ->add_option("--quiet-cpu", fo.quiet_cpu,
                     "pin the quiet Pis' threads to this CPU (-1: no pinning)")
        ->capture_default_str();
    flood
        ->add_option("--flooder-cpu", fo.flooder_cpu,
                     "pin the flooder's thread to this CPU, as a flooding Pi has its own "
                     "(-1: no pinning)")
        ->capture_default_str();
    flood->add_option("--json", fjson, "write the report as JSON here");
    add_targets(flood, ft);

    CLI11_PARSE(app, argc, argv);

    if (*soak) {
        rb::StormOptions so2;
        if (!resolve_targets(kt, so2)) {
            std::cerr << "bad address in --dhcp/--tftp/--nfs/--source\n";
            return 2;
        }
        ko.dhcp_target = so2.dhcp_target;
        ko.tftp_target = so2.tftp_target;
        ko.nfs_target = so2.nfs_target;
        ko.source_base = so2.source_base;
        ko.server_pid = kpid;
        ko.state_dir = kstate;
        rb::Trace soak_trace;
        if (!kroot.empty()) {
            soak_trace = rb::generate_trace(kroot, 1);
        } else if (!ktrace.empty()) {
            size_t line = 0;
            auto t = rb::load_trace(ktrace, &line);
            if (!t) {
                std::cerr << ktrace << ":" << line << ": " << t.error().message() << "\n";
                return 2;
            }
            soak_trace = std::move(*t);
        } else {
            std::cerr << "soak: give --trace FILE or --root DIR\n";
            return 2;
        }
        ko.trace = &soak_trace;
        if (ko.sample_every <= 0 || ko.seconds <= 0) {
            std::cerr << "--seconds and --sample-every must be positive\n";
            return 2;
        }
        rb::SoakReport rep = rb::run_soak(ko);
        rb::print_soak(std::cout, rep);
        write_json(kjson, rb::soak_json(rep));
        if (!kplot.empty()) {
            std::string msg;
            auto r = rb::plot_soak(rep, kplot, msg);
            std::cout << (r ? msg : "plot failed: " + r.error().message()) << "\n";
        }
        return rep.pass ? 0 : 1;
    }

    if (*flood) {
        rb::StormOptions so2;
        if (!resolve_targets(ft, so2)) {
            std::cerr << "bad address in --dhcp/--tftp/--nfs/--source\n";
            return 2;
        }
        fo.source_base = so2.source_base;
        fo.nfs_target = so2.nfs_target;
        fo.nfs_target.call_timeout = std::chrono::milliseconds(5000);
        fo.flood.nfs =
            rootfarm::make_sockaddr(*Ipv4::parse(so2.nfs_target.server), so2.nfs_target.nfs_port);
        fo.flood.dhcp = so2.dhcp_target.server;
        fo.flood.dhcp_relay_port = so2.dhcp_target.relay_port;
        fo.flood.tftp = so2.tftp_target.server;
        if (fsource.empty()) {
            fo.flood.source = Ipv4{so2.source_base.value + fo.quiet};
        } else if (auto s = Ipv4::parse(fsource)) {
            fo.flood.source = *s;
        } else {
            std::cerr << "bad --flooder-source\n";
            return 2;
        }
        using Mac = rb::FloodTargets::Mac;
        fo.flood.dhcp_mac = fmac == "random"      ? Mac::kRandom
                            : fmac == "random-pi" ? Mac::kRandomPi
                                                  : Mac::kFixed;
        fo.flood.dhcp_fixed_mac =
            rb::make_pi(fo.flood.source.value - so2.source_base.value, fo.flood.source).mac;
        if (!fixed_mac.empty()) {
            auto mac = rootfarm::MacAddr::parse(fixed_mac);
            if (!mac) {
                std::cerr << "bad --dhcp-fixed-mac\n";
                return 2;
            }
            fo.flood.dhcp_fixed_mac = *mac;
        }
        fo.server_pid = fpid;
        fo.rss_limit_kib = rss_limit_mib << 10;
        auto rep = rb::run_flood(fo);
        if (!rep) {
            std::cerr << "flood: " << rep.error().message() << "\n";
            return 2;
        }
        rb::print_flood(std::cout, *rep);
        write_json(fjson, rb::flood_json(*rep));
        return rep->pass ? 0 : 1;
    }

    if (*eserve) {
        Ipv4 a;
        uint16_t port;
        if (!parse_endpoint(elisten, 7049, a, port)) {
            std::cerr << "bad --listen " << elisten << "\n";
            return 2;
        }
        auto fd = rb::echo_listen(a, port);
        if (!fd) {
            std::cerr << "echo-server: cannot listen on " << elisten << ": " << fd.error().message()
                      << "\n";
            return 1;
        }
        rb::echo_serve(*fd, esizes);
        std::cerr << "echo-server: accept: " << std::strerror(errno) << "\n";
        return 1;
    }

    if (*close)
        return close_trace_file(close_in, close_root, close_out.empty() ? close_in : close_out);

    if (*mk) {
        auto r = rb::make_image(image_dir, spec);
        if (!r) {
            std::cerr << "make-image: " << r.error().message() << "\n";
            return 1;
        }
        return 0;
    }
    if (*gen) {
        rb::Trace t = rb::generate_trace(gen_root, seed);
        std::ofstream out(gen_out);
        for (const auto& h : t.header) out << "# " << h << "\n";
        for (const auto& o : t.ops) out << rb::format_trace_op(o) << "\n";
        if (!out) {
            std::cerr << "gen-trace: cannot write " << gen_out << "\n";
            return 1;
        }
        std::cout << "wrote " << t.ops.size() << " calls to " << gen_out << "\n";
        return 0;
    }

    rb::StormOptions base;
    if (*storm) {
        if (!resolve_targets(st, so)) {
            std::cerr << "bad address in --dhcp/--tftp/--nfs/--source\n";
            return 2;
        }
        so.dhcp = phases.find("dhcp") != std::string::npos;
        so.tftp = phases.find("tftp") != std::string::npos;
        so.nfs = phases.find("nfs") != std::string::npos;
        rb::Trace trace;
        if (so.nfs) {
            if (trace_path.empty()) {
                std::cerr << "--phases has nfs: give --trace FILE\n";
                return 2;
            }
            size_t line = 0;
            auto t = rb::load_trace(trace_path, &line);
            if (!t) {
                std::cerr << trace_path << ":" << line << ": " << t.error().message() << "\n";
                return 2;
            }
            trace = std::move(*t);
            so.trace = &trace;
        }
        for (int p : pids) so.server_pids.push_back(p);
        so.think = std::chrono::microseconds(think_us);
        rb::raise_fd_limit();  // a few sockets per Pi, all in this process
        rb::StormReport rep = rb::run_storm(so);
        if (so.nfs) {
            rep.trace_path = trace_path;
            rep.trace_calls = trace.ops.size();
            bool recorded =
                std::any_of(trace.header.begin(), trace.header.end(),
                            [](const std::string& h) { return h.starts_with("RECORDED"); });
            rep.trace_kind = recorded ? "recorded" : "synthetic";
        }
        rb::print_table(std::cout, rep);
        write_json(json_path, rb::to_json(rep, label));
        if (!plot_path.empty()) {
            std::string msg;
            auto r = rb::write_plot(rep, plot_path, msg);
            std::cout << (r ? msg : "plot failed: " + r.error().message()) << "\n";
        }
        return rep.failed ? 1 : 0;
    }

    if (!resolve_targets(mt, base)) {
        std::cerr << "bad address in --dhcp/--tftp/--nfs/--source\n";
        return 2;
    }
    std::vector<pid_t> spids(mpids.begin(), mpids.end());
    double cpu0 = cpu_of(spids);
    auto t0 = Clock::now();
    uint64_t ops = 0, failed = 0, bytes = 0;
    std::string mode;
    if (*mnfs) {
        rb::Proc proc;
        if (op == "getattr") {
            proc = rb::Proc::kGetattr;
        } else if (op == "lookup") {
            proc = rb::Proc::kLookup;
        } else if (op == "readdirplus") {
            proc = rb::Proc::kReaddirplus;
        } else if (op == "read1m" || op == "read64k" || op == "read4k") {
            proc = rb::Proc::kRead;
        } else {
            std::cerr << "--op: getattr|lookup|readdirplus|read1m|read64k|read4k\n";
            return 2;
        }
        const uint32_t read_count = op == "read4k" ? 4096 : op == "read64k" ? 65536 : 1u << 20;
        mode = "nfs-" + op;
        std::tie(ops, failed) = run_parallel(mthreads, [&](uint32_t i) -> int64_t {
            auto r = rb::nfs_micro(Ipv4{base.source_base.value + i}, base.nfs_target, proc, path,
                                   secs, i, read_count);
            return r ? static_cast<int64_t>(*r) : -1;
        });
        if (proc == rb::Proc::kRead) bytes = ops * read_count;
    } else if (*mecho) {
        Ipv4 a;
        uint16_t port;
        if (!parse_endpoint(etarget, 7049, a, port)) {
            std::cerr << "bad --echo " << etarget << "\n";
            return 2;
        }
        const sockaddr_in server = rootfarm::make_sockaddr(a, port);
        mode = "echo-" + std::to_string(esizes.call) + "-" + std::to_string(esizes.reply);
        std::tie(ops, failed) = run_parallel(mthreads, [&](uint32_t i) -> int64_t {
            auto r = rb::echo_micro(Ipv4{base.source_base.value + i}, server, esizes, secs);
            if (!r) {
                std::cerr << "micro-echo: connection " << i << ": " << r.error().message() << "\n";
            }
            return r ? static_cast<int64_t>(*r) : -1;
        });
    } else if (*mtftp) {
        mode = "tftp-" + std::to_string(tn) + "x";
        std::vector<Ipv4> sources;
        for (uint32_t i = 0; i < tn; ++i) sources.push_back(Ipv4{base.source_base.value + i});
        for (const auto& r : rb::tftp_get_many(sources, base.tftp_target, tfile)) {
            if (!r || !r->found) {
                ++failed;
                continue;
            }
            ++ops;
            bytes += r->bytes;
        }
    } else if (*mdhcp) {
        mode = "dhcp-leases";
        std::vector<rb::PiIdentity> pis;
        for (uint32_t i = 0; i < dn; ++i) {
            pis.push_back(rb::make_pi(i, Ipv4{base.source_base.value + i}));
        }
        auto r = rb::dhcp_micro(pis, base.dhcp_target, std::chrono::duration<double>(secs));
        ops = r.leases;
        failed = r.failed;
    }
    double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    double cpu = cpu_of(spids) - cpu0;
    std::string j = micro_json(mode, mlabel, ops, failed, wall, bytes, cpu);
    std::cout << j;
    write_json(mjson, j);
    return failed ? 1 : 0;
}
