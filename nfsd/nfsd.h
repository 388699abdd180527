#pragma once

// The NFS service: ONC RPC over TCP and UDP carrying NFSv3, MOUNT v3/v1 and portmap v2,
// running on the core::Loop worker threads.

#include <memory>
#include <vector>

#include "clients/clients.h"
#include "core/config.h"
#include "core/loop.h"
#include "core/mutex.h"
#include "core/result.h"
#include "store/store.h"

namespace rootfarm::nfsd {

class Service;
class ReplyChannel;
class RpcTcpHandler;
class RpcUdpHandler;
struct Mapping;

// Calls one TCP connection may have executing at once. Past this the connection's input is not
// parsed until replies go out, so a client pipelining thousands of 1 MiB READs cannot make us
// buffer gigabytes of replies (the kernel keeps up to its slot table, 65536 at most, in flight).
// It also bounds the calls a connection may have waiting on the blocking pool (blocking.h) or
// for the commit log's sync (store::Deferred): a client flooding CREATEs has at most this many
// under way.
inline constexpr int kMaxInFlightPerConnection = 64;

class NfsServer {
  public:
    // `config` and `clients` must outlive the server.
    static Result<std::unique_ptr<NfsServer>> create(const Config& config, Clients& clients);
    // Called once per worker loop, on that loop's thread. Every worker listens on the NFS and
    // MOUNT ports (SO_REUSEPORT); worker 0 also serves portmap (or registers with rpcbind).
    Result<void> start(Loop& loop, int worker_index);
    ~NfsServer();  // unregisters from rpcbind if it registered

    // Calls that waited on the blocking pool (blocking.h) at once, at most (tests).
    size_t blocking_high_water() const;

  private:
    NfsServer(const Config& config, std::unique_ptr<Service> service);
    std::vector<Mapping> mappings() const REQUIRES(mu_);
    std::vector<Mapping> locked_mappings() const EXCLUDES(mu_);

    const Config& config_;
    std::unique_ptr<Service> service_;
    std::unique_ptr<RpcTcpHandler> tcp_;
    std::unique_ptr<RpcUdpHandler> udp_;
    // start() runs on every worker's thread at once.
    mutable Mutex mu_;
    // Bound ports (the configured ones unless those were 0).
    uint16_t nfs_port_ GUARDED_BY(mu_) = 0;
    uint16_t mount_port_ GUARDED_BY(mu_) = 0;
    bool registered_ GUARDED_BY(mu_) = false;
    // One per worker loop; kept here so a loop's pending canary read targets live memory.
    std::vector<std::shared_ptr<ReplyChannel>> channels_ GUARDED_BY(mu_);
};

}  // namespace rootfarm::nfsd
