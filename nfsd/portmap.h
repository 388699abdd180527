#pragma once

// Portmap v2 (RFC 1833 §3): NULL, GETPORT and DUMP answered from our own table, so an
// unmodified kernel nfsroot= finds MOUNT and NFS without an rpcbind on the host (docs/pi-boot.md NFS 16).
// With a running rpcbind ("auto" mode) we register there instead.

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "nfsd/rpc.h"
#include "nfsd/xdr.h"

namespace rootfarm::nfsd {

inline constexpr uint32_t kPortmapProgram = 100000;
inline constexpr uint32_t kPortmapVersion = 2;
inline constexpr uint32_t kIpProtoTcp = 6;
inline constexpr uint32_t kIpProtoUdp = 17;

struct Mapping {
    uint32_t prog = 0;
    uint32_t vers = 0;
    uint32_t prot = 0;
    uint32_t port = 0;
    bool operator==(const Mapping&) const = default;
};

class PortmapTable {
  public:
    explicit PortmapTable(std::vector<Mapping> mappings) : mappings_(std::move(mappings)) {}
    const std::vector<Mapping>& mappings() const { return mappings_; }
    // RFC 1833 §3.2 PMAPPROC_GETPORT: the port, or 0 when the program is not registered.
    uint32_t getport(uint32_t prog, uint32_t vers, uint32_t prot) const;

    // Answers one portmap call (header decoded; `args` are its arguments).
    std::vector<uint8_t> handle(const CallHeader& h, XdrReader args) const;

  private:
    std::vector<Mapping> mappings_;
};

// Registers every mapping with the rpcbind on this host (libtirpc pmap_set). Returns false, with
// nothing left registered, when no rpcbind answers.
bool register_with_rpcbind(const std::vector<Mapping>& mappings);
void unregister_from_rpcbind(const std::vector<Mapping>& mappings);
// Whether something answers portmap NULL on 127.0.0.1:111 (bounded wait).
bool rpcbind_running();

}  // namespace rootfarm::nfsd
