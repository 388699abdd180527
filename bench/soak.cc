#include "bench/soak.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "bench/proc_stats.h"

namespace rootfarm::bench {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

Clock::duration secs(double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// What every Pi adds to, under one lock (a Pi takes it once per round or fetch, not per call).
struct Shared {
    Clock::time_point t0;
    std::atomic<uint64_t> rounds{0}, errors{0};
    std::mutex mu;
    std::vector<std::string> first_errors;
    std::vector<double> nfs_us, tftp_us, dhcp_us;
    uint64_t nfs_calls = 0, tftp_fetches = 0, dhcp_exchanges = 0;

    void error(uint32_t pi, const std::string& what) {
        ++errors;
        std::lock_guard lock(mu);
        if (first_errors.size() < 10) {
            char t[32];
            std::snprintf(t, sizeof t, "t=%.1fs", since(t0));
            first_errors.push_back(std::string(t) + " pi " + std::to_string(pi) + ": " + what);
        }
    }
};

// The small files a running Pi's firmware and OS read again (docs/pi-boot.md), after the same
// <serial>/ probe the boot does. recovery.elf is the probe that is normally missing.
void fetch_small(const SoakOptions& opt, const PiIdentity& pi, Shared& sh, uint32_t i) {
    std::vector<double> lat;
    std::string prefix = pi.serial_hex() + "/";
    auto probe = tftp_get(pi.source, opt.tftp_target, prefix + "start4.elf", true);
    if (!probe) return sh.error(i, "tftp probe: " + probe.error().message());
    lat.push_back(probe->us);
    if (!probe->found) prefix.clear();
    for (const char* f :
         {"config.txt", "cmdline.txt", "fixup4.dat", "bcm2711-rpi-4-b.dtb", "recovery.elf"}) {
        const std::string name = prefix + f;
        auto r = tftp_get(pi.source, opt.tftp_target, name, false);
        if (!r) return sh.error(i, "tftp " + name + ": " + r.error().message());
        if (!r->found && std::string_view(f) != "recovery.elf") {
            return sh.error(i, "tftp " + name + ": not found");
        }
        lat.push_back(r->us);
    }
    std::lock_guard lock(sh.mu);
    sh.tftp_us.insert(sh.tftp_us.end(), lat.begin(), lat.end());
    sh.tftp_fetches += lat.size();
}

// A lease: the boot's DISCOVER..ACK the first time (and after a failure), a renewal after.
void dhcp_step(const SoakOptions& opt, const PiIdentity& pi, Ipv4& leased, Shared& sh, uint32_t i) {
    double us = 0;
    if (leased.is_any()) {
        auto r = dhcp_boot(pi, opt.dhcp_target);
        if (!r) return sh.error(i, "dhcp: " + r.error().message());
        if (!r->pxe) return sh.error(i, "dhcp: OFFER without the Raspberry Pi Boot option 43");
        leased = r->yiaddr;
        us = r->discover_us + r->request_us;
    } else {
        auto r = dhcp_renew(pi, opt.dhcp_target, leased);
        if (!r) {
            leased = Ipv4{};
            return sh.error(i, "dhcp renew: " + r.error().message());
        }
        us = *r;
    }
    std::lock_guard lock(sh.mu);
    sh.dhcp_us.push_back(us);
    ++sh.dhcp_exchanges;
}

void run_pi(const SoakOptions& opt, uint32_t i, Shared& sh) {
    const PiIdentity pi = make_pi(i, Ipv4{opt.source_base.value + i});
    const auto end = sh.t0 + secs(opt.seconds);
    // It boots (DHCP, TFTP) first; later fetches and renewals are spread over the period so the
    // Pis do not move in lockstep.
    Ipv4 leased;
    dhcp_step(opt, pi, leased, sh, i);
    fetch_small(opt, pi, sh, i);
    const double spread = static_cast<double>(i) / std::max<uint32_t>(1, opt.pis);
    auto next_dhcp = sh.t0 + secs(opt.dhcp_every * (1 + spread));
    auto next_tftp = sh.t0 + secs(opt.tftp_every * (1 + spread));
    while (Clock::now() < end) {
        if (Clock::now() >= next_dhcp) {
            dhcp_step(opt, pi, leased, sh, i);
            next_dhcp += secs(opt.dhcp_every);
        }
        if (Clock::now() >= next_tftp) {
            fetch_small(opt, pi, sh, i);
            next_tftp += secs(opt.tftp_every);
        }
        auto r = nfs_replay(pi.source, opt.nfs_target, *opt.trace, i);
        if (!r) {
            sh.error(i, "nfs: " + r.error().message());
            std::this_thread::sleep_for(std::chrono::seconds(1));
            continue;
        }
        if (r->failed_ops) {
            sh.error(i, "nfs: " + std::to_string(r->failed_ops) +
                            " calls failed, first: " + r->first_error);
        }
        ++sh.rounds;
        std::lock_guard lock(sh.mu);
        sh.nfs_calls += r->op_us.size();
        for (size_t k = i % 10; k < r->op_us.size(); k += 10) sh.nfs_us.push_back(r->op_us[k]);
    }
}

// Journal and snapshot sizes under <state>/clients/<client>/ (file sizes only: the bench does
// not read the store's files). `last` holds each journal's size at the sample before, to see
// compactions.
void sample_journals(const SoakOptions& opt, SoakSample& s, std::map<std::string, uint64_t>& last,
                     std::set<std::string>& compacted, uint64_t& compactions) {
    namespace fs = std::filesystem;
    std::error_code ec;
    for (auto it = fs::directory_iterator(opt.state_dir / "clients", ec);
         !ec && it != fs::directory_iterator(); it.increment(ec)) {
        std::error_code e1, e2;
        const uint64_t j = fs::file_size(it->path() / "journal", e1);
        if (e1) continue;
        uint64_t snap = fs::file_size(it->path() / "snapshot", e2);
        if (e2) snap = 0;
        ++s.journals;
        s.journal_bytes += j;
        s.snapshot_bytes += snap;
        s.journal_max_bytes = std::max(s.journal_max_bytes, j);
        if (j > std::max<uint64_t>(opt.journal_cap_bytes, 2 * snap + (1u << 20))) ++s.over_bound;
        auto name = it->path().filename().string();
        if (auto p = last.find(name); p != last.end() && j < p->second) {
            ++compactions;
            compacted.insert(name);
        }
        last[name] = j;
    }
    s.compacted = compacted.size();
}

}  // namespace

SoakReport run_soak(const SoakOptions& opt) {
    SoakReport rep;
    rep.options = opt;
    Shared sh;
    sh.t0 = Clock::now();
    std::atomic<uint32_t> running{opt.pis};
    std::mutex wake_mu;
    std::condition_variable wake;
    std::map<std::string, uint64_t> journal_sizes;
    std::set<std::string> compacted;
    auto sample = [&] {
        SoakSample s;
        s.t_s = since(sh.t0);
        if (auto r = sample_resources(opt.server_pid)) {
            s.ok = true;
            s.rss_kib = r->rss_kib;
            s.fds = r->fds;
            s.threads = r->threads;
        }
        if (!opt.state_dir.empty()) {
            sample_journals(opt, s, journal_sizes, compacted, rep.compactions_seen);
        }
        s.rounds = sh.rounds;
        s.errors = sh.errors;
        rep.samples.push_back(s);
    };
    std::jthread sampler([&] {
        auto next = sh.t0;
        std::unique_lock lock(wake_mu);
        while (running > 0) {
            lock.unlock();
            sample();
            lock.lock();
            next += secs(opt.sample_every);
            wake.wait_until(lock, next, [&] { return running == 0; });
        }
    });
    {
        std::vector<std::jthread> pis;
        pis.reserve(opt.pis);
        for (uint32_t i = 0; i < opt.pis; ++i) {
            pis.emplace_back([&, i] {
                run_pi(opt, i, sh);
                std::lock_guard lock(wake_mu);
                if (--running == 0) wake.notify_all();
            });
        }
    }
    sampler.join();
    sample();  // the state the workload left
    rep.wall_s = since(sh.t0);
    rep.rounds = sh.rounds;
    rep.errors = sh.errors;
    rep.first_errors = std::move(sh.first_errors);
    rep.nfs_calls = sh.nfs_calls;
    rep.tftp_fetches = sh.tftp_fetches;
    rep.dhcp_exchanges = sh.dhcp_exchanges;
    rep.nfs_latency = summarise(std::move(sh.nfs_us));
    rep.tftp_latency = summarise(std::move(sh.tftp_us));
    rep.dhcp_latency = summarise(std::move(sh.dhcp_us));
    judge_soak(rep);
    return rep;
}

}  // namespace rootfarm::bench
