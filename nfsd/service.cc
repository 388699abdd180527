#include "nfsd/service.h"

#include <random>

#include "core/check.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/trace_format.h"
#include "nfsd/access.h"
#include "nfsd/nfs3_xdr.h"

namespace rootfarm::nfsd {

namespace {

// Over UDP a reply must fit one datagram; the kernel client does not use UDP at all
// (docs/pi-boot.md, "What the kernel client sends"), but other clients may.
constexpr size_t kUdpMaxIo = 32768;
constexpr size_t kTcpMaxIo = 1u << 20;

// Threads for calls that wait on a disk flush (blocking.h). Each mostly sleeps in fdatasync;
// flushes of different clients' journals proceed in parallel (the disk queues them), so there
// are enough for a 50-Pi storm's clients to wait at the same time: 48 booted 50 Pis 8-18 %
// faster than 16 here, with no more CPU.
constexpr unsigned kBlockingThreads = 48;
// A TCP connection holds at most kMaxInFlightPerConnection calls (nfsd.h), blocking ones
// included. UDP has no connection to stop reading from: past this many blocking calls
// waiting, a UDP one is dropped before it reaches the DRC and the client retransmits it.
constexpr size_t kMaxBlockingUdpCalls = 1024;

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

// Calls that may wait on a journal or data fdatasync before their reply (docs/pi-boot.md NFS 17).
bool may_block(uint32_t proc) {
    return nfs3_is_non_idempotent(proc) || proc == kNfs3Commit;
}

std::vector<uint8_t> run_sync(Nfs3Call& c) {
    const CallHeader& h = c.header;
    auto reply = new_reply(h.proc == kNfs3ReadDirPlus || h.proc == kNfs3ReadDir ? 8192 : 256);
    XdrWriter w(reply);
    write_accepted(w, h.xid, AcceptStat::kSuccess);
    if (!sync_handler(h.proc)(c, w)) return accepted_reply(h.xid, AcceptStat::kGarbageArgs);
    return reply;
}

// One RPC program's series (core/metrics.h): calls and latency by procedure (the last op takes
// procedures out of range), bytes, and errors by the reply's status.
struct ProgramMetrics {
    ProgramMetrics(std::string_view service, std::vector<std::string> ops,
                   std::vector<std::pair<uint32_t, std::string>> statuses) {
        ops.push_back("UNKNOWN");
        for (const std::string& op : ops) {
            requests.push_back(metrics::requests_total(service, op));
            durations.push_back(metrics::request_duration(service, op));
        }
        received = metrics::received_bytes(service);
        sent = metrics::sent_bytes(service);
        auto error = [&](std::string_view status) {
            return metrics::errors_total(service, status);
        };
        // RFC 5531 §9: accept_stat and reject_stat.
        const char* accept_names[] = {
            "", "PROG_UNAVAIL", "PROG_MISMATCH", "PROC_UNAVAIL", "GARBAGE_ARGS", "SYSTEM_ERR"};
        for (size_t i = 1; i < accept.size(); ++i) accept[i] = error(accept_names[i]);
        rpc_mismatch = error("RPC_MISMATCH");
        auth_error = error("AUTH_ERROR");
        for (const auto& [value, name] : statuses) status.emplace_back(value, error(name));
    }

    uint32_t op(uint32_t proc) const {
        return std::min(proc, static_cast<uint32_t>(requests.size() - 1));
    }

    // Counts the error a reply reports: its RPC status, else the result's status word when the
    // procedure's result starts with one (`has_status`). True for an RPC-level error.
    bool count_errors(std::span<const uint8_t> reply, bool has_status) const {
        auto h = read_reply_header(reply);
        if (!h) return false;
        if (!h->accepted) {
            (h->stat == 0 ? rpc_mismatch : auth_error).add();  // RPC_MISMATCH, AUTH_ERROR
            return true;
        }
        if (h->stat != 0) {
            accept[std::min<size_t>(h->stat, accept.size() - 1)].add();
            return true;
        }
        if (!has_status || !h->first_result || *h->first_result == 0) return false;
        for (const auto& [value, counter] : status) {
            if (value == *h->first_result) counter.add();
        }
        return false;
    }

