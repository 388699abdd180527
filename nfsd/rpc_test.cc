#include "nfsd/rpc.h"

#include <gtest/gtest.h>

#include <random>

namespace rootfarm::nfsd {
namespace {

// An NFSv3 GETATTR call as the Linux client sends it: AUTH_SYS uid 1000 gid 1000 with groups
// 4 and 27, machine name "pi01", an 8-byte file handle.
const std::vector<uint8_t> kGetattrCall = {
    0x6b, 0x8a, 0x2f, 0x01,                                                  // xid
    0x00, 0x00, 0x00, 0x00,                                                  // CALL
    0x00, 0x00, 0x00, 0x02,                                                  // rpcvers 2
    0x00, 0x01, 0x86, 0xa3,                                                  // prog 100003
    0x00, 0x00, 0x00, 0x03,                                                  // vers 3
    0x00, 0x00, 0x00, 0x01,                                                  // proc GETATTR
    0x00, 0x00, 0x00, 0x01,                                                  // cred AUTH_SYS
    0x00, 0x00, 0x00, 0x20,                                                  // 32 bytes
    0x65, 0x4a, 0x1b, 0x00,                                                  // stamp
    0x00, 0x00, 0x00, 0x04, 'p',  'i',  '0',  '1',  0x00, 0x00, 0x03, 0xe8,  // uid 1000
    0x00, 0x00, 0x03, 0xe8,                                                  // gid 1000
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x1b,
    0x00, 0x00, 0x00, 0x00,  // verf AUTH_NONE
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 1,    2,    3,    4,
    5,    6,    7,    8,  // nfs_fh3
};

// A NULL call with AUTH_NONE, as `rpcinfo -t` sends it.
const std::vector<uint8_t> kNullCall = {
    0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01,
    0x86, 0xa5, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

TEST(Rpc, DecodesAuthSysGetattr) {
    DecodedCall c = decode_call(kGetattrCall);
    ASSERT_EQ(c.status, CallStatus::kOk);
    EXPECT_EQ(c.header.xid, 0x6b8a2f01u);
    EXPECT_EQ(c.header.prog, 100003u);
    EXPECT_EQ(c.header.vers, 3u);
    EXPECT_EQ(c.header.proc, 1u);
    EXPECT_EQ(c.header.cred.flavor, kAuthSys);
    EXPECT_EQ(c.header.cred.uid, 1000u);
    EXPECT_EQ(c.header.cred.gid, 1000u);
    ASSERT_EQ(c.header.cred.ngroups, 2);
    EXPECT_EQ(c.header.cred.groups[1], 27u);
    XdrReader args{std::span(kGetattrCall).subspan(c.header.args_offset)};
    EXPECT_EQ(args.opaque(64).size(), 8u);
    EXPECT_TRUE(args.ok());
}

TEST(Rpc, DecodesAuthNoneNullAsAnonymous) {
    DecodedCall c = decode_call(kNullCall);
    ASSERT_EQ(c.status, CallStatus::kOk);
    EXPECT_EQ(c.header.xid, 42u);
    EXPECT_EQ(c.header.prog, 100005u);
    EXPECT_EQ(c.header.cred.uid, 65534u);
    EXPECT_EQ(c.header.args_offset, kNullCall.size());
}

TEST(Rpc, EveryTruncationOfTheHeaderIsDroppedOrRejected) {
    // Cut inside the header: never kOk, never a crash.
    for (size_t n = 0; n < 72; ++n) {
        std::vector<uint8_t> cut(kGetattrCall.begin(), kGetattrCall.begin() + n);
        DecodedCall c = decode_call(cut);
        EXPECT_NE(c.status, CallStatus::kOk) << "length " << n;
    }
}

TEST(Rpc, TooManyGroupsIsBadCred) {
    auto call = kGetattrCall;
    call[55] = 17;  // gids count beyond 16
    DecodedCall c = decode_call(call);
    EXPECT_EQ(c.status, CallStatus::kAuthError);
    EXPECT_EQ(c.auth_stat, AuthStat::kBadCred);
}

TEST(Rpc, WrongRpcVersionIsMismatch) {
    auto call = kNullCall;
    call[11] = 3;
    EXPECT_EQ(decode_call(call).status, CallStatus::kRpcMismatch);
    auto reply = rpc_mismatch_reply(42);
    const std::vector<uint8_t> expected = {0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 1, 0, 0,
                                           0, 1, 0, 0, 0, 0, 0, 0,  0, 2, 0, 0, 0, 2};
    EXPECT_EQ(reply, expected);
}

TEST(Rpc, ReplyIsNotACall) {
    auto call = kNullCall;
    call[7] = 1;
    EXPECT_EQ(decode_call(call).status, CallStatus::kDrop);
}

TEST(Rpc, UnknownFlavorIsBadCred) {
    auto call = kNullCall;
    call[27] = 6;  // RPCSEC_GSS
    DecodedCall c = decode_call(call);
    EXPECT_EQ(c.status, CallStatus::kAuthError);
    auto reply = auth_error_reply(c.header.xid, c.auth_stat);
    const std::vector<uint8_t> expected = {0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 1,
                                           0, 0, 0, 1, 0, 0, 0, 1,  0, 0, 0, 1};
    EXPECT_EQ(reply, expected);
}

TEST(Rpc, ProgMismatchCarriesVersionRange) {
    auto reply = prog_mismatch_reply(7, 3, 3);
    const std::vector<uint8_t> expected = {0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
                                           0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 3};
    EXPECT_EQ(reply, expected);
}

TEST(Rpc, RandomBytesNeverDecodeOutOfBounds) {
    std::mt19937 rng(42);
    for (int i = 0; i < 20000; ++i) {
        // Start from the real call and corrupt it, so decoding gets past the first words.
        std::vector<uint8_t> call = kGetattrCall;
        call.resize(rng() % (call.size() + 16), 0);
        for (int k = rng() % 4; k >= 0; --k) {
            if (!call.empty()) call[rng() % call.size()] = static_cast<uint8_t>(rng());
        }
        DecodedCall c = decode_call(call);
        if (c.status == CallStatus::kOk) {
            EXPECT_LE(c.header.args_offset, call.size());
            EXPECT_LE(c.header.cred.ngroups, 16);
        }
    }
}

TEST(Rpc, ReplyHeadersReadBack) {
    auto ok = accepted_reply(7, AcceptStat::kSuccess);
    XdrWriter(ok).u32(70);  // NFS3ERR_STALE, the first word of the results
    auto h = read_reply_header(ok);
    ASSERT_TRUE(h);
    EXPECT_TRUE(h->accepted);
    EXPECT_EQ(h->stat, 0u);
    EXPECT_EQ(h->first_result, 70u);
    h = read_reply_header(accepted_reply(7, AcceptStat::kGarbageArgs));
    ASSERT_TRUE(h);
    EXPECT_EQ(h->stat, static_cast<uint32_t>(AcceptStat::kGarbageArgs));
    EXPECT_FALSE(h->first_result);
    h = read_reply_header(auth_error_reply(7, AuthStat::kTooWeak));
    ASSERT_TRUE(h);
    EXPECT_FALSE(h->accepted);
    EXPECT_EQ(h->stat, 1u);  // AUTH_ERROR
    h = read_reply_header(rpc_mismatch_reply(7));
    ASSERT_TRUE(h);
    EXPECT_EQ(h->stat, 0u);  // RPC_MISMATCH
    auto cut = accepted_reply(7, AcceptStat::kSuccess);
    cut.resize(cut.size() - 4);
    EXPECT_FALSE(read_reply_header(cut));
    EXPECT_FALSE(read_reply_header({}));
}

}  // namespace
}  // namespace rootfarm::nfsd
