#pragma once

// The NFS service: ONC RPC over TCP and UDP carrying NFSv3, MOUNT v3/v1 and portmap v2,
// running on the core::Loop worker threads.

#include <memory>
#include <mutex>
#include <vector>

#include "core/clients.h"
#include "core/config.h"
#include "core/loop.h"
#include "core/result.h"
#include "store/store.h"

namespace rootfarm::nfsd {

class Service;
class RpcTcpHandler;
class RpcUdpHandler;
struct Mapping;

class NfsServer {
  public:
    // `config`, `clients` and `store` must outlive the server.
    static Result<std::unique_ptr<NfsServer>> create(const Config& config, ClientRegistry& clients,
                                                     store::Store& store);
    // Called once per worker loop, on that loop's thread. Every worker listens on the NFS and
    // MOUNT ports (SO_REUSEPORT); worker 0 also serves portmap (or registers with rpcbind).
    Result<void> start(Loop& loop, int worker_index);
    ~NfsServer();  // unregisters from rpcbind if it registered

  private:
    NfsServer(const Config& config, std::unique_ptr<Service> service);
    std::vector<Mapping> mappings() const;

    const Config& config_;
    std::unique_ptr<Service> service_;
    std::unique_ptr<RpcTcpHandler> tcp_;
    std::unique_ptr<RpcUdpHandler> udp_;
    std::mutex mu_;
    uint16_t nfs_port_ = 0;  // bound ports (the configured ones unless those were 0)
    uint16_t mount_port_ = 0;
    bool registered_ = false;
};

}  // namespace rootfarm::nfsd
