#include "core/loop.h"

#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "core/log.h"

namespace rootfarm {

namespace {

// user_data of SQEs whose completion nobody waits for (cancellations).
constexpr uint64_t kIgnore = ~0ULL;

uint64_t pack(uint32_t slot, uint32_t generation) {
    return static_cast<uint64_t>(generation) << 32 | slot;
}

Result<int> make_socket(int type, Ipv4 addr, uint16_t port, bool reuse_port) {
    const int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno_error(errno);
    const int one = 1;
    // SO_REUSEADDR only on a named port (a quick restart, a wildcard DHCP socket beside
    // specific ones). On port 0 it lets Linux hand two UDP sockets the same ephemeral port
    // (udp_lib_lport_inuse skips sockets that both set it): two TFTP transfers then shared a
    // port, one got the other's ACKs and answered "Unknown transfer ID" (RFC 1350 §4).
    if (port != 0) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuse_port) ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    const sockaddr_in sa = make_sockaddr(addr, port);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
        const int err = errno;
        ::close(fd);
        return errno_error(err);
    }
    return fd;
}

// A free slot of a slab (reusing a freed one first); the slot's object stays where it is.
template <class T>
uint32_t take_slot(std::vector<std::unique_ptr<T>>& slab, std::vector<uint32_t>& free) {
    if (!free.empty()) {
        const uint32_t slot = free.back();
        free.pop_back();
        return slot;
    }
    slab.push_back(std::make_unique<T>());
    return static_cast<uint32_t>(slab.size() - 1);
}

uint16_t bound_port(int fd) {
    sockaddr_in sa{};
    socklen_t len = sizeof sa;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    return ntohs(sa.sin_port);
}

}  // namespace

struct Loop::Listener {
    int fd = -1;
    TcpHandler* handler = nullptr;
    uint64_t accept_op = 0;
};

// One submitted operation. Its slot and generation form the SQE's user_data, so a completion
// that arrives after its owner went away is recognised and dropped.
struct Loop::Op {
    enum class Kind : uint8_t {
        kFree,
        kAccept,
        kRecv,
        kSend,
        kUdpRecv,
        kUdpSend,
        kFile,
        kTick,
        kWake
    };

    Kind kind = Kind::kFree;
    uint32_t generation = 0;
    Listener* listener = nullptr;
    uint32_t conn_index = 0;
    uint32_t conn_generation = 0;
    UdpSocket* udp = nullptr;
    std::vector<uint8_t> data;
    size_t offset = 0;
    sockaddr_in addr{};
    msghdr msg{};
    iovec iov{};
    alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(in_pktinfo))]{};
    std::function<void(int)> done;
};

void Connection::consume(size_t n) {
    in_start_ += std::min(n, in_.size() - in_start_);
    if (in_start_ == in_.size()) {
        in_.clear();
        in_start_ = 0;
    } else if (in_start_ >= 65536 && in_start_ * 2 >= in_.size()) {
        in_.erase(in_.begin(), in_.begin() + static_cast<ptrdiff_t>(in_start_));
        in_start_ = 0;
    }
}

void Connection::send(std::vector<uint8_t> bytes) {
    if (closing_ || close_after_send_ || bytes.empty()) return;
    queued_bytes_ += bytes.size();
    out_.push_back(std::move(bytes));
    loop_->flush_send(*this);
}

void Connection::close(bool graceful) {
    if (closing_) return;
    if (graceful && (sending_ || !out_.empty())) {
        close_after_send_ = true;
        return;
    }
    loop_->begin_close(*this);
    loop_->maybe_free(*this);
}

