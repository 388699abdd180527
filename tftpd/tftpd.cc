#include "tftpd/tftpd.h"

#include <array>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "core/log.h"
#include "core/metrics.h"
#include "core/source_limit.h"
#include "tftpd/cmdline.h"
#include "tftpd/options.h"
#include "tftpd/packet.h"
#include "tftpd/path.h"
#include "tftpd/requester.h"
#include "tftpd/source.h"
#include "tftpd/transfer.h"

namespace rootfarm::tftpd {
namespace {

// A cmdline.txt longer than this is not a kernel command line (the kernel takes 2-4 KiB).
constexpr uint64_t kMaxCmdline = 64 * 1024;
// netascii is converted in memory before sending; only text files use it, and this bounds the
// memory one request can pin.
constexpr uint64_t kMaxNetascii = 1024 * 1024;

uint64_t peer_key(const sockaddr_in& a) {
    return uint64_t{a.sin_addr.s_addr} << 16 | a.sin_port;
}

std::string_view basename(std::string_view path) {
    size_t slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

bool starts_with(std::string_view s, std::string_view p) {
    return s.substr(0, p.size()) == p;
}
bool ends_with(std::string_view s, std::string_view p) {
    return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

// kernel.img, kernel7l.img, kernel8.img, kernel_2712.img (Pi firmware); vmlinuz* (iPXE, E2E).
bool is_kernel(std::string_view path) {
    std::string_view name = basename(path);
    return (starts_with(name, "kernel") && ends_with(name, ".img")) || starts_with(name, "vmlinuz");
}

// Store and walk errors as the TFTP error a client understands (RFC 1350 Appendix).
std::pair<ErrorCode, const char*> tftp_error(std::error_code ec) {
    if (ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory ||
        ec == std::errc::is_a_directory) {
        return {ErrorCode::kFileNotFound, "File not found"};
    }
    if (ec == std::errc::permission_denied || ec == std::errc::too_many_symbolic_link_levels ||
        ec == std::errc::filename_too_long) {
        return {ErrorCode::kAccessViolation, "Access violation"};
    }
    return {ErrorCode::kNotDefined, "Server error"};
}

// TFTP's series (core/metrics.h): requests, the ERRORs we send by code (RFC 1350 §5, RFC 2347
// for 8), transfers that fail, bytes, and how long transfers take.
struct TftpMetrics {
    metrics::Counter rrq = metrics::requests_total("tftp", "RRQ");
    metrics::Counter wrq = metrics::requests_total("tftp", "WRQ");
    // From a read request to its transfer's first packet (the file found and opened).
    metrics::Histogram rrq_duration = metrics::request_duration("tftp", "RRQ");
    metrics::Counter received = metrics::received_bytes("tftp");
    metrics::Counter sent = metrics::sent_bytes("tftp");
    metrics::Counter malformed = metrics::errors_total("tftp", "MALFORMED");
    metrics::Counter flood_dropped = metrics::errors_total("tftp", "FLOOD_DROPPED");
    std::array<metrics::Counter, 9> sent_errors{metrics::errors_total("tftp", "NOT_DEFINED"),
                                                metrics::errors_total("tftp", "FILE_NOT_FOUND"),
                                                metrics::errors_total("tftp", "ACCESS_VIOLATION"),
                                                metrics::errors_total("tftp", "DISK_FULL"),
                                                metrics::errors_total("tftp", "ILLEGAL_OPERATION"),
                                                metrics::errors_total("tftp", "UNKNOWN_TID"),
                                                metrics::errors_total("tftp", "FILE_EXISTS"),
                                                metrics::errors_total("tftp", "NO_SUCH_USER"),
                                                metrics::errors_total("tftp", "OPTION_REFUSED")};
    metrics::Counter timeout = metrics::errors_total("tftp", "TIMEOUT");
    metrics::Counter read_error = metrics::errors_total("tftp", "READ_ERROR");
    metrics::Counter client_error = metrics::errors_total("tftp", "CLIENT_ERROR");
    // Whole transfers, first packet to last ACK: a kernel in lock-step takes seconds.
    metrics::Histogram transfer_duration = metrics::Registry::global().histogram(
        "rootfarm_tftp_transfer_duration_seconds", "Time a completed TFTP transfer took.", {},
        std::vector<double>{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120});
};

const TftpMetrics& tftp_metrics() {
    static const TftpMetrics m;
    return m;
}

// An ERROR packet, counted by its code.
std::vector<uint8_t> counted_error(ErrorCode code, std::string_view message) {
    const auto i = static_cast<size_t>(code);
    const TftpMetrics& m = tftp_metrics();
    m.sent_errors[i < m.sent_errors.size() ? i : 0].add();
    return encode_error(code, message);
}

}  // namespace

// One accepted read request, from its arrival until its transfer ends.
struct Active {
    std::chrono::steady_clock::time_point arrived;
    sockaddr_in peer{};
    Ipv4 local_addr{};
    Request request;
    RequestPath path;
    Requester who;
    std::shared_ptr<Transfer> transfer;
};

class TftpServer::Impl : public UdpHandler {
  public:
    Impl(const Config& config, Clients& clients)
        : config_(config),
          clients_(clients),
          pool_(std::make_shared<BufferPool>(64)),
          flood_("TFTP requests", tftp_log(),
                 SourceLimiter::Options::rate(config.tftp.client_requests_per_second),
                 [](uint64_t ip) { return Ipv4{static_cast<uint32_t>(ip)}.to_string(); }) {
        flood_.drop_in_kernel(&kernel_drop_);
        tftp_metrics();  // registered before the first scrape
    }
    // A running transfer and its request hold each other until it finishes; break that here.
    ~Impl() override {
        for (auto& [_, a] : active_) a->transfer.reset();
    }

    Result<void> start(Loop& loop);
    uint16_t port() const { return port_; }
    void on_datagram(UdpSocket& sock, const Datagram& d) override;

  private:
    void on_request(const Datagram& d, Request req);
    void prepare(std::shared_ptr<Active> r);
    void start_transfer(std::shared_ptr<Active> r, Source source);
    void finished(Active& r, const TransferOutcome& outcome);
    void release(Active& r);
    void mark_boot_phase(const Active& r);
    // Answers a request from a fresh port, as a transfer would: the error is the first packet
    // of the transfer the request asked for (RFC 1350 §4), and what dnsmasq and tftpd-hpa do.
    void reply_error(const sockaddr_in& to, Ipv4 local, ErrorCode code, std::string_view msg);

    const Config& config_;
    Clients& clients_;
    std::shared_ptr<BufferPool> pool_;
    Loop* loop_ = nullptr;
    UdpSocket* listen_ = nullptr;
    uint16_t port_ = 0;

    std::unordered_map<Active*, std::shared_ptr<Active>> active_;
    std::unordered_map<std::string, uint32_t> per_client_;
    std::unordered_set<uint64_t> peers_;
    // Where flood_ holds an address over its budget, so its requests stop at the kernel; a
    // transfer's own port is not filtered, so transfers under way go on.
    DatagramDropFilter kernel_drop_{DatagramDropFilter::Key::kSourceIpv4};
    // Requests per address ([tftp] client_requests_per_second): an RRQ flood costs this check,
    // not an error packet or a transfer each.
    SourceLimiter flood_;
};

Result<void> TftpServer::Impl::start(Loop& loop) {
    if (loop_ != nullptr) return std::errc::operation_in_progress;
    auto sock = loop.open_udp(config_.tftp.listen, config_.tftp.port, this);
    if (!sock) return sock.error();
    loop_ = &loop;
    listen_ = *sock;
    kernel_drop_.add_socket(listen_->fd());
    port_ = listen_->local_port();
    tftp_log().info("tftp listening on {}:{}", config_.tftp.listen.to_string(), port_);
    return {};
}

void TftpServer::Impl::on_datagram(UdpSocket& sock, const Datagram& d) {
    if (&sock != listen_) return;  // a socket that only carried an error reply
    tftp_metrics().received.add(d.data.size());
    auto op = decode_opcode(d.data);
    if (!op) {
        tftp_metrics().malformed.add();
        tftp_log().debug("{}: malformed packet dropped", to_string(d.from));
        return;
    }
    if (*op != Opcode::kRrq && *op != Opcode::kWrq) {
        // DATA/ACK/ERROR belong on a transfer's port. Dropped, not answered: an ERROR in
        // reply to a stray packet could start an endless exchange with another server whose
        // request port answers the same way (RFC 1350 §7: errors are never acknowledged).
        tftp_log().debug("{}: opcode {} on the request port dropped", to_string(d.from),
                         static_cast<int>(*op));
        return;
    }
    if (!flood_.charge(Ipv4::from_network(d.from.sin_addr).value)) {
        tftp_metrics().flood_dropped.add();
        return;
    }
    auto req = decode_request(d.data);
    if (!req) {
        tftp_log().debug("{}: malformed request: {}", to_string(d.from), req.error().message());
        // Every answer leaves from the address the client sent to (IP_PKTINFO), as a transfer
        // socket bound to it does: a client matches replies by the server's address.
        listen_->send_to(
            d.from,
            counted_error(ErrorCode::kIllegalOperation, req.error() == std::errc::invalid_argument
                                                            ? "Unsupported transfer mode"
                                                            : "Malformed request"),
            0, d.local_addr);
        return;
    }
    on_request(d, std::move(*req));
}

void TftpServer::Impl::on_request(const Datagram& d, Request req) {
    const auto arrived = std::chrono::steady_clock::now();
    const Ipv4 source = Ipv4::from_network(d.from.sin_addr);
    (req.op == Opcode::kWrq ? tftp_metrics().wrq : tftp_metrics().rrq).add();
    if (req.op == Opcode::kWrq) {
        tftp_log().info("{}: write request for {} refused (read-only)", to_string(d.from),
                        req.filename);
        reply_error(d.from, d.local_addr, ErrorCode::kAccessViolation,
                    "Access violation: read-only server");
        return;
    }
    // A client that repeats its request before our first answer arrived already has a
    // transfer; its timer resends, a second one would only race it.
    if (peers_.count(peer_key(d.from)) != 0) return;

    auto path = parse_request_path(req.filename);
    if (!path) {
        auto [code, msg] = tftp_error(path.error());
        tftp_log().info("{}: {} refused: {}", to_string(d.from), req.filename,
                        path.error().message());
        reply_error(d.from, d.local_addr, code, msg);
        return;
    }
    // Caps come before any store work: a flood costs no more than this check.
    if (active_.size() >= config_.tftp.max_transfers) {
        tftp_log().warn("{}: {} refused: {} transfers running", to_string(d.from), req.filename,
                        active_.size());
        listen_->send_to(d.from, counted_error(ErrorCode::kNotDefined, "Too many transfers"), 0,
                         d.local_addr);
        return;
    }
    auto who = identify(*path, source, clients_);
    if (!who && who.error() == std::errc::permission_denied) {
        tftp_log().warn("{}: {} refused: a static address says the prefix is not this sender's",
                        to_string(d.from), req.filename);
        auto [code, msg] = tftp_error(who.error());
        reply_error(d.from, d.local_addr, code, msg);
        return;
    }
    if (!who) {
        tftp_log().warn("{}: {}: no view to serve from: {}", to_string(d.from), req.filename,
                        who.error().message());
        reply_error(d.from, d.local_addr, ErrorCode::kNotDefined, "Server error");
        return;
    }
    uint32_t& mine = per_client_[who->key];
    if (mine >= config_.tftp.max_transfers_per_client) {
        // Debug: a client past this cap is flooding, and flood_ reports that once per interval.
        tftp_log().debug("{}: {} refused: {} transfers from this client", who->label, req.filename,
                         mine);
        listen_->send_to(
            d.from, counted_error(ErrorCode::kNotDefined, "Too many transfers from this client"), 0,
            d.local_addr);
        return;
    }
    ++mine;
    auto r = std::make_shared<Active>();
    r->arrived = arrived;
    r->peer = d.from;
    r->local_addr = d.local_addr;
    r->request = std::move(req);
    r->path = std::move(*path);
    r->who = std::move(*who);
    active_[r.get()] = r;
    peers_.insert(peer_key(r->peer));
    prepare(std::move(r));
}

void TftpServer::Impl::prepare(std::shared_ptr<Active> r) {
    const store::ClientView& view = *r->who.view;
    auto id = resolve_boot_file(view, r->path.components, config_.store.boot_mount);
    const bool netascii = r->request.mode == Mode::kNetascii;
    const bool cmdline = r->path.components.size() == 1 && r->path.components[0] == "cmdline.txt";
    if (cmdline && (id || id.error() == std::errc::no_such_file_or_directory)) {
        // A Raspberry Pi OS image's own cmdline.txt mounts the SD card's partition
        // (root=PARTUUID=…-02 rootfstype=ext4) and the kernel would wait for it forever. Unless
        // it already mounts its root over NFS (a Pi that wrote its own keeps it), the Pi gets
        // one that mounts its root from us.
        Source original = Source::from_memory("");
        if (id) {
            auto target = view.open_read(*id);
            if (target) original = Source::from_file(*target);
        }
        Ipv4 server = config_.server_ip.is_any() ? r->local_addr : config_.server_ip;
        read_whole(*loop_, std::move(original), kMaxCmdline,
                   [this, r, server, netascii](Result<std::string> text) {
                       const std::string image_line = text ? std::move(*text) : std::string();
                       std::string line =
                           config_.tftp.rewrite_cmdline || !mounts_nfs_root(image_line)
                               ? generate_cmdline(image_line, server, config_.tftp.nfs_rsize)
                               : std::string(image_line);
                       if (r->who.client) {
                           clients_.note(r->who.client->mac, Trouble::kCmdlineServed,
                                         line.substr(0, line.find('\n')));
                       }
                       start_transfer(
                           r, Source::from_memory(netascii ? to_netascii(line) : std::move(line)));
                   });
        return;
    }
    Result<store::ReadTarget> target =
        id ? view.open_read(*id) : Result<store::ReadTarget>(id.error());
    if (!target) {
        auto [code, msg] = tftp_error(target.error());
        // The ROM probes bootsig.bin, pieeprom.sig, vl805.sig…: a quick clean "not found".
        tftp_log().info("{}: {}: {}", r->who.label, r->request.filename, target.error().message());
        reply_error(r->peer, r->local_addr, code, msg);
        release(*r);
        return;
    }
    if (!netascii) {
        start_transfer(r, Source::from_file(*target));
        return;
    }
    read_whole(*loop_, Source::from_file(*target), kMaxNetascii,
               [this, r](Result<std::string> text) {
                   if (!text) {
                       tftp_log().info("{}: {} in netascii: {}", r->who.label, r->request.filename,
                                       text.error().message());
                       reply_error(r->peer, r->local_addr, ErrorCode::kNotDefined,
                                   text.error() == std::errc::file_too_large
                                       ? "File too large for netascii, use octet"
                                       : "Read error");
                       release(*r);
                       return;
                   }
                   start_transfer(r, Source::from_memory(to_netascii(*text)));
               });
}

void TftpServer::Impl::start_transfer(std::shared_ptr<Active> r, Source source) {
    TransferParams params;
    params.peer = r->peer;
    params.local_addr = r->local_addr;
    params.negotiated = negotiate(r->request.options, r->request.mode, source.size);
    params.timeout = params.negotiated.timeout
                         ? std::chrono::milliseconds(*params.negotiated.timeout * 1000)
                         : std::chrono::milliseconds(config_.tftp.timeout_ms);
    params.retries = config_.tftp.retries;
    auto t = Transfer::start(*loop_, std::move(params), std::move(source), pool_,
                             [this, r](Transfer&, const TransferOutcome& o) { finished(*r, o); });
    if (!t) {
        tftp_log().warn("{}: {}: cannot open a transfer socket: {}", r->who.label,
                        r->request.filename, t.error().message());
        listen_->send_to(r->peer, counted_error(ErrorCode::kNotDefined, "Server error"), 0,
                         r->local_addr);
        release(*r);
        return;
    }
    r->transfer = std::move(*t);
    tftp_metrics().rrq_duration.observe(std::chrono::steady_clock::now() - r->arrived);
    mark_boot_phase(*r);
}

void TftpServer::Impl::mark_boot_phase(const Active& r) {
    if (!r.who.client) return;
    clients_.record(r.who.client->mac, starts_a_boot(r.path.relative()) ? BootEvent::kTftpFirstFile
                                                                        : BootEvent::kTftpFile);
}

void TftpServer::Impl::finished(Active& r, const TransferOutcome& o) {
    using Kind = TransferOutcome::Kind;
    const double secs = std::chrono::duration<double>(o.elapsed).count();
    const TftpMetrics& m = tftp_metrics();
    switch (o.kind) {
        case Kind::kComplete:
            m.sent.add(o.bytes);
            m.transfer_duration.observe(o.elapsed);
            tftp_log().info(
                "{}: sent {} ({} bytes, blksize {}, window {}) in {:.3f} s, {:.2f} MB/s{}",
                r.who.label, r.request.filename, o.bytes, o.block_size, o.window, secs,
                secs > 0 ? o.bytes / secs / 1e6 : 0.0,
                o.retransmits ? ", " + std::to_string(o.retransmits) + " retransmits" : "");
            if (r.who.client && is_kernel(r.path.relative())) {
                clients_.record(r.who.client->mac, BootEvent::kTftpKernel);
            }
            break;
        case Kind::kEarlyTerminate:
            tftp_log().debug("{}: {}: ended after the OACK ({})", r.who.label, r.request.filename,
                             o.detail);
            break;
        case Kind::kClientError:
        case Kind::kProtocolError:
            m.client_error.add();
            tftp_log().info("{}: {}: client ended the transfer: {}", r.who.label,
                            r.request.filename, o.detail);
            break;
        case Kind::kTimeout:
            m.timeout.add();
            if (r.who.client) {
                clients_.note(r.who.client->mac, Trouble::kTftpTimeout, r.request.filename);
            }
            [[fallthrough]];
        case Kind::kReadError:
            if (o.kind == Kind::kReadError) m.read_error.add();
            tftp_log().warn("{}: {}: transfer failed: {}", r.who.label, r.request.filename,
                            o.detail);
            break;
    }
    release(r);
}

void TftpServer::Impl::release(Active& r) {
    auto it = per_client_.find(r.who.key);
    if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
    peers_.erase(peer_key(r.peer));
    // Last: this may destroy `r`.
    active_.erase(&r);
}

void TftpServer::Impl::reply_error(const sockaddr_in& to, Ipv4 local, ErrorCode code,
                                   std::string_view msg) {
    auto sock = loop_->open_udp(local, 0, this);
    if (!sock) {
        listen_->send_to(to, counted_error(code, msg), 0, local);
        return;
    }
    (*sock)->send_to(to, counted_error(code, msg));
    (*sock)->close();
}

Result<std::unique_ptr<TftpServer>> TftpServer::create(const Config& config, Clients& clients) {
    if (config.tftp.max_transfers == 0 || config.tftp.max_transfers_per_client == 0 ||
        config.tftp.timeout_ms == 0) {
        return std::errc::invalid_argument;
    }
    return std::unique_ptr<TftpServer>(new TftpServer(std::make_unique<Impl>(config, clients)));
}

TftpServer::TftpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TftpServer::~TftpServer() = default;
Result<void> TftpServer::start(Loop& loop) {
    return impl_->start(loop);
}
uint16_t TftpServer::port() const {
    return impl_->port();
}

}  // namespace rootfarm::tftpd
