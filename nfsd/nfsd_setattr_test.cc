// Integration: who may change what with SETATTR (chown, chgrp, chmod, times, truncate), the
// set-id bits a permitted change drops, and root_squash, against an in-process server. Exact
// single-field calls go raw; the reported case goes through libnfs like a real client.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <optional>
#include <string>

#include "nfsd/libnfs_client.h"
#include "nfsd/nfs3.h"
#include "nfsd/nfs3_xdr.h"
#include "nfsd/testing.h"

namespace rootfarm::nfsd {
namespace {

using namespace testing;

// A sattr3 (RFC 1813 §2.6); time_how 0 DONT_CHANGE, 1 SET_TO_SERVER_TIME, 2 SET_TO_CLIENT_TIME.
struct Sattr {
    std::optional<uint32_t> mode{}, uid{}, gid{};
    std::optional<uint64_t> size{};
    uint32_t atime_how = 0, mtime_how = 0;
    uint32_t seconds = 0;  // both times, for SET_TO_CLIENT_TIME
};

constexpr uint32_t kServerTime = 1, kClientTime = 2;

class NfsSetattr : public ::testing::Test {
  protected:
    void SetUp() override {
        make_standard_image(dir_);
        config_ = test_config(dir_.path());
        server_ = InProcessServer::start(config_);
        ASSERT_NE(server_, nullptr);
        root_ = std::make_unique<LibNfs>(config_);
        ASSERT_TRUE(root_->mounted()) << root_->error();
    }

    // /tmp/<name>, written by root and then given to uid:gid with `mode`.
    void make(const std::string& name, uint32_t mode, uint32_t uid, uint32_t gid) {
        std::string path = "/tmp/" + name;
        ASSERT_TRUE(root_->write_file(path, "content\n")) << root_->error();
        ASSERT_EQ(nfs_chown(root_->ctx(), path.c_str(), uid, gid), 0) << root_->error();
        ASSERT_EQ(nfs_chmod(root_->ctx(), path.c_str(), mode), 0) << root_->error();
    }
    nfs_stat_64 stat(const std::string& name) {
        nfs_stat_64 st{};
        std::string path = "/tmp/" + name;
        EXPECT_EQ(nfs_lstat64(root_->ctx(), path.c_str(), &st), 0) << path;
        return st;
    }
    uint32_t mode(const std::string& name) { return stat(name).nfs_mode & 07777; }

    // SETATTR of /tmp/<name> as uid:gid (no supplementary groups); the NFS status.
    uint32_t setattr(const std::string& name, const Sattr& s, uint32_t uid, uint32_t gid) {
        RawRpc rpc(config_.nfs.port);
        auto root = mount_root(config_.nfs.mount_port);
        if (!root) return UINT32_MAX;
        auto tmp = lookup(rpc, *root, "tmp");
        auto fh = tmp ? lookup(rpc, *tmp, name) : std::nullopt;
        if (!fh) return UINT32_MAX;
        std::vector<uint8_t> args;
        XdrWriter w(args);
        w.opaque(*fh);
        w.boolean(s.mode.has_value());
        if (s.mode) w.u32(*s.mode);
        w.boolean(s.uid.has_value());
        if (s.uid) w.u32(*s.uid);
        w.boolean(s.gid.has_value());
        if (s.gid) w.u32(*s.gid);
        w.boolean(s.size.has_value());
        if (s.size) w.u64(*s.size);
        for (uint32_t how : {s.atime_how, s.mtime_how}) {
            w.u32(how);
            if (how == kClientTime) {
                w.u32(s.seconds);
                w.u32(0);
            }
        }
        w.boolean(false);  // no guard
        auto r = rpc.call(build_call(++xid_, kNfsProgram, 3, kNfs3SetAttr, args, uid, gid));
        return r ? r->results().u32() : UINT32_MAX;
    }

