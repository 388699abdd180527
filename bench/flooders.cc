#include "bench/flooders.h"

#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <random>
#include <span>
#include <thread>

#include "bench/rpc_wire.h"
#include "bench/udp.h"
#include "dhcpd/packet.h"

namespace rootfarm::bench {

namespace {

using Clock = std::chrono::steady_clock;

void note(FlooderStats& s, const std::string& what) {
    ++s.errors;
    if (s.first_error.empty()) s.first_error = what;
}

// One datagram without blocking, counted in `s`; false when the socket buffer is full.
bool send_counted(int fd, std::span<const uint8_t> d, const sockaddr_in& to, FlooderStats& s) {
    if (::sendto(fd, d.data(), d.size(), MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&to),
                 sizeof to) < 0) {
        return false;
    }
    ++s.sent;
    s.bytes_sent += d.size();
    return true;
}

// Calls `drain` whenever `fd` is readable, for `grace`: the replies still on their way.
template <class Drain>
void drain_for(int fd, std::chrono::milliseconds grace, Drain drain) {
    auto end = Clock::now() + grace;
    while (Clock::now() < end) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 20) > 0) drain();
    }
}

// ONC RPC numbers (RFC 5531 §9, RFC 1813): what each bogus call gets wrong.
constexpr uint32_t kNfsProgram = 100003;
constexpr uint32_t kAuthNone = 0, kAuthSys = 1;

std::vector<uint8_t> garbage_call(uint32_t xid) {
    switch (xid % 6) {
        case 0:
            return rpc_call(xid, 2, 100099, 1, 0, kAuthNone);  // PROG_UNAVAIL
        case 1:
            return rpc_call(xid, 2, kNfsProgram, 2, 0, kAuthNone);  // PROG_MISMATCH
        case 2:
            return rpc_call(xid, 2, kNfsProgram, 3, 99, kAuthNone);  // PROC_UNAVAIL
        case 3: {
            // GETATTR whose handle claims 16 MiB (nfs_fh3 is at most 64 bytes): GARBAGE_ARGS.
            auto c = rpc_call(xid, 2, kNfsProgram, 3, 1, kAuthSys);
            put_u32(c, 0xffffff);
            return c;
        }
        case 4:
            return rpc_call(xid, 2, kNfsProgram, 3, 0, 99);  // AUTH_ERROR (unknown flavor)
        default:
            return rpc_call(xid, 3, kNfsProgram, 3, 0, kAuthNone);  // RPC_MISMATCH
    }
}

class RpcTcp {
  public:
    explicit RpcTcp(const FloodTargets& t) : t_(t) { s_.kind = "rpc-garbage-tcp"; }
    ~RpcTcp() { conn_.close(); }

    bool pump() {
        if (!conn_.open()) {
            auto r = conn_.connect(t_.source, t_.nfs, 0);
            if (!r) {
                note(s_, "connect: " + r.error().message());
                return false;
            }
            ++s_.connections;
        }
        if (conn_.idle()) {
            for (int i = 0; i < 64; ++i) conn_.queue_record(garbage_call(xid_++));
        }
        auto st = conn_.flush();
        if (st == TcpRecords::kClosed) {
            closed();
            return true;
        }
        take_replies();
        return st != TcpRecords::kBlocked;
    }

    void finish(std::chrono::milliseconds grace) {
        if (conn_.open()) {
            drain_for(conn_.fd(), grace, [&] {
                if (conn_.open()) take_replies();
            });
        }
        fold();
        conn_.close();
    }
    FlooderStats stats() const {
        FlooderStats s = s_;
        s.sent += conn_.records_sent();
        s.answered += conn_.records_received();
        s.bytes_sent += conn_.bytes_sent();
        return s;
    }

  private:
    void take_replies() {
        if (conn_.read_replies() == TcpRecords::kClosed) closed();
    }
    void closed() {
        ++s_.closed_by_server;
        fold();
        conn_.close();
    }
    // Moves the connection's counts into s_ before it goes.
    void fold() {
        s_ = stats();
        conn_.reset_counts();
    }

    const FloodTargets& t_;
    TcpRecords conn_;
    FlooderStats s_;
    uint32_t xid_ = 1;
};

