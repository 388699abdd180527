#include "nfsd/nfsd.h"

#include <map>

#include "core/check.h"
#include "core/log.h"
#include "nfsd/blocking.h"
#include "nfsd/mount.h"
#include "nfsd/nfs3_xdr.h"
#include "nfsd/portmap.h"
#include "nfsd/record.h"
#include "nfsd/service.h"

namespace rootfarm::nfsd {

namespace {

// Reply bytes a connection may have queued and not yet taken by the kernel before we stop
// parsing its calls: a client that sends READs but never reads the replies would otherwise make
// us buffer without end (each reply frees a slot of kMaxInFlightPerConnection when it is
// queued, not when it is sent). At most this plus the replies of the calls in flight.
constexpr size_t kMaxQueuedReplyBytes = 8u << 20;
// How often a connection paused on kMaxQueuedReplyBytes looks again: the loop tells a handler
// about new input, not about its output draining.
constexpr std::chrono::milliseconds kReplyDrainPoll{10};
// A connection whose queued replies have not drained at all for this long is cut off: its
// client does not read them (a kernel client reads its socket from rpciod whatever its
// processes do), and what it holds (queued replies, input up to kMaxConnectionInput) goes.
constexpr std::chrono::seconds kStalledRepliesCutOff{30};

struct RpcConnState : ConnectionState {
    RecordAssembler assembler;
    int in_flight = 0;
    bool parsing = false;      // on_data is on the stack: a reply must not re-enter it
    bool drain_timer = false;  // a kReplyDrainPoll timer is armed
    // While paused on kMaxQueuedReplyBytes: since when the queue has not shrunk, and its size.
    std::chrono::steady_clock::time_point stalled_since{};
    size_t stalled_queued = 0;
    std::shared_ptr<ReplyChannel> replies;
    ViewCache view_cache;
};

}  // namespace

// RPC over TCP: record marking in, single-fragment replies out (RFC 5531 §11). Replies go back
// through Loop::find so a completion for a connection closed meanwhile is dropped.
class RpcTcpHandler : public TcpHandler {
  public:
    explicit RpcTcpHandler(Service& service) : service_(service) {}

    // Called from each worker's start(), on its thread, before it accepts connections.
    void add_channel(Loop& loop, std::shared_ptr<ReplyChannel> channel) {
        MutexLock lock(mu_);
        channels_[&loop] = std::move(channel);
    }

    void on_open(Connection& conn) override {
        if (service_.over_budget(conn.peer_ip())) {
            conn.close();
            return;
        }
        auto st = std::make_unique<RpcConnState>();
        {
            MutexLock lock(mu_);
            if (auto it = channels_.find(&conn.loop()); it != channels_.end()) {
                st->replies = it->second;
            }
        }
        conn.state = std::move(st);
    }

    void on_data(Connection& conn) override {
        auto* st = static_cast<RpcConnState*>(conn.state.get());
        if (st == nullptr) return;  // closed at open: a source over its budget
        st->parsing = true;
        parse(conn, *st);
        // parse() closes the connection on a record that is no RPC call, and closing drops the
        // state: it must not be written then (ASan saw the write after free under a flood of
        // oversized records, which a plain build showed as "double free or corruption").
        if (conn.state.get() == st) st->parsing = false;
    }

