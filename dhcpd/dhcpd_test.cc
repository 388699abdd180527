// DhcpServer on a real Loop over 127.0.0.1 with high ports: socket handling, held-back Pi 3
// replies, dropped garbage, and lease files written in the background and read back.

#include "dhcpd/dhcpd.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "dhcpd/test_packets.h"

namespace rootfarm::dhcpd {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// A UDP socket on 127.0.0.1 standing in for clients.
class ClientSocket {
  public:
    ClientSocket() {
        fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in sa = make_sockaddr(Ipv4{}, 0);  // any address: replies go to 127.0.0.x
        ::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
        socklen_t len = sizeof sa;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
        port_ = ntohs(sa.sin_port);
    }
    ~ClientSocket() { ::close(fd_); }
    uint16_t port() const { return port_; }

    void send(const std::vector<uint8_t>& bytes, uint16_t server_port) {
        sockaddr_in to = make_sockaddr(*Ipv4::parse("127.0.0.1"), server_port);
        ::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    }
    // The next reply with `xid`, waiting at most `timeout`.
    std::optional<Packet> receive(uint32_t xid, std::chrono::milliseconds timeout = 5000ms) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (true) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return std::nullopt;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, int(left.count())) != 1) return std::nullopt;
            uint8_t buf[1500];
            ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) continue;
            auto packet = decode({buf, size_t(n)});
            if (packet.ok() && packet->xid == xid) return *packet;
        }
    }

  private:
    int fd_ = -1;
    uint16_t port_ = 0;
};

uint16_t unused_udp_port() {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa = make_sockaddr(*Ipv4::parse("127.0.0.1"), 0);
    ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    socklen_t len = sizeof sa;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    ::close(fd);
    return ntohs(sa.sin_port);
}

class DhcpServerTest : public ::testing::Test {
  protected:
    DhcpServerTest() {
        state_ = fs::temp_directory_path() / ("rootfarm-dhcpd-" + std::to_string(::getpid()) + "-" +
                                              std::to_string(counter_++));
        fs::remove_all(state_);
        config_.state_dir = state_;
        config_.server_ip = *Ipv4::parse("127.0.0.1");
        config_.dhcp.enabled = true;
        config_.dhcp.listen = *Ipv4::parse("127.0.0.1");
        config_.dhcp.port = unused_udp_port();
        config_.dhcp.client_port = client_.port();
        config_.dhcp.netmask = *Ipv4::parse("255.0.0.0");
        config_.dhcp.range_start = *Ipv4::parse("127.0.0.100");
        config_.dhcp.range_end = *Ipv4::parse("127.0.0.200");
        config_.dhcp.pi3_reply_delay_ms = 200;
        config_.defaults.enroll = DefaultsConfig::Enroll::kAnyPi;
    }
    ~DhcpServerTest() override {
        stop();
        fs::remove_all(state_);
    }

    void start() {
        if (!clients_) clients_ = std::make_unique<Clients>(config_, nullptr);
        auto server = DhcpServer::create(config_, *clients_);
        ASSERT_TRUE(server.ok()) << server.error().message();
        server_ = std::move(*server);
        std::promise<bool> started;
        thread_ = std::thread([this, &started] {
            auto loop = Loop::create();
            if (!loop) return started.set_value(false);
            loop_ = loop->get();
            bool ok = server_->start(**loop).ok();
            started.set_value(ok);
            if (ok) (*loop)->run();
        });
        ASSERT_TRUE(started.get_future().get());
    }

    // As `rootfarm serve` does: stop the loop, then destroy the server, then the owner (which
    // writes the leases).
    void stop() {
        if (!thread_.joinable()) return;
        loop_->stop();
        thread_.join();
        server_.reset();
        clients_.reset();
    }

    DhcpStats stats() {
        std::promise<DhcpStats> p;
        loop_->post([&] { p.set_value(server_->stats()); });
        return p.get_future().get();
    }

    // A RENEWING REQUEST for 127.0.0.<n>: the ACK is unicast to that address, which is ours.
    std::vector<uint8_t> renew(const MacAddr& mac, int n, uint32_t xid) {
        return testing::plain(3, xid, mac, "127.0.0." + std::to_string(n));
    }

    static inline int counter_ = 0;
    fs::path state_;
    Config config_;
    ClientSocket client_;
    std::unique_ptr<Clients> clients_;
    std::unique_ptr<DhcpServer> server_;
    Loop* loop_ = nullptr;
    std::thread thread_;
};

MacAddr pi_mac(int n) {
    return MacAddr{{0xdc, 0xa6, 0x32, 0, 1, uint8_t(n)}};
}

