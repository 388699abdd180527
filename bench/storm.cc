#include "bench/storm.h"

#include <sys/epoll.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <thread>

#include "bench/udp.h"

namespace rootfarm::bench {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0, Clock::time_point t) {
    return std::chrono::duration<double>(t - t0).count();
}

// One simulated Pi's boot as a state machine: DHCP exchange, the TFTP file list one transfer
// at a time, then MOUNT and the NFS replay with one call in flight. It has one socket at a
// time, watched under its index; deadline is when it next needs the loop without an event (a
// retransmit, a call's timeout, a paced call, its start).
struct Pi {
    enum class Stage { kWaiting, kDhcp, kTftp, kNfs, kDone };

    uint32_t index = 0;
    uint64_t slot = 0;  // its place in its thread's loop: the key of its socket
    PiIdentity id;
    BootRecord* rec = nullptr;
    Stage stage = Stage::kWaiting;
    Clock::time_point begin, deadline;
    std::vector<double> dhcp_lat, tftp_lat;
    double span[3][2] = {};  // per phase: start and end, seconds from the storm's start

    std::optional<UdpClient> sock;  // the DHCP socket, then each TFTP transfer's
    std::optional<DhcpExchange> dhcp;
    std::optional<TftpSession> tftp;
    std::unique_ptr<NfsReplay> nfs;
    int watched_fd = -1;
    uint32_t watched_events = 0;

    // TFTP: the file of pi4_boot_files() under way, and its pass (0: the early-terminated
    // request, 1: the whole file).
    size_t file = 0;
    int pass = 0;
    std::string prefix, name;
};

// All Pis of one thread, driven from one epoll loop.
class Loop {
  public:
    Loop(const StormOptions& opt, Clock::time_point t0, std::vector<Pi*> pis)
        : opt_(opt),
          t0_(t0),
          limit_(t0 + std::chrono::duration_cast<Clock::duration>(
                          std::chrono::duration<double>(opt.time_limit_s))),
          pis_(std::move(pis)),
          buf_(65536) {}

    void run() {
        running_ = pis_.size();
        if (!poller_.ok()) {
            for (Pi* p : pis_) fail(*p, "epoll_create1 failed");
            return;
        }
        while (running_ > 0) {
            auto next = Clock::now() + std::chrono::seconds(1);
            if (opt_.time_limit_s > 0) next = std::min(next, limit_);
            for (Pi* p : pis_) {
                if (p->stage != Pi::Stage::kDone) next = std::min(next, p->deadline);
            }
            const bool ok = poller_.wait_events(
                next, [&](uint64_t i, uint32_t events) { on_ready(*pis_[i], events); });
            if (!ok) {
                for (Pi* p : pis_) {
                    if (p->stage != Pi::Stage::kDone) finish(*p, "epoll_wait failed");
                }
                return;
            }
            const auto now = Clock::now();
            for (Pi* p : pis_) {
                if (p->stage != Pi::Stage::kDone && p->deadline <= now) on_deadline(*p);
            }
            if (opt_.time_limit_s > 0 && now >= limit_) {
                for (Pi* p : pis_) {
                    if (p->stage != Pi::Stage::kDone) give_up(*p);
                }
            }
        }
    }

  private:
    void on_ready(Pi& p, uint32_t events) {
        switch (p.stage) {
            case Pi::Stage::kDhcp:
                return dhcp_readable(p);
            case Pi::Stage::kTftp:
                return tftp_readable(p);
            case Pi::Stage::kNfs:
                // epoll's EPOLLIN/OUT/ERR/HUP are poll(2)'s bits, which libnfs takes.
                p.nfs->service(static_cast<int>(events));
                return nfs_sync(p);
            default:
                return;
        }
    }

    void on_deadline(Pi& p) {
        switch (p.stage) {
            case Pi::Stage::kWaiting:
                return begin(p);
            case Pi::Stage::kDhcp:
                if (p.dhcp->on_timeout()) return dhcp_send(p);
                return dhcp_done(p);
            case Pi::Stage::kTftp:
                p.deadline = Clock::now() + opt_.tftp_target.timeout;
                tftp_deliver(*p.sock, *p.tftp, p.tftp->on_timeout());
                if (p.tftp->finished()) transfer_done(p);
                return;
            case Pi::Stage::kNfs:
                p.nfs->service(0);
                return nfs_sync(p);
            case Pi::Stage::kDone:
                return;
        }
    }

