// Integration: what a hostile or buggy client can send — odd names, foreign and broken handles,
// extreme counts and offsets, another client's retransmit — answered against an in-process
// server with exact raw calls. Each case names the RFC 1813 rule or knfsd behaviour it holds
// the server to.

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "nfsd/access.h"
#include "nfsd/mount.h"
#include "nfsd/nfs3.h"
#include "nfsd/nfs3_xdr.h"
#include "nfsd/testing.h"

namespace rootfarm::nfsd {
namespace {

using namespace testing;

// The second client of these tests, on another loopback address.
constexpr const char* kOtherIp = "127.0.0.2";
constexpr uint64_t kQuota = 1u << 20;

struct Fattr {
    uint32_t type = 0, mode = 0, nlink = 0, uid = 0, gid = 0;
    uint64_t size = 0;
};

Fattr read_fattr(XdrReader& x) {
    Fattr a;
    a.type = x.u32();
    a.mode = x.u32();
    a.nlink = x.u32();
    a.uid = x.u32();
    a.gid = x.u32();
    a.size = x.u64();
    x.skip(kFattr3Bytes - 28);
    return a;
}

// sattr3 with only the fields given set.
void put_sattr(XdrWriter& w, std::optional<uint32_t> mode = std::nullopt,
               std::optional<uint32_t> uid = std::nullopt,
               std::optional<uint64_t> size = std::nullopt) {
    w.boolean(mode.has_value());
    if (mode) w.u32(*mode);
    w.boolean(uid.has_value());
    if (uid) w.u32(*uid);
    w.boolean(false);  // gid
    w.boolean(size.has_value());
    if (size) w.u64(*size);
    w.u32(0);  // atime: don't change
    w.u32(0);  // mtime: don't change
}

class NfsHostile : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_.write("etc/hostname", "golden\n");
        dir_.mkdir("tmp", 01777);
        dir_.mkdir("d/sub/deeper");
        dir_.write("d/file", "0123456789");
        config_ = test_config(dir_.path());
        add_second_client(config_, kOtherIp);
        config_.store.client_quota = kQuota;
        server_ = InProcessServer::start(config_);
        ASSERT_NE(server_, nullptr);
        auto root = mount_root(config_.nfs.mount_port);
        ASSERT_TRUE(root);
        root_ = *root;
        rpc_ = std::make_unique<RawRpc>(config_.nfs.port);
        ASSERT_TRUE(rpc_->connected());
    }

    // One call; the reply's results (status first). Fails the test on no reply.
    std::optional<RpcReply> call(uint32_t proc, const std::vector<uint8_t>& args,
                                 RawRpc* rpc = nullptr, uint32_t uid = 0, uint32_t gid = 0) {
        auto r = (rpc ? rpc : rpc_.get())
                     ->call(build_call(++xid_, kNfsProgram, 3, proc, args, uid, gid));
        EXPECT_TRUE(r) << "no reply to proc " << proc;
        return r;
    }
    // Status of an accepted call, or UINT32_MAX + accept_stat for GARBAGE_ARGS and friends.
    uint32_t status(const std::optional<RpcReply>& r) {
        if (!r) return UINT32_MAX;
        if (r->accept_stat != 0) return kGarbage;
        return r->results().u32();
    }
    static constexpr uint32_t kGarbage = 0xfffffff0;

