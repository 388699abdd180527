// The Loop's UDP sockets: multishot recvmsg with IP_PKTINFO, sendmsg with a chosen source.

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "core/log.h"
#include "core/loop_internal.h"

namespace rootfarm {

using loop_internal::bound_port;
using loop_internal::make_socket;

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

}  // namespace rootfarm
