#include "core/datagram_filter.h"

#include <gtest/gtest.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/sinks/ostream_sink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sstream>
#include <thread>

#include "core/net.h"
#include "core/source_limit.h"

namespace rootfarm {
namespace {

using namespace std::chrono_literals;
using Key = DatagramDropFilter::Key;

// A UDP socket bound to `addr` (port 0: any).
int bound_udp(const char* addr, uint16_t port = 0) {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = make_sockaddr(*Ipv4::parse(addr), port);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << addr;
    return fd;
}

uint16_t port_of(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
}

class DatagramDropFilterTest : public ::testing::Test {
  protected:
    void SetUp() override { server_ = bound_udp("127.0.0.1"); }
    void TearDown() override {
        ::close(server_);
        for (int fd : clients_) ::close(fd);
    }

    // Sends `bytes` from a new socket bound to `from`.
    void send_from(const char* from, const std::vector<uint8_t>& bytes) {
        int fd = bound_udp(from);
        clients_.push_back(fd);
        sockaddr_in to = make_sockaddr(*Ipv4::parse("127.0.0.1"), port_of(server_));
        ASSERT_EQ(::sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&to),
                           sizeof to),
                  static_cast<ssize_t>(bytes.size()));
    }

    // The first bytes of every datagram the server has within 200 ms, in order.
    std::vector<uint8_t> received() {
        std::vector<uint8_t> firsts;
        pollfd p{server_, POLLIN, 0};
        std::vector<uint8_t> buf(2048);
        while (::poll(&p, 1, 200) > 0) {
            if (::recv(server_, buf.data(), buf.size(), 0) > 0) firsts.push_back(buf[0]);
        }
        return firsts;
    }

    // A BOOTP request of 300 bytes from `mac`, its first byte `tag` (op is not looked at).
    static std::vector<uint8_t> bootp(uint8_t tag, MacAddr mac) {
        std::vector<uint8_t> m(300, 0);
        m[0] = tag;
        for (int i = 0; i < 6; ++i) m[28 + i] = mac.bytes[i];  // chaddr (RFC 2131 §2)
        return m;
    }

    int server_ = -1;
    std::vector<int> clients_;
};

TEST_F(DatagramDropFilterTest, AHeldSourceAddressIsDroppedUntilItsHoldRunsOut) {
    DatagramDropFilter filter(Key::kSourceIpv4, 300ms);
    filter.add_socket(server_);
    ASSERT_TRUE(filter.hold(Ipv4::parse("127.0.0.2")->value));
    EXPECT_EQ(filter.held(), 1u);
    send_from("127.0.0.2", {1});
    send_from("127.0.0.3", {2});
    send_from("127.0.0.2", {3});
    EXPECT_EQ(received(), std::vector<uint8_t>{2});
    // Released once its hold has passed: its datagrams reach the socket again.
    for (int i = 0; i < 50 && filter.held() > 0; ++i) std::this_thread::sleep_for(20ms);
    EXPECT_EQ(filter.held(), 0u);
    send_from("127.0.0.2", {4});
    EXPECT_EQ(received(), std::vector<uint8_t>{4});
}

TEST_F(DatagramDropFilterTest, AHeldDhcpClientMacIsDroppedWhateverItsAddress) {
    DatagramDropFilter filter(Key::kDhcpClientMac, 10s);
    filter.add_socket(server_);
    const MacAddr looping = *MacAddr::parse("dc:a6:32:00:00:01");
    const MacAddr other = *MacAddr::parse("dc:a6:32:00:00:02");
    const MacAddr same_first_four = *MacAddr::parse("dc:a6:32:00:01:01");
    ASSERT_TRUE(filter.hold(looping.to_u64()));
    send_from("127.0.0.2", bootp(1, looping));
    send_from("127.0.0.3", bootp(2, other));
    send_from("127.0.0.4", bootp(3, looping));
    send_from("127.0.0.2", bootp(4, same_first_four));
    send_from("127.0.0.2", {5, 0, 0});  // too short for a chaddr: the service judges it
    EXPECT_EQ(received(), (std::vector<uint8_t>{2, 4, 5}));
}

TEST_F(DatagramDropFilterTest, SocketsAddedLaterAreFilteredAndHoldsAreBounded) {
    DatagramDropFilter filter(Key::kSourceIpv4, 10s);
    for (uint32_t i = 0; i < DatagramDropFilter::kMaxHeld; ++i) {
        ASSERT_TRUE(filter.hold(Ipv4::parse("127.3.0.0")->value + i)) << i;
    }
    EXPECT_FALSE(filter.hold(Ipv4::parse("127.4.0.0")->value));
    EXPECT_TRUE(filter.hold(Ipv4::parse("127.3.0.7")->value)) << "a held source is refreshed";
    filter.add_socket(server_);
    send_from("127.3.0.7", {1});
    send_from("127.0.0.3", {2});
    EXPECT_EQ(received(), std::vector<uint8_t>{2});
}

TEST(DatagramDropFilterProgram, StaysUnderTheKernelsInstructionLimit) {
    std::vector<uint64_t> many(DatagramDropFilter::kMaxHeld, 0x0102030405);
    EXPECT_LE(DatagramDropFilter::program(Key::kDhcpClientMac, many).size(), size_t{BPF_MAXINSNS});
    EXPECT_LE(DatagramDropFilter::program(Key::kSourceIpv4, many).size(), size_t{BPF_MAXINSNS});
}

TEST_F(DatagramDropFilterTest, ALimiterHoldsTheSourceItRefuses) {
    std::ostringstream lines;
    spdlog::logger log("test", std::make_shared<spdlog::sinks::ostream_sink_mt>(lines));
    SourceLimiter limiter("bogus calls", log, {10, 5, 10s, 4096},
                          [](uint64_t key) { return std::to_string(key); });
    DatagramDropFilter filter(Key::kSourceIpv4, 10s);
    filter.add_socket(server_);
    limiter.drop_in_kernel(&filter);
    const uint32_t flooder = Ipv4::parse("127.0.0.2")->value;
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.charge(flooder));
    EXPECT_EQ(filter.held(), 0u) << "within its budget";
    EXPECT_FALSE(limiter.charge(flooder));
    EXPECT_EQ(filter.held(), 1u);
    send_from("127.0.0.2", {1});
    send_from("127.0.0.3", {2});
    EXPECT_EQ(received(), std::vector<uint8_t>{2});
}

}  // namespace
}  // namespace rootfarm
