#include "nfsd/portmap.h"

#include <rpc/pmap_clnt.h>
#include <rpc/pmap_prot.h>
#include <rpc/rpc.h>

namespace rootfarm::nfsd {

namespace {
enum : uint32_t { kPmapNull = 0, kPmapSet = 1, kPmapUnset = 2, kPmapGetPort = 3, kPmapDump = 4 };
}

uint32_t PortmapTable::getport(uint32_t prog, uint32_t vers, uint32_t prot) const {
    for (const auto& m : mappings_) {
        if (m.prog == prog && m.vers == vers && m.prot == prot) return m.port;
    }
    return 0;
}

std::vector<uint8_t> PortmapTable::handle(const CallHeader& h, XdrReader args) const {
    if (h.vers != kPortmapVersion) {
        // rpcbind v3/v4 are not offered; clients (rpcinfo, the kernel) fall back to v2.
        return prog_mismatch_reply(h.xid, kPortmapVersion, kPortmapVersion);
    }
    auto reply = new_reply(64);
    XdrWriter w(reply);
    switch (h.proc) {
        case kPmapNull:
            write_accepted(w, h.xid, AcceptStat::kSuccess);
            break;
        case kPmapSet:
        case kPmapUnset:
            // Only our own programs are served; refuse registrations from others.
            args.skip(16);
            if (!args.ok()) return accepted_reply(h.xid, AcceptStat::kGarbageArgs);
            write_accepted(w, h.xid, AcceptStat::kSuccess);
            w.boolean(false);
            break;
        case kPmapGetPort: {
            uint32_t prog = args.u32(), vers = args.u32(), prot = args.u32();
            args.u32();
            if (!args.ok()) return accepted_reply(h.xid, AcceptStat::kGarbageArgs);
            write_accepted(w, h.xid, AcceptStat::kSuccess);
            w.u32(getport(prog, vers, prot));
            break;
        }
        case kPmapDump:
            write_accepted(w, h.xid, AcceptStat::kSuccess);
            for (const auto& m : mappings_) {
                w.boolean(true);
                w.u32(m.prog);
                w.u32(m.vers);
                w.u32(m.prot);
                w.u32(m.port);
            }
            w.boolean(false);
            break;
        default:
            return accepted_reply(h.xid, AcceptStat::kProcUnavail);
    }
    return reply;
}

bool rpcbind_running() {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(111);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int sock = RPC_ANYSOCK;
    CLIENT* clnt = clnttcp_create(&addr, PMAPPROG, PMAPVERS, &sock, 0, 0);
    if (!clnt) return false;
    timeval tv{2, 0};
    // xdr_void takes no arguments; libtirpc declares it without a prototype.
    auto void_proc = reinterpret_cast<xdrproc_t>(reinterpret_cast<void*>(xdr_void));
    bool ok =
        clnt_call(clnt, PMAPPROC_NULL, void_proc, nullptr, void_proc, nullptr, tv) == RPC_SUCCESS;
    clnt_destroy(clnt);
    return ok;
}

bool register_with_rpcbind(const std::vector<Mapping>& mappings) {
    if (!rpcbind_running()) return false;
    // Stale entries of an earlier run go first, all at once: pmap_unset drops every protocol of
    // a program version, so unsetting between sets would drop our own TCP entry.
    unregister_from_rpcbind(mappings);
    for (const auto& m : mappings) {
        if (m.prog == kPortmapProgram) continue;  // rpcbind is the portmapper
        if (!pmap_set(m.prog, m.vers, static_cast<int>(m.prot), static_cast<u_short>(m.port))) {
            unregister_from_rpcbind(mappings);
            return false;
        }
    }
    return true;
}

void unregister_from_rpcbind(const std::vector<Mapping>& mappings) {
    for (const auto& m : mappings) {
        if (m.prog != kPortmapProgram) pmap_unset(m.prog, m.vers);
    }
}

}  // namespace rootfarm::nfsd
