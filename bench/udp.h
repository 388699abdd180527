#pragma once

#include <netinet/in.h>

#include <chrono>
#include <cstdint>
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

    // port 0 = ephemeral. SO_REUSEADDR so several Pis may share a relay port on distinct
    // addresses beside a server bound to the wildcard address.
    static Result<UdpClient> bind(Ipv4 addr, uint16_t port);
    Result<void> send_to(const sockaddr_in& to, std::span<const uint8_t> data);
    // Bytes received, or errc::timed_out.
    Result<size_t> recv_from(std::span<uint8_t> buf, sockaddr_in& from,
                             std::chrono::milliseconds timeout);

  private:
    explicit UdpClient(int fd) : fd_(fd) {}
    int fd_ = -1;
};

}  // namespace rootfarm::bench
