#include "cli/serve.h"

#include "cli/commands.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>

#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "cli/control.h"
#include "cli/http.h"
#include "clients/clients.h"
#include "clients/report.h"
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
    std::unique_ptr<Clients> clients;
    std::unique_ptr<nfsd::NfsServer> nfs;
    std::unique_ptr<tftpd::TftpServer> tftp;
    std::unique_ptr<dhcpd::DhcpServer> dhcp;
};

// Every transfer, connection and open delta holds descriptors: a room of Pis needs more than
// the usual soft limit of 1024 (systemd's, and a shell's). The hard limit is the operator's (the
// unit sets LimitNOFILE); the soft one is raised to it, as setrlimit(2) allows any process.
void raise_open_file_limit() {
    rlimit r{};
    if (::getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur >= r.rlim_max) return;
    rlim_t before = r.rlim_cur;
    r.rlim_cur = r.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &r) == 0) {
        core_log().debug("open files: soft limit raised from {} to {}", before, r.rlim_cur);
    }
}

// Opens the store and creates the enabled services; logs and returns false on failure.
bool create_services(const Config& config, Services& s) {
    if (config.nfs.enabled || config.tftp.enabled) {
        auto store = store::Store::open(store_options(config));
        if (!store) {
            core_log().error("cannot open the store in {}: {}", config.state_dir.string(),
                             store.error().message());
            return false;
        }
        s.store = std::move(*store);
    }
    try {
        s.clients = std::make_unique<Clients>(config, s.store.get());
    } catch (const std::system_error& e) {
        core_log().error("{}", e.what());
        return false;
    }
    Clients& clients = *s.clients;
    if (config.nfs.enabled) {
        auto nfs = nfsd::NfsServer::create(config, clients);
        if (!nfs) {
            core_log().error("nfs: {}", nfs.error().message());
            return false;
        }
        s.nfs = std::move(*nfs);
    }
    if (config.tftp.enabled) {
        auto tftp = tftpd::TftpServer::create(config, clients);
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

// Keys a reload cannot change in a running server: they are bound into sockets and threads.
std::vector<std::string> needs_restart(const Config& was, const Config& now) {
    std::vector<std::string> out;
    auto check = [&](bool changed, const char* what) {
        if (changed) out.push_back(std::string(what) + " changed: takes effect after a restart");
    };
    check(was.state_dir != now.state_dir, "state_dir");
    check(was.server_ip != now.server_ip, "server_ip");
    check(was.nfs.enabled != now.nfs.enabled || was.nfs.port != now.nfs.port ||
              was.nfs.mount_port != now.nfs.mount_port || was.nfs.listen != now.nfs.listen ||
              was.nfs.exports != now.nfs.exports || was.nfs.threads != now.nfs.threads,
          "[nfs]");
    check(was.tftp.enabled != now.tftp.enabled || was.tftp.port != now.tftp.port ||
              was.tftp.listen != now.tftp.listen ||
              was.tftp.rewrite_cmdline != now.tftp.rewrite_cmdline,
          "[tftp]");
    check(was.dhcp.enabled != now.dhcp.enabled || was.dhcp.port != now.dhcp.port ||
              was.dhcp.mode != now.dhcp.mode || was.dhcp.interface != now.dhcp.interface,
          "[dhcp]");
    check(was.http.listen != now.http.listen, "[http]");
    check(was.store.boot_mount != now.store.boot_mount ||
              was.store.client_quota != now.store.client_quota,
          "[store]");
    return out;
}

// Re-reads the configuration file and applies what a running server can (SIGHUP, `rootfarm
// reload`). An invalid file changes nothing.
ControlReply reload(const Config& running, Clients& clients) {
    Config next;
    try {
        next = load_config(running.source);
    } catch (const ConfigError& e) {
        core_log().error("reload refused, the running configuration stays: {}", e.what());
        return {2, std::string(e.what()) + "\n"};
    }
    std::string text;
    for (const std::string& line : needs_restart(running, next)) {
        core_log().warn("reload: {}", line);
        text += line + "\n";
    }
    if (next.log.level != running.log.level) setup_logging(next.log.level);
    const std::vector<std::string> changes = clients.reconfigure(next);
    for (const std::string& line : changes) text += line + "\n";
    core_log().info("reloaded {}: {} change(s) to the clients", running.source.string(),
                    changes.size());
    text += "reloaded " + running.source.string() + "\n";
    return {0, text};
}

ControlReply reset(std::string_view args, Clients& clients) {
    const bool force = args.ends_with(" force");
    if (force) args.remove_suffix(6);
    auto mac = MacAddr::parse(args);
    if (!mac) return {2, "'" + std::string(args) + "' is not a MAC address\n"};
    auto r = clients.reset(*mac, force);
    if (!r) {
        if (r.error() == std::errc::device_or_resource_busy) {
            return {1, mac->to_string() +
                           ": its root is mounted and in use; power it off (or wait until it "
                           "is idle), or reset with --force (its open files then go stale)\n"};
        }
        return {1, mac->to_string() + ": " + r.error().message() + "\n"};
    }
    return {0, "reset " + mac->to_string() + ": overlay dropped; it boots the pristine image\n"};
}

// Tells systemd (Type=notify in rootfarm.service) `state` and how many Pis are known; nothing
// when not started by systemd (no NOTIFY_SOCKET).
void notify_systemd(const char* state, const Clients& clients) {
    const size_t n = clients.all().size();
    sd_notifyf(0, "%sSTATUS=serving %zu Pi%s", state, n, n == 1 ? "" : "s");
}

}  // namespace

int serve(const Config& config) {
    raise_open_file_limit();
    // Block the stop signals in every thread; this one waits for them with sigwait.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    Services services;
    if (!create_services(config, services)) return 1;
    auto http = HttpServer::start(config, *services.clients);
    if (!http) {
        core_log().error("http: cannot listen on {}: {}", config.http.listen,
                         http.error().message());
        return 1;
    }

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
        Clients& clients = *services.clients;
        auto control = ControlServer::start(config.state_dir, [&](std::string_view request) {
            if (request == "reload") {
                ControlReply reply = reload(config, clients);
                notify_systemd("", clients);
                return reply;
            }
            if (request.starts_with("reset ")) return reset(request.substr(6), clients);
            if (request == "status json")
                return ControlReply{0, status_json(clients.status_all(), true)};
            if (request == "status") {
                return ControlReply{
                    0, status_table(clients.status_all(), std::chrono::system_clock::now())};
            }
            return ControlReply{2, "unknown request\n"};
        });
        if (!control) {
            core_log().warn(
                "no control socket in {}: {} (`rootfarm reload` and live resets need "
                "it; SIGHUP still reloads)",
                config.state_dir.string(), control.error().message());
        }
        // Last, after the control socket: whoever waits for this line (tests, an operator)
        // can use every command at once.
        core_log().info("rootfarm serving: nfs {}, tftp {}, dhcp {}; state in {}; {} worker(s)",
                        config.nfs.enabled ? "on port " + std::to_string(config.nfs.port) : "off",
                        config.tftp.enabled ? "on port " + std::to_string(config.tftp.port) : "off",
                        config.dhcp.enabled ? "on port " + std::to_string(config.dhcp.port) : "off",
                        config.state_dir.string(), workers);
        notify_systemd("READY=1\n", clients);
        for (;;) {
            int sig = 0;
            sigwait(&stop_signals, &sig);
            if (sig == SIGHUP) {
                core_log().info("received SIGHUP, reloading {}", config.source.string());
                sd_notify(0, "RELOADING=1");
                reload(config, clients);
                notify_systemd("READY=1\n", clients);
                continue;
            }
            core_log().info("received {}, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
            sd_notify(0, "STOPPING=1");
            break;
        }
    } else {
        status = 1;
    }
    for (Loop* loop : loops)
        if (loop) loop->stop();
    for (auto& t : threads) t.join();
    // Services are destroyed after every loop has stopped (leases are flushed here), the store
    // last: the servers hold references to it.
    http->reset();  // its handlers read the clients
    services.dhcp.reset();
    services.tftp.reset();
    services.nfs.reset();
    services.clients.reset();
    services.store.reset();
    if (status == 0) core_log().info("stopped");
    return status;
}

}  // namespace rootfarm::cli
