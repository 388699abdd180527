#pragma once

// The HTTP endpoint of `rootfarm serve` ([http] listen): /metrics in the Prometheus text format,
// / the status page (cli/status_page.html), /api/clients the Pis as JSON (clients/report.h).
// Served by cpp-httplib's own threads; nothing here touches the services' loops.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "clients/clients.h"
#include "core/config.h"
#include "core/result.h"

namespace rootfarm::cli {

class HttpServer {
  public:
    // Binds config.http and serves from then on; null when [http] listen is empty. `clients`
    // must outlive the server.
    static Result<std::unique_ptr<HttpServer>> start(const Config& config, Clients& clients);
    // Stops accepting, finishes the requests in progress and joins its threads.
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

  private:
    struct Impl;
    explicit HttpServer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// The /metrics text: every registered series (core/metrics.h) and, from `clients` at this
// moment, Pis per phase, each Pi's phase and overlay size, and the build.
std::string metrics_text(Clients& clients);

// cli/status_page.html, compiled in (cli/CMakeLists.txt).
std::string_view status_page_html();

}  // namespace rootfarm::cli
