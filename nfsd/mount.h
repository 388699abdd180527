#pragma once

// MOUNT v3 and v1 (RFC 1813 appendix I; RFC 1094 appendix A): hands a client the handle of the
// root of its own view. The client is identified by its source address (clients/clients.h);
// an unknown address is refused with MNT3ERR_ACCES and logged.

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "clients/clients.h"
#include "core/config.h"
#include "core/mutex.h"
#include "nfsd/rpc.h"
#include "nfsd/xdr.h"
#include "store/store.h"

namespace rootfarm::nfsd {

inline constexpr uint32_t kMountProgram = 100005;

class MountService {
  public:
    // `config` and `clients` must outlive the service.
    MountService(const NfsConfig& config, Clients& clients);

    // Answers one MOUNT call from `peer` (header decoded; `args` are its arguments).
    std::vector<uint8_t> handle(const CallHeader& h, XdrReader args, Ipv4 peer);

    // The object a MNT of `path` names in `view`: "/" and every configured export are the
    // root; any other absolute path is walked from the root and must be a directory.
    // Errors: ENOENT, ENOTDIR, EACCES (relative path).
    Result<store::ObjectId> resolve_path(const store::ClientView& view,
                                         std::string_view path) const;

  private:
    std::vector<uint8_t> mnt(const CallHeader& h, std::string_view path, Ipv4 peer);
    // Records a mount for DUMP, at most a few per client.
    void remember(const std::string& host, std::string_view path) EXCLUDES(mu_);

    const NfsConfig& config_;
    Clients& clients_;
    Mutex mu_;
    std::set<std::pair<std::string, std::string>> mounts_
        GUARDED_BY(mu_);  // (client address, path) for DUMP
};

}  // namespace rootfarm::nfsd
