#pragma once

#include <netinet/in.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>

#include "core/net.h"
#include "core/result.h"

namespace rootfarm::bench {

// A blocking UDP socket bound to one simulated Pi's address, with bounded receives.
class UdpClient {
  public:
    UdpClient() = default;
    ~UdpClient();
    UdpClient(UdpClient&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    UdpClient& operator=(UdpClient&&) = delete;

    // port 0 = ephemeral. A named port gets SO_REUSEADDR, so several Pis may share a relay
    // port on distinct addresses beside a server bound to the wildcard address.
    static Result<UdpClient> bind(Ipv4 addr, uint16_t port);
    Result<void> send_to(const sockaddr_in& to, std::span<const uint8_t> data);
    // Bytes received, or errc::timed_out.
    Result<size_t> recv_from(std::span<uint8_t> buf, sockaddr_in& from,
                             std::chrono::milliseconds timeout);

    // A datagram already queued, or errc::resource_unavailable_try_again; never blocks.
    Result<size_t> recv_now(std::span<uint8_t> buf, sockaddr_in& from);
    int fd() const { return fd_; }

  private:
    explicit UdpClient(int fd) : fd_(fd) {}
    int fd_ = -1;
};

// Many sockets watched from one thread (epoll): the sockets of the simulated Pis of a micro
// benchmark or a storm, so the client costs a receive and a send per packet rather than a thread
// wake-up.
class UdpPoller {
  public:
    UdpPoller();
    ~UdpPoller();
    UdpPoller(const UdpPoller&) = delete;
    UdpPoller& operator=(const UdpPoller&) = delete;

    bool ok() const { return fd_ >= 0; }
    // Watches `sock` (which must stay open until remove()) under `id`.
    void add(const UdpClient& sock, uint64_t id);
    void remove(const UdpClient& sock);
    // Any descriptor (a storm Pi's NFS connection): `events` are EPOLLIN/EPOLLOUT. watch() on a
    // descriptor already watched changes its events and id. The descriptor must be unwatched
    // before it is closed: a new socket may get its number.
    void watch(int fd, uint32_t events, uint64_t id);
    void unwatch(int fd);
    // Waits until a watched socket is readable or `deadline` passes; calls ready(id) for each
    // readable one. False on an epoll error.
    bool wait(std::chrono::steady_clock::time_point deadline,
              const std::function<void(uint64_t id)>& ready);
    // As wait(), with the events (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP) of each, to the
    // microsecond (epoll_pwait2, Linux 5.11) where wait() rounds up to milliseconds.
    bool wait_events(std::chrono::steady_clock::time_point deadline,
                     const std::function<void(uint64_t id, uint32_t events)>& ready);

  private:
    int fd_ = -1;
};

}  // namespace rootfarm::bench
