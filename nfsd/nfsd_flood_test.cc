// Integration: one source that floods the server — calls it cannot serve, or calls whose replies
// it never reads — is capped and cut off, and the bound holds whatever it sends; another Pi is
// served meanwhile.

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "nfsd/nfs3.h"
#include "nfsd/nfs3_xdr.h"
#include "nfsd/record.h"
#include "nfsd/testing.h"
#include "tests/support/farm_test_util.h"

namespace rootfarm::nfsd {
namespace {

using namespace testing;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kOtherIp = "127.0.0.2";
constexpr uint32_t kNoSuchProgram = 100227;  // NFSACL: answered PROG_UNAVAIL

class NfsFlood : public ::testing::Test {
  protected:
    void SetUp() override {
        make_standard_image(dir_);
        config_ = test_config(dir_.path());
        add_second_client(config_, kOtherIp);
        server_ = InProcessServer::start(config_);
        ASSERT_NE(server_, nullptr);
    }

    // A TCP socket to the NFS port, connected, non-blocking.
    int connect_nonblocking() {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in to = make_sockaddr(Ipv4{INADDR_LOOPBACK}, config_.nfs.port);
        EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
        ::fcntl(fd, F_SETFL, O_NONBLOCK);
        return fd;
    }

    // Sends `msg` `count` times over UDP from 127.0.0.1, back to back; the answers that come
    // within 300 ms of the last.
    int udp_flood(const std::vector<uint8_t>& msg, int count) {
        int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in to = make_sockaddr(Ipv4{INADDR_LOOPBACK}, config_.nfs.port);
        for (int i = 0; i < count; ++i) {
            ::sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
        }
        int answered = 0;
        std::vector<uint8_t> buf(65536);
        pollfd p{fd, POLLIN, 0};
        while (::poll(&p, 1, 300) > 0) {
            if (::recv(fd, buf.data(), buf.size(), 0) > 0) ++answered;
        }
        ::close(fd);
        return answered;
    }

    // A NULL call from 127.0.0.1, whose budget is spent, goes unanswered; another Pi's is
    // answered.
    void expect_refused_while_another_pi_is_served() {
        const auto null_call = build_call(9, kNfsProgram, kNfsVersion, kNfs3Null, {});
        RawRpc refused(config_.nfs.port);
        ASSERT_TRUE(refused.connected());
        (void)refused.send_record(null_call);
        EXPECT_FALSE(refused.receive(1s)) << "a source over its budget was served";
        RawRpc other(config_.nfs.port, kOtherIp);
        EXPECT_TRUE(other.call(null_call));
    }

