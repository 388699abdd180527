// Integration: what must survive retransmits and restarts — the duplicate request cache,
// EXCLUSIVE create, UNSTABLE writes with COMMIT, and handles across a server restart.

#include <gtest/gtest.h>
#include <xxhash.h>

#include <deque>
#include <fstream>

#include "nfsd/libnfs_client.h"
#include "nfsd/nfs3.h"
#include "nfsd/nfs3_xdr.h"
#include "nfsd/testing.h"

namespace rootfarm::nfsd {
namespace {

using namespace testing;

class NfsDurability : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_.write("etc/hostname", "golden\n");
        dir_.mkdir("tmp", 01777);
        config_ = test_config(dir_.path());
        server_ = InProcessServer::start(config_);
        ASSERT_NE(server_, nullptr);
        mount();
    }
    // Restarts on the same ports (the old listeners are closed; SO_REUSEADDR).
    void start() {
        server_ = std::make_unique<InProcessServer>(config_);
        ASSERT_TRUE(server_->ok());
        mount();
    }
    void mount() {
        auto root = mount_root(config_.nfs.mount_port);
        ASSERT_TRUE(root);
        root_ = *root;
    }

    std::vector<uint8_t> create_call(uint32_t xid, const std::string& name, uint32_t how,
                                     uint64_t verifier = 0) {
        std::vector<uint8_t> args;
        XdrWriter w(args);
        w.opaque(root_);
        w.string(name);
        w.u32(how);
        if (how == 2) {
            w.u64(verifier);
        } else {
            w.boolean(true);
            w.u32(0644);
            for (int i = 0; i < 3; ++i) w.boolean(false);
            w.u32(0);
            w.u32(0);
        }
        return build_call(xid, kNfsProgram, 3, kNfs3Create, args);
    }
    std::vector<uint8_t> remove_call(uint32_t xid, const std::string& name) {
        std::vector<uint8_t> args;
        XdrWriter w(args);
        w.opaque(root_);
        w.string(name);
        return build_call(xid, kNfsProgram, 3, kNfs3Remove, args);
    }
    // Status and handle of a CREATE reply.
    std::pair<uint32_t, std::vector<uint8_t>> created(const std::optional<RpcReply>& r) {
        if (!r) return {UINT32_MAX, {}};
        XdrReader x = r->results();
        uint32_t st = x.u32();
        if (st != kNfs3Ok || !x.boolean()) return {st, {}};
        auto fh = x.opaque(64);
        return {st, {fh.begin(), fh.end()}};
    }

    StateDir dir_;
    Config config_;
    std::unique_ptr<InProcessServer> server_;
    std::vector<uint8_t> root_;
};

TEST_F(NfsDurability, ExclusiveCreateRetransmitGetsTheSameObject) {
    RawRpc rpc(config_.nfs.port);
    auto [st1, fh1] = created(rpc.call(create_call(100, "lockfile", 2, 0x1122334455667788ull)));
    ASSERT_EQ(st1, kNfs3Ok);
    // A retransmit the DRC cannot catch (new connection, different xid, as after a server
    // reboot): the persisted verifier identifies it (RFC 1813 §3.3.8, docs/pi-boot.md NFS 8).
    RawRpc again(config_.nfs.port);
    auto [st2, fh2] = created(again.call(create_call(101, "lockfile", 2, 0x1122334455667788ull)));
    EXPECT_EQ(st2, kNfs3Ok);
    EXPECT_EQ(fh2, fh1);
    // Someone else's exclusive create of the same name fails.
    auto [st3, fh3] = created(again.call(create_call(102, "lockfile", 2, 0x99)));
    EXPECT_EQ(st3, kNfs3ErrExist);
    // And the verifier survives a restart.
    server_.reset();
    start();
    RawRpc after(config_.nfs.port);
    auto [st4, fh4] = created(after.call(create_call(103, "lockfile", 2, 0x1122334455667788ull)));
    EXPECT_EQ(st4, kNfs3Ok);
    EXPECT_EQ(fh4, fh1);
}

TEST_F(NfsDurability, RetransmittedRemoveIsAnsweredFromTheCache) {
    RawRpc rpc(config_.nfs.port);
    ASSERT_EQ(created(rpc.call(create_call(200, "victim", 0))).first, kNfs3Ok);
    auto remove = remove_call(201, "victim");
    auto first = rpc.call(remove);
    ASSERT_TRUE(first);
    ASSERT_EQ(first->results().u32(), kNfs3Ok);
    // The client lost the reply and retransmits the same call on a new connection (new port):
    // it must see the original success, not NOENT (docs/pi-boot.md NFS 7).
    RawRpc retry(config_.nfs.port);
    auto second = retry.call(remove);
    ASSERT_TRUE(second);
    EXPECT_EQ(second->results().u32(), kNfs3Ok);
    EXPECT_EQ(second->body, first->body);
    // A new call (new xid) really executes again.
    auto third = retry.call(remove_call(202, "victim"));
    ASSERT_TRUE(third);
    EXPECT_EQ(third->results().u32(), kNfs3ErrNoEnt);
    // Same xid, different arguments: not mistaken for a retransmit.
    auto fourth = retry.call(remove_call(201, "no-such-name"));
    ASSERT_TRUE(fourth);
    EXPECT_EQ(fourth->results().u32(), kNfs3ErrNoEnt);
}

