#include "bench/rpc_wire.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

namespace rootfarm::bench {
namespace {

TEST(RpcCall, EncodesTheCallHeaderOfRfc5531) {
    auto c = rpc_call(0x01020304, 2, 100003, 3, 6, 1);
    // xid, CALL, rpcvers, prog, vers, proc, AUTH_SYS + 20-byte body, AUTH_NONE verifier.
    ASSERT_EQ(c.size(), 4u * (6 + 2 + 5 + 2));
    EXPECT_EQ(std::vector<uint8_t>(c.begin(), c.begin() + 8),
              (std::vector<uint8_t>{1, 2, 3, 4, 0, 0, 0, 0}));
    EXPECT_EQ(c[4 * 3 + 1], 0x01);  // 100003 = 0x000186a3
    EXPECT_EQ(c[4 * 3 + 2], 0x86);
    EXPECT_EQ(c[4 * 3 + 3], 0xa3);
    EXPECT_EQ(c[4 * 7 + 3], 20);  // the credential body's length
    EXPECT_EQ(rpc_call(1, 2, 100003, 3, 0, 0).size(), 4u * (6 + 2 + 2));
}

TEST(TcpRecords, CountsRepliesAcrossFragmentsAndSeesTheClose) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    TcpRecords::Status st;
    // Replies written by "the server": one record in one fragment, one in two fragments
    // (RFC 5531 §11), split across writes in awkward places.
    std::vector<uint8_t> bytes;
    put_u32(bytes, 0x80000004);
    put_u32(bytes, 7);
    put_u32(bytes, 0x00000002);  // not last
    bytes.push_back(1);
    bytes.push_back(2);
    put_u32(bytes, 0x80000001);
    bytes.push_back(3);
    TcpRecords r;
    r.adopt(sv[0]);
    ASSERT_EQ(::write(sv[1], bytes.data(), 6), 6);
    EXPECT_EQ(r.read_replies(), TcpRecords::kIdle);
    EXPECT_EQ(r.records_received(), 0u);
    ASSERT_EQ(::write(sv[1], bytes.data() + 6, bytes.size() - 6),
              static_cast<ssize_t>(bytes.size() - 6));
    EXPECT_EQ(r.read_replies(), TcpRecords::kIdle);
    EXPECT_EQ(r.records_received(), 2u);
    // Queued records go out whole, each with its last-fragment mark.
    r.queue_record(std::vector<uint8_t>{9, 9, 9, 9});
    st = r.flush();
    EXPECT_EQ(st, TcpRecords::kIdle);
    EXPECT_EQ(r.records_sent(), 1u);
    uint8_t got[8];
    ASSERT_EQ(::read(sv[1], got, sizeof got), 8);
    EXPECT_EQ(got[0], 0x80);
    EXPECT_EQ(got[3], 4);
    ::close(sv[1]);
    EXPECT_EQ(r.read_replies(), TcpRecords::kClosed);
}

}  // namespace
}  // namespace rootfarm::bench
