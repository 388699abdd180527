#include "bench/storm.h"

#include <algorithm>
#include <chrono>
#include <thread>

namespace rootfarm::bench {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0, Clock::time_point t) {
    return std::chrono::duration<double>(t - t0).count();
}

struct Samples {
    std::vector<double> dhcp, tftp, nfs;
    double first[3] = {1e300, 1e300, 1e300};
    double last[3] = {0, 0, 0};
};

void boot_one(const StormOptions& opt, uint32_t i, Clock::time_point t0, BootRecord& rec,
              std::vector<double>& dhcp_lat, std::vector<double>& tftp_lat, double span[3][2]) {
    rec.index = i;
    rec.source = Ipv4{opt.source_base.value + i};
    PiIdentity pi = make_pi(i, rec.source);
    auto start = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                          opt.ramp_seconds * i / std::max<uint32_t>(1, opt.clients)));
    std::this_thread::sleep_until(start);
    auto begin = Clock::now();
    rec.start_s = since(t0, begin);
    auto fail = [&](std::string why) {
        rec.error = std::move(why);
        rec.boot_s = since(begin, Clock::now());
    };
    if (opt.dhcp) {
        auto p0 = Clock::now();
        auto r = dhcp_boot(pi, opt.dhcp_target);
        span[0][0] = since(t0, p0);
        span[0][1] = since(t0, Clock::now());
        rec.dhcp_s = span[0][1] - span[0][0];
        if (!r) return fail("dhcp: " + r.error().message());
        dhcp_lat.push_back(r->discover_us);
        dhcp_lat.push_back(r->request_us);
        if (!r->pxe) return fail("dhcp: OFFER without the Raspberry Pi Boot option 43");
    }
    if (opt.tftp) {
        auto p0 = Clock::now();
        span[1][0] = since(t0, p0);
        // docs/pi-boot.md: the Pi probes <serial>/start4.elf; if it is there, every later file is
        // asked for under <serial>/, if not, under no prefix.
        std::string prefix = pi.serial_hex() + "/";
        for (const BootFile& f : pi4_boot_files()) {
            std::string name = prefix + f.name;
            for (int pass = f.early ? 0 : 1; pass < 2; ++pass) {
                auto r = tftp_get(rec.source, opt.tftp_target, name, pass == 0);
                if (!r) return fail("tftp " + name + ": " + r.error().message());
                tftp_lat.push_back(r->us);
                if (!r->found) {
                    ++rec.tftp_probes;
                    if (f.probe) prefix.clear();
                    break;
                }
                if (f.probe) break;
                if (pass == 1) {
                    ++rec.tftp_files;
                    rec.tftp_bytes += r->bytes;
                }
            }
        }
        span[1][1] = since(t0, Clock::now());
        rec.tftp_s = span[1][1] - span[1][0];
        if (rec.tftp_bytes == 0) return fail("tftp: no boot file found");
    }
    if (opt.nfs && opt.trace) {
        auto p0 = Clock::now();
        span[2][0] = since(t0, p0);
        auto r = nfs_replay(rec.source, opt.nfs_target, *opt.trace, i);
        span[2][1] = since(t0, Clock::now());
        rec.nfs_s = span[2][1] - span[2][0];
        if (!r) return fail("nfs: " + r.error().message());
        rec.nfs = std::move(*r);
        if (rec.nfs.failed_ops) {
            return fail("nfs: " + std::to_string(rec.nfs.failed_ops) +
                        " calls failed, first: " + rec.nfs.first_error);
        }
    }
    rec.ok = true;
    rec.boot_s = since(begin, Clock::now());
}

}  // namespace

StormReport run_storm(const StormOptions& opt) {
    StormReport rep;
    rep.clients = opt.clients;
    rep.boots.resize(opt.clients);
    std::vector<std::vector<double>> dhcp_lat(opt.clients), tftp_lat(opt.clients);
    std::vector<std::array<std::array<double, 2>, 3>> spans(opt.clients);
    std::vector<ProcSample> before;
    for (pid_t pid : opt.server_pids) {
        auto s = sample_process(pid);
        before.push_back(s ? *s : ProcSample{});
    }
    auto t0 = Clock::now() + std::chrono::milliseconds(50);
    {
        std::vector<std::jthread> threads;
        threads.reserve(opt.clients);
        for (uint32_t i = 0; i < opt.clients; ++i) {
            threads.emplace_back([&, i] {
                double span[3][2] = {};
                boot_one(opt, i, t0, rep.boots[i], dhcp_lat[i], tftp_lat[i], span);
                for (int p = 0; p < 3; ++p) spans[i][p] = {span[p][0], span[p][1]};
            });
        }
    }
    rep.wall_s = since(t0, Clock::now());
    for (size_t k = 0; k < opt.server_pids.size(); ++k) {
        ServerCost c;
        c.pid = opt.server_pids[k];
        if (auto s = sample_process(c.pid)) {
            c.cpu_seconds = s->cpu_seconds - before[k].cpu_seconds;
            c.peak_rss_kib = s->peak_rss_kib;
        }
        rep.servers.push_back(c);
    }

    const char* names[3] = {"dhcp", "tftp", "nfs"};
    bool on[3] = {opt.dhcp, opt.tftp, opt.nfs && opt.trace};
    for (int p = 0; p < 3; ++p) {
        if (!on[p]) continue;
        PhaseReport ph;
        ph.name = names[p];
        std::vector<double> lat, per_boot;
        double first = 1e300, last = 0;
        for (uint32_t i = 0; i < opt.clients; ++i) {
            const BootRecord& b = rep.boots[i];
            auto& s = spans[i][p];
            if (s[1] > 0) {
                first = std::min(first, s[0]);
                last = std::max(last, s[1]);
                per_boot.push_back((s[1] - s[0]) * 1e6);
            }
            if (p == 0) lat.insert(lat.end(), dhcp_lat[i].begin(), dhcp_lat[i].end());
            if (p == 1) {
                lat.insert(lat.end(), tftp_lat[i].begin(), tftp_lat[i].end());
                ph.bytes += b.tftp_bytes;
            }
            if (p == 2) {
                lat.insert(lat.end(), b.nfs.op_us.begin(), b.nfs.op_us.end());
                ph.bytes += b.nfs.bytes_read + b.nfs.bytes_written;
                for (int k = 0; k < kProcCount; ++k) {
                    rep.nfs_calls[k] += b.nfs.calls[k];
                    rep.nfs_proc_us[k] += b.nfs.proc_us[k];
                }
            }
        }
        ph.ops = lat.size();
        ph.latency = summarise(std::move(lat));
        ph.per_boot = summarise(std::move(per_boot));
        ph.active_s = last > first ? last - first : 0;
        rep.phases.push_back(ph);
    }
    for (const BootRecord& b : rep.boots) rep.failed += b.ok ? 0 : 1;
    return rep;
}

}  // namespace rootfarm::bench
