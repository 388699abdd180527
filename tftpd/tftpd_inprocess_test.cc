// What the TFTP service tells the Pis' owner (boot phases, learnt addresses, enrolment),
// seen from inside the process: TftpServer on a loop thread, a real store, a raw UDP client.

#include <gtest/gtest.h>

#include <memory>
#include <set>

#include "tests/support/serve_process.h"
#include "tests/support/farm_test_util.h"
#include "tftpd/loop_thread_test_util.h"
#include "tftpd/raw_client_test_util.h"
#include "tftpd/test_images_test_util.h"
#include "tftpd/tftpd.h"

namespace rootfarm::tftpd {
namespace {

using std::chrono::milliseconds;
using namespace testing;
using rootfarm::testing::TempDir;

class TftpRegistryTest : public ::testing::Test {
  protected:
    void SetUp() override {
        images_ = make_test_images(dir_.path());
        config_.state_dir = dir_.path();
        config_.tftp.listen = Ipv4{0x7f000001};
        config_.tftp.port = 0;
        config_.defaults.enroll = DefaultsConfig::Enroll::kAnyPi;
        ClientConfig a;
        a.mac = kMacA;
        a.serial = "1a2b3c4d";
        config_.clients = {a};
        store::StoreOptions so;
        so.state_dir = dir_.path();
        auto st = store::Store::open(so);
        ASSERT_TRUE(st.ok()) << st.error().message();
        store_ = std::move(*st);
        clients_ = std::make_unique<Clients>(config_, store_.get());
        // Loopback addresses are in no neighbour table; keep the host's out of the test.
        clients_->set_neighbour_source([](Ipv4) { return std::optional<MacAddr>(); });
        auto server = TftpServer::create(config_, *clients_);
        ASSERT_TRUE(server.ok());
        server_ = std::move(*server);
        auto started = loop_->call([&] { return server_->start(*loop_->loop()); });
        ASSERT_TRUE(started.ok()) << started.error().message();
    }
    void TearDown() override {
        loop_.reset();  // the loop stops and closes every socket before the server goes
        server_.reset();
    }

    std::optional<std::string> fetch(RawClient& c, const std::string& name) {
        c.send_to(loopback(server_->port()),
                  encode_request({Opcode::kRrq, name, Mode::kOctet, {{"blksize", "1024"}}}));
        return receive_file(c, 1024, 1, true);
    }

