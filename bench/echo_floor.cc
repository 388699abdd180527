#include "bench/echo_floor.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

#include "bench/rpc_wire.h"

namespace rootfarm::bench {

namespace {

// Reads (or writes) exactly buf.size() bytes; false on EOF, error or a timed-out wait.
bool read_all(int fd, std::vector<uint8_t>& buf) {
    size_t done = 0;
    while (done < buf.size()) {
        const ssize_t n = ::read(fd, buf.data() + done, buf.size() - done);
        if (n <= 0) return false;
        done += static_cast<size_t>(n);
    }
    return true;
}

bool write_all(int fd, const std::vector<uint8_t>& buf) {
    size_t done = 0;
    while (done < buf.size()) {
        const ssize_t n = ::send(fd, buf.data() + done, buf.size() - done, MSG_NOSIGNAL);
        if (n <= 0) return false;
        done += static_cast<size_t>(n);
    }
    return true;
}

void no_delay(int fd) {
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace

Result<int> echo_listen(Ipv4 addr, uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno_error(errno);
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    const sockaddr_in sa = make_sockaddr(addr, port);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0 ||
        ::listen(fd, 128) != 0) {
        const int err = errno;
        ::close(fd);
        return errno_error(err);
    }
    return fd;
}

void echo_serve(int listen_fd, EchoSizes sizes) {
    for (;;) {
        const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return;
        }
        no_delay(fd);
        std::thread([fd, sizes] {
            std::vector<uint8_t> call(sizes.call), reply(sizes.reply, 0);
            while (read_all(fd, call) && write_all(fd, reply)) {
            }
            ::close(fd);
        }).detach();
    }
}

Result<uint64_t> echo_micro(Ipv4 source, const sockaddr_in& server, EchoSizes sizes,
                            double seconds) {
    Result<int> connected = tcp_connect(source, server, 0);
    if (!connected) return connected.error();
    const int fd = *connected;
    auto fail = [fd](int err) -> Result<uint64_t> {
        ::close(fd);
        return errno_error(err);
    };
    // Blocking from here, each wait bounded.
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    const timeval bound{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof bound);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &bound, sizeof bound);
    no_delay(fd);
    std::vector<uint8_t> call(sizes.call, 0), reply(sizes.reply);
    uint64_t done = 0;
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
        errno = 0;
        // A reply cut short by the server's close leaves errno at 0.
        if (!write_all(fd, call) || !read_all(fd, reply)) return fail(errno ? errno : ECONNRESET);
        ++done;
    }
    ::close(fd);
    return done;
}

}  // namespace rootfarm::bench
