// The real `rootfarm serve` serving TFTP from a real store on 127.0.0.1, fetched with real
// clients (curl, tftp-hpa, busybox) and a raw UDP client that loses and repeats packets on
// purpose.

#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <memory>

#include "tests/support/serve_process.h"
#include "tftpd/raw_client_test_util.h"
#include "tftpd/test_images_test_util.h"

namespace rootfarm::tftpd {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using namespace testing;
using rootfarm::testing::free_port;
using rootfarm::testing::run_command;
using rootfarm::testing::ServeProcess;
using rootfarm::testing::TempDir;

constexpr uint16_t kOpData = static_cast<uint16_t>(Opcode::kData);
constexpr uint16_t kOpError = static_cast<uint16_t>(Opcode::kError);
constexpr uint16_t kOpOack = static_cast<uint16_t>(Opcode::kOack);

// Runs a shell command line, bounded; its exit status.
int sh(const std::string& cmd) {
    return run_command({"sh", "-c", cmd}).status;
}

class TftpServeTest : public ::testing::Test {
  protected:
    void SetUp() override {
        state_ = dir_.path() / "state";
        out_ = dir_.path() / "out";
        fs::create_directories(out_);
        images_ = make_test_images(state_);
        {
            store::StoreOptions so;
            so.state_dir = state_;
            auto st = store::Store::open(so);
            ASSERT_TRUE(st.ok()) << st.error().message();
            ASSERT_EQ(write_config_of_a(**st), "");
        }
        port_ = free_port();
        url_ = "tftp://127.0.0.1:" + std::to_string(port_) + "/";
        const fs::path config = dir_.path() / "rootfarm.toml";
        write_file(config, "state_dir = \"" + state_.string() + "\"\n" + top_level_config() +
                               "[nfs]\nenabled = false\n"
                               "[tftp]\nlisten = \"127.0.0.1\"\nport = " +
                               std::to_string(port_) +
                               "\ntimeout_ms = 1000\nretries = 3\n"
                               "nfs_rsize = 32768\n" +
                               tftp_config() +
                               "[defaults]\nimage = \"default\"\n"
                               "[[client]]\nmac = \"b8:27:eb:00:00:0a\"\nserial = \"1a2b3c4d\"\n"
                               "[[client]]\nmac = \"dc:a6:32:00:00:0b\"\n"
                               "serial = \"10000000cafef00d\"\nimage = \"other\"\n");
        server_ = std::make_unique<ServeProcess>(config);
        ASSERT_TRUE(server_->wait_ready()) << server_->log();
    }

    void TearDown() override {
        if (server_) {
            EXPECT_EQ(server_->stop(SIGTERM), 0) << server_->log();
        }
    }

    virtual std::string top_level_config() { return ""; }
    virtual std::string tftp_config() { return "max_transfers_per_client = 4\n"; }

    sockaddr_in server_addr() const { return loopback(port_); }
    std::string port() const { return std::to_string(port_); }
    std::string out(const std::string& name) const { return (out_ / name).string(); }

    // A raw request; returns the first answer.
    std::optional<std::vector<uint8_t>> request(RawClient& c, const std::string& name,
                                                std::vector<Option> options = {},
                                                Opcode op = Opcode::kRrq) {
        c.send_to(server_addr(), encode_request({op, name, Mode::kOctet, std::move(options)}));
        return c.recv(milliseconds(5000));
    }
    // A whole file through the raw client (lock-step, 512-byte blocks, no options).
    std::optional<std::string> fetch(RawClient& c, const std::string& name) {
        c.send_to(server_addr(), encode_request({Opcode::kRrq, name, Mode::kOctet, {}}));
        return receive_file(c, 512, 1, false);
    }
    // The error code of an ERROR packet, -1 otherwise.
    static int error_code(const std::optional<std::vector<uint8_t>>& p) {
        if (!p || opcode_of(*p) != kOpError) return -1;
        return block_of(*p);
    }

