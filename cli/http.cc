#include "cli/http.h"

#include <httplib.h>
#include <sys/socket.h>

#include <thread>

#include "clients/report.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/version.h"

namespace rootfarm::cli {

namespace {

// A status page, an API and a scrape every 15 s: a few threads are plenty. A browser keeps its
// connection (and so a thread) between its 2-second refreshes, hence more than one.
constexpr size_t kThreads = 4;
constexpr time_t kKeepAliveSeconds = 3;
// A client that stops reading or writing gives its thread back after this.
constexpr time_t kIoTimeoutSeconds = 5;

// Every phase a Pi can be in, in boot order (clients/phase.h).
constexpr BootPhase kPhases[] = {
    BootPhase::kUnknown,    BootPhase::kDhcpDiscover, BootPhase::kDhcpOffered,
    BootPhase::kDhcpAcked,  BootPhase::kTftpFirmware, BootPhase::kKernelFetched,
    BootPhase::kNfsMounted, BootPhase::kUp,           BootPhase::kIdle,
    BootPhase::kOff,
};

// The exposition format's content type (format version 0.0.4).
constexpr const char* kMetricsType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace

std::string metrics_text(Clients& clients) {
    metrics::Exposition out;
    metrics::Registry::global().write(out);

    const std::vector<PiStatus> pis = clients.status_all();
    out.family("rootfarm_pis", "Pis known to the server, by boot phase.", "gauge");
    for (BootPhase phase : kPhases) {
        uint64_t n = 0;
        for (const PiStatus& p : pis) n += p.phase == phase;
        out.sample("rootfarm_pis", {{"phase", std::string(to_string(phase))}}, n);
    }
    // One series per phase for each Pi, 1 for the phase it is in (a state set), so a query can
    // ask for the Pis not up.
    out.family("rootfarm_pi_phase", "The boot phase each Pi is in (1) and is not in (0).", "gauge");
    for (const PiStatus& p : pis) {
        for (BootPhase phase : kPhases) {
            out.sample("rootfarm_pi_phase",
                       {{"mac", p.info.mac.to_string()},
                        {"hostname", p.info.hostname},
                        {"phase", std::string(to_string(phase))}},
                       uint64_t{p.phase == phase});
        }
    }
    out.family("rootfarm_overlay_bytes", "Bytes each Pi's copy-on-write overlay holds.", "gauge");
    for (const PiStatus& p : pis) {
        out.sample("rootfarm_overlay_bytes",
                   {{"mac", p.info.mac.to_string()}, {"hostname", p.info.hostname}},
                   p.overlay_bytes);
    }
    out.family("rootfarm_build_info", "The running rootfarm's version and git commit.", "gauge");
    const std::string_view commit = rootfarm_git_commit();
    out.sample("rootfarm_build_info",
               {{"version", std::string(rootfarm_version_number())},
                {"commit", commit.empty() ? "" : "g" + std::string(commit)}},
               uint64_t{1});
    return out.text();
}

struct HttpServer::Impl {
    httplib::Server server;
    std::thread thread;
};

Result<std::unique_ptr<HttpServer>> HttpServer::start(const Config& config, Clients& clients) {
    if (!config.http.enabled()) return std::unique_ptr<HttpServer>();

    // Observed as each boot reaches "up"; registered before any boot can complete.
    static const metrics::Histogram boots = metrics::Registry::global().histogram(
        "rootfarm_boot_duration_seconds",
        "Time from a boot's first signal (DHCP, TFTP or MNT) until the Pi was up.", {},
        std::vector<double>{1, 2.5, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600});
    clients.on_boot_complete(
        [](const MacAddr&, std::chrono::milliseconds took) { boots.observe(took); });

    auto impl = std::make_unique<Impl>();
    httplib::Server& s = impl->server;
    s.new_task_queue = [] { return new httplib::ThreadPool(kThreads); };
    s.set_keep_alive_timeout(kKeepAliveSeconds);
    s.set_read_timeout(kIoTimeoutSeconds);
    s.set_write_timeout(kIoTimeoutSeconds);
    s.set_payload_max_length(64 * 1024);  // we take no request bodies
    // SO_REUSEADDR only: cpp-httplib's default adds SO_REUSEPORT, with which a second server
    // on the same address would bind too and take half of the connections.
    s.set_socket_options([](int sock) {
        int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });

    s.Get("/metrics", [&clients](const httplib::Request&, httplib::Response& res) {
        res.set_content(metrics_text(clients), kMetricsType);
    });
    s.Get("/api/clients", [&clients](const httplib::Request&, httplib::Response& res) {
        res.set_header("Cache-Control", "no-store");
        res.set_content(status_json(clients.status_all(), true), "application/json");
    });
    s.Get("/", [](const httplib::Request&, httplib::Response& res) {
        const std::string_view page = status_page_html();
        res.set_content(page.data(), page.size(), "text/html; charset=utf-8");
    });

    const std::string host = config.http.address.to_string();
    if (!s.bind_to_port(host, config.http.port)) {
        const int e = errno ? errno : EADDRINUSE;
        return errno_error(e);
    }
    impl->thread = std::thread([&s] { s.listen_after_bind(); });
    // Server::stop() does nothing until the listening loop runs: wait for it (bounded), so the
    // destructor never joins a loop that would go on forever.
    for (int i = 0; i < 5000 && !s.is_running(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    core_log().info("http on {}: /metrics, /api/clients and the status page /", config.http.listen);
    return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
    impl_->server.stop();
    if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace rootfarm::cli