class RpcUdp {
  public:
    explicit RpcUdp(const FloodTargets& t) : t_(t) {
        s_.kind = "rpc-garbage-udp";
        auto sock = UdpClient::bind(t.source, 0);
        if (sock) {
            sock_.emplace(std::move(*sock));
        } else {
            note(s_, "bind: " + sock.error().message());
        }
    }
    bool pump() {
        if (!sock_) return false;
        bool any = false;
        for (int i = 0; i < 32; ++i) {
            if (!send_counted(sock_->fd(), garbage_call(xid_++), t_.nfs, s_)) break;
            any = true;
        }
        drain();
        return any;
    }
    void finish(std::chrono::milliseconds grace) {
        if (sock_) drain_for(sock_->fd(), grace, [&] { drain(); });
    }
    FlooderStats stats() const { return s_; }

  private:
    void drain() {
        std::array<uint8_t, 2048> buf;
        while (::recv(sock_->fd(), buf.data(), buf.size(), MSG_DONTWAIT) > 0) ++s_.answered;
    }
    const FloodTargets& t_;
    std::optional<UdpClient> sock_;
    FlooderStats s_;
    uint32_t xid_ = 0x40000000;
};

class RpcGarbage : public Flooder {
  public:
    explicit RpcGarbage(const FloodTargets& t) : tcp_(t), udp_(t) {}
    bool pump() override {
        bool a = tcp_.pump();
        bool b = udp_.pump();
        return a || b;
    }
    void finish(std::chrono::milliseconds grace) override {
        tcp_.finish(grace);
        udp_.finish(grace);
    }
    std::vector<FlooderStats> stats() const override { return {tcp_.stats(), udp_.stats()}; }

  private:
    RpcTcp tcp_;
    RpcUdp udp_;
};

class Oversized : public Flooder {
  public:
    explicit Oversized(const FloodTargets& t) : t_(t) {
        stats_[0].kind = "oversized-record-2g";
        stats_[1].kind = "oversized-record-fragments";
    }
    ~Oversized() override { close_conn(); }

    bool pump() override {
        if (fd_ < 0 && !start()) return false;
        // A FIN or RST from the server: it cut this record off.
        std::array<uint8_t, 4096> buf;
        ssize_t r = ::recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return cut(), true;
        if (waiting_) {
            // Kernel buffers on loopback hold megabytes, so the last byte leaving us says
            // nothing about what the server read: give it a second to close the connection.
            if (Clock::now() - last_progress_ > std::chrono::seconds(1)) close_conn();
            return false;
        }
        bool progress = false;
        for (int i = 0; i < 16 && in_ < kCap; ++i) {
            std::vector<uint8_t> chunk;
            if (chunks_ == 0 && !fragments_) {
                put_u32(chunk, 0x80000000u | 0x7fffffffu);  // one last fragment of 2 GiB
            }
            if (fragments_) put_u32(chunk, 0x10000);  // a non-last fragment of 64 KiB
            chunk.resize(chunk.size() + 0x10000, 0x5a);
            ssize_t n =
                ::send(fd_, chunk.data() + pos_, chunk.size() - pos_, MSG_DONTWAIT | MSG_NOSIGNAL);
            // Partial sends resume mid-chunk; the chunk is rebuilt identically.
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                if (errno == EPIPE || errno == ECONNRESET) return cut(), true;
                note(s(), std::string("send: ") + std::strerror(errno));
                close_conn();
                return false;
            }
            progress = true;
            last_progress_ = Clock::now();
            in_ += static_cast<uint64_t>(n);
            s().bytes_sent += static_cast<uint64_t>(n);
            pos_ = (pos_ + static_cast<size_t>(n)) % chunk.size();
            if (pos_ != 0) break;
            ++chunks_;
        }
        // All sent, or the server stopped reading without closing: wait for its verdict.
        if (in_ >= kCap || Clock::now() - last_progress_ > std::chrono::seconds(2)) {
            waiting_ = true;
            last_progress_ = Clock::now();
        }
        return progress;
    }
    void finish(std::chrono::milliseconds) override { close_conn(); }
    std::vector<FlooderStats> stats() const override { return {stats_[0], stats_[1]}; }

  private:
    static constexpr uint64_t kCap = 4u << 20;

    FlooderStats& s() { return stats_[fragments_ ? 1 : 0]; }

    bool start() {
        auto r = tcp_connect(t_.source, t_.nfs, 0);
        if (!r) {
            note(s(), "connect: " + r.error().message());
            return false;
        }
        fd_ = *r;
        fragments_ = (started_++ % 2) == 1;
        in_ = 0;
        pos_ = 0;
        chunks_ = 0;
        waiting_ = false;
        last_progress_ = Clock::now();
        ++s().sent;
        ++s().connections;
        return true;
    }
    void cut() {
        ++s().answered;
        ++s().closed_by_server;
        close_conn();
    }
    void close_conn() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

    const FloodTargets& t_;
    FlooderStats stats_[2];
    uint64_t started_ = 0;
    int fd_ = -1;
    bool fragments_ = false;
    bool waiting_ = false;  // nothing more to send: the server closes it, or in 1 s we do
    uint64_t in_ = 0;
    uint64_t chunks_ = 0;  // complete chunks sent; the first carries the 2 GiB mark
    size_t pos_ = 0;
    Clock::time_point last_progress_;
};