    void watch(Pi& p, int fd, uint32_t events) {
        if (p.watched_fd == fd && p.watched_events == events) return;
        if (p.watched_fd >= 0 && p.watched_fd != fd) poller_.unwatch(p.watched_fd);
        if (fd >= 0) poller_.watch(fd, events, p.slot);
        p.watched_fd = fd;
        p.watched_events = fd >= 0 ? events : 0;
    }
    void unwatch(Pi& p) { watch(p, -1, 0); }

    void begin(Pi& p) {
        p.begin = Clock::now();
        p.rec->start_s = since(t0_, p.begin);
        next_phase(p, -1);
    }

    // Starts the phase after `done` (-1: none yet) that the storm runs.
    void next_phase(Pi& p, int done) {
        if (done < 0 && opt_.dhcp) return start_dhcp(p);
        if (done < 1 && opt_.tftp) return start_tftp(p);
        if (done < 2 && opt_.nfs && opt_.trace) return start_nfs(p);
        p.rec->ok = true;
        finish(p, {});
    }

    void finish(Pi& p, std::string error) {
        unwatch(p);
        p.sock.reset();
        p.nfs.reset();
        p.rec->error = std::move(error);
        p.rec->boot_s = p.begin == Clock::time_point{} ? 0 : since(p.begin, Clock::now());
        if (p.stage != Pi::Stage::kDone) --running_;
        p.stage = Pi::Stage::kDone;
    }
    // The time limit: what a Pi in its NFS phase replayed so far still counts in the report.
    void give_up(Pi& p) {
        if (p.stage == Pi::Stage::kNfs) {
            p.span[2][1] = since(t0_, Clock::now());
            p.rec->nfs_s = p.span[2][1] - p.span[2][0];
            if (auto r = p.nfs->result()) p.rec->nfs = std::move(*r);
        }
        fail(p, "not booted within --time-limit " + std::to_string(opt_.time_limit_s) + " s");
    }
    void fail(Pi& p, std::string why) {
        p.rec->ok = false;
        finish(p, std::move(why));
    }

    // --- DHCP -------------------------------------------------------------------------------
    void start_dhcp(Pi& p) {
        p.stage = Pi::Stage::kDhcp;
        p.span[0][0] = since(t0_, Clock::now());
        auto sock = UdpClient::bind(p.id.source, opt_.dhcp_target.relay_port);
        if (!sock) {
            p.span[0][1] = since(t0_, Clock::now());
            return fail(p, "dhcp: " + sock.error().message());
        }
        p.sock.emplace(std::move(*sock));
        watch(p, p.sock->fd(), EPOLLIN);
        std::mt19937 rng(p.id.serial);  // docs/pi-boot.md: the Pi 4 uses a random xid
        p.dhcp.emplace(p.id, opt_.dhcp_target, rng(), nullptr);
        dhcp_send(p);
    }
    void dhcp_send(Pi& p) {
        // The wait restarts with each send (one timeout per attempt), not with noise.
        p.deadline = Clock::now() + opt_.dhcp_target.timeout;
        if (auto r = p.sock->send_to(opt_.dhcp_target.server, p.dhcp->next()); !r) {
            p.span[0][1] = since(t0_, Clock::now());
            fail(p, "dhcp: " + r.error().message());
        }
    }
    void dhcp_readable(Pi& p) {
        sockaddr_in from{};
        while (p.stage == Pi::Stage::kDhcp) {
            auto got = p.sock->recv_now(buf_, from);
            if (!got) return;
            if (!p.dhcp->on_datagram({buf_.data(), *got})) continue;
            if (p.dhcp->finished()) return dhcp_done(p);
            dhcp_send(p);
        }
    }
    void dhcp_done(Pi& p) {
        p.span[0][1] = since(t0_, Clock::now());
        p.rec->dhcp_s = p.span[0][1] - p.span[0][0];
        unwatch(p);
        p.sock.reset();
        auto r = p.dhcp->result();
        p.dhcp.reset();
        if (!r) return fail(p, "dhcp: " + r.error().message());
        p.dhcp_lat.push_back(r->discover_us);
        p.dhcp_lat.push_back(r->request_us);
        if (!r->pxe) return fail(p, "dhcp: OFFER without the Raspberry Pi Boot option 43");
        next_phase(p, 0);
    }