    TempDir dir_;
    fs::path state_, out_;
    TestImages images_;
    uint16_t port_ = 0;
    std::string url_;
    std::unique_ptr<ServeProcess> server_;
};

TEST_F(TftpServeTest, CurlDownloadsAtSeveralBlockSizes) {
    for (int blksize : {512, 1024, 1468, 8192, 65464}) {
        const std::string file = out("kernel-" + std::to_string(blksize));
        ASSERT_EQ(sh("curl -sS -o " + file + " --tftp-blksize " + std::to_string(blksize) + " " +
                     url_ + "kernel8.img"),
                  0)
            << blksize;
        EXPECT_TRUE(read_file(file) == images_.kernel) << "blksize " << blksize;
    }
    ASSERT_EQ(sh("curl -sS -o " + out("start4") + " " + url_ + "start4.elf"), 0);
    EXPECT_TRUE(read_file(out("start4")) == images_.start4);
}

TEST_F(TftpServeTest, TftpHpaClientOctetAndNetascii) {
    ASSERT_EQ(sh("tftp -m binary 127.0.0.1 " + port() + " -c get start4.elf " + out("start4")), 0);
    EXPECT_TRUE(read_file(out("start4")) == images_.start4);
    // netascii on the wire (CR LF), turned back into the file's LF by the client.
    ASSERT_EQ(sh("tftp -m ascii 127.0.0.1 " + port() + " -c get config.txt " + out("config")), 0);
    EXPECT_EQ(read_file(out("config")), kImageConfig);
}

TEST_F(TftpServeTest, BusyboxClient) {
    ASSERT_EQ(
        sh("busybox tftp -g -r kernel8.img -l " + out("kernel") + " -b 1024 127.0.0.1 " + port()),
        0);
    EXPECT_TRUE(read_file(out("kernel")) == images_.kernel);
}

TEST_F(TftpServeTest, SerialAndMacPrefixesSelectTheirClientsViews) {
    // Client A's own (modified) config.txt, by its serial in any case.
    ASSERT_EQ(sh("curl -sS -o " + out("a") + " " + url_ + "1A2B3C4D/config.txt"), 0);
    EXPECT_EQ(read_file(out("a")), kConfigOfA);
    // Client B: a Pi 5 sends the low 32 bits of its serial; TFTP_PREFIX=2 sends the MAC.
    ASSERT_EQ(sh("curl -sS -o " + out("b") + " " + url_ + "cafef00d/config.txt"), 0);
    EXPECT_EQ(read_file(out("b")), kOtherConfig);
    ASSERT_EQ(sh("curl -sS -o " + out("b2") + " " + url_ + "dc-a6-32-00-00-0b/config.txt"), 0);
    EXPECT_EQ(read_file(out("b2")), kOtherConfig);

    // An address no client has, without a prefix: the default image, pristine.
    RawClient unknown("127.0.0.9");
    ASSERT_TRUE(unknown.ok());
    EXPECT_EQ(fetch(unknown, "config.txt"), kImageConfig);

    // A prefixed request teaches the server A's address: later requests from there without a
    // prefix get A's files too.
    RawClient pi("127.0.0.3");
    ASSERT_TRUE(pi.ok());
    pi.send_to(
        server_addr(),
        encode_request({Opcode::kRrq, "1a2b3c4d/start4.elf", Mode::kOctet, {{"blksize", "1024"}}}));
    auto start4 = receive_file(pi, 1024, 1, true);
    ASSERT_TRUE(start4);
    EXPECT_TRUE(*start4 == images_.start4);
    EXPECT_EQ(fetch(pi, "config.txt"), kConfigOfA);
}

TEST_F(TftpServeTest, ServedCmdlineIsTheImagesOrOneGenerated) {
    // The image's own cmdline.txt mounts the SD card: served as one that mounts the root from
    // us, with the rest of the image's line kept.
    ASSERT_EQ(sh("curl -sS -o " + out("cmdline") + " " + url_ + "cmdline.txt"), 0);
    const std::string served = read_file(out("cmdline"));
    EXPECT_EQ(served.substr(0, 34), "root=/dev/nfs nfsroot=127.0.0.1:/,") << served;
    EXPECT_NE(served.find(" console=serial0,115200 console=tty1 "), std::string::npos) << served;
    EXPECT_EQ(served.find("PARTUUID"), std::string::npos) << served;
    EXPECT_EQ(served.find("firstboot"), std::string::npos) << served;
    // Image "other" has none: one is generated, naming the address the client reached us at.
    ASSERT_EQ(sh("curl -sS -o " + out("cmdline-b") + " " + url_ + "dc-a6-32-00-00-0b/cmdline.txt"),
              0);
    EXPECT_EQ(read_file(out("cmdline-b")),
              "root=/dev/nfs nfsroot=127.0.0.1:/,vers=3,tcp,rsize=32768,wsize=32768 ip=dhcp rw "
              "rootwait\n");
}

TEST_F(TftpServeTest, EarlyTerminateAfterOackThenTheRealRequest) {
    // docs/pi-boot.md: the Pi takes the OACK for the size, says "Early terminate", asks again.
    RawClient probe;
    auto oack = request(probe, "start4.elf", {{"tsize", "0"}, {"blksize", "1024"}});
    ASSERT_TRUE(oack);
    EXPECT_EQ(*oack,
              encode_oack({{"tsize", std::to_string(images_.start4.size())}, {"blksize", "1024"}}));
    probe.reply(encode_error(ErrorCode::kNotDefined, "Early terminate"));
    RawClient fetcher;
    fetcher.send_to(
        server_addr(),
        encode_request(
            {Opcode::kRrq, "start4.elf", Mode::kOctet, {{"tsize", "0"}, {"blksize", "1024"}}}));
    auto got = receive_file(fetcher, 1024, 1, true);
    ASSERT_TRUE(got);
    EXPECT_TRUE(*got == images_.start4);
    // The terminated transfer sent nothing more, even after its timeout.
    EXPECT_FALSE(probe.recv(milliseconds(1500)));
}

TEST_F(TftpServeTest, LostAckRetransmitsOnceAndDuplicateAckSendsNothing) {
    RawClient c;
    auto oack = request(c, "config.txt", {{"blksize", "8"}, {"timeout", "2"}});
    ASSERT_TRUE(oack);
    ASSERT_EQ(opcode_of(*oack), kOpOack);
    c.reply(encode_ack(0));
    auto d1 = c.recv(milliseconds(5000));
    ASSERT_TRUE(d1);
    EXPECT_EQ(block_of(*d1), 1);
    // Our ACK 1 is "lost": one retransmit after the timeout, not a burst.
    auto again = c.recv(milliseconds(6000));
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, *d1);
    EXPECT_FALSE(c.recv(milliseconds(100)));
    c.reply(encode_ack(1));
    auto d2 = c.recv(milliseconds(5000));
    ASSERT_TRUE(d2);
    EXPECT_EQ(block_of(*d2), 2);
    // A duplicate ACK 1 must not bring DATA 2 again (start4.elf hangs on duplicate DATA).
    c.reply(encode_ack(1));
    EXPECT_FALSE(c.recv(milliseconds(500)));
    c.reply(encode_ack(2));
    std::string got(payload_of(*d1));
    got.append(payload_of(*d2));
    for (uint16_t b = 3;; ++b) {
        auto p = c.recv(milliseconds(5000));
        ASSERT_TRUE(p);
        ASSERT_EQ(block_of(*p), b);
        got.append(payload_of(*p));
        c.reply(encode_ack(b));
        if (p->size() - 4 < 8) break;
    }
    EXPECT_EQ(got, kImageConfig);
}

