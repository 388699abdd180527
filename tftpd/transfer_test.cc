#include "tftpd/transfer.h"

#include <gtest/gtest.h>

#include <mutex>

#include "tftpd/loop_thread_test_util.h"
#include "tftpd/raw_client_test_util.h"

namespace rootfarm::tftpd {
namespace {

using std::chrono::milliseconds;
using testing::block_of;
using testing::LoopThread;
using testing::opcode_of;
using testing::payload_of;
using testing::random_bytes;
using testing::RawClient;

constexpr uint16_t kData = static_cast<uint16_t>(Opcode::kData);

class TransferTest : public ::testing::Test {
  protected:
    // Starts a transfer on the loop towards `client`, with options as a client would send them.
    void start(RawClient& client, std::string content, std::vector<Option> options,
               milliseconds timeout = milliseconds(1000), uint32_t retries = 5) {
        TransferParams p;
        p.peer = client.local();
        p.local_addr = Ipv4{0x7f000001};
        p.negotiated = negotiate(options, Mode::kOctet, content.size());
        p.timeout = timeout;
        p.retries = retries;
        auto result = loop_.call([&] {
            return Transfer::start(*loop_.loop(), p, Source::from_memory(std::move(content)), pool_,
                                   [this](Transfer&, const TransferOutcome& o) {
                                       std::lock_guard lock(mu_);
                                       outcome_ = o;
                                       done_.set_value();
                                   });
        });
        ASSERT_TRUE(result.ok()) << result.error().message();
        transfer_ = std::move(*result);
    }
    void expect_complete() {
        auto o = outcome();
        ASSERT_TRUE(o);
        EXPECT_EQ(o->kind, TransferOutcome::Kind::kComplete) << o->detail;
    }
    // Waits (bounded) for the transfer to end.
    std::optional<TransferOutcome> outcome() {
        if (done_.get_future().wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
            return std::nullopt;
        }
        std::lock_guard lock(mu_);
        return outcome_;
    }
    ~TransferTest() override {
        // The transfer object must not outlive the loop thread's last use of it.
        loop_.call([this] {
            transfer_.reset();
            return 0;
        });
    }

    LoopThread loop_;
    std::shared_ptr<BufferPool> pool_ = std::make_shared<BufferPool>(4);
    std::shared_ptr<Transfer> transfer_;
    std::mutex mu_;
    std::promise<void> done_;
    TransferOutcome outcome_;
};

class TransferSizes : public TransferTest, public ::testing::WithParamInterface<size_t> {};

// Lock-step, 512-byte blocks. RFC 1350 §6: a block shorter than 512 bytes ends the transfer, so
// an empty file is one empty block and an exact multiple of 512 ends with an empty block.
TEST_P(TransferSizes, LockStepTransferDeliversTheBytes) {
    RawClient c;
    std::string content = random_bytes(GetParam(), static_cast<unsigned>(GetParam()));
    start(c, content, {});
    auto got = testing::receive_file(c, 512, 1, false);
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, content);
    expect_complete();
}

INSTANTIATE_TEST_SUITE_P(Sizes, TransferSizes, ::testing::Values(0, 1, 511, 512, 1024, 5000));

TEST_F(TransferTest, EarlyTerminateAfterOackEndsQuietly) {
    RawClient c;
    start(c, random_bytes(3000, 3), {{"tsize", "0"}, {"blksize", "1024"}}, milliseconds(300));
    auto oack = c.recv(milliseconds(5000));
    ASSERT_TRUE(oack);
    EXPECT_EQ(*oack, encode_oack({{"tsize", "3000"}, {"blksize", "1024"}}));
    c.reply(encode_error(ErrorCode::kNotDefined, "Early terminate"));
    auto o = outcome();
    ASSERT_TRUE(o);
    EXPECT_EQ(o->kind, TransferOutcome::Kind::kEarlyTerminate);
    // Several timeouts later, nothing more was sent.
    EXPECT_FALSE(c.recv(milliseconds(1000)));
}

TEST_F(TransferTest, LostAckGetsOneRetransmitPerTimeout) {
    RawClient c;
    std::string content = random_bytes(1500, 4);
    start(c, content, {}, milliseconds(500));
    auto first = c.recv(milliseconds(5000));
    ASSERT_TRUE(first);
    EXPECT_EQ(block_of(*first), 1);
    // We "lose" our ACK: the timer resends DATA 1, once.
    auto again = c.recv(milliseconds(5000));
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, *first);
    EXPECT_FALSE(c.recv(milliseconds(100))) << "more than one retransmit per timeout";
    c.reply(encode_ack(1));
    std::string got(payload_of(*first));
    // The rest arrives normally.
    for (uint16_t b = 2; b <= 3; ++b) {
        auto p = c.recv(milliseconds(5000));
        ASSERT_TRUE(p);
        ASSERT_EQ(block_of(*p), b);
        got.append(payload_of(*p));
        c.reply(encode_ack(b));
    }
    EXPECT_EQ(got, content);
    auto o = outcome();
    ASSERT_TRUE(o);
    EXPECT_EQ(o->kind, TransferOutcome::Kind::kComplete);
    EXPECT_EQ(o->retransmits, 1u);
}

