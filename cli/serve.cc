#include "cli/serve.h"

#include "cli/commands.h"

#include <pthread.h>
#include <signal.h>

#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "core/clients.h"
#include "core/log.h"
#include "core/loop.h"
#include "dhcpd/dhcpd.h"
#include "nfsd/nfsd.h"
#include "store/store.h"
#include "tftpd/tftpd.h"

namespace rootfarm::cli {

namespace {

// The services of one `rootfarm serve`. They outlive every loop that calls into them.
struct Services {
    std::unique_ptr<store::Store> store;
    std::unique_ptr<nfsd::NfsServer> nfs;
    std::unique_ptr<tftpd::TftpServer> tftp;
    std::unique_ptr<dhcpd::DhcpServer> dhcp;
};

// Opens the store and creates the enabled services; logs and returns false on failure.
bool create_services(const Config& config, ClientRegistry& clients, Services& s) {
    if (config.nfs.enabled || config.tftp.enabled) {
        auto store = store::Store::open(store_options(config));
        if (!store) {
            core_log().error("cannot open the store in {}: {}", config.state_dir.string(),
                             store.error().message());
            return false;
        }
        s.store = std::move(*store);
    }
    if (config.nfs.enabled) {
        auto nfs = nfsd::NfsServer::create(config, clients, *s.store);
        if (!nfs) {
            core_log().error("nfs: {}", nfs.error().message());
            return false;
        }
        s.nfs = std::move(*nfs);
    }
    if (config.tftp.enabled) {
        auto tftp = tftpd::TftpServer::create(config, clients, *s.store);
        if (!tftp) {
            core_log().error("tftp: {}", tftp.error().message());
            return false;
        }
        s.tftp = std::move(*tftp);
    }
    if (config.dhcp.enabled) {
        auto dhcp = dhcpd::DhcpServer::create(config, clients);
        if (!dhcp) {
            core_log().error("dhcp: {}", dhcp.error().message());
            return false;
        }
        s.dhcp = std::move(*dhcp);
    }
    return true;
}

// Starts this worker's share of the services on `loop`, on the loop's thread. Worker 0 also
// carries DHCP and TFTP: they are light, and one thread keeps their state lock-free.
bool start_on(Loop& loop, int worker, const Config& config, Services& s) {
    if (s.nfs) {
        if (auto r = s.nfs->start(loop, worker); !r) {
            core_log().error("nfs: cannot listen on {}:{}: {}", config.nfs.listen.to_string(),
                             config.nfs.port, r.error().message());
            return false;
        }
    }
    if (worker != 0) return true;
    if (s.tftp) {
        if (auto r = s.tftp->start(loop); !r) {
            core_log().error("tftp: cannot listen on {}:{}: {}", config.tftp.listen.to_string(),
                             config.tftp.port, r.error().message());
            return false;
        }
    }
    if (s.dhcp) {
        if (auto r = s.dhcp->start(loop); !r) {
            core_log().error("dhcp: cannot listen on {}:{}: {}", config.dhcp.listen.to_string(),
                             config.dhcp.port, r.error().message());
            return false;
        }
    }
    return true;
}

int worker_count(const Config& config) {
    if (!config.nfs.enabled) return 1;
    if (config.nfs.threads > 0) return config.nfs.threads;
    return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

int serve(const Config& config) {
    // Block the stop signals in every thread; this one waits for them with sigwait.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    ClientRegistry clients(config);
    Services services;
    if (!create_services(config, clients, services)) return 1;

    const int workers = worker_count(config);
    std::vector<std::thread> threads;
    std::vector<Loop*> loops(workers, nullptr);
    std::vector<std::promise<bool>> started(workers);
    for (int i = 0; i < workers; ++i) {
        threads.emplace_back([&, i] {
            auto loop = Loop::create();
            if (!loop) {
                core_log().error("cannot create an io_uring: {}", loop.error().message());
                started[i].set_value(false);
                return;
            }
            loops[i] = loop->get();
            const bool ok = start_on(**loop, i, config, services);
            if (!ok) loops[i] = nullptr;  // destroyed when this thread ends
            started[i].set_value(ok);
            if (ok) (*loop)->run();
            // The loop (and every socket it owns) is destroyed here, on its own thread.
        });
    }
    bool all_started = true;
    for (auto& s : started) all_started = s.get_future().get() && all_started;

    int status = 0;
    if (all_started) {
        core_log().info("rootfarm serving: nfs {}, tftp {}, dhcp {}; state in {}; {} worker(s)",
                        config.nfs.enabled ? "on port " + std::to_string(config.nfs.port) : "off",
                        config.tftp.enabled ? "on port " + std::to_string(config.tftp.port) : "off",
                        config.dhcp.enabled ? "on port " + std::to_string(config.dhcp.port) : "off",
                        config.state_dir.string(), workers);
        int sig = 0;
        sigwait(&stop_signals, &sig);
        core_log().info("received {}, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    } else {
        status = 1;
    }
    for (Loop* loop : loops)
        if (loop) loop->stop();
    for (auto& t : threads) t.join();
    // Services are destroyed after every loop has stopped (leases are flushed here), the store
    // last: the servers hold references to it.
    services.dhcp.reset();
    services.tftp.reset();
    services.nfs.reset();
    services.store.reset();
    if (status == 0) core_log().info("stopped");
    return status;
}

}  // namespace rootfarm::cli