TEST_F(TftpServeTest, WindowsizeEightTransfer) {
    RawClient c;
    c.send_to(server_addr(), encode_request({Opcode::kRrq,
                                             "kernel8.img",
                                             Mode::kOctet,
                                             {{"blksize", "1024"}, {"windowsize", "8"}}}));
    auto oack = c.recv(milliseconds(5000));
    ASSERT_TRUE(oack);
    EXPECT_EQ(*oack, encode_oack({{"blksize", "1024"}, {"windowsize", "8"}}));
    c.reply(encode_ack(0));
    auto got = receive_file(c, 1024, 8, false);
    ASSERT_TRUE(got);
    EXPECT_TRUE(*got == images_.kernel);
}

TEST_F(TftpServeTest, TraversalAndEscapingLinksAreRefused) {
    for (const char* name : {"../root/etc/passwd", "/../etc/passwd", "overlays/../config.txt",
                             "1a2b3c4d/../../etc/passwd", "escape", "abs-escape"}) {
        RawClient c;
        EXPECT_EQ(error_code(request(c, name)), static_cast<int>(ErrorCode::kAccessViolation))
            << name;
    }
    // Links that stay inside the boot view are followed.
    RawClient c;
    EXPECT_EQ(fetch(c, "abs-inside"), kImageConfig);
    RawClient d;
    auto dtbo = fetch(d, "/rel-inside");
    ASSERT_TRUE(dtbo);
    EXPECT_EQ(dtbo->size(), 3000u);
}

