#include "bench/echo_floor.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace rootfarm::bench {
namespace {

// An echo server on 127.0.0.1 (any port), served on a thread until the test shuts it down.
class EchoServer {
  public:
    explicit EchoServer(EchoSizes sizes) {
        auto fd = echo_listen(*Ipv4::parse("127.0.0.1"), 0);
        EXPECT_TRUE(static_cast<bool>(fd));
        fd_ = fd ? *fd : -1;
        sockaddr_in sa{};
        socklen_t len = sizeof sa;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
        addr_ = sa;
        thread_ = std::thread([this, sizes] { echo_serve(fd_, sizes); });
    }
    ~EchoServer() {
        ::shutdown(fd_, SHUT_RDWR);  // accept fails: echo_serve returns
        thread_.join();
        ::close(fd_);
    }
    const sockaddr_in& addr() const { return addr_; }

  private:
    int fd_ = -1;
    sockaddr_in addr_{};
    std::thread thread_;
};

TEST(EchoFloor, RoundTripsWithTheSizesBothSidesAgreeOn) {
    EchoServer server({.call = 116, .reply = 116});
    auto n = echo_micro(*Ipv4::parse("127.0.0.1"), server.addr(), {.call = 116, .reply = 116}, 0.2);
    ASSERT_TRUE(static_cast<bool>(n)) << n.error().message();
    EXPECT_GT(*n, 10u);
}

TEST(EchoFloor, AReplyShorterThanExpectedIsAnErrorAfterTheBoundedWait) {
    // The client waits for 116 bytes, the server sends 16 per call: the client's read times out
    // (1 s) rather than hang or count a round trip it never finished.
    EchoServer server({.call = 116, .reply = 16});
    auto n = echo_micro(*Ipv4::parse("127.0.0.1"), server.addr(), {.call = 116, .reply = 116}, 5);
    EXPECT_FALSE(static_cast<bool>(n));
}

TEST(EchoFloor, NoServerIsAnError) {
    EchoServer server({});
    sockaddr_in closed = server.addr();
    closed.sin_port = 0;  // connect to port 0 is refused
    EXPECT_FALSE(static_cast<bool>(echo_micro(*Ipv4::parse("127.0.0.1"), closed, {}, 0.1)));
}

}  // namespace
}  // namespace rootfarm::bench
