#include "core/loop.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <random>
#include <set>
#include <thread>

#include "core/loop_internal.h"

namespace rootfarm {
namespace {

const Ipv4 kLocalhost{0x7f000001};

// Echoes every byte back; closes when it reads "quit".
class EchoHandler : public TcpHandler {
  public:
    void on_open(Connection&) override { ++opened; }
    void on_data(Connection& conn) override {
        auto in = conn.input();
        std::vector<uint8_t> copy(in.begin(), in.end());
        conn.consume(in.size());
        conn.send(std::move(copy));
    }
    void on_close(Connection&) override { ++closed; }
    std::atomic<int> opened{0};
    std::atomic<int> closed{0};
};

class UdpEcho : public UdpHandler {
  public:
    void on_datagram(UdpSocket& sock, const Datagram& d) override {
        last_local = d.local_addr;
        last_ifindex = d.ifindex;
        sock.send_to(d.from, std::vector<uint8_t>(d.data.begin(), d.data.end()));
    }
    std::atomic<uint32_t> last_local_value{0};
    Ipv4 last_local{};
    int last_ifindex = 0;
};

// Runs a loop on its own thread; `setup` runs on that thread before the loop starts.
class LoopThread {
  public:
    explicit LoopThread(std::function<void(Loop&)> setup) {
        std::promise<void> ready;
        auto started = ready.get_future();
        thread_ = std::thread([this, setup, &ready] {
            auto loop = Loop::create();
            if (!loop) {
                ADD_FAILURE() << "Loop::create: " << loop.error().message();
                ready.set_value();
                return;
            }
            loop_ = std::move(*loop);
            setup(*loop_);
            ready.set_value();
            loop_->run();
        });
        started.wait();
    }
    ~LoopThread() { stop(); }
    void stop() {
        if (thread_.joinable()) {
            if (loop_) loop_->stop();
            thread_.join();
        }
    }
    Loop& loop() { return *loop_; }

  private:
    std::unique_ptr<Loop> loop_;
    std::thread thread_;
};

int connect_to(uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_in sa = make_sockaddr(kLocalhost, port);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
        ::close(fd);
        return -1;
    }
    timeval tv{10, 0};  // every wait is bounded
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

bool read_exact(int fd, uint8_t* out, size_t n) {
    size_t got = 0;
    while (got < n) {
        const ssize_t r = ::recv(fd, out + got, n - got, 0);
        if (r <= 0) return false;
        got += static_cast<size_t>(r);
    }
    return true;
}

TEST(Loop, TcpEchoManyConnectionsWithPartialWrites) {
    EchoHandler echo;
    uint16_t port = 0;
    LoopThread t([&](Loop& loop) {
        auto p = loop.listen_tcp(kLocalhost, 0, &echo);
        ASSERT_TRUE(p) << p.error().message();
        port = *p;
    });
    ASSERT_NE(port, 0);

    constexpr int kConnections = 64;
    std::vector<int> fds;
    for (int i = 0; i < kConnections; ++i) {
        fds.push_back(connect_to(port));
        ASSERT_GE(fds.back(), 0);
    }
    // Each connection sends its message in small pieces (partial reads on the server side)
    // and the messages are bigger than a socket buffer drains in one go (partial writes).
    std::mt19937 rng(42);
    std::vector<std::vector<uint8_t>> sent(kConnections);
    for (int i = 0; i < kConnections; ++i) {
        sent[i].resize(20000 + i * 997);
        for (auto& b : sent[i]) b = static_cast<uint8_t>(rng());
    }
    std::vector<std::thread> clients;
    std::atomic<int> ok{0};
    for (int i = 0; i < kConnections; ++i) {
        clients.emplace_back([&, i] {
            const int fd = fds[i];
            std::thread writer([&] {
                size_t off = 0;
                while (off < sent[i].size()) {
                    const size_t n = std::min<size_t>(1 + (off % 1500), sent[i].size() - off);
                    if (::send(fd, sent[i].data() + off, n, MSG_NOSIGNAL) <= 0) return;
                    off += n;
                }
            });
            std::vector<uint8_t> got(sent[i].size());
            const bool read = read_exact(fd, got.data(), got.size());
            writer.join();
            if (read && got == sent[i]) ++ok;
        });
    }
    for (auto& c : clients) c.join();
    EXPECT_EQ(ok, kConnections);
    for (int fd : fds) ::close(fd);

    // Every close is seen by the server.
    for (int i = 0; i < 500 && echo.closed < kConnections; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(echo.opened, kConnections);
    EXPECT_EQ(echo.closed, kConnections);
}

TEST(Loop, LargeReplyIsWrittenWholeToASlowReader) {
    // 8 MiB reply to a reader that only starts reading later: the kernel accepts it in
    // pieces and the loop must send the rest in order.
    class BigReply : public TcpHandler {
      public:
        void on_data(Connection& conn) override {
            conn.consume(conn.input().size());
            std::vector<uint8_t> big(8 << 20);
            for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 31 + 7);
            conn.send(std::move(big));
            queued_after_send = conn.queued_bytes();
            conn.close(/*graceful=*/true);
        }
        // Atomic: the test thread learns it was written through the socket's close, an order
        // ThreadSanitizer cannot see.
        std::atomic<size_t> queued_after_send = 0;
    } handler;
    uint16_t port = 0;
    LoopThread t([&](Loop& loop) { port = *loop.listen_tcp(kLocalhost, 0, &handler); });
    const int fd = connect_to(port);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::send(fd, "x", 1, 0), 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::vector<uint8_t> got(8 << 20);
    ASSERT_TRUE(read_exact(fd, got.data(), got.size()));
    for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(got[i], static_cast<uint8_t>(i * 31 + 7)) << "at byte " << i;
    }
    uint8_t extra;
    EXPECT_EQ(::recv(fd, &extra, 1, 0), 0) << "graceful close after the last byte";
    // The reply was queued whole before the kernel took any of it.
    EXPECT_EQ(handler.queued_after_send.load(), size_t{8} << 20);
    ::close(fd);
}

TEST(Loop, UdpEchoReportsLocalAddress) {
    UdpEcho echo;
    uint16_t port = 0;
    LoopThread t([&](Loop& loop) {
        auto s = loop.open_udp(Ipv4{}, 0, &echo);
        ASSERT_TRUE(s) << s.error().message();
        port = (*s)->local_port();
    });
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    // 127.0.0.2 is a loopback address too; IP_PKTINFO must name it as the destination.
    const sockaddr_in to = make_sockaddr(*Ipv4::parse("127.0.0.2"), port);
    for (int i = 0; i < 200; ++i) {
        std::vector<uint8_t> msg(1 + i * 37 % 1400, static_cast<uint8_t>(i));
        ASSERT_EQ(::sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                           sizeof to),
                  static_cast<ssize_t>(msg.size()));
        std::vector<uint8_t> got(2000);
        const ssize_t n = ::recv(fd, got.data(), got.size(), 0);
        ASSERT_EQ(n, static_cast<ssize_t>(msg.size()));
        got.resize(n);
        EXPECT_EQ(got, msg);
    }
    t.stop();
    EXPECT_EQ(echo.last_local.to_string(), "127.0.0.2");
    EXPECT_NE(echo.last_ifindex, 0);
    ::close(fd);
}