    std::vector<uint8_t> dirop(std::span<const uint8_t> dir, std::string_view name) {
        std::vector<uint8_t> args;
        XdrWriter w(args);
        w.opaque(dir);
        w.string(name);
        return args;
    }
    std::optional<RpcReply> create(std::span<const uint8_t> dir, std::string_view name,
                                   RawRpc* rpc = nullptr) {
        auto args = dirop(dir, name);
        XdrWriter w(args);
        w.u32(0);  // UNCHECKED
        put_sattr(w, 0644);
        return call(kNfs3Create, args, rpc);
    }
    // The handle a successful CREATE/MKDIR/SYMLINK/MKNOD returned.
    std::vector<uint8_t> new_handle(const std::optional<RpcReply>& r) {
        if (!r || r->accept_stat != 0) return {};
        XdrReader x = r->results();
        if (x.u32() != kNfs3Ok || !x.boolean()) return {};
        auto fh = x.opaque(kMaxHandleBytes);
        return {fh.begin(), fh.end()};
    }
    std::optional<Fattr> getattr(std::span<const uint8_t> fh, RawRpc* rpc = nullptr) {
        auto r = call(kNfs3GetAttr, fh_args(fh), rpc);
        if (!r || r->accept_stat != 0) return std::nullopt;
        XdrReader x = r->results();
        if (x.u32() != kNfs3Ok) return std::nullopt;
        Fattr a = read_fattr(x);
        if (!x.ok()) return std::nullopt;
        return a;
    }
    std::vector<uint8_t> write_args(std::span<const uint8_t> fh, uint64_t offset, uint32_t count,
                                    std::string_view data, uint32_t stable = 2) {
        std::vector<uint8_t> args;
        XdrWriter w(args);
        w.opaque(fh);
        w.u64(offset);
        w.u32(count);
        w.u32(stable);
        w.string(data);
        return args;
    }
    std::vector<uint8_t> setattr_args(std::span<const uint8_t> fh,
                                      std::optional<uint32_t> mode = std::nullopt,
                                      std::optional<uint32_t> uid = std::nullopt,
                                      std::optional<uint64_t> size = std::nullopt) {
        std::vector<uint8_t> args;
        XdrWriter w(args);
        w.opaque(fh);
        put_sattr(w, mode, uid, size);
        w.boolean(false);  // no guard
        return args;
    }
    std::vector<uint8_t> lookup_or_fail(std::span<const uint8_t> dir, std::string_view name) {
        auto r = call(kNfs3Lookup, dirop(dir, name));
        if (!r || r->accept_stat != 0) return {};
        XdrReader x = r->results();
        EXPECT_EQ(x.u32(), kNfs3Ok) << name;
        auto fh = x.opaque(kMaxHandleBytes);
        return {fh.begin(), fh.end()};
    }
    std::set<std::string> list(std::span<const uint8_t> dir) {
        std::set<std::string> names;
        std::vector<uint8_t> args;
        XdrWriter w(args);
        w.opaque(dir);
        w.u64(0);
        w.u64(0);
        w.u32(65536);
        auto r = call(kNfs3ReadDir, args);
        if (!r || r->accept_stat != 0) return names;
        XdrReader x = r->results();
        EXPECT_EQ(x.u32(), kNfs3Ok);
        if (x.boolean()) x.skip(kFattr3Bytes);
        x.skip(8);
        while (x.ok() && x.boolean()) {
            x.u64();
            auto name = x.string(kMaxNameBytes);
            x.u64();
            EXPECT_TRUE(names.insert(std::string(name)).second) << "listed twice: " << name;
        }
        return names;
    }

    StateDir dir_;
    Config config_;
    std::unique_ptr<InProcessServer> server_;
    std::unique_ptr<RawRpc> rpc_;
    std::vector<uint8_t> root_;
    uint32_t xid_ = 0x50000;
};

TEST_F(NfsHostile, NamesWithSlashNulOrDotsNeverCreateOrEscape) {
    // A name is one path component (RFC 1813 §2.3.5 filename3): '/' and NUL inside it must
    // neither create nested paths nor reach another directory.
    EXPECT_EQ(status(create(root_, "tmp/evil")), kNfs3ErrInval);
    EXPECT_EQ(status(create(root_, std::string("x\0y", 3))), kNfs3ErrInval);
    EXPECT_EQ(status(call(kNfs3Lookup, dirop(root_, "d/file"))), kNfs3ErrNoEnt);
    EXPECT_EQ(status(call(kNfs3Lookup, dirop(root_, std::string("d\0file", 6)))), kNfs3ErrNoEnt);
    // §3.3.8: "." and ".." already exist.
    for (const char* name : {".", ".."}) {
        EXPECT_EQ(status(create(root_, name)), kNfs3ErrExist) << name;
        auto args = dirop(root_, name);
        XdrWriter w(args);
        put_sattr(w, 0755);
        EXPECT_EQ(status(call(kNfs3MkDir, args)), kNfs3ErrExist) << name;
    }
    // 256 bytes is too long; a length past any path is not even decoded.
    EXPECT_EQ(status(create(root_, std::string(256, 'n'))), kNfs3ErrNameTooLong);
    EXPECT_EQ(status(call(kNfs3Lookup, dirop(root_, std::string(256, 'n')))), kNfs3ErrNameTooLong);
    EXPECT_EQ(status(create(root_, std::string(5000, 'n'))), kGarbage);
    // A length field far beyond the record is GARBAGE_ARGS, not a crash or a hang.
    std::vector<uint8_t> huge;
    XdrWriter hw(huge);
    hw.opaque(root_);
    hw.u32(0xfffffff0u);
    hw.u32(0x41414141);
    EXPECT_EQ(status(call(kNfs3Lookup, huge)), kGarbage);
    EXPECT_EQ(status(call(kNfs3Create, huge)), kGarbage);
    // Nothing of the above appeared anywhere.
    EXPECT_EQ(list(root_), (std::set<std::string>{".", "..", "boot", "etc", "tmp", "d"}));
    auto tmp = lookup_or_fail(root_, "tmp");
    EXPECT_EQ(list(tmp), (std::set<std::string>{".", ".."}));
}