class DhcpDiscover : public Flooder {
  public:
    explicit DhcpDiscover(const FloodTargets& t) : t_(t), rng_(std::random_device{}()) {
        s_.kind = t.dhcp_mac == FloodTargets::Mac::kFixed    ? "dhcp-discover-fixed"
                  : t.dhcp_mac == FloodTargets::Mac::kRandom ? "dhcp-discover-random"
                                                             : "dhcp-discover-random-pi";
        auto sock = UdpClient::bind(t.source, t.dhcp_relay_port);
        if (!sock) {
            note(s_, "bind: " + sock.error().message());
            return;
        }
        sock_.emplace(std::move(*sock));
        dhcpd::Packet p;
        p.op = dhcpd::kBootRequest;
        p.hops = 1;
        p.giaddr = t.source;  // as a relay: the offers come back here (RFC 2131 §4.1)
        p.set_mac(t.dhcp_fixed_mac);
        p.set_u8(dhcpd::opt::kMessageType, static_cast<uint8_t>(dhcpd::MessageType::kDiscover));
        p.set_string(dhcpd::opt::kVendorClass, "PXEClient:Arch:00000:UNDI:002001");
        bytes_ = dhcpd::encode(p);
    }
    bool pump() override {
        if (!sock_) return false;
        bool any = false;
        for (int i = 0; i < 32; ++i) {
            // BOOTP header (RFC 2131 §2): xid at bytes 4-7, chaddr from byte 28.
            uint32_t xid = static_cast<uint32_t>(rng_());
            std::memcpy(bytes_.data() + 4, &xid, 4);
            uint32_t r = static_cast<uint32_t>(rng_());
            uint8_t* mac = bytes_.data() + 28;
            if (t_.dhcp_mac == FloodTargets::Mac::kRandom) {
                mac[0] = 0x02;  // locally administered (IEEE 802 U/L bit), unicast
                mac[1] = 0;
                std::memcpy(mac + 2, &r, 4);
            } else if (t_.dhcp_mac == FloodTargets::Mac::kRandomPi) {
                mac[0] = 0xdc;
                mac[1] = 0xa6;
                mac[2] = 0x32;
                std::memcpy(mac + 3, &r, 3);
            }
            if (!send_counted(sock_->fd(), bytes_, t_.dhcp, s_)) break;
            any = true;
        }
        drain();
        return any;
    }
    void finish(std::chrono::milliseconds grace) override {
        if (sock_) drain_for(sock_->fd(), grace, [&] { drain(); });
    }
    std::vector<FlooderStats> stats() const override { return {s_}; }

  private:
    void drain() {
        std::array<uint8_t, 1500> buf;
        ssize_t n;
        while ((n = ::recv(sock_->fd(), buf.data(), buf.size(), MSG_DONTWAIT)) > 0) {
            if (buf[0] == dhcpd::kBootReply) ++s_.answered;
        }
    }
    const FloodTargets& t_;
    std::mt19937 rng_;
    std::optional<UdpClient> sock_;
    std::vector<uint8_t> bytes_;
    FlooderStats s_;
};

