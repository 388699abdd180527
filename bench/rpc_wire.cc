#include "bench/rpc_wire.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>

namespace rootfarm::bench {

void put_u32(std::vector<uint8_t>& b, uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}

std::vector<uint8_t> rpc_call(uint32_t xid, uint32_t rpcvers, uint32_t prog, uint32_t vers,
                              uint32_t proc, uint32_t cred_flavor) {
    std::vector<uint8_t> b;
    for (uint32_t v : {xid, 0u /* CALL */, rpcvers, prog, vers, proc, cred_flavor}) put_u32(b, v);
    if (cred_flavor == 1) {
        // authsys_parms (RFC 5531 appendix A): stamp, machinename<255>, uid, gid, gids<16>.
        put_u32(b, 20);
        for (int i = 0; i < 5; ++i) put_u32(b, 0);
    } else {
        put_u32(b, 0);
    }
    put_u32(b, 0);  // verifier: AUTH_NONE, empty
    put_u32(b, 0);
    return b;
}

Result<int> tcp_connect(Ipv4 source, const sockaddr_in& to, int rcvbuf) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno_error(errno);
    auto fail = [fd](int e) -> Result<int> {
        ::close(fd);
        return errno_error(e);
    };
    if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in local = make_sockaddr(source, 0);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
        return fail(errno);
    }
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
        if (errno != EINPROGRESS) return fail(errno);
        pollfd p{fd, POLLOUT, 0};
        if (::poll(&p, 1, 1000) != 1) return fail(ETIMEDOUT);
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) return fail(err);
    }
    return fd;
}

Result<void> TcpRecords::connect(Ipv4 source, const sockaddr_in& to, int rcvbuf) {
    close();
    auto fd = tcp_connect(source, to, rcvbuf);
    if (!fd) return fd.error();
    adopt(*fd);
    return {};
}

void TcpRecords::adopt(int fd) {
    close();
    fd_ = fd;
}

void TcpRecords::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buf_.clear();
    ends_.clear();
    off_ = next_end_ = 0;
    mark_have_ = 0;
    frag_left_ = 0;
}

void TcpRecords::queue_record(std::span<const uint8_t> msg) {
    put_u32(buf_, 0x80000000u | static_cast<uint32_t>(msg.size()));
    buf_.insert(buf_.end(), msg.begin(), msg.end());
    ends_.push_back(buf_.size());
}

TcpRecords::Status TcpRecords::flush() {
    while (off_ < buf_.size()) {
        ssize_t n =
            ::send(fd_, buf_.data() + off_, buf_.size() - off_, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return kBlocked;
            return kClosed;  // EPIPE, ECONNRESET: the server is gone from this connection
        }
        off_ += static_cast<size_t>(n);
        bytes_ += static_cast<uint64_t>(n);
        while (next_end_ < ends_.size() && ends_[next_end_] <= off_) {
            ++next_end_;
            ++sent_;
        }
    }
    buf_.clear();
    ends_.clear();
    off_ = next_end_ = 0;
    return kIdle;
}

TcpRecords::Status TcpRecords::read_replies() {
    std::array<uint8_t, 65536> in;
    for (;;) {
        ssize_t n = ::recv(fd_, in.data(), in.size(), MSG_DONTWAIT);
        if (n == 0) return kClosed;
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return kIdle;
            return kClosed;
        }
        size_t i = 0;
        while (i < static_cast<size_t>(n)) {
            if (mark_have_ < 4) {
                mark_[mark_have_++] = in[i++];
                if (mark_have_ < 4) continue;
                uint32_t v = uint32_t(mark_[0]) << 24 | uint32_t(mark_[1]) << 16 |
                             uint32_t(mark_[2]) << 8 | mark_[3];
                last_ = v >> 31;
                frag_left_ = v & 0x7fffffffu;
            }
            size_t take = std::min<size_t>(frag_left_, static_cast<size_t>(n) - i);
            i += take;
            frag_left_ -= static_cast<uint32_t>(take);
            if (frag_left_ == 0) {
                if (last_) ++received_;
                mark_have_ = 0;
            }
        }
    }
}

}  // namespace rootfarm::bench
