#pragma once

// Drops a flooding source's datagrams in the kernel, before they wake a service: a classic BPF
// socket filter (socket(7) SO_ATTACH_FILTER, Documentation/networking/filter.rst) on the
// service's UDP sockets, matching the sources held right now. Receiving a datagram only to
// drop it in user space costs the server a wake-up, a copy and a completion each; at a few
// hundred thousand a second that is the quiet Pis' latency.
//
// A source is held for `hold` at a time. Then its datagrams reach the service again, which
// charges them to the source's budget as before and holds it again if it is still over.

#include <linux/filter.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <thread>
#include <vector>

#include "core/mutex.h"
#include "core/thread_annotations.h"

namespace rootfarm {

class DatagramDropFilter {
  public:
    using Clock = std::chrono::steady_clock;

    enum class Key {
        kSourceIpv4,     // the IPv4 source address, as Ipv4::value
        kDhcpClientMac,  // a BOOTP message's chaddr (RFC 2131 §2), as MacAddr::to_u64()
    };

    // At most this many sources are held at once (two or five instructions each, under the
    // kernel's 4096); past it, a hold is refused and the service drops in user space.
    static constexpr size_t kMaxHeld = 512;

    explicit DatagramDropFilter(Key key,
                                std::chrono::milliseconds hold = std::chrono::seconds(1));
    ~DatagramDropFilter();
    DatagramDropFilter(const DatagramDropFilter&) = delete;
    DatagramDropFilter& operator=(const DatagramDropFilter&) = delete;

    // Filters `fd` too, from now on. The filter keeps its own duplicate of `fd` (so the number
    // never names another file), and with it the socket, until it is destroyed.
    void add_socket(int fd);

    // Drops `source`'s datagrams from now until `hold` has passed. False if it could not
    // (kMaxHeld, or the kernel refused the filter; then nothing is dropped in the kernel).
    bool hold(uint64_t source, Clock::time_point now = Clock::now());

    // Sources held right now.
    size_t held() const;

    // The program for `sources` (exposed for tests): accepts everything else whole.
    static std::vector<sock_filter> program(Key key, const std::vector<uint64_t>& sources);

  private:
    bool attach_locked() REQUIRES(mu_);
    void release_loop();

    const Key key_;
    const std::chrono::milliseconds hold_;
    mutable Mutex mu_;
    CondVar changed_;
    std::vector<int> fds_ GUARDED_BY(mu_);
    std::map<uint64_t, Clock::time_point> held_ GUARDED_BY(mu_);  // source -> released at
    bool stopping_ GUARDED_BY(mu_) = false;
    std::thread releaser_;  // started with the first hold
};

}  // namespace rootfarm