    // --- TFTP -------------------------------------------------------------------------------
    void start_tftp(Pi& p) {
        p.stage = Pi::Stage::kTftp;
        p.span[1][0] = since(t0_, Clock::now());
        // docs/pi-boot.md: the Pi probes <serial>/start4.elf; if it is there, every later file
        // is asked for under <serial>/, if not, under no prefix.
        p.prefix = p.id.serial_hex() + "/";
        p.file = 0;
        p.pass = pi4_boot_files()[0].early ? 0 : 1;
        start_transfer(p);
    }
    void start_transfer(Pi& p) {
        const auto& files = pi4_boot_files();
        if (p.file == files.size()) return tftp_done(p);
        p.name = p.prefix + files[p.file].name;
        auto sock = UdpClient::bind(p.id.source, 0);
        if (!sock) {
            p.span[1][1] = since(t0_, Clock::now());
            return fail(p, "tftp " + p.name + ": " + sock.error().message());
        }
        unwatch(p);
        p.sock.emplace(std::move(*sock));
        watch(p, p.sock->fd(), EPOLLIN);
        p.tftp.emplace(opt_.tftp_target, p.name, p.pass == 0);
        p.deadline = Clock::now() + opt_.tftp_target.timeout;
        tftp_deliver(*p.sock, *p.tftp, p.tftp->start());
        if (p.tftp->finished()) transfer_done(p);
    }
    void tftp_readable(Pi& p) {
        sockaddr_in from{};
        while (p.stage == Pi::Stage::kTftp && !p.tftp->finished()) {
            auto got = p.sock->recv_now(buf_, from);
            if (!got) return;
            // As tftp_get: any datagram restarts the wait (its recv_from is per packet).
            p.deadline = Clock::now() + opt_.tftp_target.timeout;
            tftp_deliver(*p.sock, *p.tftp, p.tftp->on_datagram(from, {buf_.data(), *got}));
            if (p.tftp->finished()) return transfer_done(p);
        }
    }
    void transfer_done(Pi& p) {
        unwatch(p);
        p.sock.reset();
        auto r = p.tftp->result();
        p.rec->tftp_timeouts += static_cast<uint64_t>(p.tftp->timeouts());
        p.tftp.reset();
        if (!r) {
            p.span[1][1] = since(t0_, Clock::now());
            return fail(p, "tftp " + p.name + ": " + r.error().message());
        }
        p.tftp_lat.push_back(r->us);
        const BootFile& f = pi4_boot_files()[p.file];
        bool next_file = true;
        if (!r->found) {
            ++p.rec->tftp_probes;
            if (f.probe) p.prefix.clear();
        } else if (!f.probe) {
            if (p.pass == 1) {
                ++p.rec->tftp_files;
                p.rec->tftp_bytes += r->bytes;
            } else {
                p.pass = 1;  // the size is known: now the file
                next_file = false;
            }
        }
        if (next_file && ++p.file < pi4_boot_files().size()) {
            p.pass = pi4_boot_files()[p.file].early ? 0 : 1;
        }
        start_transfer(p);
    }
    void tftp_done(Pi& p) {
        p.span[1][1] = since(t0_, Clock::now());
        p.rec->tftp_s = p.span[1][1] - p.span[1][0];
        if (p.rec->tftp_bytes == 0) return fail(p, "tftp: no boot file found");
        next_phase(p, 1);
    }

    // --- NFS --------------------------------------------------------------------------------
    void start_nfs(Pi& p) {
        p.stage = Pi::Stage::kNfs;
        p.span[2][0] = since(t0_, Clock::now());
        p.nfs = std::make_unique<NfsReplay>(p.id.source, opt_.nfs_target, *opt_.trace, p.index,
                                            opt_.think);
        p.nfs->start();
        nfs_sync(p);
    }
    // Watches what the replay waits for now (its connection changes from MOUNT to NFS; a pause
    // has none).
    void nfs_sync(Pi& p) {
        if (p.nfs->finished()) return nfs_done(p);
        watch(p, p.nfs->fd(), static_cast<uint32_t>(p.nfs->events()));
        p.deadline = p.nfs->deadline();
    }
    void nfs_done(Pi& p) {
        p.span[2][1] = since(t0_, Clock::now());
        p.rec->nfs_s = p.span[2][1] - p.span[2][0];
        unwatch(p);
        auto r = p.nfs->result();
        std::string first = p.nfs->first_error();
        p.nfs.reset();
        if (!r) {
            return fail(p,
                        "nfs: " + r.error().message() + (first.empty() ? "" : " (" + first + ")"));
        }
        p.rec->nfs = std::move(*r);
        if (p.rec->nfs.failed_ops) {
            return fail(p, "nfs: " + std::to_string(p.rec->nfs.failed_ops) +
                               " calls failed, first: " + p.rec->nfs.first_error);
        }
        next_phase(p, 2);
    }