TEST_F(NfsHostile, RemoveRmdirRenameAndLinkRefuseDotsAndCycles) {
    auto d = lookup_or_fail(root_, "d");
    auto sub = lookup_or_fail(d, "sub");
    EXPECT_EQ(status(call(kNfs3RmDir, dirop(d, "."))), kNfs3ErrInval);
    EXPECT_EQ(status(call(kNfs3RmDir, dirop(sub, ".."))), kNfs3ErrInval);
    EXPECT_NE(status(call(kNfs3Remove, dirop(d, "."))), kNfs3Ok);
    EXPECT_EQ(status(call(kNfs3Remove, dirop(root_, "d/file"))), kNfs3ErrNoEnt);
    auto rename = [&](std::span<const uint8_t> from, std::string_view fname,
                      std::span<const uint8_t> to, std::string_view tname) {
        auto args = dirop(from, fname);
        auto more = dirop(to, tname);
        args.insert(args.end(), more.begin(), more.end());
        return status(call(kNfs3Rename, args));
    };
    // §3.3.14: a directory cannot move below itself.
    EXPECT_EQ(rename(root_, "d", sub, "loop"), kNfs3ErrInval);
    auto deeper = lookup_or_fail(sub, "deeper");
    EXPECT_EQ(rename(root_, "d", deeper, "loop"), kNfs3ErrInval);
    EXPECT_EQ(rename(d, ".", root_, "x"), kNfs3ErrInval);
    EXPECT_EQ(rename(d, "file", root_, ".."), kNfs3ErrInval);
    EXPECT_NE(rename(d, "file", root_, "a/b"), kNfs3Ok);
    // Onto itself: nothing happens, successfully.
    EXPECT_EQ(rename(d, "file", d, "file"), kNfs3Ok);
    EXPECT_EQ(rename(root_, "d", root_, "d"), kNfs3Ok);
    auto link = [&](std::span<const uint8_t> file, std::span<const uint8_t> dir,
                    std::string_view name) {
        auto args = fh_args(file);
        auto more = dirop(dir, name);
        args.insert(args.end(), more.begin(), more.end());
        return status(call(kNfs3Link, args));
    };
    auto file = lookup_or_fail(d, "file");
    EXPECT_EQ(link(file, root_, "."), kNfs3ErrInval);
    EXPECT_EQ(link(file, root_, "x/y"), kNfs3ErrInval);
    EXPECT_EQ(link(d, root_, "dirlink"), kNfs3ErrIsDir);
    EXPECT_EQ(list(d), (std::set<std::string>{".", "..", "sub", "file"}));
    EXPECT_EQ(list(root_), (std::set<std::string>{".", "..", "boot", "etc", "tmp", "d"}));
}

TEST_F(NfsHostile, RenamesAcrossTheBootMountPointCheckCyclesToo) {
    // The boot tree is grafted onto /boot/firmware: the cycle check must walk through the
    // graft both ways and never leave the client's root.
    auto boot = lookup_or_fail(root_, "boot");
    auto firmware = lookup_or_fail(boot, "firmware");
    auto d = lookup_or_fail(root_, "d");
    auto rename = [&](std::span<const uint8_t> from, std::string_view fname,
                      std::span<const uint8_t> to, std::string_view tname) {
        auto args = dirop(from, fname);
        auto more = dirop(to, tname);
        args.insert(args.end(), more.begin(), more.end());
        return status(call(kNfs3Rename, args));
    };
    EXPECT_EQ(rename(root_, "boot", firmware, "loop"), kNfs3ErrInval);
    EXPECT_EQ(rename(root_, "d", firmware, "moved"), kNfs3Ok);
    EXPECT_EQ(rename(firmware, "moved", d, "x"), kNfs3ErrInval);
    auto moved = lookup_or_fail(firmware, "moved");
    EXPECT_EQ(rename(root_, "boot", moved, "loop"), kNfs3ErrInval);
    // d is firmware/moved now: firmware cannot go below it, but may move out of /boot.
    EXPECT_EQ(rename(boot, "firmware", d, "fw"), kNfs3ErrInval);
    EXPECT_EQ(rename(boot, "firmware", root_, "fw"), kNfs3Ok);
    EXPECT_EQ(rename(root_, "boot", moved, "loop"), kNfs3Ok);
    EXPECT_EQ(list(root_), (std::set<std::string>{".", "..", "etc", "tmp", "fw"}));
    EXPECT_EQ(lookup_or_fail(firmware, ".."), root_);
    EXPECT_EQ(lookup_or_fail(lookup_or_fail(moved, "loop"), ".."), moved);
}