TEST_F(TftpServeTest, WriteRequestsAreRefused) {
    write_file(out_ / "upload", "data");
    // tftp-hpa's exit status does not tell a refused put from a good one; its message does.
    auto put = run_command(
        {"tftp", "-m", "binary", "127.0.0.1", port(), "-c", "put", out("upload"), "upload"});
    EXPECT_NE((put.out + put.err).find("Access violation"), std::string::npos)
        << put.out << put.err;
    RawClient c;
    EXPECT_EQ(error_code(request(c, "upload", {}, Opcode::kWrq)),
              static_cast<int>(ErrorCode::kAccessViolation));
    EXPECT_FALSE(fs::exists(state_ / "images/default/boot/upload"));
}

TEST_F(TftpServeTest, MissingFileIsAQuickFileNotFound) {
    for (const char* name : {"bootsig.bin", "1a2b3c4d/pieeprom.sig", "overlays", "no/such/dir"}) {
        RawClient c;
        auto p = request(c, name);
        EXPECT_EQ(error_code(p), static_cast<int>(ErrorCode::kFileNotFound)) << name;
        ASSERT_TRUE(p);
        EXPECT_EQ(std::string(payload_of(*p)), std::string("File not found\0", 15));
        // Answered from a transfer port, as a transfer would be (RFC 1350 §4).
        EXPECT_NE(ntohs(c.last_from().sin_port), port_);
    }
}

TEST_F(TftpServeTest, StrayAndMalformedPacketsOnTheRequestPort) {
    RawClient c;
    // ACK, DATA and ERROR belong on transfer ports: dropped without an answer.
    c.send_to(server_addr(), encode_ack(1));
    c.send_to(server_addr(), encode_error(ErrorCode::kNotDefined, "stray"));
    c.send_to(server_addr(), std::vector<uint8_t>{0, 3, 0, 1, 'x'});
    c.send_to(server_addr(), std::vector<uint8_t>{0});
    EXPECT_FALSE(c.recv(milliseconds(300)));
    // A malformed request (no mode) and an unsupported mode get ERROR 4 (RFC 1350).
    c.send_to(server_addr(), std::vector<uint8_t>{0, 1, 'a', 0});
    EXPECT_EQ(error_code(c.recv(milliseconds(5000))),
              static_cast<int>(ErrorCode::kIllegalOperation));
    c.send_to(server_addr(), std::vector<uint8_t>{0, 1, 'a', 0, 'm', 'a', 'i', 'l', 0});
    EXPECT_EQ(error_code(c.recv(milliseconds(5000))),
              static_cast<int>(ErrorCode::kIllegalOperation));
    // The server still serves.
    EXPECT_EQ(fetch(c, "config.txt"), kImageConfig);
}

TEST_F(TftpServeTest, PerClientCapAndConcurrentRequestsForOneFile) {
    // Four transfers of the same file from four ports of one host, all held open.
    std::vector<std::unique_ptr<RawClient>> held;
    for (int i = 0; i < 4; ++i) {
        held.push_back(std::make_unique<RawClient>());
        auto oack = request(*held.back(), "start4.elf", {{"tsize", "0"}});
        ASSERT_TRUE(oack);
        ASSERT_EQ(opcode_of(*oack), kOpOack);
    }
    RawClient fifth;
    auto refused = request(fifth, "start4.elf");
    ASSERT_EQ(error_code(refused), static_cast<int>(ErrorCode::kNotDefined));
    // All four complete, interleaved.
    for (auto& c : held) c->reply(encode_ack(0));
    std::vector<std::string> got(4);
    std::vector<uint16_t> next(4, 1);
    std::vector<bool> done(4, false);
    for (int finished = 0; finished < 4;) {
        for (int i = 0; i < 4; ++i) {
            if (done[i]) continue;
            auto p = held[i]->recv(milliseconds(5000));
            ASSERT_TRUE(p);
            if (opcode_of(*p) != kOpData || block_of(*p) != next[i]) continue;
            got[i].append(payload_of(*p));
            held[i]->reply(encode_ack(next[i]++));
            if (p->size() - 4 < 512) {
                done[i] = true;
                ++finished;
            }
        }
    }
    for (auto& g : got) EXPECT_TRUE(g == images_.start4);
    // The places are free again.
    RawClient sixth;
    EXPECT_TRUE(eventually([&] { return fetch(sixth, "config.txt") == kImageConfig; }));
}