    const StormOptions& opt_;
    Clock::time_point t0_, limit_;
    std::vector<Pi*> pis_;
    std::vector<uint8_t> buf_;
    UdpPoller poller_;
    size_t running_ = 0;
};

double own_cpu_seconds(uint64_t* peak_rss_kib) {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    if (peak_rss_kib) *peak_rss_kib = static_cast<uint64_t>(ru.ru_maxrss);  // KiB on Linux
    auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    return s(ru.ru_utime) + s(ru.ru_stime);
}

}  // namespace

StormReport run_storm(const StormOptions& opt) {
    StormReport rep;
    rep.clients = opt.clients;
    rep.bench_threads = std::clamp<uint32_t>(opt.threads, 1, std::max<uint32_t>(1, opt.clients));
    rep.boots.resize(opt.clients);
    std::vector<std::unique_ptr<Pi>> pis;
    std::vector<std::vector<Pi*>> per_thread(rep.bench_threads);
    auto t0 = Clock::now() + std::chrono::milliseconds(50);
    for (uint32_t i = 0; i < opt.clients; ++i) {
        auto p = std::make_unique<Pi>();
        p->index = i;
        p->rec = &rep.boots[i];
        p->rec->index = i;
        p->rec->source = Ipv4{opt.source_base.value + i};
        p->id = make_pi(i, p->rec->source);
        p->deadline =
            t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                     opt.ramp_seconds * i / std::max<uint32_t>(1, opt.clients)));
        auto& mine = per_thread[i % rep.bench_threads];
        p->slot = mine.size();
        mine.push_back(p.get());
        pis.push_back(std::move(p));
    }
    std::vector<ProcSample> before;
    for (pid_t pid : opt.server_pids) {
        ServerCost c;
        c.pid = pid;
        auto s = sample_process(pid);
        before.push_back(s ? *s : ProcSample{});
        if (auto r = sample_resources(pid)) {
            c.rss_before_kib = r->rss_kib;
            c.peak_fds = r->fds;
            c.peak_threads = r->threads;
        }
        rep.servers.push_back(c);
    }
    const double cpu0 = own_cpu_seconds(nullptr);
    {
        // The servers' descriptors and threads, sampled while the storm runs (peak RSS is the
        // kernel's own high-water mark, VmHWM).
        std::atomic<bool> stop{false};
        std::jthread sampler([&] {
            while (!stop.load()) {
                for (ServerCost& c : rep.servers) {
                    if (auto r = sample_resources(c.pid)) {
                        c.peak_fds = std::max(c.peak_fds, r->fds);
                        c.peak_threads = std::max(c.peak_threads, r->threads);
                    }
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
            }
        });
        {
            std::vector<std::jthread> threads;
            for (auto& mine : per_thread) {
                threads.emplace_back([&opt, t0, &mine] { Loop(opt, t0, mine).run(); });
            }
        }
        rep.wall_s = since(t0, Clock::now());
        stop = true;
    }
    rep.bench_cpu_s = own_cpu_seconds(&rep.bench_peak_rss_kib) - cpu0;
    for (size_t k = 0; k < rep.servers.size(); ++k) {
        ServerCost& c = rep.servers[k];
        if (auto s = sample_process(c.pid)) {
            c.cpu_seconds = s->cpu_seconds - before[k].cpu_seconds;
            c.peak_rss_kib = s->peak_rss_kib;
        }
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
            const Pi& pi = *pis[i];
            const BootRecord& b = rep.boots[i];
            const auto& s = pi.span[p];
            if (s[1] > 0) {
                first = std::min(first, s[0]);
                last = std::max(last, s[1]);
                per_boot.push_back((s[1] - s[0]) * 1e6);
            }
            if (p == 0) lat.insert(lat.end(), pi.dhcp_lat.begin(), pi.dhcp_lat.end());
            if (p == 1) {
                lat.insert(lat.end(), pi.tftp_lat.begin(), pi.tftp_lat.end());
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
    for (const BootRecord& b : rep.boots) {
        rep.failed += b.ok ? 0 : 1;
        rep.last_boot_s = std::max(rep.last_boot_s, b.start_s + b.boot_s);
    }
    return rep;
}

}  // namespace rootfarm::bench
