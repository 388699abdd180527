#pragma once

// A deliberately simple TFTP client for tests: plain blocking UDP with bounded waits, so a test
// can lose, repeat or reorder packets on purpose. Loopback only.

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tftpd/packet.h"

namespace rootfarm::tftpd::testing {

class RawClient {
  public:
    explicit RawClient(const char* bind_addr = "127.0.0.1") {
        fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        ::inet_pton(AF_INET, bind_addr, &a.sin_addr);
        ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        socklen_t len = sizeof local_;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&local_), &len);
    }
    ~RawClient() {
        if (fd_ >= 0) ::close(fd_);
    }
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;

    bool ok() const { return ok_; }
    const sockaddr_in& local() const { return local_; }

    void send_to(const sockaddr_in& to, const std::vector<uint8_t>& bytes) {
        ::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                 sizeof to);
    }
    // Sends to where the last packet came from (the server's transfer port).
    void reply(const std::vector<uint8_t>& bytes) { send_to(last_from_, bytes); }

    // The next datagram, or nullopt after `wait`.
    std::optional<std::vector<uint8_t>> recv(std::chrono::milliseconds wait) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return std::nullopt;
        std::vector<uint8_t> buf(65536);
        socklen_t len = sizeof last_from_;
        ssize_t n = ::recvfrom(fd_, buf.data(), buf.size(), 0,
                               reinterpret_cast<sockaddr*>(&last_from_), &len);
        if (n < 0) return std::nullopt;
        buf.resize(static_cast<size_t>(n));
        return buf;
    }
    const sockaddr_in& last_from() const { return last_from_; }

  private:
    int fd_ = -1;
    bool ok_ = false;
    sockaddr_in local_{};
    sockaddr_in last_from_{};
};

// Polls `pred` for up to 10 s: for what the server does a moment after a packet.
template <class F>
bool eventually(F pred) {
    for (int i = 0; i < 1000; ++i) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

// Reproducible incompressible test data.
inline std::string random_bytes(size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    return s;
}

// The bytes a DATA packet carries.
inline std::string_view payload_of(const std::vector<uint8_t>& p) {
    if (p.size() < 4) return {};
    return {reinterpret_cast<const char*>(p.data()) + 4, p.size() - 4};
}

inline uint16_t opcode_of(const std::vector<uint8_t>& p) {
    return p.size() >= 2 ? static_cast<uint16_t>(p[0] << 8 | p[1]) : 0;
}
inline uint16_t block_of(const std::vector<uint8_t>& p) {
    return p.size() >= 4 ? static_cast<uint16_t>(p[2] << 8 | p[3]) : 0;
}
inline sockaddr_in loopback(uint16_t port, const char* addr = "127.0.0.1") {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, addr, &a.sin_addr);
    return a;
}

// Receives a whole file with the given window, acknowledging the last block of every window
// (RFC 7440) and rolling block numbers over past 65535. Returns nullopt on an ERROR or a
// timeout. The first packet (OACK or DATA 1) must not have been read yet.
inline std::optional<std::string> receive_file(
    RawClient& c, size_t blksize, size_t window, bool expect_oack,
    std::chrono::milliseconds wait = std::chrono::milliseconds(5000)) {
    if (expect_oack) {
        auto oack = c.recv(wait);
        if (!oack || opcode_of(*oack) != static_cast<uint16_t>(Opcode::kOack)) return std::nullopt;
        c.reply(encode_ack(0));
    }
    std::string out;
    uint16_t expected = 1;
    size_t in_window = 0;
    for (;;) {
        auto p = c.recv(wait);
        if (!p || opcode_of(*p) != static_cast<uint16_t>(Opcode::kData)) return std::nullopt;
        if (block_of(*p) != expected) continue;  // a retransmit of something we already have
        size_t len = p->size() - 4;
        out.append(payload_of(*p));
        bool last = len < blksize;
        if (++in_window == window || last) {
            c.reply(encode_ack(expected));
            in_window = 0;
        }
        ++expected;
        if (last) return out;
    }
}

}  // namespace rootfarm::tftpd::testing