TEST_F(TftpServeTest, SeventyMegabytesAtBlksize512CrossBlock65535) {
    ASSERT_EQ(sh("curl -sS -o " + out("big") + " --tftp-blksize 512 " + url_ + "big.bin"), 0);
    std::string got = read_file(out("big"));
    ASSERT_EQ(got.size(), kBigSize);
    EXPECT_TRUE(got == images_.big());
}

class TftpServeRewriteTest : public TftpServeTest {
  protected:
    std::string top_level_config() override { return "server_ip = \"10.0.0.1\"\n"; }
    std::string tftp_config() override { return "rewrite_cmdline = true\nmax_transfers = 2\n"; }
};

TEST_F(TftpServeRewriteTest, ImageCmdlineIsRewrittenForNfsRoot) {
    const std::string expected =
        "root=/dev/nfs nfsroot=10.0.0.1:/,vers=3,tcp,rsize=32768,wsize=32768 ip=dhcp rw "
        "rootwait console=serial0,115200 console=tty1 fsck.repair=yes quiet\n";
    ASSERT_EQ(sh("curl -sS -o " + out("cmdline") + " " + url_ + "cmdline.txt"), 0);
    EXPECT_EQ(read_file(out("cmdline")), expected);
    // In netascii, turned back by tftp-hpa.
    ASSERT_EQ(
        sh("tftp -m ascii 127.0.0.1 " + port() + " -c get cmdline.txt " + out("cmdline-ascii")), 0);
    EXPECT_EQ(read_file(out("cmdline-ascii")), expected);
}

TEST_F(TftpServeRewriteTest, TotalTransferCap) {
    RawClient a("127.0.0.1"), b("127.0.0.2"), c("127.0.0.3");
    ASSERT_EQ(
        opcode_of(request(a, "start4.elf", {{"tsize", "0"}}).value_or(std::vector<uint8_t>{})),
        kOpOack);
    ASSERT_EQ(
        opcode_of(request(b, "start4.elf", {{"tsize", "0"}}).value_or(std::vector<uint8_t>{})),
        kOpOack);
    auto refused = request(c, "start4.elf", {{"tsize", "0"}});
    ASSERT_EQ(error_code(refused), static_cast<int>(ErrorCode::kNotDefined));
    EXPECT_EQ(std::string(payload_of(*refused)), std::string("Too many transfers\0", 19));
    // An early-terminated transfer frees its place at once.
    a.reply(encode_error(ErrorCode::kNotDefined, "Early terminate"));
    EXPECT_TRUE(eventually([&] {
        RawClient d("127.0.0.4");
        auto p = request(d, "config.txt");
        return p && opcode_of(*p) == kOpData;
    }));
}

class TftpServeManyTest : public TftpServeTest {
  protected:
    std::string tftp_config() override { return "max_transfers_per_client = 64\n"; }
};

TEST_F(TftpServeManyTest, FiftyConcurrentCurlClientsAllGetTheWholeFile) {
    // A boot storm: 50 clients fetch one ~3 MB file at once (docs/pi-boot.md: 30-60 Pis booting together
    // is where other setups struggle).
    ASSERT_EQ(sh("for i in $(seq 1 50); do curl -sS --tftp-blksize 1024 -o " + out_.string() +
                 "/k$i " + url_ + "kernel8.img & done; wait"),
              0);
    for (int i = 1; i <= 50; ++i) {
        EXPECT_TRUE(read_file(out("k" + std::to_string(i))) == images_.kernel) << i;
    }
}

}  // namespace
}  // namespace rootfarm::tftpd