    StateDir dir_;
    Config config_;
    std::unique_ptr<InProcessServer> server_;
};

std::vector<uint8_t> record(const std::vector<uint8_t>& msg) {
    std::vector<uint8_t> out(4);
    out.insert(out.end(), msg.begin(), msg.end());
    const uint32_t mark = 0x80000000u | static_cast<uint32_t>(msg.size());
    for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(mark >> (24 - 8 * i));
    return out;
}

TEST_F(NfsFlood, AClientThatNeverReadsItsRepliesIsHeldAtABoundThenCutOff) {
    auto root = mount_root(config_.nfs.mount_port);
    ASSERT_TRUE(root);
    RawRpc rpc(config_.nfs.port);
    auto big = lookup(rpc, *root, "big.bin");
    ASSERT_TRUE(big);

    // 1 MiB READs as fast as the socket takes them, never reading a reply. Without a bound on
    // what the server buffers, it would take them all: stop at 256 MiB sent and call it growth.
    const auto one =
        record(build_call(1, kNfsProgram, kNfsVersion, kNfs3Read, io_args(*big, 0, 1u << 20)));
    int fd = connect_nonblocking();
    size_t sent = 0;
    auto last_progress = Clock::now();
    while (sent < (256u << 20) && Clock::now() - last_progress < 3s) {
        ssize_t n = ::send(fd, one.data(), one.size(), MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<size_t>(n);
            last_progress = Clock::now();
            if (static_cast<size_t>(n) < one.size()) {
                // Finish the record so the stream stays framed, however long that takes.
                size_t done = static_cast<size_t>(n);
                while (done < one.size() && Clock::now() - last_progress < 3s) {
                    ssize_t m = ::send(fd, one.data() + done, one.size() - done, MSG_NOSIGNAL);
                    if (m > 0) done += static_cast<size_t>(m), sent += static_cast<size_t>(m);
                }
            }
        } else {
            pollfd p{fd, POLLOUT, 0};
            ::poll(&p, 1, 100);
        }
    }
    // What it could send: the server's input bound, the two sockets' buffers and the calls in
    // flight are each a few MiB.
    EXPECT_LT(sent, 64u << 20) << "the server kept taking calls whose replies pile up";

    // Meanwhile another Pi is served.
    auto other_root = mount_root(config_.nfs.mount_port, "/", kOtherIp);
    ASSERT_TRUE(other_root);
    RawRpc other(config_.nfs.port, kOtherIp);
    EXPECT_TRUE(lookup(other, *other_root, "big.bin"));

    // Cut off after its replies have not drained for 30 s: the socket errors (reset) without
    // our reading anything.
    pollfd p{fd, POLLRDHUP, 0};
    const auto deadline = Clock::now() + 45s;
    bool cut = false;
    while (!cut && Clock::now() < deadline) {
        p.revents = 0;
        if (::poll(&p, 1, 1000) > 0 && (p.revents & (POLLERR | POLLHUP | POLLRDHUP))) cut = true;
    }
    EXPECT_TRUE(cut) << "the connection is still open";
    ::close(fd);
}

TEST_F(NfsFlood, BogusCallsFromOneSourceAreCappedWhileAnotherPiIsServed) {
    // Calls for a program we do not serve, one after another on one connection: answered
    // within the budget (a burst of 500, then 100 a second), then the connection is closed.
    const auto bogus = build_call(7, kNoSuchProgram, 3, 0, {});
    RawRpc flooder(config_.nfs.port);
    ASSERT_TRUE(flooder.connected());
    int answered = 0;
    const auto start = Clock::now();
    for (int i = 0; i < 5000; ++i) {
        auto reply = flooder.call(bogus);
        if (!reply) break;
        EXPECT_EQ(reply->accept_stat, 1u);  // PROG_UNAVAIL
        ++answered;
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    EXPECT_GE(answered, 500);
    EXPECT_LE(answered, 500 + 100 * seconds + 10) << "over " << seconds << " s";
    EXPECT_TRUE(flooder.closed_by_peer(5s));

    // Another Pi is served as usual.
    auto other_root = mount_root(config_.nfs.mount_port, "/", kOtherIp);
    ASSERT_TRUE(other_root);
    RawRpc other(config_.nfs.port, kOtherIp);
    EXPECT_TRUE(lookup(other, *other_root, "etc"));

    // Over UDP too: 1,000 datagrams at once from the flooder, whose budget is spent, get at
    // most what it regained meanwhile (datagrams the sockets lose only lower the count).
    const auto udp_start = Clock::now();
    const int udp_answered = udp_flood(bogus, 1000);
    const double udp_seconds = std::chrono::duration<double>(Clock::now() - udp_start).count();
    EXPECT_LE(udp_answered, 100 * udp_seconds + 10) << "over " << udp_seconds << " s";
}

TEST_F(NfsFlood, DatagramsOfASourceOverItsBudgetAreDroppedByTheKernel) {
    // Bogus datagrams one at a time until one goes unanswered: the budget is spent. Then 50
    // more, 2 ms apart (too slow to fill a receive buffer): the socket filter drops them, and
    // none is answered.
    const auto bogus = build_call(7, kNoSuchProgram, 3, 0, {});
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in to = make_sockaddr(Ipv4{INADDR_LOOPBACK}, config_.nfs.port);
    auto send = [&] {
        ::sendto(fd, bogus.data(), bogus.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    };
    std::vector<uint8_t> buf(65536);
    pollfd p{fd, POLLIN, 0};
    int answered = 0;
    for (; answered < 5000; ++answered) {
        send();
        if (::poll(&p, 1, 500) != 1 || ::recv(fd, buf.data(), buf.size(), 0) <= 0) break;
    }
    EXPECT_GE(answered, 500);
    const uint64_t before = rootfarm::testing::udp_drops(config_.nfs.port);
    for (int i = 0; i < 50; ++i) {
        send();
        std::this_thread::sleep_for(2ms);
    }
    EXPECT_EQ(::poll(&p, 1, 200), 0) << "a source over its budget was answered";
    ::close(fd);
    EXPECT_GE(rootfarm::testing::udp_drops(config_.nfs.port) - before, 50u);
}

TEST_F(NfsFlood, OversizedRecordsSpendTheBudgetThenTheSourceIsRefusedAtConnect) {
    // A record mark claiming 2 GiB (RFC 5531 §11: the length is 31 bits) is no call of ours:
    // the connection closes. Past the source's budget its new connections close at once.
    const std::vector<uint8_t> huge_mark = {0xff, 0xff, 0xff, 0xff};
    int closed = 0;
    for (int i = 0; i < 2000; ++i) {
        RawRpc flooder(config_.nfs.port);
        if (!flooder.connected() || !flooder.send_raw(huge_mark)) continue;
        if (flooder.closed_by_peer(2s)) ++closed;
    }
    EXPECT_EQ(closed, 2000);
    expect_refused_while_another_pi_is_served();
}

TEST_F(NfsFlood, OversizedRecordsWeighWhatTheyMadeTheServerRead) {
    // Non-last fragments of 64 KiB (RFC 5531 §11) that add up past the largest call: the server
    // reads and keeps a megabyte before it can tell. Each such record costs the source its
    // bytes' worth of the bogus-call budget (500 calls at once), not one call: ten of them
    // spend it, where counted as one call each they would have spent 10.
    std::vector<uint8_t> fragments;
    for (int i = 0; i < 17; ++i) {
        const uint32_t mark = 0x10000;  // not the last fragment
        for (int b = 0; b < 4; ++b) fragments.push_back(static_cast<uint8_t>(mark >> (24 - 8 * b)));
        fragments.resize(fragments.size() + 0x10000, 0x5a);
    }
    int closed = 0;
    for (int i = 0; i < 10; ++i) {
        RawRpc flooder(config_.nfs.port);
        if (!flooder.connected()) continue;
        (void)flooder.send_raw(fragments);  // may fail part-way: the server closes first
        if (flooder.closed_by_peer(2s)) ++closed;
    }
    EXPECT_EQ(closed, 10);
    expect_refused_while_another_pi_is_served();
}

}  // namespace
}  // namespace rootfarm::nfsd