  private:
    void parse(Connection& conn, RpcConnState& state) {
        RpcConnState* st = &state;
        while (!conn.closing() && st->in_flight < kMaxInFlightPerConnection) {
            if (conn.queued_bytes() >= kMaxQueuedReplyBytes) {
                wait_for_drain(conn, *st);
                return;
            }
            st->stalled_since = {};
            auto record = std::make_shared<std::vector<uint8_t>>();
            size_t consumed = 0;
            auto status = st->assembler.next(conn.input(), consumed, *record);
            conn.consume(consumed);
            if (status == RecordAssembler::Status::kNeedMore) return;
            if (status == RecordAssembler::Status::kError) {
                nfs_log().debug("oversized RPC record from {}: closing", to_string(conn.peer()));
                // By what it made us read: fragments that add up past the limit cost a
                // megabyte of copies before they can be refused, a 2 GiB header almost nothing.
                const size_t bytes = st->assembler.buffered() + conn.input().size();
                service_.charge_bogus(conn.peer_ip(), 1 + double(bytes) / kBogusUnitBytes);
                conn.close();
                return;
            }
            ++st->in_flight;
            Loop* loop = &conn.loop();
            ConnRef ref = conn.ref();
            Request req{record,
                        conn.peer_ip(),
                        false,
                        loop,
                        [this, loop, ref](Reply reply) {
                            Connection* c = loop->find(ref);
                            if (!c || c->closing()) return;
                            auto* cs = static_cast<RpcConnState*>(c->state.get());
                            if (reply.has_file()) {
                                set_record_mark(reply.bytes, reply.size() - reply.bytes.size());
                                c->send_file(std::move(reply.bytes), std::move(reply.file),
                                             std::move(reply.tail));
                            } else if (!reply.empty()) {
                                set_record_mark(reply.bytes);
                                c->send(std::move(reply.bytes));
                            }
                            // A send may end the connection at once (send_file finding the
                            // peer gone), and its state with it.
                            if (c->closing()) return;
                            // Resume parsing what waited while the connection was at its limit.
                            if (cs->in_flight-- == kMaxInFlightPerConnection && !cs->parsing) {
                                on_data(*c);
                            }
                        },
                        st->replies,
                        &st->view_cache};
            if (!service_.handle(std::move(req))) {
                conn.close();
                return;
            }
        }
    }

    void wait_for_drain(Connection& conn, RpcConnState& st) {
        if (st.drain_timer) return;
        st.drain_timer = true;
        const auto now = std::chrono::steady_clock::now();
        if (st.stalled_since == std::chrono::steady_clock::time_point{} ||
            conn.queued_bytes() < st.stalled_queued) {
            st.stalled_since = now;
            st.stalled_queued = conn.queued_bytes();
        } else if (now - st.stalled_since >= kStalledRepliesCutOff) {
            nfs_log().warn(
                "{}: read none of its replies for {} s ({} bytes queued): connection "
                "closed",
                to_string(conn.peer()), kStalledRepliesCutOff.count(), conn.queued_bytes());
            conn.close();
            return;
        }
        Loop* loop = &conn.loop();
        loop->add_timer(kReplyDrainPoll, [this, loop, ref = conn.ref()] {
            Connection* c = loop->find(ref);
            if (!c || c->closing()) return;
            static_cast<RpcConnState*>(c->state.get())->drain_timer = false;
            on_data(*c);
        });
    }

    Service& service_;
    Mutex mu_;
    std::map<Loop*, std::shared_ptr<ReplyChannel>> channels_ GUARDED_BY(mu_);
};

class RpcUdpHandler : public UdpHandler {
  public:
    explicit RpcUdpHandler(Service& service) : service_(service) {}

    void on_datagram(UdpSocket& sock, const Datagram& d) override {
        auto record = std::make_shared<std::vector<uint8_t>>(d.data.begin(), d.data.end());
        UdpSocket* s = &sock;
        sockaddr_in to = d.from;
        // A reply from the blocking pool arrives after the socket may have closed; sockets close
        // only when their loop shuts down, which also closes the channel (blocking.h).
        auto* channel = static_cast<ReplyChannel*>(sock.user);
        Request req{record,
                    Ipv4::from_network(d.from.sin_addr),
                    true,
                    &sock.loop(),
                    [s, to](Reply reply) {
                        if (reply.empty()) return;
                        ROOTFARM_CHECK(!reply.has_file(), "a file reply over UDP");
                        auto& bytes = reply.bytes;
                        bytes.erase(bytes.begin(), bytes.begin() + kReplyMarkBytes);
                        s->send_to(to, std::move(bytes));
                    },
                    channel ? channel->shared_from_this() : nullptr};
        service_.handle(std::move(req));
    }

