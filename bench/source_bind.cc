#include "bench/source_bind.h"

#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace rootfarm::bench {

namespace {
thread_local uint32_t t_source = 0;  // network byte order
}

void set_thread_source(Ipv4 addr) {
    t_source = addr.to_network().s_addr;
}

uint32_t thread_source() {
    return t_source;
}

}  // namespace rootfarm::bench

// Interposers, exported from the executable so libnfs's calls resolve here first.
extern "C" {

int bind(int fd, const sockaddr* addr, socklen_t len) {
    using Fn = int (*)(int, const sockaddr*, socklen_t);
    static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "bind"));
    uint32_t src = rootfarm::bench::thread_source();
    if (src && addr && addr->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
        sockaddr_in sa = *reinterpret_cast<const sockaddr_in*>(addr);
        // libnfs binds reserved ports on the wildcard address when root (as the kernel does).
        if (sa.sin_addr.s_addr == htonl(INADDR_ANY)) {
            sa.sin_addr.s_addr = src;
            return real(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
        }
    }
    return real(fd, addr, len);
}

int connect(int fd, const sockaddr* addr, socklen_t len) {
    using Fn = int (*)(int, const sockaddr*, socklen_t);
    static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "connect"));
    uint32_t src = rootfarm::bench::thread_source();
    if (src && addr && addr->sa_family == AF_INET) {
        sockaddr_in local{};
        socklen_t l = sizeof local;
        if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &l) == 0 &&
            local.sin_family == AF_INET && local.sin_port == 0) {
            local.sin_addr.s_addr = src;
            bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local);
        }
    }
    return real(fd, addr, len);
}
}
