// Socket set-up shared by the Loop's TCP listeners (loop_tcp.cc) and UDP sockets (loop_udp.cc).

#include <sys/socket.h>
#include <unistd.h>

#include "core/loop_internal.h"

namespace rootfarm::loop_internal {

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

uint16_t bound_port(int fd) {
    sockaddr_in sa{};
    socklen_t len = sizeof sa;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    return ntohs(sa.sin_port);
}

}  // namespace rootfarm::loop_internal
