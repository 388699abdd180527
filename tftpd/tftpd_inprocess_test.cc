// What the TFTP service tells the client registry (boot phases, learnt addresses, enrolment),
// seen from inside the process: TftpServer on a loop thread, a real store, a raw UDP client.

#include <gtest/gtest.h>

#include <memory>

#include "tests/support/serve_process.h"
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
        clients_ = std::make_unique<ClientRegistry>(config_);
        // Loopback addresses are in no neighbour table; keep the host's out of the test.
        clients_->set_neighbour_source([](Ipv4) { return std::optional<MacAddr>(); });
        store::StoreOptions so;
        so.state_dir = dir_.path();
        auto st = store::Store::open(so);
        ASSERT_TRUE(st.ok()) << st.error().message();
        store_ = std::move(*st);
        auto server = TftpServer::create(config_, *clients_, *store_);
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
    std::unique_ptr<ClientRegistry> clients_;
    std::unique_ptr<store::Store> store_;
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
    EXPECT_EQ(known->phase, BootPhase::kTftpBoot);
    // The kernel, asked for without a prefix from the learnt address.
    auto kernel = fetch(pi, "kernel8.img");
    ASSERT_TRUE(kernel);
    EXPECT_TRUE(*kernel == images_.kernel);
    // The server sees our last ACK a moment after we sent it.
    EXPECT_TRUE(
        eventually([&] { return clients_->by_mac(kMacA)->phase == BootPhase::kKernelFetched; }));
    // Device trees after the kernel are the same boot; start4.elf again is a new one.
    ASSERT_TRUE(fetch(pi, "overlays/vc4-kms-v3d.dtbo"));
    EXPECT_EQ(clients_->by_mac(kMacA)->phase, BootPhase::kKernelFetched);
    ASSERT_TRUE(fetch(pi, "start4.elf"));
    EXPECT_EQ(clients_->by_mac(kMacA)->phase, BootPhase::kTftpBoot);
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

}  // namespace
}  // namespace rootfarm::tftpd