  private:
    Service& service_;
};

NfsServer::NfsServer(const Config& config, std::unique_ptr<Service> service)
    : config_(config),
      service_(std::move(service)),
      tcp_(std::make_unique<RpcTcpHandler>(*service_)),
      udp_(std::make_unique<RpcUdpHandler>(*service_)) {}

size_t NfsServer::blocking_high_water() const {
    return service_->blocking_pool().high_water();
}

NfsServer::~NfsServer() {
    if (registered_) unregister_from_rpcbind(mappings());
}

Result<std::unique_ptr<NfsServer>> NfsServer::create(const Config& config, Clients& clients) {
    auto service = std::make_unique<Service>(config, clients);
    return std::unique_ptr<NfsServer>(new NfsServer(config, std::move(service)));
}

std::vector<Mapping> NfsServer::mappings() const {
    const NfsConfig& n = config_.nfs;
    std::vector<Mapping> m;
    std::vector<uint32_t> protos{kIpProtoTcp};
    if (n.udp) protos.push_back(kIpProtoUdp);
    for (uint32_t p : protos) {
        m.push_back({kNfsProgram, kNfsVersion, p, nfs_port_});
        for (uint32_t v : {3u, 2u, 1u}) m.push_back({kMountProgram, v, p, mount_port_});
    }
    if (n.portmap != NfsConfig::Portmap::kOff && !registered_) {
        m.push_back({kPortmapProgram, kPortmapVersion, kIpProtoTcp, n.portmap_port});
        m.push_back({kPortmapProgram, kPortmapVersion, kIpProtoUdp, n.portmap_port});
    }
    return m;
}

std::vector<Mapping> NfsServer::locked_mappings() const {
    MutexLock lock(mu_);
    return mappings();
}

Result<void> NfsServer::start(Loop& loop, int worker_index) {
    const NfsConfig& n = config_.nfs;
    std::shared_ptr<ReplyChannel> channel = ReplyChannel::open(loop);
    if (!channel) return std::error_code(errno, std::generic_category());
    {
        MutexLock lock(mu_);
        channels_.push_back(channel);
    }
    tcp_->add_channel(loop, channel);
    auto bind_both = [&](uint16_t port) -> Result<uint16_t> {
        auto tcp = loop.listen_tcp(n.listen, port, tcp_.get());
        if (!tcp) return tcp.error();
        if (n.udp) {
            UdpOptions opts;
            opts.reuse_port = true;
            auto udp = loop.open_udp(n.listen, *tcp, udp_.get(), opts);
            if (!udp) return udp.error();
            (*udp)->user = channel.get();
            service_->filter_datagrams((*udp)->fd());
        }
        return *tcp;
    };
    uint16_t nfs_port, mount_port;
    {
        // With port 0 (tests), every worker must bind the port worker 0 got.
        MutexLock lock(mu_);
        nfs_port = nfs_port_ ? nfs_port_ : n.port;
        mount_port = mount_port_ ? mount_port_ : n.mount_port;
    }
    auto np = bind_both(nfs_port);
    if (!np) return np.error();
    uint16_t mp = *np;
    if (mount_port != nfs_port || mount_port == 0) {
        auto r = bind_both(mount_port);
        if (!r) return r.error();
        mp = *r;
    }
    {
        MutexLock lock(mu_);
        nfs_port_ = *np;
        mount_port_ = mp;
    }
    if (worker_index != 0) return {};

    bool serve_portmap = n.portmap == NfsConfig::Portmap::kBuiltin;
    if (n.portmap == NfsConfig::Portmap::kAuto) {
        const bool registered = register_with_rpcbind(locked_mappings());
        {
            MutexLock lock(mu_);
            registered_ = registered;
        }
        serve_portmap = !registered;
        nfs_log().info("portmap: {}", registered ? "registered with rpcbind"
                                                 : "no rpcbind running, answering ourselves");
    }
    service_->set_portmap(locked_mappings());
    if (serve_portmap) {
        auto tcp = loop.listen_tcp(n.listen, n.portmap_port, tcp_.get());
        if (!tcp) return tcp.error();
        auto udp = loop.open_udp(n.listen, n.portmap_port, udp_.get(), UdpOptions{});
        if (!udp) return udp.error();
        (*udp)->user = channel.get();
        service_->filter_datagrams((*udp)->fd());
    }
    nfs_log().info("NFS on {}:{}, MOUNT on port {}{}", n.listen.to_string(), *np, mp,
                   n.udp ? " (TCP and UDP)" : " (TCP)");
    return {};
}

}  // namespace rootfarm::nfsd
