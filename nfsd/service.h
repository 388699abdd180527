#pragma once

// Routes one RPC call to portmap, MOUNT or NFSv3, whatever port or transport it came on, and
// applies the duplicate request cache. Thread-safe: every worker shares one Service.

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "clients/clients.h"
#include "core/config.h"
#include "core/loop.h"
#include "core/source_limit.h"
#include "nfsd/blocking.h"
#include "nfsd/drc.h"
#include "nfsd/mount.h"
#include "nfsd/nfs3.h"
#include "nfsd/portmap.h"
#include "nfsd/trace.h"
#include "store/store.h"

namespace rootfarm::nfsd {

// The view a connection's client used last, so its next call need not take the store's lock
// (which a first MNT holds while it creates a delta, fsyncs included).
struct ViewCache {
    MacAddr mac;
    std::shared_ptr<store::ClientView> view;
};

struct Request {
    std::shared_ptr<std::vector<uint8_t>> record;  // the whole call message
    Ipv4 peer;
    bool udp = false;
    Loop* loop = nullptr;
    // Sends a reply built with new_reply(). Called exactly once per call; an empty vector
    // means "no reply" (a retransmit of a call still executing), so transports can count calls
    // in flight.
    Responder respond;
    // The loop's channel for replies of calls run on the blocking pool; with none, such calls
    // run inline on the loop.
    std::shared_ptr<ReplyChannel> replies;
    ViewCache* view_cache = nullptr;  // the connection's, valid during handle(); may be null
};

// Bytes of an oversized record that weigh as much as one bogus call: reading and copying a
// megabyte of fragments costs the server as much as decoding and refusing ~64 small calls.
inline constexpr size_t kBogusUnitBytes = 16384;

class Service {
  public:
    // `config` and `clients` must outlive the service.
    Service(const Config& config, Clients& clients);

    // Handles one call. Returns false when the record is not an RPC call at all (the caller
    // closes a TCP connection: its framing can no longer be trusted).
    bool handle(Request req);

    // The bogus-call budget of `peer` (bogus_), for what a transport sees before a call: a
    // record too large to be one charges it `units` (kBogusUnitBytes of what it made us read
    // count as one call), and a connection from a source over its budget is closed at once.
    void charge_bogus(Ipv4 peer, double units = 1) { (void)bogus_.spend(peer.value, units); }
    bool over_budget(Ipv4 peer) { return bogus_.blocked(peer.value); }
    // A UDP socket whose datagrams from a source over its budget the kernel drops meanwhile.
    void filter_datagrams(int fd) { udp_drop_.add_socket(fd); }

    // The portmap table, filled in by the server once its ports are bound.
    void set_portmap(std::vector<Mapping> mappings);
    uint64_t write_verifier() const { return write_verifier_; }
    Drc& drc() { return drc_; }
    const BlockingPool& blocking_pool() const { return pool_; }

  private:
    void handle_nfs(const CallHeader& h, Request& req);
    Result<std::shared_ptr<store::ClientView>> view_for(const ClientInfo& client, ViewCache* cache);
    // Runs work on pool_ and sends its reply with `respond` on the loop `replies` leads to.
    Offload offload_to_pool(std::shared_ptr<ReplyChannel> replies, Responder respond);

    Clients& clients_;
    MountService mount_;
    Drc drc_;
    std::shared_ptr<const PortmapTable> portmap_;  // replaced whole; read with atomic_load
    uint64_t write_verifier_;
    std::unique_ptr<Tracer> tracer_;
    // Where bogus_ holds a source over its budget, so its datagrams stop at the kernel.
    DatagramDropFilter udp_drop_{DatagramDropFilter::Key::kSourceIpv4};
    // Calls answered with an RPC-level error (RFC 5531 §9: undecodable, PROG_UNAVAIL,
    // PROC_UNAVAIL, GARBAGE_ARGS, RPC_MISMATCH, AUTH_ERROR), per source address. A kernel client
    // makes a handful (its NFSACL probe); past the budget a source's calls go unanswered.
    SourceLimiter bogus_;
    // Last: its jobs use everything above, so it joins before the rest goes.
    BlockingPool pool_;
};

}  // namespace rootfarm::nfsd