// One MiB of test data for block `i`.
std::vector<uint8_t> block(uint32_t i) {
    std::vector<uint8_t> b(1u << 20);
    uint64_t x = 0x9e3779b97f4a7c15ull * (i + 1);
    for (size_t k = 0; k < b.size(); k += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        std::memcpy(b.data() + k, &x, 8);
    }
    return b;
}

TEST_F(NfsDurability, TwoHundredMegabytesUnstableThenCommitReadsBack) {
    constexpr uint32_t kBlocks = 200;
    RawRpc rpc(config_.nfs.port);
    auto [st, fh] = created(rpc.call(create_call(300, "big", 0)));
    ASSERT_EQ(st, kNfs3Ok);
    XXH3_state_t* written = XXH3_createState();
    XXH3_64bits_reset(written);
    uint64_t verifier = 0;
    bool have_verifier = false;
    uint32_t next = 0, done = 0;
    // Up to 8 WRITEs in flight on one connection, as the kernel pipelines them.
    while (done < kBlocks) {
        while (next < kBlocks && next - done < 8) {
            auto data = block(next);
            XXH3_64bits_update(written, data.data(), data.size());
            std::vector<uint8_t> args;
            args.reserve(data.size() + 128);
            XdrWriter w(args);
            w.opaque(fh);
            w.u64(uint64_t{next} << 20);
            w.u32(1u << 20);
            w.u32(0);  // UNSTABLE
            w.opaque(data);
            ASSERT_TRUE(rpc.send_record(build_call(1000 + next, kNfsProgram, 3, kNfs3Write, args)));
            ++next;
        }
        auto r = rpc.receive();
        ASSERT_TRUE(r);
        XdrReader x = r->results();
        ASSERT_EQ(x.u32(), kNfs3Ok) << "xid " << r->xid;
        if (x.boolean()) x.skip(24);
        if (x.boolean()) x.skip(kFattr3Bytes);
        EXPECT_EQ(x.u32(), 1u << 20);
        EXPECT_EQ(x.u32(), 0u);  // committed: UNSTABLE
        uint64_t v = x.u64();
        if (have_verifier) {
            EXPECT_EQ(v, verifier);
        }
        verifier = v;
        have_verifier = true;
        ++done;
    }
    auto r = rpc.call(build_call(2000, kNfsProgram, 3, kNfs3Commit, io_args(fh, 0, 0)));
    ASSERT_TRUE(r);
    EXPECT_EQ(commit_verifier(*r), verifier);  // same server instance: nothing to resend

    // Read it back with the real client and compare checksums.
    LibNfs nfs(config_);
    ASSERT_TRUE(nfs.mounted()) << nfs.error();
    nfsfh* f = nullptr;
    ASSERT_EQ(nfs_open(nfs.ctx(), "/big", O_RDONLY, &f), 0);
    XXH3_state_t* read = XXH3_createState();
    XXH3_64bits_reset(read);
    std::vector<char> buf(1u << 20);
    uint64_t total = 0;
    for (;;) {
        int n = nfs_pread(nfs.ctx(), f, total, buf.size(), buf.data());
        ASSERT_GE(n, 0) << nfs.error();
        if (n == 0) break;
        XXH3_64bits_update(read, buf.data(), n);
        total += n;
    }
    nfs_close(nfs.ctx(), f);
    EXPECT_EQ(total, uint64_t{kBlocks} << 20);
    EXPECT_EQ(XXH3_64bits_digest(read), XXH3_64bits_digest(written));
    XXH3_freeState(read);
    XXH3_freeState(written);
}

TEST_F(NfsDurability, HandlesSurviveARestartAndTheVerifierChanges) {
    LibNfs nfs(config_);
    ASSERT_TRUE(nfs.write_file("/tmp/kept", "survives restarts"));
    RawRpc rpc(config_.nfs.port);
    auto tmp = lookup(rpc, root_, "tmp");
    ASSERT_TRUE(tmp);
    auto kept = lookup(rpc, *tmp, "kept");
    ASSERT_TRUE(kept);
    auto hostname_dir = lookup(rpc, root_, "etc");
    ASSERT_TRUE(hostname_dir);
    auto verifier = [&](RawRpc& c) {
        auto r = c.call(build_call(7, kNfsProgram, 3, kNfs3Commit, io_args(*kept, 0, 0)));
        return r ? commit_verifier(*r) : std::nullopt;
    };
    auto before = verifier(rpc);
    ASSERT_TRUE(before);
    const auto old_root = root_;

    server_.reset();
    start();
    // The same handles, with no new MNT or LOOKUP: no STALE (docs/pi-boot.md NFS 1).
    RawRpc after(config_.nfs.port);
    const std::vector<std::vector<uint8_t>> handles{old_root, *tmp, *kept, *hostname_dir};
    for (const auto& fh : handles) {
        auto r = after.call(build_call(8, kNfsProgram, 3, kNfs3GetAttr, fh_args(fh)));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->results().u32(), kNfs3Ok);
    }
    auto r = after.call(build_call(9, kNfsProgram, 3, kNfs3Read, io_args(*kept, 0, 100)));
    ASSERT_TRUE(r);
    EXPECT_EQ(read_data(*r), "survives restarts");
    // RFC 1813 §3.3.7: a new server instance has a new write verifier (docs/pi-boot.md NFS 17).
    auto now = verifier(after);
    ASSERT_TRUE(now);
    EXPECT_NE(*now, *before);
}

}  // namespace
}  // namespace rootfarm::nfsd
