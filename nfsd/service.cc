#include "nfsd/service.h"

#include <random>

#include "core/log.h"
#include "nfsd/access.h"
#include "nfsd/nfs3_xdr.h"

namespace rootfarm::nfsd {

namespace {

// Over UDP a reply must fit one datagram; the kernel client does not use UDP at all
// (E2E-NOTES), but other clients may.
constexpr size_t kUdpMaxIo = 32768;
constexpr size_t kTcpMaxIo = 1u << 20;

using SyncHandler = bool (*)(Nfs3Call&, XdrWriter&);

SyncHandler sync_handler(uint32_t proc) {
    switch (proc) {
        case kNfs3GetAttr:
            return nfs3_getattr;
        case kNfs3SetAttr:
            return nfs3_setattr;
        case kNfs3Lookup:
            return nfs3_lookup;
        case kNfs3Access:
            return nfs3_access;
        case kNfs3ReadLink:
            return nfs3_readlink;
        case kNfs3Create:
            return nfs3_create;
        case kNfs3MkDir:
            return nfs3_mkdir;
        case kNfs3SymLink:
            return nfs3_symlink;
        case kNfs3MkNod:
            return nfs3_mknod;
        case kNfs3Remove:
            return nfs3_remove;
        case kNfs3RmDir:
            return nfs3_rmdir;
        case kNfs3Rename:
            return nfs3_rename;
        case kNfs3Link:
            return nfs3_link;
        case kNfs3ReadDir:
            return nfs3_readdir;
        case kNfs3ReadDirPlus:
            return nfs3_readdirplus;
        case kNfs3FsStat:
            return nfs3_fsstat;
        case kNfs3FsInfo:
            return nfs3_fsinfo;
        case kNfs3PathConf:
            return nfs3_pathconf;
        case kNfs3Commit:
            return nfs3_commit;
        default:
            return nullptr;
    }
}

uint64_t new_write_verifier() {
    // RFC 1813 §3.3.7: the verifier must change when the server restarts so clients resend
    // uncommitted data (NFS-NOTES 17); time plus randomness makes two starts differ.
    std::random_device rd;
    uint64_t r = uint64_t{rd()} << 32 | rd();
    return r ^ static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
}

}  // namespace

Service::Service(const Config& config, ClientRegistry& clients, store::Store& store)
    : config_(config),
      clients_(clients),
      store_(store),
      mount_(config, clients, store),
      portmap_(std::make_shared<PortmapTable>(std::vector<Mapping>{})),
      write_verifier_(new_write_verifier()) {
    if (!config.nfs.trace.empty()) {
        auto t = Tracer::open(config.nfs.trace);
        if (t) {
            tracer_ = std::move(*t);
        } else {
            nfs_log().error("trace file {}: {}", config.nfs.trace, t.error().message());
        }
    }
}

void Service::set_portmap(std::vector<Mapping> mappings) {
    std::atomic_store(&portmap_, std::shared_ptr<const PortmapTable>(
                                     std::make_shared<PortmapTable>(std::move(mappings))));
}

bool Service::handle(Request req) {
    const auto& record = *req.record;
    DecodedCall call = decode_call(record);
    switch (call.status) {
        case CallStatus::kDrop:
            nfs_log().debug("undecodable RPC record ({} bytes) from {}", record.size(),
                            req.peer.to_string());
            return false;
        case CallStatus::kRpcMismatch:
            req.respond(rpc_mismatch_reply(call.header.xid));
            return true;
        case CallStatus::kAuthError:
            req.respond(auth_error_reply(call.header.xid, call.auth_stat));
            return true;
        case CallStatus::kOk:
            break;
    }
    const CallHeader& h = call.header;
    XdrReader args{std::span(record).subspan(h.args_offset)};
    switch (h.prog) {
        case kPortmapProgram:
            req.respond(std::atomic_load(&portmap_)->handle(h, args));
            return true;
        case kMountProgram:
            req.respond(mount_.handle(h, args, req.peer));
            return true;
        case kNfsProgram:
            handle_nfs(h, req);
            return true;
        default:
            // Includes NFSACL (100227): the kernel probes it once, gets PROG_UNAVAIL and stops
            // asking (E2E-NOTES "What the kernel client sends").
            req.respond(accepted_reply(h.xid, AcceptStat::kProgUnavail));
            return true;
    }
}

void Service::handle_nfs(const CallHeader& h, Request& req) {
    if (h.vers != kNfsVersion) {
        req.respond(prog_mismatch_reply(h.xid, kNfsVersion, kNfsVersion));
        return;
    }
    if (h.proc >= kNfs3ProcCount) {
        req.respond(accepted_reply(h.xid, AcceptStat::kProcUnavail));
        return;
    }
    if (h.proc == kNfs3Null) {
        req.respond(accepted_reply(h.xid, AcceptStat::kSuccess));
        return;
    }
    auto client = clients_.by_ip(req.peer);
    if (!client) {
        // Never served from someone else's view (DESIGN.md "Who is asking").
        nfs_log().debug("NFS {} from unknown client {}: refused", nfs3_proc_name(h.proc),
                        req.peer.to_string());
        req.respond(auth_error_reply(h.xid, AuthStat::kTooWeak));
        return;
    }
    auto view = store_.view(client->mac, client->image);
    if (!view && view.error() == std::errc::cross_device_link) {
        // The client's image was changed in the config; it moves at its next MNT (a boot), never
        // under a running client (issue 7), so until then it keeps the image its delta is on.
        if (auto current = store_.delta_image(client->mac)) {
            view = store_.view(client->mac, *current);
        }
    }
    if (!view) {
        nfs_log().error("NFS from {} ({}): image {}: {}", req.peer.to_string(),
                        client->mac.to_string(), client->image, view.error().message());
        req.respond(accepted_reply(h.xid, AcceptStat::kSystemErr));
        return;
    }
    std::span<const uint8_t> arg_bytes = std::span(*req.record).subspan(h.args_offset);
    if (tracer_) {
        XdrReader peek(arg_bytes);
        auto fh = peek.opaque(kMaxHandleBytes);
        auto id = (*view)->resolve(fh);
        uint64_t offset = peek.u64();
        uint32_t count = peek.u32();
        tracer_->record(req.peer, h.proc, id ? *id : 0, offset, count);
    }

    Responder respond = std::move(req.respond);
    std::optional<DrcKey> key;
    if (nfs3_is_non_idempotent(h.proc)) {
        // NFS-NOTES 7: mark in progress before executing; a retransmit meanwhile is dropped
        // (the client will retransmit again), a later one gets the cached reply.
        key = drc_key(req.peer.value, *req.record);
        std::vector<uint8_t> cached;
        switch (drc_.begin(*key, &cached)) {
            case Drc::State::kInProgress:
                respond({});
                return;
            case Drc::State::kDone:
                nfs_log().debug("{} xid {:#x} from {}: replayed from the DRC",
                                nfs3_proc_name(h.proc), h.xid, req.peer.to_string());
                respond(std::move(cached));
                return;
            case Drc::State::kNew:
                respond = [this, k = *key, inner = std::move(respond)](std::vector<uint8_t> r) {
                    drc_.complete(k, r);
                    inner(std::move(r));
                };
                break;
        }
    }

    Nfs3Call c{h,
               squash(h.cred, client->root_squash),
               XdrReader(arg_bytes),
               **view,
               *view,
               req.record,
               req.loop,
               req.udp ? kUdpMaxIo : kTcpMaxIo,
               write_verifier_,
               respond};
    if (h.proc == kNfs3Read || h.proc == kNfs3Write) {
        bool ok = h.proc == kNfs3Read ? nfs3_read(c) : nfs3_write(c);
        if (!ok) respond(accepted_reply(h.xid, AcceptStat::kGarbageArgs));
        return;
    }
    auto reply = new_reply(h.proc == kNfs3ReadDirPlus || h.proc == kNfs3ReadDir ? 8192 : 256);
    XdrWriter w(reply);
    write_accepted(w, h.xid, AcceptStat::kSuccess);
    if (!sync_handler(h.proc)(c, w)) {
        respond(accepted_reply(h.xid, AcceptStat::kGarbageArgs));
        return;
    }
    respond(std::move(reply));
}

}  // namespace rootfarm::nfsd
