// Integration: calls that wait for a disk flush never hold up the io_uring worker, so a slow
// fdatasync of one client delays nobody else, and a client flooding such calls has a bounded
// number of them under way. A CREATE runs on the worker and only its reply waits, for the
// commit log's sync (store::Deferred); a stable WRITE runs on the blocking pool (blocking.h). A
// sync is held open deterministically with store::Journal's global sync hook; the server runs
// ONE worker loop, so a call waiting on it there would hold up every other call.

#include <gtest/gtest.h>

#include <thread>

#include "nfsd/mount.h"
#include "nfsd/nfs3.h"
#include "nfsd/nfs3_xdr.h"
#include "nfsd/testing.h"
#include "store/journal.h"
#include "store/sync_gate_test_util.h"

namespace rootfarm::nfsd {
namespace {

using namespace testing;

constexpr const char* kOtherIp = "127.0.0.2";
constexpr uint32_t kBig = 1u << 20;

using store::testing::SyncGate;

class NfsBlocking : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_.write("etc/hostname", "golden\n");
        dir_.mkdir("tmp", 01777);
        dir_.write("big", std::string(kBig, 'b'));
        config_ = test_config(dir_.path());
        add_second_client(config_, kOtherIp);
        server_ = InProcessServer::start(config_, 1);
        ASSERT_NE(server_, nullptr);
        auto a = mount_root(config_.nfs.mount_port);
        auto b = mount_root(config_.nfs.mount_port, "/", kOtherIp);
        ASSERT_TRUE(a && b);
        root_a_ = *a;
        root_b_ = *b;
        SyncGate::get().close();
        store::Journal::set_global_sync_hook(&SyncGate::hook);
    }

    void TearDown() override {
        SyncGate::get().release();
        store::Journal::set_global_sync_hook(nullptr);
        server_.reset();
    }

    std::vector<uint8_t> create_call(uint32_t xid, std::string_view name) {
        std::vector<uint8_t> args;
        XdrWriter w(args);
        w.opaque(root_a_);
        w.string(name);
        w.u32(1);  // GUARDED
        for (int i = 0; i < 4; ++i) w.boolean(false);
        w.u32(0);
        w.u32(0);
        return build_call(xid, kNfsProgram, 3, kNfs3Create, args);
    }

    // Receives `n` replies on `a` (failing the test on a missing one); how many say NFS3_OK.
    static int answered_ok(RawRpc& a, int n) {
        int ok = 0;
        for (int i = 0; i < n; ++i) {
            auto r = a.receive();
            EXPECT_TRUE(r) << "reply " << i << " missing";
            if (!r) break;
            ok += status(r) == kNfs3Ok;
        }
        return ok;
    }

    static uint32_t status(const std::optional<RpcReply>& r) {
        if (!r || r->accept_stat != 0) return UINT32_MAX;
        return r->results().u32();
    }

    StateDir dir_;
    Config config_;
    std::unique_ptr<InProcessServer> server_;
    std::vector<uint8_t> root_a_, root_b_;
};

TEST_F(NfsBlocking, OthersAreAnsweredWhileACreateWaitsForItsSync) {
    RawRpc a(config_.nfs.port);
    RawRpc b(config_.nfs.port, kOtherIp);
    ASSERT_TRUE(a.connected() && b.connected());
    ASSERT_TRUE(a.send_record(create_call(100, "held")));
    ASSERT_TRUE(SyncGate::get().wait_entered(std::chrono::seconds(20)));

    // The one worker serves another client, and the same connection, meanwhile.
    auto rb = b.call(build_call(200, kNfsProgram, 3, kNfs3GetAttr, fh_args(root_b_)));
    ASSERT_TRUE(rb);
    EXPECT_EQ(status(rb), kNfs3Ok);
    ASSERT_TRUE(a.send_record(build_call(101, kNfsProgram, 3, kNfs3GetAttr, fh_args(root_a_))));
    auto ra = a.receive();
    ASSERT_TRUE(ra);
    EXPECT_EQ(ra->xid, 101u);  // replies come out of order; RPC matches them by xid
    EXPECT_EQ(status(ra), kNfs3Ok);

    // The held CREATE is answered once its sync completes, and the file is there.
    SyncGate::get().release();
    auto rc = a.receive();
    ASSERT_TRUE(rc);
    EXPECT_EQ(rc->xid, 100u);
    EXPECT_EQ(status(rc), kNfs3Ok);
    uint32_t st = 0;
    EXPECT_TRUE(lookup(a, root_a_, "held", &st));
}

TEST_F(NfsBlocking, RetransmitOfAHeldCreateIsNotRunTwice) {
    RawRpc a(config_.nfs.port);
    ASSERT_TRUE(a.connected());
    auto call = create_call(300, "once");
    ASSERT_TRUE(a.send_record(call));
    ASSERT_TRUE(SyncGate::get().wait_entered(std::chrono::seconds(20)));
    // docs/pi-boot.md NFS 7: the retransmit, on a new connection, finds the call in progress
    // (dropped); a later one gets the cached OK, not the EXIST a GUARDED create would give a second
    // run.
    RawRpc again(config_.nfs.port);
    ASSERT_TRUE(again.send_record(call));
    SyncGate::get().release();
    auto first = a.receive();
    ASSERT_TRUE(first);
    EXPECT_EQ(status(first), kNfs3Ok);
    auto later = again.call(call);
    ASSERT_TRUE(later);
    EXPECT_EQ(later->xid, 300u);
    EXPECT_EQ(status(later), kNfs3Ok);
}