    std::vector<metrics::Counter> requests;
    std::vector<metrics::Histogram> durations;
    metrics::Counter received, sent;
    std::array<metrics::Counter, 6> accept;  // by accept_stat; [0] (SUCCESS) unused
    metrics::Counter rpc_mismatch, auth_error;
    std::vector<std::pair<uint32_t, metrics::Counter>> status;
};

struct RpcMetrics {
    ProgramMetrics nfs, mount, portmap, other;
    // Records that are no RPC call: answered with silence (and a closed TCP connection).
    metrics::Counter undecodable = metrics::errors_total("rpc", "UNDECODABLE");
    // Calls of a source over its bogus-call budget: dropped unread.
    metrics::Counter dropped = metrics::errors_total("rpc", "FLOOD_DROPPED");

    const ProgramMetrics& of(uint32_t prog) const {
        return prog == kNfsProgram       ? nfs
               : prog == kMountProgram   ? mount
               : prog == kPortmapProgram ? portmap
                                         : other;
    }
};

std::vector<std::string> nfs3_ops() {
    std::vector<std::string> ops;
    for (uint32_t p = 0; p < kNfs3ProcCount; ++p) ops.push_back(nfs3_proc_name(p));
    return ops;
}

std::vector<std::pair<uint32_t, std::string>> nfs3_statuses() {
    // Every nfsstat3 the trace format names (RFC 1813 §2.6), as NFS3ERR_<name>.
    std::vector<std::pair<uint32_t, std::string>> out;
    for (uint32_t v = 1; v < 10100; v = v == 99 ? 10001 : v + 1) {
        const std::string name = trace_status_name(v);
        if (name != std::to_string(v)) out.emplace_back(v, "NFS3ERR_" + name);
    }
    return out;
}

const RpcMetrics& rpc_metrics() {
    static const RpcMetrics m{
        ProgramMetrics("nfs", nfs3_ops(), nfs3_statuses()),
        // RFC 1813 §5.1.5 mountstat3; only MNT's result starts with one.
        ProgramMetrics("mount", {"NULL", "MNT", "DUMP", "UMNT", "UMNTALL", "EXPORT"},
                       {{1, "MNT3ERR_PERM"},
                        {2, "MNT3ERR_NOENT"},
                        {5, "MNT3ERR_IO"},
                        {13, "MNT3ERR_ACCES"},
                        {20, "MNT3ERR_NOTDIR"},
                        {22, "MNT3ERR_INVAL"},
                        {63, "MNT3ERR_NAMETOOLONG"},
                        {10004, "MNT3ERR_NOTSUPP"},
                        {10006, "MNT3ERR_SERVERFAULT"}}),
        // RFC 1833 §3.2 portmap v2 procedures.
        ProgramMetrics("portmap", {"NULL", "SET", "UNSET", "GETPORT", "DUMP", "CALLIT"}, {}),
        // Programs we do not serve (NFSACL probes) and calls too short to name one.
        ProgramMetrics("rpc", {}, {})};
    return m;
}

// Counts a call on arrival and wraps its Responder to time and count its answer. An empty
// reply (a retransmit the DRC drops) is no answer.
// An RPC-level error (RFC 5531 §9) charges the caller's bogus-call budget.
Responder metered(const CallHeader& h, size_t record_bytes, bool udp,
                  std::chrono::steady_clock::time_point start, SourceLimiter& bogus, Ipv4 peer,
                  Responder inner) {
    const ProgramMetrics& m = rpc_metrics().of(h.prog);
    const uint32_t op = m.op(h.proc);
    m.requests[op].add();
    m.received.add(record_bytes);
    const bool has_status =
        (h.prog == kNfsProgram && h.proc != kNfs3Null) || (h.prog == kMountProgram && h.proc == 1);
    return [&m, op, has_status, udp, start, &bogus, peer, inner = std::move(inner)](Reply reply) {
        if (!reply.empty()) {
            m.durations[op].observe(std::chrono::steady_clock::now() - start);
            // UDP replies leave without the record mark reserved at their front.
            m.sent.add(reply.size() - (udp ? kReplyMarkBytes : 0));
            if (m.count_errors(reply.bytes, has_status)) (void)bogus.charge(peer.value);
        }
        inner(std::move(reply));
    };
}

uint64_t new_write_verifier() {
    // RFC 1813 §3.3.7: the verifier must change when the server restarts so clients resend
    // uncommitted data (docs/pi-boot.md NFS 17); time plus randomness makes two starts differ.
    std::random_device rd;
    uint64_t r = uint64_t{rd()} << 32 | rd();
    return r ^ static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
}

}  // namespace

Service::Service(const Config& config, Clients& clients)
    : clients_(clients),
      mount_(config.nfs, clients),
      portmap_(std::make_shared<PortmapTable>(std::vector<Mapping>{})),
      write_verifier_(new_write_verifier()),
      // Far above what a real client causes ([nfs] bogus_calls_per_second).
      bogus_("bogus RPC calls", nfs_log(),
             SourceLimiter::Options::rate(config.nfs.bogus_calls_per_second),
             [](uint64_t ip) { return Ipv4{static_cast<uint32_t>(ip)}.to_string(); }),
      pool_(kBlockingThreads) {
    bogus_.drop_in_kernel(&udp_drop_);
    rpc_metrics();  // registered before the first scrape, not at the first call
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
    const auto start = std::chrono::steady_clock::now();
    if (bogus_.blocked(req.peer.value)) {
        // Over its budget: no answer (a flood of errors costs no sends), and a TCP connection
        // is closed rather than left to queue more.
        rpc_metrics().dropped.add();
        if (!req.udp) return false;
        req.respond({});
        return true;
    }
    const auto& record = *req.record;
    DecodedCall call = decode_call(record);
    if (call.status != CallStatus::kDrop) {
        req.respond = metered(call.header, record.size(), req.udp, start, bogus_, req.peer,
                              std::move(req.respond));
    }
    switch (call.status) {
        case CallStatus::kDrop:
            (void)bogus_.charge(req.peer.value);
            rpc_metrics().undecodable.add();
            rpc_metrics().other.received.add(record.size());
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
            if (req.replies && !(req.udp && pool_.pending() >= kMaxBlockingUdpCalls)) {
                // A client's first MNT creates its delta (several fsyncs, under the store's
                // lock) and the first MNT of an image indexes it: in a cold storm every worker
                // stalled behind them, so they run on the blocking pool too.
                offload_to_pool(req.replies, std::move(req.respond))(
                    [this, h, record = req.record, peer = req.peer] {
                        XdrReader a{std::span(*record).subspan(h.args_offset)};
                        return mount_.handle(h, a, peer);
                    });
                return true;
            }
            req.respond(mount_.handle(h, args, req.peer));
            return true;
        case kNfsProgram:
            handle_nfs(h, req);
            return true;
        default:
            // Includes NFSACL (100227): the kernel probes it once, gets PROG_UNAVAIL and stops
            // asking (docs/pi-boot.md, "What the kernel client sends").
            req.respond(accepted_reply(h.xid, AcceptStat::kProgUnavail));
            return true;
    }
}

Offload Service::offload_to_pool(std::shared_ptr<ReplyChannel> replies, Responder respond) {
    // The reply is posted back to the loop: Responders touch the connection, which only its
    // loop thread may.
    return [this, replies = std::move(replies),
            respond = std::move(respond)](std::function<std::vector<uint8_t>()> work) {
        pool_.submit([work = std::move(work), replies, respond] {
            replies->post([respond, reply = work()]() mutable { respond(std::move(reply)); });
        });
    };
}

Result<std::shared_ptr<store::ClientView>> Service::view_for(const ClientInfo& client,
                                                             ViewCache* cache) {
    // The owner hands out one view per client for as long as it lives (a reset or a move to
    // another image happens inside it), so a connection may keep it.
    if (cache && cache->view && cache->mac == client.mac) return cache->view;
    auto view = clients_.view(client, Clients::Ask::kCall);
    if (view && cache) *cache = ViewCache{client.mac, *view};
    return view;
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
        // Never served from someone else's view: an address no client has is refused.
        nfs_log().debug("NFS {} from unknown client {}: refused", nfs3_proc_name(h.proc),
                        req.peer.to_string());
        req.respond(auth_error_reply(h.xid, AuthStat::kTooWeak));
        return;
    }
    clients_.record(client->mac, BootEvent::kNfsCall);
    auto view = view_for(*client, req.view_cache);
    if (!view) {
        nfs_log().error("NFS from {} ({}): image {}: {}", req.peer.to_string(),
                        client->mac.to_string(), client->image, view.error().message());
        req.respond(accepted_reply(h.xid, AcceptStat::kSystemErr));
        return;
    }
    std::optional<Nfs3Args>* traced = nullptr;
    if (tracer_) traced = tracer_->observe(h, req.record, *view, req.respond);