    StateDir dir_;
    Config config_;
    std::unique_ptr<InProcessServer> server_;
    std::unique_ptr<LibNfs> root_;
    uint32_t xid_ = 0x5e7a0000;
};

TEST_F(NfsSetattr, NonOwnerNoOpChownIsEperm) {
    // chown 65534:65534 by uid 65533 of a file that already is 65534:65534: knfsd and
    // nfs-ganesha refuse it, as chown(2) does locally.
    make("nobodys", 0644, 65534, 65534);
    LibNfs other(config_, 65533, 65533);
    ASSERT_TRUE(other.mounted()) << other.error();
    EXPECT_EQ(nfs_chown(other.ctx(), "/tmp/nobodys", 65534, 65534), -EPERM);
    EXPECT_EQ(setattr("nobodys", {.uid = 65534}, 65533, 65533), kNfs3ErrPerm);
    EXPECT_EQ(setattr("nobodys", {.gid = 65534}, 65533, 65533), kNfs3ErrPerm);
    // The owner's own no-op chown is allowed.
    EXPECT_EQ(setattr("nobodys", {.uid = 65534, .gid = 65534}, 65534, 65534), kNfs3Ok);
}

TEST_F(NfsSetattr, ChownOfTheOwnerIsForRootOnly) {
    make("f", 0644, 1000, 1000);
    EXPECT_EQ(setattr("f", {.uid = 1001}, 1000, 1000), kNfs3ErrPerm);
    EXPECT_EQ(setattr("f", {.uid = 1000}, 1001, 1000), kNfs3ErrPerm);
    EXPECT_EQ(stat("f").nfs_uid, 1000u);
    EXPECT_EQ(setattr("f", {.uid = 1001, .gid = 1001}, 0, 0), kNfs3Ok);
    EXPECT_EQ(stat("f").nfs_uid, 1001u);
    EXPECT_EQ(stat("f").nfs_gid, 1001u);
}

TEST_F(NfsSetattr, ChgrpByTheOwnerToItsOwnGroupsOnly) {
    make("f", 0644, 1000, 1000);
    // A non-owner may not, even to a group it is in.
    EXPECT_EQ(setattr("f", {.gid = 27}, 1001, 27), kNfs3ErrPerm);
    // The owner may not give the file to a group it is not in...
    EXPECT_EQ(setattr("f", {.gid = 28}, 1000, 1000), kNfs3ErrPerm);
    EXPECT_EQ(stat("f").nfs_gid, 1000u);
    // ...and may to one it is in.
    EXPECT_EQ(setattr("f", {.gid = 27}, 1000, 27), kNfs3Ok);
    EXPECT_EQ(stat("f").nfs_gid, 27u);
}

TEST_F(NfsSetattr, ChownClearsSetIdBitsOfFilesEvenForRoot) {
    make("suid", 06755, 0, 0);
    ASSERT_EQ(mode("suid"), 06755u);
    EXPECT_EQ(setattr("suid", {.uid = 1000, .gid = 1000}, 0, 0), kNfs3Ok);
    EXPECT_EQ(mode("suid"), 0755u);
    // Setgid without group-exec is a locking mark: root's chown keeps it, setuid still goes.
    make("lockmark", 06644, 0, 0);
    EXPECT_EQ(setattr("lockmark", {.gid = 27}, 0, 0), kNfs3Ok);
    EXPECT_EQ(mode("lockmark"), 02644u);
    // A mode sent with the chown loses the bits the same way.
    make("both", 0644, 0, 0);
    EXPECT_EQ(setattr("both", {.mode = 06755, .uid = 1000}, 0, 0), kNfs3Ok);
    EXPECT_EQ(mode("both"), 0755u);
    // The owner's chgrp of its setuid file drops setuid too.
    make("mine", 04755, 1000, 1000);
    EXPECT_EQ(setattr("mine", {.gid = 27}, 1000, 27), kNfs3Ok);
    EXPECT_EQ(mode("mine"), 0755u);
    // A directory keeps its setgid (new entries inherit the group).
    ASSERT_EQ(nfs_mkdir(root_->ctx(), "/tmp/shared"), 0);
    ASSERT_EQ(nfs_chmod(root_->ctx(), "/tmp/shared", 02775), 0);
    EXPECT_EQ(setattr("shared", {.uid = 1000, .gid = 1000}, 0, 0), kNfs3Ok);
    EXPECT_EQ(mode("shared"), 02775u);
}

TEST_F(NfsSetattr, ChmodIsForTheOwnerOrRoot) {
    make("f", 0644, 1000, 1000);
    EXPECT_EQ(setattr("f", {.mode = 0666}, 1001, 1000), kNfs3ErrPerm);
    EXPECT_EQ(mode("f"), 0644u);
    EXPECT_EQ(setattr("f", {.mode = 0600}, 1000, 1000), kNfs3Ok);
    EXPECT_EQ(mode("f"), 0600u);
    EXPECT_EQ(setattr("f", {.mode = 0640}, 0, 0), kNfs3Ok);
    EXPECT_EQ(mode("f"), 0640u);
}

TEST_F(NfsSetattr, ChmodSetgidOutsideTheGroupIsSilentlyDropped) {
    make("f", 0755, 1000, 27);
    EXPECT_EQ(setattr("f", {.mode = 02755}, 1000, 1000), kNfs3Ok);
    EXPECT_EQ(mode("f"), 0755u);
    EXPECT_EQ(setattr("f", {.mode = 02755}, 1000, 27), kNfs3Ok);
    EXPECT_EQ(mode("f"), 02755u);
}

TEST_F(NfsSetattr, ExplicitTimesAreForTheOwnerOrRoot) {
    make("f", 0666, 1000, 1000);  // writable by all: write access is not enough
    Sattr touch_d{.atime_how = kClientTime, .mtime_how = kClientTime, .seconds = 1000000};
    EXPECT_EQ(setattr("f", touch_d, 1001, 1001), kNfs3ErrPerm);
    EXPECT_NE(stat("f").nfs_mtime, 1000000u);
    EXPECT_EQ(setattr("f", touch_d, 1000, 1000), kNfs3Ok);
    EXPECT_EQ(stat("f").nfs_mtime, 1000000u);
    touch_d.seconds = 2000000;
    EXPECT_EQ(setattr("f", touch_d, 0, 0), kNfs3Ok);
    EXPECT_EQ(stat("f").nfs_mtime, 2000000u);
    // One explicit time beside "now" still needs ownership.
    EXPECT_EQ(setattr("f", {.atime_how = kServerTime, .mtime_how = kClientTime}, 1001, 1001),
              kNfs3ErrPerm);
}

TEST_F(NfsSetattr, ServerTimeNeedsWriteAccessOrOwnership) {
    Sattr touch{.atime_how = kServerTime, .mtime_how = kServerTime};
    make("shared", 0666, 1000, 1000);
    Sattr old{.atime_how = kClientTime, .mtime_how = kClientTime, .seconds = 1000000};
    ASSERT_EQ(setattr("shared", old, 0, 0), kNfs3Ok);
    EXPECT_EQ(setattr("shared", touch, 1001, 1001), kNfs3Ok);
    EXPECT_GT(stat("shared").nfs_mtime, 1000000u);
    make("private", 0644, 1000, 1000);
    EXPECT_EQ(setattr("private", touch, 1001, 1001), kNfs3ErrAcces);
    make("readonly", 0444, 1000, 1000);
    EXPECT_EQ(setattr("readonly", touch, 1000, 1000), kNfs3Ok);
}

TEST_F(NfsSetattr, TruncateNeedsWriteAccessOrOwnership) {
    make("private", 0644, 1000, 1000);
    EXPECT_EQ(setattr("private", {.size = 0}, 1001, 1001), kNfs3ErrAcces);
    EXPECT_EQ(stat("private").nfs_size, 8u);
    make("shared", 0666, 1000, 1000);
    EXPECT_EQ(setattr("shared", {.size = 2}, 1001, 1001), kNfs3Ok);
    EXPECT_EQ(stat("shared").nfs_size, 2u);
    // knfsd's NFSD_MAY_OWNER_OVERRIDE: the owner truncates its 0444 file (no OPEN in NFSv3).
    make("readonly", 0444, 1000, 1000);
    EXPECT_EQ(setattr("readonly", {.size = 0}, 1000, 1000), kNfs3Ok);
    EXPECT_EQ(stat("readonly").nfs_size, 0u);
    // A size is for regular files, whoever asks.
    ASSERT_EQ(nfs_mkdir(root_->ctx(), "/tmp/dir"), 0);
    EXPECT_EQ(setattr("dir", {.size = 0}, 1001, 1001), kNfs3ErrIsDir);
    ASSERT_EQ(nfs_mknod(root_->ctx(), "/tmp/fifo", S_IFIFO | 0644, 0), 0);
    EXPECT_EQ(setattr("fifo", {.size = 0}, 1001, 1001), kNfs3ErrInval);
}

TEST_F(NfsSetattr, SymlinkModeIsIgnored) {
    // knfsd's nfsd_sanitize_attrs drops a mode for a symlink, so it needs no ownership either.
    ASSERT_EQ(nfs_symlink(root_->ctx(), "target", "/tmp/link"), 0) << root_->error();
    uint32_t before = mode("link");
    EXPECT_EQ(setattr("link", {.mode = 0600}, 1001, 1001), kNfs3Ok);
    EXPECT_EQ(setattr("link", {.mode = 0600}, 0, 0), kNfs3Ok);
    EXPECT_EQ(mode("link"), before);
}

TEST_F(NfsSetattr, RootSquashedRootMayDoNoRootThings) {
    make("pis", 0644, 1000, 1000);
    make("roots", 0644, 0, 0);
    config_.clients[0].root_squash = true;
    root_.reset();
    server_.reset();
    server_ = std::make_unique<InProcessServer>(config_);
    ASSERT_TRUE(server_->ok());
    EXPECT_EQ(setattr("pis", {.uid = 0, .gid = 0}, 0, 0), kNfs3ErrPerm);
    EXPECT_EQ(setattr("roots", {.uid = 0}, 0, 0), kNfs3ErrPerm);
    EXPECT_EQ(setattr("roots", {.mode = 0666}, 0, 0), kNfs3ErrPerm);
    EXPECT_EQ(setattr("roots", {.atime_how = kClientTime, .mtime_how = kClientTime}, 0, 0),
              kNfs3ErrPerm);
    EXPECT_EQ(setattr("roots", {.size = 0}, 0, 0), kNfs3ErrAcces);
    root_ = std::make_unique<LibNfs>(config_);
    EXPECT_EQ(stat("pis").nfs_uid, 1000u);
    EXPECT_EQ(mode("roots"), 0644u);
}

}  // namespace
}  // namespace rootfarm::nfsd