// The calls of `make(i)`, i = 0..n-1, in records back to back: one send.
template <class Make>
std::vector<uint8_t> pipelined(int n, Make make) {
    std::vector<uint8_t> all;
    for (int i = 0; i < n; ++i) {
        auto msg = make(i);
        uint32_t mark = htonl(0x80000000u | static_cast<uint32_t>(msg.size()));
        auto* m = reinterpret_cast<const uint8_t*>(&mark);
        all.insert(all.end(), m, m + 4);
        all.insert(all.end(), msg.begin(), msg.end());
    }
    return all;
}

TEST_F(NfsBlocking, AFloodOfCreatesRunsAtMostOneConnectionsWorthWhileTheirSyncIsHeld) {
    RawRpc a(config_.nfs.port);
    RawRpc look(config_.nfs.port);
    ASSERT_TRUE(a.connected() && look.connected());
    constexpr int kCalls = 3 * kMaxInFlightPerConnection;
    ASSERT_TRUE(a.send_raw(
        pipelined(kCalls, [&](int i) { return create_call(1000 + i, "f" + std::to_string(i)); })));
    ASSERT_TRUE(SyncGate::get().wait_entered(std::chrono::seconds(20)));
    // The worker runs the first kMaxInFlightPerConnection (their files are there, answered
    // from the worker by the other connection), then stops taking the connection's calls
    // until replies go out: none can while the sync is held.
    const std::string last = "f" + std::to_string(kMaxInFlightPerConnection - 1);
    uint32_t st = 0;
    for (int i = 0; i < 400 && !lookup(look, root_a_, last, &st); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(lookup(look, root_a_, last, &st)) << last << ": status " << st;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const std::string next = "f" + std::to_string(kMaxInFlightPerConnection);
    EXPECT_FALSE(lookup(look, root_a_, next, &st)) << next << " was created with the sync held";
    EXPECT_EQ(st, kNfs3ErrNoEnt);

    // Every call is answered once the disk moves again.
    SyncGate::get().release();
    EXPECT_EQ(answered_ok(a, kCalls), kCalls);
}

TEST_F(NfsBlocking, AFloodOfStableWritesQueuesAtMostOneConnectionsWorth) {
    RawRpc a(config_.nfs.port);
    ASSERT_TRUE(a.connected());
    auto big = lookup(a, root_a_, "big");
    ASSERT_TRUE(big);
    constexpr int kCalls = 3 * kMaxInFlightPerConnection;
    ASSERT_TRUE(a.send_raw(pipelined(kCalls, [&](int i) {
        std::vector<uint8_t> args;
        XdrWriter w(args);
        w.opaque(*big);
        w.u64(static_cast<uint64_t>(i) * 4096);
        w.u32(4096);
        w.u32(2);  // FILE_SYNC
        w.opaque(std::vector<uint8_t>(4096, 'w'));
        return build_call(2000 + i, kNfsProgram, 3, kNfs3Write, args);
    })));
    ASSERT_TRUE(SyncGate::get().wait_entered(std::chrono::seconds(20)));
    // Wait (bounded) until the worker has taken all it will take of the flood.
    NfsServer& nfs = server_->nfs();
    for (int i = 0; i < 400 && nfs.blocking_high_water() < kMaxInFlightPerConnection; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(nfs.blocking_high_water(), size_t{kMaxInFlightPerConnection});

    // Every call is still answered once the disk moves again. (Past this point a job that has
    // handed its reply over still counts as pending for a moment, so the pool's count may
    // pass the bound by the jobs finishing; the connection's calls in flight do not.)
    SyncGate::get().release();
    EXPECT_EQ(answered_ok(a, kCalls), kCalls);
}

// A client that pipelines READs and does not read the replies makes the server stop taking its
// calls once 8 MiB of replies wait (nfsd.cc, kMaxQueuedReplyBytes); once it reads, the rest
// is served: the paused connection resumes by itself, with no new input to wake it.
TEST_F(NfsBlocking, ReadsPipelinedPastTheQueuedReplyBoundAreAllAnswered) {
    SyncGate::get().release();
    RawRpc a(config_.nfs.port);
    ASSERT_TRUE(a.connected());
    auto big = lookup(a, root_a_, "big");
    ASSERT_TRUE(big);
    constexpr int kCalls = 100;  // 100 MiB of replies: far past the bound and socket buffers
    std::vector<uint8_t> all;
    for (int i = 0; i < kCalls; ++i) {
        auto msg = build_call(5000 + i, kNfsProgram, 3, kNfs3Read, io_args(*big, 0, kBig));
        uint32_t mark = htonl(0x80000000u | static_cast<uint32_t>(msg.size()));
        auto* m = reinterpret_cast<const uint8_t*>(&mark);
        all.insert(all.end(), m, m + 4);
        all.insert(all.end(), msg.begin(), msg.end());
    }
    ASSERT_TRUE(a.send_raw(all));
    // Give the server time to fill its queue and pause before anything is read.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    for (int i = 0; i < kCalls; ++i) {
        auto r = a.receive();
        ASSERT_TRUE(r) << "reply " << i << " missing";
        auto data = read_data(*r);
        ASSERT_TRUE(data);
        ASSERT_EQ(data->size(), kBig);
    }
}

}  // namespace
}  // namespace rootfarm::nfsd
