#pragma once

// The TFTP service (RFC 1350, 2347, 2348, 2349, 7440): each Pi's boot files from its own view,
// as Clients (clients/clients.h) hands it out.

#include <memory>

#include "clients/clients.h"
#include "core/config.h"
#include "core/loop.h"
#include "core/result.h"
#include "store/store.h"

namespace rootfarm::tftpd {

class TftpServer {
  public:
    // `config` and `clients` must outlive the server.
    static Result<std::unique_ptr<TftpServer>> create(const Config& config, Clients& clients);
    // Opens [tftp] listen:port on `loop`. Call on the loop's thread, once. Destroy the server
    // only after the loop's run() has returned (or the loop never ran).
    Result<void> start(Loop& loop);
    // The bound port (useful when [tftp] port = 0); 0 before start().
    uint16_t port() const;
    ~TftpServer();

  private:
    class Impl;
    explicit TftpServer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace rootfarm::tftpd