TEST(Loop, TimersFireInOrderAndCancelledOnesDoNot) {
    std::vector<int> fired;
    std::promise<void> done;
    LoopThread t([&](Loop& loop) {
        loop.add_timer(std::chrono::milliseconds(60), [&] { fired.push_back(60); });
        loop.add_timer(std::chrono::milliseconds(20), [&] { fired.push_back(20); });
        const TimerId cancelled =
            loop.add_timer(std::chrono::milliseconds(40), [&] { fired.push_back(40); });
        loop.add_timer(std::chrono::milliseconds(0), [&] { fired.push_back(0); });
        loop.add_timer(std::chrono::milliseconds(100), [&] { done.set_value(); });
        EXPECT_TRUE(loop.cancel_timer(cancelled));
    });
    ASSERT_EQ(done.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
    t.stop();
    EXPECT_EQ(fired, (std::vector<int>{0, 20, 60}));
}

TEST(Loop, TimerNeverFiresEarly) {
    std::promise<std::chrono::steady_clock::duration> elapsed;
    LoopThread t([&](Loop& loop) {
        const auto start = std::chrono::steady_clock::now();
        loop.add_timer(std::chrono::milliseconds(150),
                       [&, start] { elapsed.set_value(std::chrono::steady_clock::now() - start); });
    });
    auto f = elapsed.get_future();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_GE(f.get(), std::chrono::milliseconds(150));
}

TEST(Loop, TimerAddedAfterAnIdleSpellCountsFromNow) {
    // No timer pending for a while (the tick is not armed), then one is added: it must wait its
    // full delay. Before the fix the wheel's clock was stale and it fired at once.
    std::promise<std::chrono::steady_clock::duration> elapsed;
    LoopThread t([](Loop&) {});
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    t.loop().post([&] {
        const auto start = std::chrono::steady_clock::now();
        t.loop().add_timer(std::chrono::milliseconds(200), [&, start] {
            elapsed.set_value(std::chrono::steady_clock::now() - start);
        });
    });
    auto f = elapsed.get_future();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_GE(f.get(), std::chrono::milliseconds(200));
}

TEST(Loop, TimerAddedWhileTheWheelCatchesUpCountsFromNow) {
    // The loop thread is busy for 600 ms (as behind a slow fdatasync), so the next tick finds
    // the wheel 60 ticks behind and catches up. A retransmit timer re-armed by a callback of
    // that catch-up must still wait its whole delay; before the fix it fired in the same
    // catch-up, and a TFTP transfer spent all its retries at once.
    using Clock = std::chrono::steady_clock;
    std::vector<Clock::duration> waited;  // from add_timer to the callback, per firing
    std::promise<void> done;
    std::function<void(Loop&, Clock::time_point)> rearm = [&](Loop& loop, Clock::time_point at) {
        loop.add_timer(std::chrono::milliseconds(100), [&, at] {
            const auto now = Clock::now();
            waited.push_back(now - at);
            if (waited.size() == 3) {
                done.set_value();
            } else {
                rearm(loop, now);
            }
        });
    };
    LoopThread t([](Loop&) {});
    t.loop().post([&] {
        // Another transfer's timer keeps the wheel from being idle (idle, it jumps to now).
        t.loop().add_timer(std::chrono::seconds(60), [] {});
        rearm(t.loop(), Clock::now());
        std::this_thread::sleep_for(std::chrono::milliseconds(600));
    });
    ASSERT_EQ(done.get_future().wait_for(std::chrono::seconds(20)), std::future_status::ready);
    t.stop();
    for (auto w : waited) EXPECT_GE(w, std::chrono::milliseconds(100));
}

TEST(Loop, EphemeralUdpPortsAreNeverShared) {
    // Every TFTP transfer opens its own socket on port 0 (RFC 1350 §4: the port is the
    // transfer's id), hundreds at once in a boot storm. Two of them on one port would get each
    // other's packets. With SO_REUSEADDR on them Linux gave out about one duplicate per 20
    // sockets at this count (28k ephemeral ports).
    UdpEcho echo;
    std::vector<uint16_t> ports;
    LoopThread t([&](Loop& loop) {
        for (int i = 0; i < 1000; ++i) {
            auto s = loop.open_udp(kLocalhost, 0, &echo);
            ASSERT_TRUE(s) << s.error().message();
            ports.push_back((*s)->local_port());
        }
    });
    t.stop();
    EXPECT_EQ(std::set<uint16_t>(ports.begin(), ports.end()).size(), ports.size());
}

TEST(Loop, PostRunsOnLoopThreadAndFileIoCompletes) {
    const auto path = std::filesystem::temp_directory_path() / "rootfarm_loop_file_test";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    std::thread::id loop_thread;
    LoopThread t([&](Loop&) { loop_thread = std::this_thread::get_id(); });
    std::promise<std::string> result;
    const std::string text = "golden root";
    std::vector<uint8_t> buf(64);
    t.loop().post([&] {
        EXPECT_EQ(std::this_thread::get_id(), loop_thread);
        Loop& loop = t.loop();
        loop.write_at(fd, 3, {reinterpret_cast<const uint8_t*>(text.data()), text.size()},
                      [&](int wrote) {
                          EXPECT_EQ(wrote, static_cast<int>(text.size()));
                          loop.fsync(fd, true, [&](int synced) {
                              EXPECT_EQ(synced, 0);
                              loop.read_at(fd, 3, buf, [&](int n) {
                                  result.set_value(std::string(buf.begin(), buf.begin() + n));
                              });
                          });
                      });
    });
    auto f = result.get_future();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_EQ(f.get(), text);
    t.stop();
    ::close(fd);
    std::filesystem::remove(path);
}

int count_open_fds() {
    int n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
    return n;
}

TEST(Loop, StopClosesEverythingItOpened) {
    const int before = count_open_fds();
    EchoHandler echo;
    UdpEcho udp;
    uint16_t port = 0;
    {
        LoopThread t([&](Loop& loop) {
            port = *loop.listen_tcp(kLocalhost, 0, &echo);
            ASSERT_TRUE(loop.open_udp(kLocalhost, 0, &udp));
            loop.add_timer(std::chrono::seconds(60), [] {});
        });
        // Connections still open when the loop stops are closed by it.
        std::vector<int> fds;
        for (int i = 0; i < 8; ++i) fds.push_back(connect_to(port));
        for (int i = 0; i < 500 && echo.opened < 8; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        t.stop();
        EXPECT_EQ(echo.closed, 8);
        for (int fd : fds) {
            uint8_t b;
            EXPECT_EQ(::recv(fd, &b, 1, 0), 0) << "server side closed";
            ::close(fd);
        }
    }
    EXPECT_EQ(count_open_fds(), before);
}

TEST(Loop, MayBeDestroyedAsSoonAsRunReturnsWhileStopIsStillWakingIt) {
    // stop() sets the flag, then writes the loop's eventfd. A loop that saw the flag returns
    // and is destroyed at once: that write must not land on a closed descriptor, or on the one
    // the next eventfd reuses (TSan reports the close racing the write).
    for (int round = 0; round < 200; ++round) {
        std::promise<Loop*> made;
        int reused = -1;
        std::thread t([&] {
            auto loop = Loop::create();
            made.set_value(loop.ok() ? loop->get() : nullptr);
            if (!loop.ok()) return;
            (*loop)->run();
            loop->reset();
            reused = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        });
        Loop* loop = made.get_future().get();
        if (loop) loop->stop();
        t.join();
        ASSERT_NE(loop, nullptr) << "no io_uring";
        uint64_t value = 0;
        EXPECT_EQ(::read(reused, &value, sizeof value), -1) << "a stale wake-up landed";
        ::close(reused);
    }
}

TEST(Loop, ConnRefDetectsTeardown) {
    struct Remember : TcpHandler {
        void on_data(Connection& conn) override {
            refs.push_back(conn.ref());
            conn.consume(conn.input().size());
            conn.close();
        }
        std::vector<ConnRef> refs;
    } handler;
    uint16_t port = 0;
    LoopThread t([&](Loop& loop) { port = *loop.listen_tcp(kLocalhost, 0, &handler); });
    for (int i = 0; i < 2; ++i) {
        const int fd = connect_to(port);
        ASSERT_EQ(::send(fd, "a", 1, 0), 1);
        uint8_t b;
        EXPECT_EQ(::recv(fd, &b, 1, 0), 0);
        ::close(fd);
    }
    std::promise<std::pair<bool, bool>> found;
    t.loop().post([&] {
        // Both connections are gone; the second most likely reused the first's slot, and
        // neither ref may find anything.
        found.set_value(
            {t.loop().find(handler.refs[0]) != nullptr, t.loop().find(handler.refs[1]) != nullptr});
    });
    auto f = found.get_future();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_EQ(f.get(), std::make_pair(false, false));
    ASSERT_EQ(handler.refs.size(), 2u);
    EXPECT_EQ(handler.refs[0].index, handler.refs[1].index);
    EXPECT_NE(handler.refs[0].generation, handler.refs[1].generation);
}

// More operations than the submission queue holds, queued without returning to run(): get_sqe
// must submit to make room and every operation must still complete, in full. The completion
// queue (twice the entries) holds them all: whether a submit with unreaped overflowed
// completions fails with EBUSY depends on the kernel, and only run() reaps.
TEST(Loop, MoreOperationsThanTheRingHoldsAllComplete) {
    const auto path = std::filesystem::temp_directory_path() / "rootfarm_loop_tiny_ring_test";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    Loop::Options options;
    options.entries = 4;
    options.buffer_count = 8;
    const int kOps = static_cast<int>(2 * options.entries - 1);
    std::vector<uint8_t> content(kOps);
    for (int i = 0; i < kOps; ++i) content[i] = static_cast<uint8_t>(i * 7 + 1);
    ASSERT_EQ(::pwrite(fd, content.data(), content.size(), 0), kOps);

    auto created = Loop::create(options);
    ASSERT_TRUE(created) << created.error().message();
    Loop& loop = **created;
    std::vector<uint8_t> got(kOps);
    int completed = 0;
    for (int i = 0; i < kOps; ++i) {
        loop.read_at(fd, static_cast<uint64_t>(i), {&got[i], 1}, [&, i](int n) {
            EXPECT_EQ(n, 1) << "read " << i;
            if (++completed == kOps) loop.stop();
        });
    }
    loop.add_timer(std::chrono::seconds(10), [&] { loop.stop(); });  // bounds a failure
    loop.run();
    EXPECT_EQ(completed, kOps);
    EXPECT_EQ(got, content);
    created->reset();
    ::close(fd);
    std::filesystem::remove(path);
}

// When submitting cannot make room (here a ring still disabled, IORING_SETUP_R_DISABLED, kernel
// 5.10, whose io_uring_enter fails with EBADFD) get_sqe gives up after a bounded number of
// submits and aborts naming the ring's state, where it used to spin forever.
TEST(LoopDeathTest, FullSubmissionQueueThatCannotDrainAborts) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    io_uring ring{};
    io_uring_params params{};
    params.flags = IORING_SETUP_R_DISABLED;
    ASSERT_EQ(io_uring_queue_init_params(4, &ring, &params), 0);
    for (io_uring_sqe* sqe = io_uring_get_sqe(&ring); sqe; sqe = io_uring_get_sqe(&ring)) {
        io_uring_prep_nop(sqe);
    }
    EXPECT_DEATH(loop_internal::get_sqe_bounded(ring),
                 "submission queue still full after 8 submits: 4 of 4 entries queued");
    io_uring_queue_exit(&ring);
}

}  // namespace
}  // namespace rootfarm