TEST_F(NfsHostile, BrokenHandlesAreBadHandleOrGarbage) {
    // RFC 1813 §2.3.3: at most 64 bytes. Zero bytes is no handle of ours: BADHANDLE.
    EXPECT_EQ(status(call(kNfs3GetAttr, fh_args({}))), kNfs3ErrBadHandle);
    std::vector<uint8_t> long_fh(65, 1);
    EXPECT_EQ(status(call(kNfs3GetAttr, fh_args(long_fh))), kGarbage);
    std::vector<uint8_t> max_fh(64, 1);
    EXPECT_EQ(status(call(kNfs3GetAttr, fh_args(max_fh))), kNfs3ErrBadHandle);
    EXPECT_EQ(status(call(kNfs3Read, io_args({}, 0, 10))), kNfs3ErrBadHandle);
    EXPECT_EQ(status(call(kNfs3Write, write_args({}, 0, 1, "x"))), kNfs3ErrBadHandle);
    EXPECT_EQ(status(create({}, "x")), kNfs3ErrBadHandle);
}

TEST_F(NfsHostile, AnotherClientsHandleIsRefusedNeverServed) {
    auto mine = lookup_or_fail(root_, "d");
    auto file = lookup_or_fail(mine, "file");
    RawRpc other(config_.nfs.port, kOtherIp);
    ASSERT_TRUE(other.connected());
    // Each client's handles are bound to it (docs/architecture.md "File handle"): client B presenting A's
    // handles gets BADHANDLE for every kind of call, and nothing changes in either view.
    EXPECT_EQ(status(call(kNfs3GetAttr, fh_args(file), &other)), kNfs3ErrBadHandle);
    EXPECT_EQ(status(call(kNfs3Read, io_args(file, 0, 10), &other)), kNfs3ErrBadHandle);
    EXPECT_EQ(status(call(kNfs3Write, write_args(file, 0, 3, "own"), &other)), kNfs3ErrBadHandle);
    EXPECT_EQ(status(call(kNfs3Lookup, dirop(mine, "file"), &other)), kNfs3ErrBadHandle);
    EXPECT_EQ(status(call(kNfs3Remove, dirop(mine, "file"), &other)), kNfs3ErrBadHandle);
    EXPECT_EQ(status(create(root_, "planted", &other)), kNfs3ErrBadHandle);
    EXPECT_EQ(status(call(kNfs3SetAttr, setattr_args(file, 0777), &other)), kNfs3ErrBadHandle);
    auto a = getattr(file);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->size, 10u);
    EXPECT_EQ(a->mode, 0644u);
    EXPECT_EQ(list(root_), (std::set<std::string>{".", "..", "boot", "etc", "tmp", "d"}));
    // B's own root works, and is not A's.
    std::vector<uint8_t> args;
    XdrWriter(args).string("/");
    RawRpc other_mount(config_.nfs.mount_port, kOtherIp);
    auto m = other_mount.call(build_call(1, 100005, 3, 1, args));
    ASSERT_TRUE(m);
    XdrReader x = m->results();
    ASSERT_EQ(x.u32(), 0u);
    auto fh = x.opaque(kMaxHandleBytes);
    std::vector<uint8_t> other_root(fh.begin(), fh.end());
    EXPECT_NE(other_root, root_);
    EXPECT_TRUE(getattr(other_root, &other));
    EXPECT_EQ(status(call(kNfs3GetAttr, fh_args(other_root))), kNfs3ErrBadHandle);
}

TEST_F(NfsHostile, SameXidFromAnotherAddressIsNotAnsweredFromTheCache) {
    auto made = create(root_, "victim");
    ASSERT_EQ(status(made), kNfs3Ok);
    // Client A removes a file; client B sends the very same bytes (A's handle, same xid).
    auto remove = build_call(0x4242, kNfsProgram, 3, kNfs3Remove, dirop(root_, "victim"));
    auto first = rpc_->call(remove);
    ASSERT_EQ(status(first), kNfs3Ok);
    RawRpc other(config_.nfs.port, kOtherIp);
    auto replay = other.call(remove);
    // docs/pi-boot.md NFS 7: the cache is keyed on the address too; B gets its own answer.
    EXPECT_EQ(status(replay), kNfs3ErrBadHandle);
    // A's retransmit still gets A's first answer.
    EXPECT_EQ(status(rpc_->call(remove)), kNfs3Ok);
}

