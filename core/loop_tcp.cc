// The Loop's TCP side: listeners with multishot accept, connections with multishot recv into
// provided buffers, and each connection's ordered send queue.

#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "core/log.h"
#include "core/loop_internal.h"

namespace rootfarm {

using loop_internal::bound_port;
using loop_internal::make_socket;
using loop_internal::pack;
using loop_internal::take_slot;

void Connection::consume(size_t n) {
    in_start_ += std::min(n, in_.size() - in_start_);
    if (in_start_ == in_.size()) {
        in_.clear();
        in_start_ = 0;
    } else if (in_start_ >= 65536 && in_start_ * 2 >= in_.size()) {
        in_.erase(in_.begin(), in_.begin() + static_cast<ptrdiff_t>(in_start_));
        in_start_ = 0;
    }
    if (read_paused_ && input().size() <= kMaxConnectionInput / 2) {
        read_paused_ = false;
        // A recv still being cancelled re-arms when its last completion arrives.
        if (!recv_armed_ && !closing_) loop_->arm_recv(*this);
    }
}

void Connection::send(std::vector<uint8_t> bytes) {
    if (closing_ || close_after_send_ || bytes.empty()) return;
    queued_bytes_ += bytes.size();
    out_.push_back({std::move(bytes), {}});
    loop_->flush_send(*this);
}

void Connection::send_file(std::vector<uint8_t> head, FileRange file, std::vector<uint8_t> tail) {
    if (closing_ || close_after_send_) return;
    queued_bytes_ += head.size() + file.length + tail.size();
    if (!head.empty()) out_.push_back({std::move(head), {}});
    if (file.length > 0) out_.push_back({{}, std::move(file)});
    if (!tail.empty()) out_.push_back({std::move(tail), {}});
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
    // Non-blocking: send_file splices into the socket from this thread (loop_splice.cc).
    // io_uring's own sends and receives on it wait by polling, as on any socket.
    io_uring_prep_multishot_accept(sqe, l.fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
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
    if (res == 0 || (res < 0 && res != -ENOBUFS && res != -ECANCELED)) {
        // EOF or a socket error ends the connection.
        begin_close(c);
        maybe_free(c);
        return;
    }
    if (!c.read_paused_ && c.input().size() >= kMaxConnectionInput) {
        c.read_paused_ = true;
        if (more) cancel_op(c.recv_op_);
    }
    // The kernel ends a multishot recv when the buffer ring runs dry (ENOBUFS), and we end it
    // to pause reading (ECANCELED): re-arm unless still paused.
    if (!more && !c.read_paused_) arm_recv(c);
    maybe_free(c);
}

void Loop::flush_send(Connection& c) {
    if (c.sending_ || c.out_.empty() || c.closing_) return;
    if (c.out_.front().file.fd >= 0) {
        start_splice(c);
        return;
    }
    Op op;
    op.kind = Op::Kind::kSend;
    op.conn_index = c.index_;
    op.conn_generation = c.generation_;
    // Coalesce small queued replies into one send.
    op.data = std::move(c.out_.front().bytes);
    c.out_.pop_front();
    while (!c.out_.empty() && c.out_.front().file.fd < 0 &&
           op.data.size() + c.out_.front().bytes.size() <= 256 * 1024) {
        auto& next = c.out_.front().bytes;
        op.data.insert(op.data.end(), next.begin(), next.end());
        c.out_.pop_front();
    }
    // Bytes a file range follows (a READ reply's header) wait for its first pages rather than
    // leave as a segment of their own (TCP_NODELAY is on): MSG_MORE, as sendfile(2) does.
    op.send_flags = MSG_NOSIGNAL;
    if (!c.out_.empty()) op.send_flags |= MSG_MORE;
    const uint64_t ud = new_op(std::move(op));
    Op& o = *ops_[static_cast<uint32_t>(ud)];
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_send(sqe, c.fd_, o.data.data(), o.data.size(), o.send_flags);
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
                           op.send_flags);
        io_uring_sqe_set_data64(sqe, pack(slot, op.generation));
        c.sending_ = true;
        ++c.pending_ops_;
        return true;
    }
    end_send(c);
    maybe_free(c);
    return false;
}

void Loop::end_send(Connection& c) {
    flush_send(c);
    if (!c.sending_ && c.out_.empty() && c.close_after_send_) begin_close(c);
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
    // Only now: a splice still in flight looks its descriptors up when an io-wq worker runs it.
    for (int& p : c.pipe_) {
        if (p >= 0) ::close(p);
        p = -1;
    }
    c.splicing_ = {};
    c.in_.clear();
    c.in_.shrink_to_fit();
    c.in_start_ = 0;
    free_conns_.push_back(c.index_);
}

}  // namespace rootfarm
