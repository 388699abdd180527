#include "core/datagram_filter.h"

#include <fcntl.h>
#include <linux/filter.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/log.h"

namespace rootfarm {

namespace {

constexpr uint32_t kAcceptWhole = 0xffffffffu;  // a socket filter returns the bytes to keep
constexpr uint32_t kDrop = 0;

sock_filter stmt(uint16_t code, uint32_t k) { return BPF_STMT(code, k); }
sock_filter jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) {
    return BPF_JUMP(code, k, jt, jf);
}

// On a UDP socket the filter sees the datagram from its UDP header on (udp_queue_rcv_one_skb
// runs it after the IP header was pulled); the BOOTP message follows the 8-byte UDP header and
// its chaddr starts 28 bytes in (RFC 2131 §2: op, htype, hlen, hops, xid, secs, flags, ciaddr,
// yiaddr, siaddr, giaddr), 6 bytes for Ethernet.
constexpr uint32_t kChaddrOffset = 8 + 28;

}  // namespace

std::vector<sock_filter> DatagramDropFilter::program(Key key,
                                                     const std::vector<uint64_t>& sources) {
    std::vector<sock_filter> p;
    if (key == Key::kSourceIpv4) {
        // The source address, 12 bytes into the IPv4 header (RFC 791 §3.1), loaded in host order.
        p.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, static_cast<uint32_t>(SKF_NET_OFF) + 12));
        for (uint64_t s : sources) {
            p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(s), 0, 1));
            p.push_back(stmt(BPF_RET | BPF_K, kDrop));
        }
    } else {
        // A load past the end would end the program with "drop": shorter datagrams are let
        // through for the service to judge.
        p.push_back(stmt(BPF_LD | BPF_W | BPF_LEN, 0));
        p.push_back(jump(BPF_JMP | BPF_JGE | BPF_K, kChaddrOffset + 6, 1, 0));
        p.push_back(stmt(BPF_RET | BPF_K, kAcceptWhole));
        for (uint64_t mac : sources) {
            p.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, kChaddrOffset));
            p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(mac >> 16), 0, 3));
            p.push_back(stmt(BPF_LD | BPF_H | BPF_ABS, kChaddrOffset + 4));
            p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(mac & 0xffff), 0, 1));
            p.push_back(stmt(BPF_RET | BPF_K, kDrop));
        }
    }
    p.push_back(stmt(BPF_RET | BPF_K, kAcceptWhole));
    return p;
}

DatagramDropFilter::DatagramDropFilter(Key key, std::chrono::milliseconds hold)
    : key_(key), hold_(hold) {}

DatagramDropFilter::~DatagramDropFilter() {
    {
        MutexLock lock(mu_);
        stopping_ = true;
    }
    changed_.notify_all();
    if (releaser_.joinable()) releaser_.join();
    MutexLock lock(mu_);
    for (int fd : fds_) ::close(fd);
}

void DatagramDropFilter::add_socket(int fd) {
    int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0) {
        core_log().warn("socket filter: dup of fd {}: {}", fd, std::strerror(errno));
        return;
    }
    MutexLock lock(mu_);
    fds_.push_back(own);
    if (!held_.empty()) (void)attach_locked();
}

bool DatagramDropFilter::hold(uint64_t source, Clock::time_point now) {
    MutexLock lock(mu_);
    if (stopping_) return false;
    auto it = held_.find(source);
    if (it != held_.end()) {
        it->second = now + hold_;
        return true;
    }
    if (held_.size() >= kMaxHeld) return false;
    held_.emplace(source, now + hold_);
    if (!attach_locked()) {
        held_.erase(source);
        (void)attach_locked();
        return false;
    }
    if (!releaser_.joinable()) releaser_ = std::thread([this] { release_loop(); });
    changed_.notify_all();
    return true;
}

size_t DatagramDropFilter::held() const {
    MutexLock lock(mu_);
    return held_.size();
}

bool DatagramDropFilter::attach_locked() {
    bool ok = true;
    if (held_.empty()) {
        // The value is ignored, but every socket option takes at least an int
        // (sock_setsockopt). ENOENT: no filter was attached.
        const int unused = 0;
        for (int fd : fds_) {
            if (::setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof unused) != 0 &&
                errno != ENOENT) {
                core_log().warn("socket filter: SO_DETACH_FILTER: {}", std::strerror(errno));
                ok = false;
            }
        }
        return ok;
    }
    std::vector<uint64_t> sources;
    sources.reserve(held_.size());
    for (const auto& [s, until] : held_) sources.push_back(s);
    std::vector<sock_filter> code = program(key_, sources);
    sock_fprog prog{static_cast<unsigned short>(code.size()), code.data()};
    for (int fd : fds_) {
        if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0) {
            core_log().warn("socket filter: SO_ATTACH_FILTER: {}", std::strerror(errno));
            ok = false;
        }
    }
    return ok;
}

// Releases each source when its hold runs out.
void DatagramDropFilter::release_loop() {
    MutexLock lock(mu_);
    while (!stopping_) {
        if (held_.empty()) {
            changed_.wait(lock, [this]() REQUIRES(mu_) { return stopping_ || !held_.empty(); });
            continue;
        }
        Clock::time_point next = Clock::time_point::max();
        for (const auto& [s, until] : held_) next = std::min(next, until);
        if (changed_.wait_until(lock, next, [this]() REQUIRES(mu_) { return stopping_; })) break;
        const auto now = Clock::now();
        bool released = false;
        for (auto it = held_.begin(); it != held_.end();) {
            if (it->second <= now) {
                it = held_.erase(it);
                released = true;
            } else {
                ++it;
            }
        }
        if (released) (void)attach_locked();
    }
}

}  // namespace rootfarm