void UdpSocket::send_to(const sockaddr_in& to, std::vector<uint8_t> bytes, int ifindex,
                        Ipv4 source) {
    if (closing_) return;
    Loop::Op op;
    op.kind = Loop::Op::Kind::kUdpSend;
    op.udp = this;
    op.data = std::move(bytes);
    op.addr = to;
    const uint64_t ud = loop_->new_op(std::move(op));
    Loop::Op& o = *loop_->ops_[static_cast<uint32_t>(ud)];
    o.iov = {o.data.data(), o.data.size()};
    o.msg.msg_name = &o.addr;
    o.msg.msg_namelen = sizeof o.addr;
    o.msg.msg_iov = &o.iov;
    o.msg.msg_iovlen = 1;
    if (ifindex != 0 || !source.is_any()) {
        // IP_PKTINFO on send picks the outgoing interface and source address (ip(7)), which a
        // DHCP server answering an unconfigured client needs.
        o.msg.msg_control = o.control;
        o.msg.msg_controllen = sizeof o.control;
        cmsghdr* cm = CMSG_FIRSTHDR(&o.msg);
        cm->cmsg_level = IPPROTO_IP;
        cm->cmsg_type = IP_PKTINFO;
        cm->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
        in_pktinfo info{};
        info.ipi_ifindex = ifindex;
        info.ipi_spec_dst = source.to_network();
        std::memcpy(CMSG_DATA(cm), &info, sizeof info);
    }
    io_uring_sqe* sqe = loop_->get_sqe();
    io_uring_prep_sendmsg(sqe, fd_, &o.msg, 0);
    io_uring_sqe_set_data64(sqe, ud);
    ++pending_ops_;
}

void UdpSocket::close() {
    if (closing_) return;
    closing_ = true;
    if (recv_op_ != 0) loop_->cancel_op(recv_op_);
    loop_->maybe_free(*this);
}

Loop::Loop(Options options) : options_(options), timers_(4096) {}

Result<std::unique_ptr<Loop>> Loop::create(Options options) {
    std::unique_ptr<Loop> loop(new Loop(options));
    if (auto r = loop->init(); !r) return r.error();
    return loop;
}

Result<void> Loop::init() {
    // DEFER_TASKRUN (kernel 6.1) runs completion work only when we wait, on our thread;
    // it requires SINGLE_ISSUER (6.0). Older kernels refuse them with EINVAL: fall back.
    io_uring_params params{};
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    int ret = io_uring_queue_init_params(options_.entries, &ring_, &params);
    if (ret == -EINVAL) {
        params = {};
        params.flags = IORING_SETUP_COOP_TASKRUN;  // 5.19
        ret = io_uring_queue_init_params(options_.entries, &ring_, &params);
    }
    if (ret == -EINVAL) {
        params = {};
        ret = io_uring_queue_init_params(options_.entries, &ring_, &params);
    }
    if (ret < 0) return errno_error(-ret);
    ring_ready_ = true;
    defer_taskrun_ = (params.flags & IORING_SETUP_DEFER_TASKRUN) != 0;

    // Provided-buffer ring (kernel 5.19). liburing 2.3 has no io_uring_setup_buf_ring, so the
    // ring memory is mapped and registered by hand.
    const unsigned count = options_.buffer_count;
    buf_ring_bytes_ = count * sizeof(io_uring_buf);
    void* mem = ::mmap(nullptr, buf_ring_bytes_, PROT_READ | PROT_WRITE,
                       MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) return errno_error(errno);
    buf_ring_ = static_cast<io_uring_buf_ring*>(mem);
    io_uring_buf_ring_init(buf_ring_);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<uint64_t>(mem);
    reg.ring_entries = count;
    reg.bgid = kBufferGroup;
    if (int r = io_uring_register_buf_ring(&ring_, &reg, 0); r < 0) return errno_error(-r);
    buffers_.reset(new uint8_t[static_cast<size_t>(count) * options_.buffer_size]);
    for (unsigned i = 0; i < count; ++i) {
        io_uring_buf_ring_add(buf_ring_, buffer(static_cast<uint16_t>(i)), options_.buffer_size,
                              static_cast<uint16_t>(i), io_uring_buf_ring_mask(count),
                              static_cast<int>(i));
    }
    io_uring_buf_ring_advance(buf_ring_, static_cast<int>(count));

    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) return errno_error(errno);
    Op op;
    op.kind = Op::Kind::kWake;
    const uint64_t ud = new_op(std::move(op));
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_read(sqe, wake_fd_, &wake_value_, sizeof wake_value_, 0);
    io_uring_sqe_set_data64(sqe, ud);

    tick_ts_.tv_sec = options_.tick.count() / 1000;
    tick_ts_.tv_nsec = (options_.tick.count() % 1000) * 1000000;
    start_ = std::chrono::steady_clock::now();
    return {};
}