TEST_F(TransferTest, DuplicateAckSendsNothing) {
    RawClient c;
    start(c, random_bytes(2000, 5), {}, milliseconds(3000));
    auto d1 = c.recv(milliseconds(5000));
    ASSERT_TRUE(d1);
    c.reply(encode_ack(1));
    auto d2 = c.recv(milliseconds(5000));
    ASSERT_TRUE(d2);
    EXPECT_EQ(block_of(*d2), 2);
    // docs/pi-boot.md: DATA in answer to a duplicate ACK hangs start4.elf.
    c.reply(encode_ack(1));
    c.reply(encode_ack(1));
    EXPECT_FALSE(c.recv(milliseconds(300)));
    c.reply(encode_ack(2));
    auto d3 = c.recv(milliseconds(5000));
    ASSERT_TRUE(d3);
    EXPECT_EQ(block_of(*d3), 3);
}

TEST_F(TransferTest, GivesUpAfterTheConfiguredRetries) {
    RawClient c;
    start(c, random_bytes(700, 6), {}, milliseconds(200), 2);
    int copies = 0;
    while (auto p = c.recv(milliseconds(2000))) {
        EXPECT_EQ(block_of(*p), 1);
        ++copies;
    }
    EXPECT_EQ(copies, 3);  // the first send and two retransmits
    auto o = outcome();
    ASSERT_TRUE(o);
    EXPECT_EQ(o->kind, TransferOutcome::Kind::kTimeout);
}

TEST_F(TransferTest, WindowOfEightAcrossBlockNumberRollover) {
    RawClient c;
    // 75,001 blocks of 8 bytes: the 16-bit block number wraps past 65535 to 0.
    std::string content = random_bytes(600000, 7);
    start(c, content, {{"blksize", "8"}, {"windowsize", "8"}});
    auto got = testing::receive_file(c, 8, 8, true);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->size(), content.size());
    EXPECT_TRUE(*got == content);
    expect_complete();
}

TEST_F(TransferTest, AckInsideTheWindowRestartsAfterIt) {
    RawClient c;
    start(c, random_bytes(4096, 8), {{"blksize", "512"}, {"windowsize", "4"}});
    ASSERT_TRUE(c.recv(milliseconds(5000)));  // OACK
    c.reply(encode_ack(0));
    for (uint16_t b = 1; b <= 4; ++b) {
        auto p = c.recv(milliseconds(5000));
        ASSERT_TRUE(p);
        EXPECT_EQ(block_of(*p), b);
    }
    // RFC 7440: blocks 3 and 4 "lost"; the next window starts at 3.
    c.reply(encode_ack(2));
    for (uint16_t b = 3; b <= 6; ++b) {
        auto p = c.recv(milliseconds(5000));
        ASSERT_TRUE(p);
        EXPECT_EQ(block_of(*p), b);
    }
}

TEST_F(TransferTest, ForeignTransferIdGetsError5AndDoesNotDisturb) {
    RawClient c;
    RawClient stranger;
    std::string content = random_bytes(1000, 9);
    start(c, content, {});
    auto d1 = c.recv(milliseconds(5000));
    ASSERT_TRUE(d1);
    stranger.send_to(c.last_from(), encode_ack(1));
    auto err = stranger.recv(milliseconds(5000));
    ASSERT_TRUE(err);
    EXPECT_EQ(opcode_of(*err), static_cast<uint16_t>(Opcode::kError));
    EXPECT_EQ(block_of(*err), static_cast<uint16_t>(ErrorCode::kUnknownTid));
    // An ERROR from a stranger is not answered (RFC 1350 §7).
    stranger.send_to(c.last_from(), encode_error(ErrorCode::kNotDefined, "who are you"));
    EXPECT_FALSE(stranger.recv(milliseconds(300)));
    c.reply(encode_ack(1));
    auto d2 = c.recv(milliseconds(5000));
    ASSERT_TRUE(d2);
    EXPECT_EQ(opcode_of(*d2), kData);
    EXPECT_EQ(block_of(*d2), 2);
}

}  // namespace
}  // namespace rootfarm::tftpd