TEST_F(NfsHostile, HandlesOfRemovedObjectsAndOfAResetClientAreStale) {
    auto fh = new_handle(create(root_, "gone"));
    ASSERT_FALSE(fh.empty());
    ASSERT_EQ(status(call(kNfs3Remove, dirop(root_, "gone"))), kNfs3Ok);
    // docs/pi-boot.md NFS 12: STALE, not NOENT.
    EXPECT_EQ(status(call(kNfs3GetAttr, fh_args(fh))), kNfs3ErrStale);
    EXPECT_EQ(status(call(kNfs3Write, write_args(fh, 0, 1, "x"))), kNfs3ErrStale);
    EXPECT_EQ(status(create(fh, "child")), kNfs3ErrStale);

    auto d = lookup_or_fail(root_, "d");
    auto file = lookup_or_fail(d, "file");
    ASSERT_TRUE(server_->store().reset(*MacAddr::parse("b8:27:eb:00:00:01")).ok());
    // Store::reset: every handle of the old delta is stale, even those of image objects.
    EXPECT_EQ(status(call(kNfs3GetAttr, fh_args(file))), kNfs3ErrStale);
    EXPECT_EQ(status(call(kNfs3GetAttr, fh_args(root_))), kNfs3ErrStale);
    EXPECT_EQ(status(call(kNfs3Read, io_args(file, 0, 10))), kNfs3ErrStale);
    auto fresh = mount_root(config_.nfs.mount_port);
    ASSERT_TRUE(fresh);
    EXPECT_TRUE(getattr(*fresh));
}

TEST_F(NfsHostile, ReadCountsAtTheExtremes) {
    auto d = lookup_or_fail(root_, "d");
    auto file = lookup_or_fail(d, "file");
    auto r = call(kNfs3Read, io_args(file, 0, 0));
    ASSERT_EQ(status(r), kNfs3Ok);
    EXPECT_EQ(read_data(*r), "");
    r = call(kNfs3Read, io_args(file, 0, UINT32_MAX));
    EXPECT_EQ(read_data(*r), "0123456789");
    r = call(kNfs3Read, io_args(file, UINT64_MAX, UINT32_MAX));
    EXPECT_EQ(read_data(*r), "");
    r = call(kNfs3Read, io_args(file, UINT64_MAX - 4, 100));
    EXPECT_EQ(read_data(*r), "");
}

TEST_F(NfsHostile, WriteCountMustBeBackedByData) {
    auto fh = new_handle(create(root_, "w"));
    ASSERT_FALSE(fh.empty());
    // More promised than sent: GARBAGE_ARGS (knfsd's decoder refuses count != data length).
    EXPECT_EQ(status(call(kNfs3Write, write_args(fh, 0, 100, "abc"))), kGarbage);
    // Fewer promised than sent: only `count` bytes are written.
    auto r = call(kNfs3Write, write_args(fh, 0, 2, "abcdef"));
    ASSERT_EQ(status(r), kNfs3Ok);
    EXPECT_EQ(getattr(fh)->size, 2u);
    EXPECT_EQ(read_data(*call(kNfs3Read, io_args(fh, 0, 100))), "ab");
}

TEST_F(NfsHostile, ZeroByteWritePastEofDoesNotGrowTheFile) {
    auto fh = new_handle(create(root_, "zero"));
    ASSERT_FALSE(fh.empty());
    // RFC 1813 §3.3.7: a count of 0 writes nothing; like write(2) of 0 bytes the size stays.
    EXPECT_EQ(status(call(kNfs3Write, write_args(fh, 1000, 0, ""))), kNfs3Ok);
    EXPECT_EQ(getattr(fh)->size, 0u);
    // Even nothing cannot be written past the maximum file size (knfsd: FBIG).
    EXPECT_EQ(status(call(kNfs3Write, write_args(fh, UINT64_MAX, 0, ""))), kNfs3ErrFBig);
    EXPECT_EQ(getattr(fh)->size, 0u);
    EXPECT_EQ(status(call(kNfs3Write, write_args(fh, 0, 3, "abc"))), kNfs3Ok);
    EXPECT_EQ(status(call(kNfs3Write, write_args(fh, 1u << 30, 0, "", 0))), kNfs3Ok);
    EXPECT_EQ(getattr(fh)->size, 3u);
}