Loop::~Loop() {
    shutdown_all();
    for (auto& l : listeners_)
        if (l->fd >= 0) ::close(l->fd);
    for (auto& c : conns_)
        if (c && c->fd_ >= 0) ::close(c->fd_);
    for (auto& s : udp_)
        if (s && s->fd_ >= 0) ::close(s->fd_);
    if (ring_ready_) {
        if (buf_ring_) io_uring_unregister_buf_ring(&ring_, kBufferGroup);
        io_uring_queue_exit(&ring_);
    }
    if (buf_ring_) ::munmap(buf_ring_, buf_ring_bytes_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
}

uint8_t* Loop::buffer(uint16_t bid) {
    return buffers_.get() + static_cast<size_t>(bid) * options_.buffer_size;
}

void Loop::recycle_buffer(uint16_t bid) {
    io_uring_buf_ring_add(buf_ring_, buffer(bid), options_.buffer_size, bid,
                          io_uring_buf_ring_mask(options_.buffer_count), 0);
    io_uring_buf_ring_advance(buf_ring_, 1);
}

io_uring_sqe* Loop::get_sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    while (sqe == nullptr) {
        io_uring_submit(&ring_);
        sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
}

uint64_t Loop::new_op(Op op) {
    const uint32_t slot = take_slot(ops_, free_ops_);
    const uint32_t generation = ops_[slot]->generation + 1;
    *ops_[slot] = std::move(op);
    ops_[slot]->generation = generation;
    return pack(slot, generation);
}

void Loop::free_op(uint32_t slot) {
    Op& op = *ops_[slot];
    const uint32_t generation = op.generation;
    op = Op{};
    op.generation = generation;
    free_ops_.push_back(slot);
}

void Loop::cancel_op(uint64_t user_data) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, user_data, 0);
    io_uring_sqe_set_data64(sqe, kIgnore);
}

