#include "bench/udp.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>

namespace rootfarm::bench {

UdpClient::~UdpClient() {
    if (fd_ >= 0) ::close(fd_);
}

Result<UdpClient> UdpClient::bind(Ipv4 addr, uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno_error(errno);
    UdpClient c(fd);
    int one = 1;
    // Only on a named port: on port 0 it lets Linux give two sockets one ephemeral port.
    if (port != 0) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int buf = 1 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    sockaddr_in sa = make_sockaddr(addr, port);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return errno_error(errno);
    return c;
}

Result<void> UdpClient::send_to(const sockaddr_in& to, std::span<const uint8_t> data) {
    ssize_t n = ::sendto(fd_, data.data(), data.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                         sizeof to);
    if (n < 0) return errno_error(errno);
    return {};
}

Result<size_t> UdpClient::recv_from(std::span<uint8_t> buf, sockaddr_in& from,
                                    std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return std::errc::timed_out;
        pollfd p{fd_, POLLIN, 0};
        int r = ::poll(&p, 1, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return errno_error(errno);
        if (r == 0) return std::errc::timed_out;
        socklen_t len = sizeof from;
        ssize_t n =
            ::recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n < 0) return errno_error(errno);
        return static_cast<size_t>(n);
    }
}

Result<size_t> UdpClient::recv_now(std::span<uint8_t> buf, sockaddr_in& from) {
    for (;;) {
        socklen_t len = sizeof from;
        ssize_t n = ::recvfrom(fd_, buf.data(), buf.size(), MSG_DONTWAIT,
                               reinterpret_cast<sockaddr*>(&from), &len);
        if (n >= 0) return static_cast<size_t>(n);
        if (errno == EINTR) continue;
        if (errno == EWOULDBLOCK) return std::errc::resource_unavailable_try_again;
        return errno_error(errno);
    }
}

UdpPoller::UdpPoller() : fd_(::epoll_create1(EPOLL_CLOEXEC)) {}

UdpPoller::~UdpPoller() {
    if (fd_ >= 0) ::close(fd_);
}

void UdpPoller::add(const UdpClient& sock, uint64_t id) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = id;
    ::epoll_ctl(fd_, EPOLL_CTL_ADD, sock.fd(), &ev);
}

void UdpPoller::remove(const UdpClient& sock) {
    ::epoll_ctl(fd_, EPOLL_CTL_DEL, sock.fd(), nullptr);
}

void UdpPoller::watch(int fd, uint32_t events, uint64_t id) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = id;
    if (::epoll_ctl(fd_, EPOLL_CTL_MOD, fd, &ev) != 0 && errno == ENOENT) {
        ::epoll_ctl(fd_, EPOLL_CTL_ADD, fd, &ev);
    }
}

void UdpPoller::unwatch(int fd) {
    ::epoll_ctl(fd_, EPOLL_CTL_DEL, fd, nullptr);
}

bool UdpPoller::wait_events(std::chrono::steady_clock::time_point deadline,
                            const std::function<void(uint64_t id, uint32_t events)>& ready) {
    std::array<epoll_event, 256> events;
    const auto left = std::max<int64_t>(
        0, std::chrono::ceil<std::chrono::nanoseconds>(deadline - std::chrono::steady_clock::now())
               .count());
    const timespec ts{static_cast<time_t>(left / 1'000'000'000),
                      static_cast<long>(left % 1'000'000'000)};
    int n = ::epoll_pwait2(fd_, events.data(), static_cast<int>(events.size()), &ts, nullptr);
    if (n < 0 && errno == ENOSYS) {
        n = ::epoll_wait(fd_, events.data(), static_cast<int>(events.size()),
                         static_cast<int>((left + 999'999) / 1'000'000));
    }
    if (n < 0) return errno == EINTR;
    for (int i = 0; i < n; ++i) ready(events[i].data.u64, events[i].events);
    return true;
}

bool UdpPoller::wait(std::chrono::steady_clock::time_point deadline,
                     const std::function<void(uint64_t id)>& ready) {
    std::array<epoll_event, 64> events;
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())
            .count();
    const int n = ::epoll_wait(fd_, events.data(), static_cast<int>(events.size()),
                               static_cast<int>(std::max<int64_t>(left, 0)));
    if (n < 0) return errno == EINTR;
    for (int i = 0; i < n; ++i) ready(events[i].data.u64);
    return true;
}

}  // namespace rootfarm::bench