TEST_F(NfsHostile, WritesAndTruncatesBeyondTheMaximumFileSizeAreFbig) {
    auto fh = new_handle(create(root_, "big"));
    ASSERT_FALSE(fh.empty());
    // FSINFO promises maxfilesize 2^63-1: nothing may go past it (§3.3.7 NFS3ERR_FBIG).
    const uint64_t kMax = INT64_MAX;
    EXPECT_EQ(status(call(kNfs3Write, write_args(fh, UINT64_MAX - 1, 1, "x"))), kNfs3ErrFBig);
    EXPECT_EQ(status(call(kNfs3Write, write_args(fh, kMax, 1, "x"))), kNfs3ErrFBig);
    EXPECT_EQ(status(call(kNfs3Write, write_args(fh, UINT64_MAX, 1, "x"))), kNfs3ErrFBig);
    EXPECT_EQ(getattr(fh)->size, 0u);
    EXPECT_EQ(status(call(kNfs3SetAttr, setattr_args(fh, {}, {}, uint64_t{1} << 63))),
              kNfs3ErrFBig);
    EXPECT_EQ(status(call(kNfs3SetAttr, setattr_args(fh, {}, {}, UINT64_MAX))), kNfs3ErrFBig);
    EXPECT_EQ(getattr(fh)->size, 0u);
    EXPECT_EQ(status(call(kNfs3Write, write_args(fh, 0, 1, "x"))), kNfs3Ok);
    EXPECT_EQ(status(call(kNfs3SetAttr, setattr_args(fh, {}, {}, uint64_t{1} << 63))),
              kNfs3ErrFBig);
    EXPECT_EQ(getattr(fh)->size, 1u);
    // CREATE's initial size obeys the same limit.
    auto args = dirop(root_, "born-big");
    XdrWriter w(args);
    w.u32(1);  // GUARDED
    put_sattr(w, 0644, {}, UINT64_MAX);
    EXPECT_EQ(status(call(kNfs3Create, args)), kNfs3ErrFBig);
}

TEST_F(NfsHostile, QuotaIsDquotAndCannotBeWrappedAround) {
    // FSSTAT's free bytes are what is left of the client's quota (the disk has more).
    auto quota_left = [&] {
        auto r = call(kNfs3FsStat, fh_args(root_));
        XdrReader x = r->results();
        EXPECT_EQ(x.u32(), kNfs3Ok);
        if (x.boolean()) x.skip(kFattr3Bytes);
        x.u64();  // tbytes
        return x.u64();
    };
    auto wrap = new_handle(create(root_, "wrap"));
    ASSERT_FALSE(wrap.empty());
    const uint64_t used = kQuota - quota_left();
    // A size chosen so that usage + growth wraps past 2^64 to 0 must not slip under the quota
    // and leave the client's usage wrapped around (it could then fill the disk).
    EXPECT_NE(status(call(kNfs3SetAttr, setattr_args(wrap, {}, {}, 0 - used))), kNfs3Ok);
    (void)call(kNfs3Write, write_args(wrap, 0, 1, "w"));
    EXPECT_LE(getattr(wrap)->size, kQuota);
    EXPECT_LE(quota_left(), kQuota - used);

    auto fh = new_handle(create(root_, "fill"));
    ASSERT_FALSE(fh.empty());
    std::string chunk(256 * 1024, 'q');
    uint32_t st = kNfs3Ok;
    uint64_t offset = 0;
    for (int i = 0; i < 8 && st == kNfs3Ok; ++i) {
        st = status(call(kNfs3Write, write_args(fh, offset, chunk.size(), chunk)));
        if (st == kNfs3Ok) offset += chunk.size();
    }
    // The client's delta is limited to client_quota: EDQUOT reaches the client as DQUOT.
    EXPECT_EQ(st, kNfs3ErrDQuot);
    EXPECT_LT(offset, kQuota);
    EXPECT_EQ(getattr(fh)->size, offset);
    EXPECT_EQ(read_data(*call(kNfs3Read, io_args(fh, offset - 3, 10))), "qqq");
}

TEST_F(NfsHostile, SetattrModeTypeBitsAndInvalidIds) {
    auto fh = new_handle(create(root_, "attrs"));
    ASSERT_FALSE(fh.empty());
    // Type bits in a mode are not the client's to change: only 07777 applies.
    ASSERT_EQ(status(call(kNfs3SetAttr, setattr_args(fh, 0140755))), kNfs3Ok);
    auto a = getattr(fh);
    EXPECT_EQ(a->type, 1u);
    EXPECT_EQ(a->mode, 0755u);
    // uid 0xffffffff is chown(2)'s "no change" and no valid id: knfsd ignores it.
    ASSERT_EQ(status(call(kNfs3SetAttr, setattr_args(fh, {}, 0xffffffffu))), kNfs3Ok);
    EXPECT_EQ(getattr(fh)->uid, 0u);
}