void Loop::post(std::function<void()> fn) {
    {
        std::lock_guard lock(posted_mu_);
        posted_.push_back(std::move(fn));
    }
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

void Loop::stop() {
    stop_requested_ = true;
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

void Loop::drain_posted() {
    std::vector<std::function<void()>> batch;
    {
        std::lock_guard lock(posted_mu_);
        batch.swap(posted_);
    }
    for (auto& fn : batch) fn();
}

void Loop::run() {
    while (!stop_requested_) {
        drain_posted();
        if (stop_requested_) break;
        const int ret = io_uring_submit_and_wait(&ring_, 1);
        if (ret < 0 && ret != -EINTR && ret != -ETIME && ret != -EBUSY) {
            core_log().error("io_uring_submit_and_wait: {}", std::strerror(-ret));
            break;
        }
        io_uring_cqe* cqe;
        unsigned head;
        unsigned seen = 0;
        io_uring_for_each_cqe(&ring_, head, cqe) {
            on_completion(cqe);
            ++seen;
        }
        io_uring_cq_advance(&ring_, seen);
    }
    drain_posted();
    shutdown_all();
}

void Loop::shutdown_all() {
    if (!ring_ready_) return;
    // From here on nothing re-arms (the wake read, accepts, receives, the tick).
    stop_requested_ = true;
    for (auto& l : listeners_) {
        if (l->fd >= 0) {
            ::shutdown(l->fd, SHUT_RDWR);
            if (l->accept_op) cancel_op(l->accept_op);
        }
    }
    for (auto& c : conns_) {
        if (c && c->fd_ >= 0 && !c->closing_) {
            begin_close(*c);
            maybe_free(*c);
        }
    }
    for (auto& s : udp_)
        if (s) s->close();
    // Cancel what is still in flight (the wake read, the tick, file I/O) and wait, bounded,
    // for every completion so no buffer is written after we return.
    for (uint32_t slot = 0; slot < ops_.size(); ++slot) {
        if (ops_[slot]->kind != Op::Kind::kFree) cancel_op(pack(slot, ops_[slot]->generation));
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    auto busy = [&] {
        for (auto& op : ops_)
            if (op->kind != Op::Kind::kFree) return true;
        return false;
    };
    while (busy() && std::chrono::steady_clock::now() < deadline) {
        io_uring_submit(&ring_);
        __kernel_timespec ts{0, 50 * 1000 * 1000};
        io_uring_cqe* cqe = nullptr;
        if (io_uring_wait_cqe_timeout(&ring_, &cqe, &ts) != 0) continue;
        io_uring_cqe* c;
        unsigned head;
        unsigned seen = 0;
        io_uring_for_each_cqe(&ring_, head, c) {
            on_completion(c);
            ++seen;
        }
        io_uring_cq_advance(&ring_, seen);
    }
    for (auto& l : listeners_) {
        if (l->fd >= 0) ::close(l->fd);
        l->fd = -1;
    }
}

void Loop::on_completion(io_uring_cqe* cqe) {
    const uint64_t ud = io_uring_cqe_get_data64(cqe);
    if (ud == kIgnore) return;
    const uint32_t slot = static_cast<uint32_t>(ud);
    const uint32_t generation = static_cast<uint32_t>(ud >> 32);
    const bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
    if (slot >= ops_.size() || ops_[slot]->generation != generation ||
        ops_[slot]->kind == Op::Kind::kFree) {
        // Stale: only a provided buffer needs handing back.
        if (cqe->flags & IORING_CQE_F_BUFFER) {
            recycle_buffer(static_cast<uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT));
        }
        return;
    }
    Op& op = *ops_[slot];
    const int res = cqe->res;
    switch (op.kind) {
        case Op::Kind::kAccept:
            handle_accept(op, res, more);
            if (!more) free_op(slot);
            break;
        case Op::Kind::kRecv:
            handle_recv(op, res, cqe->flags, more);
            if (!more) free_op(slot);
            break;
        case Op::Kind::kSend:
            if (!handle_send(slot, op, res)) free_op(slot);
            break;
        case Op::Kind::kUdpRecv:
            handle_udp_recv(op, res, cqe->flags, more);
            if (!more) free_op(slot);
            break;
        case Op::Kind::kUdpSend:
            handle_udp_send(op, res);
            free_op(slot);
            break;
        case Op::Kind::kFile: {
            auto done = std::move(op.done);
            free_op(slot);
            if (done && !stop_requested_) done(res);
            break;
        }
        case Op::Kind::kTick:
            free_op(slot);
            tick_armed_ = false;
            handle_tick();
            break;
        case Op::Kind::kWake: {
            free_op(slot);
            if (stop_requested_) break;
            Op wake;
            wake.kind = Op::Kind::kWake;
            const uint64_t next = new_op(std::move(wake));
            io_uring_sqe* sqe = get_sqe();
            io_uring_prep_read(sqe, wake_fd_, &wake_value_, sizeof wake_value_, 0);
            io_uring_sqe_set_data64(sqe, next);
            break;
        }
        case Op::Kind::kFree:
            break;
    }
}

// --- TCP ---------------------------------------------------------------------------------

Result<uint16_t> Loop::listen_tcp(Ipv4 addr, uint16_t port, TcpHandler* handler) {
    auto fd = make_socket(SOCK_STREAM, addr, port, /*reuse_port=*/true);
    if (!fd) return fd.error();
    if (::listen(*fd, 1024) != 0) {
        const int err = errno;
        ::close(*fd);
        return errno_error(err);
    }
    auto l = std::make_unique<Listener>();
    l->fd = *fd;
    l->handler = handler;
    arm_accept(*l);
    listeners_.push_back(std::move(l));
    return bound_port(*fd);
}

void Loop::arm_accept(Listener& l) {
    // Multishot accept (kernel 5.19): one SQE accepts connections until it is cancelled.
    Op op;
    op.kind = Op::Kind::kAccept;
    op.listener = &l;
    l.accept_op = new_op(std::move(op));
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_multishot_accept(sqe, l.fd, nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, l.accept_op);
}

void Loop::handle_accept(Op& op, int res, bool more) {
    Listener& l = *op.listener;
    if (!more) l.accept_op = 0;
    if (res >= 0) {
        const int fd = res;
        if (stop_requested_) {
            ::close(fd);
            return;
        }
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        const uint32_t index = take_slot(conns_, free_conns_);
        const uint32_t generation = conns_[index]->generation_ + 1;
        conns_[index] = std::make_unique<Connection>();
        Connection& c = *conns_[index];
        c.loop_ = this;
        c.handler_ = l.handler;
        c.fd_ = fd;
        c.index_ = index;
        c.generation_ = generation;
        socklen_t len = sizeof c.peer_;
        ::getpeername(fd, reinterpret_cast<sockaddr*>(&c.peer_), &len);
        ++open_connections_;
        c.handler_->on_open(c);
        if (!c.closing_) arm_recv(c);
        maybe_free(c);
    } else if (res != -ECANCELED && res != -EINVAL && res != -EBADF) {
        core_log().warn("accept: {}", std::strerror(-res));
    }
    if (!more && l.fd >= 0 && !stop_requested_ && res != -ECANCELED && res != -EBADF) {
        arm_accept(l);
    }
}

Connection* Loop::find(ConnRef ref) {
    if (ref.index >= conns_.size()) return nullptr;
    Connection* c = conns_[ref.index].get();
    if (c->generation_ != ref.generation || c->fd_ < 0 || c->closing_) return nullptr;
    return c;
}

void Loop::arm_recv(Connection& c) {
    // Multishot recv (kernel 6.0) with buffers picked from the provided-buffer ring.
    Op op;
    op.kind = Op::Kind::kRecv;
    op.conn_index = c.index_;
    op.conn_generation = c.generation_;
    c.recv_op_ = new_op(std::move(op));
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_recv_multishot(sqe, c.fd_, nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kBufferGroup;
    io_uring_sqe_set_data64(sqe, c.recv_op_);
    c.recv_armed_ = true;
    ++c.pending_ops_;
}

void Loop::handle_recv(Op& op, int res, uint32_t flags, bool more) {
    Connection& c = *conns_[op.conn_index];
    const bool ours = c.generation_ == op.conn_generation;
    if (res > 0 && (flags & IORING_CQE_F_BUFFER)) {
        const auto bid = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
        if (ours && !c.closing_) {
            const uint8_t* data = buffer(bid);
            c.in_.insert(c.in_.end(), data, data + res);
        }
        recycle_buffer(bid);
    }
    if (!ours) return;
    if (!more) {
        c.recv_armed_ = false;
        c.recv_op_ = 0;
        --c.pending_ops_;
    }
    if (res > 0 && !c.closing_) c.handler_->on_data(c);
    if (c.closing_) {
        maybe_free(c);
        return;
    }
    if (res == 0 || (res < 0 && res != -ENOBUFS)) {
        // EOF or a socket error ends the connection.
        begin_close(c);
    } else if (!more) {
        // The kernel ends a multishot recv when the buffer ring runs dry (ENOBUFS); re-arm.
        arm_recv(c);
    }
    maybe_free(c);
}

void Loop::flush_send(Connection& c) {
    if (c.sending_ || c.out_.empty() || c.closing_) return;
    Op op;
    op.kind = Op::Kind::kSend;
    op.conn_index = c.index_;
    op.conn_generation = c.generation_;
    // Coalesce small queued replies into one send.
    op.data = std::move(c.out_.front());
    c.out_.pop_front();
    while (!c.out_.empty() && op.data.size() + c.out_.front().size() <= 256 * 1024) {
        auto& next = c.out_.front();
        op.data.insert(op.data.end(), next.begin(), next.end());
        c.out_.pop_front();
    }
    const uint64_t ud = new_op(std::move(op));
    Op& o = *ops_[static_cast<uint32_t>(ud)];
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_send(sqe, c.fd_, o.data.data(), o.data.size(), MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, ud);
    c.sending_ = true;
    ++c.pending_ops_;
}

bool Loop::handle_send(uint32_t slot, Op& op, int res) {
    Connection& c = *conns_[op.conn_index];
    --c.pending_ops_;
    c.sending_ = false;
    if (c.closing_ || res < 0) {
        if (!c.closing_) begin_close(c);
        maybe_free(c);
        return false;
    }
    op.offset += static_cast<size_t>(res);
    c.queued_bytes_ -= std::min(c.queued_bytes_, static_cast<size_t>(res));
    if (op.offset < op.data.size()) {
        // A short write: send the rest with the same op, so the order of bytes is kept.
        io_uring_sqe* sqe = get_sqe();
        io_uring_prep_send(sqe, c.fd_, op.data.data() + op.offset, op.data.size() - op.offset,
                           MSG_NOSIGNAL);
        io_uring_sqe_set_data64(sqe, pack(slot, op.generation));
        c.sending_ = true;
        ++c.pending_ops_;
        return true;
    }
    flush_send(c);
    if (!c.sending_ && c.out_.empty() && c.close_after_send_) begin_close(c);
    maybe_free(c);
    return false;
}

void Loop::begin_close(Connection& c) {
    if (c.closing_) return;
    c.closing_ = true;
    --open_connections_;
    c.handler_->on_close(c);
    c.state.reset();
    c.out_.clear();
    c.queued_bytes_ = 0;
    // shutdown() ends the multishot recv and any pending send; the descriptor is closed once
    // their completions are in (maybe_free), so its number cannot be reused under them.
    ::shutdown(c.fd_, SHUT_RDWR);
    if (c.recv_op_ != 0) cancel_op(c.recv_op_);
}

void Loop::maybe_free(Connection& c) {
    if (!c.closing_ || c.pending_ops_ > 0 || c.fd_ < 0) return;
    ::close(c.fd_);
    c.fd_ = -1;
    c.in_.clear();
    c.in_.shrink_to_fit();
    c.in_start_ = 0;
    free_conns_.push_back(c.index_);
}

// --- UDP ---------------------------------------------------------------------------------

Result<UdpSocket*> Loop::open_udp(Ipv4 addr, uint16_t port, UdpHandler* handler,
                                  const UdpOptions& options) {
    auto fd = make_socket(SOCK_DGRAM, addr, port, options.reuse_port);
    if (!fd) return fd.error();
    const int one = 1;
    // IP_PKTINFO tells which local address and interface a datagram came in on (ip(7)).
    ::setsockopt(*fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
    if (options.broadcast) ::setsockopt(*fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
    if (!options.bind_device.empty()) {
        if (::setsockopt(*fd, SOL_SOCKET, SO_BINDTODEVICE, options.bind_device.c_str(),
                         static_cast<socklen_t>(options.bind_device.size())) != 0) {
            const int err = errno;
            ::close(*fd);
            return errno_error(err);
        }
    }
    auto s = std::make_unique<UdpSocket>();
    s->loop_ = this;
    s->handler_ = handler;
    s->fd_ = *fd;
    s->local_port_ = bound_port(*fd);
    s->recv_msg_.msg_namelen = sizeof(sockaddr_in);
    s->recv_msg_.msg_controllen = CMSG_SPACE(sizeof(in_pktinfo));
    UdpSocket* raw = s.get();
    udp_.push_back(std::move(s));
    arm_udp_recv(*raw);
    return raw;
}

void Loop::arm_udp_recv(UdpSocket& s) {
    // Multishot recvmsg (kernel 6.0): each completion's buffer holds an io_uring_recvmsg_out
    // header, the source address, the control messages, then the payload.
    Op op;
    op.kind = Op::Kind::kUdpRecv;
    op.udp = &s;
    s.recv_op_ = new_op(std::move(op));
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_recvmsg_multishot(sqe, s.fd_, &s.recv_msg_, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kBufferGroup;
    io_uring_sqe_set_data64(sqe, s.recv_op_);
    ++s.pending_ops_;
}

void Loop::handle_udp_recv(Op& op, int res, uint32_t flags, bool more) {
    UdpSocket& s = *op.udp;
    if (!more) {
        s.recv_op_ = 0;
        --s.pending_ops_;
    }
    if (res > 0 && (flags & IORING_CQE_F_BUFFER)) {
        const auto bid = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
        if (!s.closing_) {
            auto* out = io_uring_recvmsg_validate(buffer(bid), res, &s.recv_msg_);
            // A datagram larger than the buffer arrives truncated: drop it.
            if (out != nullptr && !(out->flags & MSG_TRUNC) &&
                out->namelen >= sizeof(sockaddr_in)) {
                Datagram d;
                std::memcpy(&d.from, io_uring_recvmsg_name(out), sizeof d.from);
                for (cmsghdr* cm = io_uring_recvmsg_cmsg_firsthdr(out, &s.recv_msg_); cm;
                     cm = io_uring_recvmsg_cmsg_nexthdr(out, &s.recv_msg_, cm)) {
                    if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
                        in_pktinfo info;
                        std::memcpy(&info, CMSG_DATA(cm), sizeof info);
                        d.local_addr = Ipv4::from_network(info.ipi_addr);
                        d.ifindex = info.ipi_ifindex;
                    }
                }
                auto* payload =
                    static_cast<const uint8_t*>(io_uring_recvmsg_payload(out, &s.recv_msg_));
                const auto len = io_uring_recvmsg_payload_length(out, res, &s.recv_msg_);
                d.data = {payload, len};
                s.handler_->on_datagram(s, d);
            }
        }
        recycle_buffer(bid);
    }
    if (!more && !s.closing_ && !stop_requested_ && res != -ECANCELED && res != -EBADF) {
        arm_udp_recv(s);
    }
    maybe_free(s);
}

void Loop::handle_udp_send(Op& op, int res) {
    UdpSocket& s = *op.udp;
    --s.pending_ops_;
    if (res < 0 && res != -ECANCELED) {
        core_log().debug("udp send to {}: {}", to_string(op.addr), std::strerror(-res));
    }
    maybe_free(s);
}

void Loop::maybe_free(UdpSocket& s) {
    if (!s.closing_ || s.pending_ops_ > 0 || s.fd_ < 0) return;
    ::close(s.fd_);
    s.fd_ = -1;
    for (auto it = udp_.begin(); it != udp_.end(); ++it) {
        if (it->get() == &s) {
            // Destroyed after the current completion is handled: the caller still holds &s.
            post([owned = std::shared_ptr<UdpSocket>(std::move(*it))] {});
            udp_.erase(it);
            break;
        }
    }
}

// --- Timers ------------------------------------------------------------------------------

TimerId Loop::add_timer(std::chrono::milliseconds delay, std::function<void()> fn) {
    // Round up so a timer never fires early; one extra tick covers the partial current tick.
    const uint64_t ticks = (delay.count() + options_.tick.count() - 1) / options_.tick.count() + 1;
    // The tick is not armed while no timer is pending, so the wheel's clock stood still; bring
    // it to now, or handle_tick's catch-up would fire this timer at once (seen as a TFTP
    // transfer giving up after five retransmits in 9 ms after iPXE's idle 13 s).
    const uint64_t now = current_tick();
    timers_.skip_to(now);
    // After a late tick (the thread was busy: a slow fsync, a burst of work) handle_tick
    // catches the wheel up one tick at a time. A timer added meanwhile, by a callback of that
    // catch-up or by work done before it, must count from wall time, not from the wheel's
    // lagging clock, or it fires in the same catch-up: a TFTP transfer re-armed its
    // retransmit timer there and used up all its retries in one burst.
    const uint64_t lag = now > timers_.now_tick() ? now - timers_.now_tick() : 0;
    const TimerId id = timers_.add(ticks + lag, std::move(fn));
    arm_tick();
    return id;
}

bool Loop::cancel_timer(TimerId id) {
    return timers_.cancel(id);
}

void Loop::arm_tick() {
    if (tick_armed_ || stop_requested_) return;
    Op op;
    op.kind = Op::Kind::kTick;
    const uint64_t ud = new_op(std::move(op));
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_timeout(sqe, &tick_ts_, 0, 0);
    io_uring_sqe_set_data64(sqe, ud);
    tick_armed_ = true;
}

uint64_t Loop::current_tick() const {
    return static_cast<uint64_t>((std::chrono::steady_clock::now() - start_) / options_.tick);
}

void Loop::handle_tick() {
    if (stop_requested_) return;
    // Catch up with wall time, so a late tick does not make every timer late.
    const uint64_t target = current_tick();
    do {
        timers_.advance();
    } while (timers_.now_tick() < target && timers_.pending() > 0);
    if (timers_.pending() > 0) arm_tick();
}

// --- Files -------------------------------------------------------------------------------

void Loop::read_at(int fd, uint64_t offset, std::span<uint8_t> buf, std::function<void(int)> done) {
    Op op;
    op.kind = Op::Kind::kFile;
    op.done = std::move(done);
    const uint64_t ud = new_op(std::move(op));
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_read(sqe, fd, buf.data(), static_cast<unsigned>(buf.size()), offset);
    io_uring_sqe_set_data64(sqe, ud);
}

void Loop::write_at(int fd, uint64_t offset, std::span<const uint8_t> buf,
                    std::function<void(int)> done) {
    Op op;
    op.kind = Op::Kind::kFile;
    op.done = std::move(done);
    const uint64_t ud = new_op(std::move(op));
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_write(sqe, fd, buf.data(), static_cast<unsigned>(buf.size()), offset);
    io_uring_sqe_set_data64(sqe, ud);
}

void Loop::fsync(int fd, bool datasync, std::function<void(int)> done) {
    Op op;
    op.kind = Op::Kind::kFile;
    op.done = std::move(done);
    const uint64_t ud = new_op(std::move(op));
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_fsync(sqe, fd, datasync ? IORING_FSYNC_DATASYNC : 0);
    io_uring_sqe_set_data64(sqe, ud);
}

}  // namespace rootfarm