TEST_F(DhcpServerTest, WritesLeasesInTheBackgroundAndReloadsThem) {
    start();
    for (int i = 0; i < 20; ++i) client_.send(renew(pi_mac(i), 100 + i, 1000 + i), server_->port());
    for (int i = 0; i < 20; ++i) {
        auto ack = client_.receive(1000 + i);
        ASSERT_TRUE(ack) << i;
        EXPECT_EQ(ack->message_type(), MessageType::kAck);
        EXPECT_EQ(ack->yiaddr, Ipv4{0x7f000000u + 100 + i});
    }
    // Written by the batched flush while the server runs, not only at shutdown.
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (slurp(state_ / "leases").find(pi_mac(19).to_string()) == std::string::npos) {
        ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "leases never written";
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_GE(clients_->lease_writes(), 1u);
    std::string text = slurp(state_ / "leases");
    for (int i = 0; i < 20; ++i) {
        EXPECT_NE(text.find(pi_mac(i).to_string() + " 127.0.0." + std::to_string(100 + i)),
                  std::string::npos);
    }
    stop();

    // A new server on the same state still knows whose address 127.0.0.107 is: another MAC
    // claiming it is refused, its owner is acknowledged.
    start();
    client_.send(renew(pi_mac(50), 107, 500), server_->port());
    client_.send(renew(pi_mac(7), 107, 501), server_->port());
    auto ack = client_.receive(501);
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->message_type(), MessageType::kAck);
    DhcpStats s = stats();
    EXPECT_EQ(s.responder.naks, 1u);
    EXPECT_EQ(s.responder.acks, 1u);
}

TEST_F(DhcpServerTest, DropsGarbageAndKeepsAnswering) {
    start();
    auto valid = renew(pi_mac(1), 101, 42);
    client_.send({1, 2, 3}, server_->port());
    auto no_cookie = valid;
    no_cookie[236] = 0;
    client_.send(no_cookie, server_->port());
    auto overrun = valid;
    overrun[241] = 250;  // option 53 claims 250 bytes
    client_.send(overrun, server_->port());
    client_.send(valid, server_->port());
    auto ack = client_.receive(42);
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->message_type(), MessageType::kAck);
    DhcpStats s = stats();
    EXPECT_EQ(s.received, 4u);
    EXPECT_EQ(s.malformed, 3u);
    EXPECT_EQ(s.sent, 1u);
}

TEST_F(DhcpServerTest, OneMacFloodingIsCappedAndOthersAreStillAnswered) {
    config_.dhcp.client_packets_per_second = 10;  // bursts of 50
    start();
    // 2,000 REQUESTs from one MAC as fast as they go: at most its burst plus what it regains.
    const auto begin = std::chrono::steady_clock::now();
    for (int i = 0; i < 2000; ++i) client_.send(renew(pi_mac(1), 101, 7000 + i), server_->port());
    (void)client_.receive(0xffffffff, 300ms);  // lets the server work through them
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    DhcpStats s = stats();
    EXPECT_LE(s.sent, 50 + 10 * seconds + 1) << "over " << seconds << " s";
    EXPECT_GE(s.sent, 40u);
    // Another Pi meanwhile is answered at once.
    client_.send(renew(pi_mac(2), 102, 99), server_->port());
    auto ack = client_.receive(99);
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->message_type(), MessageType::kAck);
}

TEST_F(DhcpServerTest, AFloodingMacIsDroppedByTheKernelMeanwhile) {
    config_.dhcp.client_packets_per_second = 10;  // bursts of 50
    start();
    // REQUESTs one at a time until one goes unanswered: the MAC's budget is spent.
    int answered = 0;
    for (; answered < 1000; ++answered) {
        client_.send(renew(pi_mac(1), 101, 7000 + answered), server_->port());
        if (!client_.receive(7000 + answered, 300ms)) break;
    }
    EXPECT_GE(answered, 50);
    // 50 more, 2 ms apart: the socket filter drops them before the server sees them.
    const uint64_t seen = stats().received;
    for (int i = 0; i < 50; ++i) {
        client_.send(renew(pi_mac(1), 101, 9000 + i), server_->port());
        std::this_thread::sleep_for(2ms);
    }
    EXPECT_FALSE(client_.receive(9049, 100ms));
    EXPECT_EQ(stats().received, seen);
    // Another Pi, from the same address, is answered at once.
    client_.send(renew(pi_mac(2), 102, 99), server_->port());
    EXPECT_TRUE(client_.receive(99));
}

TEST_F(DhcpServerTest, HoldsBackPi3RomReplies) {
    start();
    // An INFORM from the Pi 3 ROM's PXE stack is unicast to ciaddr, so it reaches this socket.
    auto inform = testing::header(1, testing::kPi3Xid, 0, "127.0.0.5", "0.0.0.0", "0.0.0.0",
                                  testing::pi3_mac())
                      .opt(53, {8})
                      .opt_str(60, testing::kPxeVendorClass)
                      .u8(255)
                      .take();
    auto sent = std::chrono::steady_clock::now();
    client_.send(inform, server_->port());
    auto reply = client_.receive(testing::kPi3Xid);
    ASSERT_TRUE(reply);
    // Timers never fire early: the configured 200 ms is a lower bound.
    EXPECT_GE(std::chrono::steady_clock::now() - sent, 200ms);
    EXPECT_EQ(*reply->find(opt::kVendorSpecific), pi_vendor_options(true));
}

TEST_F(DhcpServerTest, CreateRejectsBadConfig) {
    config_.server_ip = Ipv4{};
    Clients clients(config_, nullptr);
    EXPECT_FALSE(DhcpServer::create(config_, clients).ok());
}

TEST_F(DhcpServerTest, AnUnreadableLeaseFileStopsTheStart) {
    fs::create_directories(state_ / "leases");  // not a file
    EXPECT_THROW(Clients(config_, nullptr), std::system_error);
}

}  // namespace
}  // namespace rootfarm::dhcpd