class TftpRrq : public Flooder {
  public:
    explicit TftpRrq(const FloodTargets& t) : t_(t), slots_(512) {
        s_[0].kind = "tftp-rrq-existing";
        s_[1].kind = "tftp-rrq-missing";
    }
    ~TftpRrq() override {
        for (Slot& s : slots_) close_slot(s);
    }
    bool pump() override {
        bool any = false;
        for (int i = 0; i < 32; ++i) {
            Slot& slot = slots_[next_++ % slots_.size()];
            close_slot(slot);
            const int kind = static_cast<int>(n_++ % 2);
            auto sock = UdpClient::bind(t_.source, 0);
            if (!sock) {
                note(s_[kind], "bind: " + sock.error().message());
                return any;
            }
            // RRQ (RFC 1350 §5) with the options a Pi 4 sends (RFC 2348, 2349).
            std::string file = kind == 0 ? t_.tftp_file : "no-such-file-" + std::to_string(n_);
            std::vector<uint8_t> rrq = {0, 1};
            for (const std::string& part :
                 {file, std::string("octet"), std::string("tsize"), std::string("0"),
                  std::string("blksize"), std::string("1024")}) {
                rrq.insert(rrq.end(), part.begin(), part.end());
                rrq.push_back(0);
            }
            if (!send_counted(sock->fd(), rrq, t_.tftp, s_[kind])) break;
            any = true;
            slot.sock.emplace(std::move(*sock));
            slot.kind = kind;
        }
        return any;
    }
    void finish(std::chrono::milliseconds grace) override {
        std::this_thread::sleep_for(grace);
        for (Slot& s : slots_) close_slot(s);
    }
    std::vector<FlooderStats> stats() const override { return {s_[0], s_[1]}; }

  private:
    struct Slot {
        std::optional<UdpClient> sock;
        int kind = 0;
    };
    // A reply of any kind (OACK, DATA, ERROR) on the RRQ's own port answered it.
    void close_slot(Slot& s) {
        if (!s.sock) return;
        std::array<uint8_t, 1500> buf;
        if (::recv(s.sock->fd(), buf.data(), buf.size(), MSG_DONTWAIT) > 0) ++s_[s.kind].answered;
        s.sock.reset();
    }
    const FloodTargets& t_;
    std::vector<Slot> slots_;
    FlooderStats s_[2];
    uint64_t next_ = 0, n_ = 0;
};

}  // namespace

std::unique_ptr<Flooder> rpc_garbage_flooder(const FloodTargets& t) {
    return std::make_unique<RpcGarbage>(t);
}
std::unique_ptr<Flooder> oversized_record_flooder(const FloodTargets& t) {
    return std::make_unique<Oversized>(t);
}
std::unique_ptr<Flooder> dhcp_discover_flooder(const FloodTargets& t) {
    return std::make_unique<DhcpDiscover>(t);
}
std::unique_ptr<Flooder> tftp_rrq_flooder(const FloodTargets& t) {
    return std::make_unique<TftpRrq>(t);
}

NoReadResult no_read_client(Ipv4 source, const sockaddr_in& nfs, const std::string& fh,
                            uint32_t count, const std::atomic<bool>& stop) {
    NoReadResult out;
    TcpRecords conn;
    // The smallest receive window Linux allows: the server's replies back up at once.
    if (auto r = conn.connect(source, nfs, 1); !r) {
        out.error = "connect: " + r.error().message();
        return out;
    }
    // READ3args (RFC 1813 §3.3.6): nfs_fh3, offset, count; proc 6 of NFS v3, AUTH_SYS.
    auto read_call = [&](uint32_t xid) {
        auto c = rpc_call(xid, 2, kNfsProgram, 3, 6, kAuthSys);
        put_u32(c, static_cast<uint32_t>(fh.size()));
        c.insert(c.end(), fh.begin(), fh.end());
        c.resize(c.size() + (4 - fh.size() % 4) % 4, 0);
        put_u32(c, 0);  // offset, high and low words
        put_u32(c, 0);
        put_u32(c, count);
        return c;
    };
    const auto t0 = Clock::now();
    auto since = [&] { return std::chrono::duration<double>(Clock::now() - t0).count(); };
    uint32_t xid = 1;
    while (!stop.load(std::memory_order_relaxed)) {
        if (conn.idle()) {
            for (int i = 0; i < 16; ++i) conn.queue_record(read_call(xid++));
        }
        const uint64_t before = conn.bytes_sent();
        auto st = conn.flush();
        if (conn.bytes_sent() > before) out.last_send_s = since();
        bool cut = st == TcpRecords::kClosed;
        if (st == TcpRecords::kBlocked) {
            // POLLRDHUP: the server shut the connection down, though its replies sit unread.
            pollfd p{conn.fd(), POLLOUT | POLLRDHUP, 0};
            if (::poll(&p, 1, 50) > 0 && (p.revents & (POLLERR | POLLHUP | POLLRDHUP))) cut = true;
        }
        if (cut) {
            out.cut_off = true;
            out.cut_after_s = since();
            break;
        }
    }
    out.calls_sent = conn.records_sent();
    out.bytes_sent = conn.bytes_sent();
    return out;
}

void raise_fd_limit() {
    rlimit r{};
    if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &r);
    }
}

}  // namespace rootfarm::bench