    TempDir dir_;
    TestImages images_;
    Config config_;
    std::unique_ptr<store::Store> store_;
    std::unique_ptr<Clients> clients_;
    std::unique_ptr<TftpServer> server_;
    std::unique_ptr<LoopThread> loop_ = std::make_unique<LoopThread>();
};

TEST_F(TftpRegistryTest, SerialPrefixTeachesTheAddressAndBootPhasesFollow) {
    RawClient pi("127.0.0.3");
    ASSERT_TRUE(pi.ok());
    EXPECT_FALSE(clients_->by_ip(Ipv4{0x7f000003}));
    auto start4 = fetch(pi, "1a2b3c4d/start4.elf");
    ASSERT_TRUE(start4);
    EXPECT_TRUE(*start4 == images_.start4);
    auto known = clients_->by_ip(Ipv4{0x7f000003});
    ASSERT_TRUE(known);
    EXPECT_EQ(known->mac, kMacA);
    EXPECT_EQ(clients_->status(kMacA).phase, BootPhase::kTftpFirmware);
    // The kernel, asked for without a prefix from the learnt address.
    auto kernel = fetch(pi, "kernel8.img");
    ASSERT_TRUE(kernel);
    EXPECT_TRUE(*kernel == images_.kernel);
    // The server sees our last ACK a moment after we sent it.
    EXPECT_TRUE(
        eventually([&] { return clients_->status(kMacA).phase == BootPhase::kKernelFetched; }));
    // Device trees after the kernel are the same boot; start4.elf again is a new one.
    ASSERT_TRUE(fetch(pi, "overlays/vc4-kms-v3d.dtbo"));
    EXPECT_EQ(clients_->status(kMacA).phase, BootPhase::kKernelFetched);
    ASSERT_TRUE(fetch(pi, "start4.elf"));
    EXPECT_EQ(clients_->status(kMacA).phase, BootPhase::kTftpFirmware);
    EXPECT_EQ(clients_->status(kMacA).boots, 2u);
}

TEST_F(TftpRegistryTest, MacPrefixOfAnUnknownPiEnrolsItWithAnyPi) {
    const MacAddr pi5 = *MacAddr::parse("2c:cf:67:00:00:05");
    EXPECT_FALSE(clients_->by_mac(pi5));
    RawClient c("127.0.0.5");
    ASSERT_TRUE(fetch(c, "2c-cf-67-00-00-05/config.txt"));
    auto enrolled = clients_->by_mac(pi5);
    ASSERT_TRUE(enrolled);
    EXPECT_EQ(enrolled->ip, Ipv4{0x7f000005});
    // Not a Raspberry Pi OUI: not enrolled, served as an unknown client.
    RawClient other("127.0.0.6");
    EXPECT_EQ(fetch(other, "00-11-22-33-44-55/config.txt"), kImageConfig);
    EXPECT_FALSE(clients_->by_mac(*MacAddr::parse("00:11:22:33:44:55")));
}

TEST_F(TftpRegistryTest, AnRrqFloodFromOneAddressIsCappedAndAnotherPiIsServed) {
    // 1,000 requests for a missing file, as fast as they go, each from a fresh port: answered
    // within the default budget (20 a second, bursts of 100), the rest dropped unanswered.
    RawClient flooder("127.0.0.7");
    const auto rrq = encode_request({Opcode::kRrq, "no-such-file", Mode::kOctet, {}});
    const auto begin = std::chrono::steady_clock::now();
    int answered = 0;
    for (int i = 0; i < 1000; ++i) {
        flooder.send_to(loopback(server_->port()), rrq);
        while (flooder.recv(milliseconds(0))) ++answered;
    }
    while (flooder.recv(milliseconds(300))) ++answered;
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    EXPECT_GE(answered, 50);
    EXPECT_LE(answered, 100 + 20 * seconds + 1) << "over " << seconds << " s";
    // Another Pi is served meanwhile.
    RawClient pi("127.0.0.8");
    EXPECT_EQ(fetch(pi, "1a2b3c4d/config.txt"), kImageConfig);
}

TEST_F(TftpRegistryTest, AFloodingAddressIsDroppedByTheKernelMeanwhile) {
    // RRQs one at a time until one goes unanswered: the address's budget is spent.
    RawClient flooder("127.0.0.7");
    const auto rrq = encode_request({Opcode::kRrq, "no-such-file", Mode::kOctet, {}});
    int answered = 0;
    for (; answered < 1000; ++answered) {
        flooder.send_to(loopback(server_->port()), rrq);
        if (!flooder.recv(milliseconds(300))) break;
    }
    EXPECT_GE(answered, 100);
    // 50 more, 2 ms apart: the socket filter drops them, and none is answered.
    const uint64_t before = rootfarm::testing::udp_drops(server_->port());
    for (int i = 0; i < 50; ++i) {
        flooder.send_to(loopback(server_->port()), rrq);
        std::this_thread::sleep_for(milliseconds(2));
    }
    EXPECT_FALSE(flooder.recv(milliseconds(100)));
    EXPECT_GE(rootfarm::testing::udp_drops(server_->port()) - before, 50u);
    // Another Pi is served meanwhile.
    RawClient pi("127.0.0.8");
    EXPECT_EQ(fetch(pi, "1a2b3c4d/config.txt"), kImageConfig);
}

// Room for hundreds of transfers at once, none retransmitting while the test holds them open.
class TftpManyTransfersTest : public TftpRegistryTest {
  protected:
    void SetUp() override {
        config_.tftp.max_transfers = 1000;
        config_.tftp.max_transfers_per_client = 1000;
        config_.tftp.timeout_ms = 30000;
        config_.tftp.client_requests_per_second = 0;  // 800 requests from one address
        TftpRegistryTest::SetUp();
    }
};

TEST_F(TftpManyTransfersTest, HundredsOfOpenTransfersEachKeepTheirOwnPort) {
    // RFC 1350 §4: a transfer is named by its port; the client sends every ACK there. With
    // SO_REUSEADDR on the transfer sockets Linux gave two transfers one port about once in
    // 30 transfers at this count: the ACKs of one went to the other, which answered
    // "Unknown transfer ID", and the first gave up after five retransmits (seen in boot storms
    // over a veth pair as "transfer failed: no answer after 5 retransmits").
    constexpr int kTransfers = 800;
    std::vector<std::unique_ptr<RawClient>> pis;
    std::vector<sockaddr_in> tid(kTransfers);
    std::set<uint16_t> ports;
    for (int i = 0; i < kTransfers; ++i) {
        // One request at a time: 800 at once would overflow the request port's receive buffer.
        pis.push_back(std::make_unique<RawClient>("127.0.0.1"));
        ASSERT_TRUE(pis.back()->ok());
        pis.back()->send_to(
            loopback(server_->port()),
            encode_request({Opcode::kRrq, "overlays/vc4-kms-v3d.dtbo", Mode::kOctet, {}}));
        auto data = pis.back()->recv(milliseconds(10000));
        ASSERT_TRUE(data) << "no DATA 1 for transfer " << i;
        ASSERT_EQ(opcode_of(*data), static_cast<uint16_t>(Opcode::kData));
        ASSERT_EQ(block_of(*data), 1);
        tid[i] = pis.back()->last_from();
        ports.insert(ntohs(tid[i].sin_port));
    }
    // All of them are open now, each waiting for its ACK 1.
    EXPECT_EQ(ports.size(), size_t{kTransfers});
    for (auto& pi : pis) pi->reply(encode_ack(1));
    int wrong = 0;
    for (int i = 0; i < kTransfers; ++i) {
        auto data = pis[i]->recv(milliseconds(10000));
        const bool right = data && opcode_of(*data) == static_cast<uint16_t>(Opcode::kData) &&
                           block_of(*data) == 2 && pis[i]->last_from().sin_port == tid[i].sin_port;
        if (!right) ++wrong;
    }
    EXPECT_EQ(wrong, 0) << "transfers that did not get DATA 2 from their own port";
}

}  // namespace
}  // namespace rootfarm::tftpd