TEST_F(NfsHostile, ChmodBySomeoneOutsideTheGroupDropsSetgid) {
    auto home = new_handle(create(root_, "owned"));
    ASSERT_FALSE(home.empty());
    // The file belongs to user 1000 and group 0 (root's doing).
    ASSERT_EQ(status(call(kNfs3SetAttr, setattr_args(home, 0755, 1000))), kNfs3Ok);
    // chmod(2): an owner outside the file's group may not set setgid; the bit is dropped
    // (Linux setattr_prepare), or user 1000 could make a setgid-root program.
    ASSERT_EQ(status(call(kNfs3SetAttr, setattr_args(home, 02755), nullptr, 1000, 1000)), kNfs3Ok);
    EXPECT_EQ(getattr(home)->mode, 0755u);
    ASSERT_EQ(status(call(kNfs3SetAttr, setattr_args(home, 04755), nullptr, 1000, 1000)), kNfs3Ok);
    EXPECT_EQ(getattr(home)->mode, 04755u);
    // The same for a new file taking a setgid directory's group (Linux mode_strip_sgid).
    auto args = dirop(root_, "shared");
    XdrWriter w(args);
    put_sattr(w, 02777);
    auto shared = new_handle(call(kNfs3MkDir, args));
    ASSERT_FALSE(shared.empty());
    ASSERT_EQ(getattr(shared)->mode, 02777u);
    auto cargs = dirop(shared, "prog");
    XdrWriter cw(cargs);
    cw.u32(0);
    put_sattr(cw, 02755);
    auto prog = new_handle(call(kNfs3Create, cargs, nullptr, 1000, 1000));
    ASSERT_FALSE(prog.empty());
    EXPECT_EQ(getattr(prog)->gid, 0u);
    EXPECT_EQ(getattr(prog)->mode, 0755u);
    // A subdirectory still inherits setgid.
    auto dargs = dirop(shared, "subdir");
    XdrWriter dw(dargs);
    put_sattr(dw, 0755);
    auto subdir = new_handle(call(kNfs3MkDir, dargs, nullptr, 1000, 1000));
    ASSERT_FALSE(subdir.empty());
    EXPECT_EQ(getattr(subdir)->mode, 02755u);
}

TEST_F(NfsHostile, SymlinkTargetsAndMknodTypes) {
    auto symlink = [&](std::string_view name, std::string_view target) {
        auto args = dirop(root_, name);
        XdrWriter w(args);
        put_sattr(w);
        w.string(target);
        return status(call(kNfs3SymLink, args));
    };
    // Linux's PATH_MAX counts the NUL: 4095 bytes is the longest target (symlink(2)).
    EXPECT_EQ(symlink("ok", std::string(4095, 't')), kNfs3Ok);
    EXPECT_EQ(symlink("long", std::string(4096, 't')), kNfs3ErrNameTooLong);
    // knfsd answers NAMETOOLONG for any longer target it can read, not GARBAGE_ARGS.
    EXPECT_EQ(symlink("longer", std::string(5000, 't')), kNfs3ErrNameTooLong);
    EXPECT_EQ(symlink("empty", ""), kNfs3ErrInval);
    EXPECT_EQ(symlink("nul", std::string("a\0b", 3)), kNfs3ErrInval);
    auto mknod = [&](std::string_view name, uint32_t type) {
        auto args = dirop(root_, name);
        XdrWriter w(args);
        w.u32(type);
        if (type >= 3 && type <= 7 && type != 5) put_sattr(w);
        if (type == 3 || type == 4) {
            w.u32(1);
            w.u32(3);
        }
        return status(call(kNfs3MkNod, args));
    };
    EXPECT_EQ(mknod("reg", 1), kNfs3ErrBadType);
    EXPECT_EQ(mknod("dir", 2), kNfs3ErrBadType);
    EXPECT_EQ(mknod("lnk", 5), kNfs3ErrBadType);
    EXPECT_EQ(mknod("zero", 0), kNfs3ErrBadType);
    EXPECT_EQ(mknod("bogus", 99), kNfs3ErrBadType);
    EXPECT_EQ(mknod("fifo", 7), kNfs3Ok);
    EXPECT_EQ(list(root_),
              (std::set<std::string>{".", "..", "boot", "etc", "tmp", "d", "ok", "fifo"}));
}