    Responder respond = std::move(req.respond);
    const bool blocking = may_block(h.proc) && req.replies;
    // WRITE runs its part that may block on the pool too (nfs3_write).
    const bool pooled = blocking || (h.proc == kNfs3Write && req.replies);
    if (pooled && req.udp && pool_.pending() >= kMaxBlockingUdpCalls) {
        nfs_log().debug("{} xid {:#x} from {}: blocking pool full, dropped", nfs3_proc_name(h.proc),
                        h.xid, req.peer.to_string());
        respond({});
        return;
    }
    std::optional<DrcKey> key;
    if (nfs3_is_non_idempotent(h.proc)) {
        // docs/pi-boot.md NFS 7: mark in progress before executing; a retransmit meanwhile is
        // dropped (the client will retransmit again), a later one gets the cached reply.
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
                respond = [this, k = *key, inner = std::move(respond)](Reply r) {
                    // Only READ replies carry a file range, and READ is idempotent.
                    ROOTFARM_CHECK(!r.has_file(), "a file reply to a non-idempotent call");
                    drc_.complete(k, r.bytes);
                    inner(std::move(r));
                };
                break;
        }
    }

    Offload offload;
    if (pooled) offload = offload_to_pool(req.replies, respond);
    const Cred cred = squash(h.cred, client->root_squash);
    const size_t max_io = req.udp ? kUdpMaxIo : kTcpMaxIo;
    if (blocking) {
        // The call run on its own, its reply returned rather than sent: on this loop or on the
        // pool. `traced` lives in the Responder, which either keeps until this has run.
        auto run_alone = [this, h, cred, view = *view, record = req.record, loop = req.loop, max_io,
                          traced] {
            Nfs3Call c{h,     cred,   XdrReader(std::span(*record).subspan(h.args_offset)),
                       *view, view,   record,
                       loop,  max_io, write_verifier_,
                       {},    {},     traced};
            return run_sync(c);
        };
        if (nfs3_is_non_idempotent(h.proc) && (*view)->defers_durability()) {
            // A namespace operation or SETATTR runs on this loop: it is applied and logged
            // here, and only its reply waits for the commit log's fdatasync, which completes it
            // from the log's sync thread (store::Deferred). On the pool it cost four thread
            // crossings (pool, sync leader, waiter, loop), most of a storm's CPU per boot
            // (bench/RESULTS.md). The store refuses, before changing anything, what would block
            // on more than that sync (a copy-up, a cut, a compaction); that runs on the pool, as
            // WRITE and COMMIT do.
            store::Deferred deferred;
            std::vector<uint8_t> reply = run_alone();
            if (!deferred.would_block()) {
                if (!deferred.pending()) {
                    respond(std::move(reply));
                    return;
                }
                deferred.when_durable([replies = req.replies, respond, xid = h.xid,
                                       reply = std::move(reply)](Result<void> durable) mutable {
                    // The commit log stopped (an fdatasync failed): nothing of this call is
                    // promised, and its reply must not say it was done. SYSTEM_ERR (RFC 5531
                    // §9: the server failed for a reason of its own); the Linux client returns
                    // EIO.
                    Reply out = durable.ok() ? Reply(std::move(reply))
                                             : Reply(accepted_reply(xid, AcceptStat::kSystemErr));
                    replies->post(
                        [respond, out = std::move(out)]() mutable { respond(std::move(out)); });
                });
                return;
            }
            // Refused before it changed anything: run it where it may block.
        }
        offload(std::move(run_alone));
        return;
    }
    Nfs3Call c{h,
               cred,
               XdrReader(std::span(*req.record).subspan(h.args_offset)),
               **view,
               *view,
               req.record,
               req.loop,
               max_io,
               write_verifier_,
               std::move(respond),
               offload,
               traced};
    c.file_replies = !req.udp;
    if (h.proc == kNfs3Read || h.proc == kNfs3Write) {
        bool ok = h.proc == kNfs3Read ? nfs3_read(c) : nfs3_write(c);
        if (!ok) c.respond(accepted_reply(h.xid, AcceptStat::kGarbageArgs));
        return;
    }
    c.respond(run_sync(c));
}

}  // namespace rootfarm::nfsd
