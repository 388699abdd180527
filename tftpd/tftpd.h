#pragma once

// The TFTP service: Pi boot files from each client's view of the store (PI-BOOT.md "TFTP").

#include <memory>

#include "core/clients.h"
#include "core/config.h"
#include "core/loop.h"
#include "core/result.h"
#include "store/store.h"

namespace rootfarm::tftpd {

class TftpServer {
  public:
    // `config`, `clients` and `store` must outlive the server.
    static Result<std::unique_ptr<TftpServer>> create(const Config& config, ClientRegistry& clients,
                                                      store::Store& store);
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