TEST_F(NfsHostile, ReaddirCountsAtTheExtremes) {
    auto readdir = [&](uint32_t proc, uint32_t dircount, uint32_t maxcount) {
        std::vector<uint8_t> args;
        XdrWriter w(args);
        w.opaque(root_);
        w.u64(0);
        w.u64(0);
        if (proc == kNfs3ReadDirPlus) w.u32(dircount);
        w.u32(maxcount);
        return call(proc, args);
    };
    EXPECT_EQ(status(readdir(kNfs3ReadDir, 0, 0)), kNfs3ErrTooSmall);
    EXPECT_EQ(status(readdir(kNfs3ReadDirPlus, 0, 0)), kNfs3ErrTooSmall);
    EXPECT_EQ(status(readdir(kNfs3ReadDir, 0, UINT32_MAX)), kNfs3Ok);
    EXPECT_EQ(status(readdir(kNfs3ReadDirPlus, UINT32_MAX, UINT32_MAX)), kNfs3Ok);
    // dircount above maxcount: maxcount still bounds the reply.
    auto r = readdir(kNfs3ReadDirPlus, UINT32_MAX, 400);
    ASSERT_EQ(status(r), kNfs3Ok);
    EXPECT_LE(r->body.size() - r->results_offset, 400u);
}

TEST_F(NfsHostile, ConcurrentRenamesAndRemovesOfTheSameNamesStayConsistent) {
    // Two connections race over the same two names: every call is answered, and afterwards
    // the directory lists each surviving name once and every listed name resolves.
    auto tmp = lookup_or_fail(root_, "tmp");
    std::atomic<bool> ok = true;
    auto worker = [&](uint32_t xid_base, int seed) {
        RawRpc rpc(config_.nfs.port);
        uint32_t xid = xid_base;
        for (int i = 0; i < 150; ++i) {
            std::vector<uint8_t> args;
            XdrWriter w(args);
            uint32_t proc;
            const char* a = (i + seed) % 2 ? "a" : "b";
            const char* b = (i + seed) % 2 ? "b" : "a";
            switch ((i * 7 + seed) % 3) {
                case 0:
                    proc = kNfs3Create;
                    w.opaque(tmp);
                    w.string(a);
                    w.u32(0);
                    put_sattr(w, 0644);
                    break;
                case 1:
                    proc = kNfs3Rename;
                    w.opaque(tmp);
                    w.string(a);
                    w.opaque(tmp);
                    w.string(b);
                    break;
                default:
                    proc = kNfs3Remove;
                    w.opaque(tmp);
                    w.string(b);
                    break;
            }
            auto r = rpc.call(build_call(++xid, kNfsProgram, 3, proc, args));
            if (!r || r->accept_stat != 0) ok = false;
        }
    };
    std::thread t1(worker, 0x100000, 0);
    std::thread t2(worker, 0x200000, 1);
    t1.join();
    t2.join();
    EXPECT_TRUE(ok);
    for (const auto& name : list(tmp)) {
        if (name == "." || name == "..") continue;
        auto fh = lookup_or_fail(tmp, name);
        auto a = getattr(fh);
        ASSERT_TRUE(a) << name;
        EXPECT_EQ(a->nlink, 1u) << name;
    }
    auto a = getattr(tmp);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->nlink, 2u);
}

TEST_F(NfsHostile, MountListStaysBoundedWhateverPathsAClientMounts) {
    // Each spelling of "/" ("//", "///"...) is a valid MNT; remembering every one for DUMP
    // would let one client grow the server's memory without end.
    RawRpc mount(config_.nfs.mount_port);
    for (int i = 1; i <= 200; ++i) {
        std::vector<uint8_t> args;
        XdrWriter(args).string(std::string(i, '/'));
        auto r = mount.call(build_call(1000 + i, kMountProgram, 3, 1, args));
        ASSERT_TRUE(r);
        ASSERT_EQ(r->results().u32(), 0u) << i;
    }
    auto r = mount.call(build_call(2000, kMountProgram, 3, 2, {}));
    ASSERT_TRUE(r);
    XdrReader x = r->results();
    size_t entries = 0;
    while (x.ok() && x.boolean()) {
        x.string(1024);
        x.string(1024);
        ++entries;
    }
    ASSERT_TRUE(x.ok());
    EXPECT_GE(entries, 1u);
    EXPECT_LE(entries, 16u);
}

}  // namespace
}  // namespace rootfarm::nfsd
