// Integration: the mutating NFSv3 procedures, permissions and copy-up, against an in-process
// server, driven by libnfs (the real client) and raw calls where exact arguments matter.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <fstream>

#include <set>

#include "nfsd/libnfs_client.h"
#include "nfsd/nfs3.h"
#include "nfsd/nfs3_xdr.h"
#include "nfsd/testing.h"

namespace rootfarm::nfsd {
namespace {

using namespace testing;

class NfsWrite : public ::testing::Test {
  protected:
    void SetUp() override {
        make_standard_image(dir_);
        config_ = test_config(dir_.path());
        server_ = InProcessServer::start(config_);
        ASSERT_NE(server_, nullptr);
        auto root = mount_root(config_.nfs.mount_port);
        ASSERT_TRUE(root);
        root_ = *root;
    }

    nfs_stat_64 stat(LibNfs& nfs, const char* path) {
        nfs_stat_64 st{};
        EXPECT_EQ(nfs_lstat64(nfs.ctx(), path, &st), 0) << path << ": " << nfs.error();
        return st;
    }
    uint32_t getattr_status(RawRpc& rpc, const std::vector<uint8_t>& fh) {
        auto r = rpc.call(build_call(++xid_, kNfsProgram, 3, kNfs3GetAttr, fh_args(fh)));
        return r ? r->results().u32() : UINT32_MAX;
    }

    StateDir dir_;
    Config config_;
    std::unique_ptr<InProcessServer> server_;
    std::vector<uint8_t> root_;
    uint32_t xid_ = 0x70000;
};

TEST_F(NfsWrite, CreateWriteReadBackOwnedByCaller) {
    LibNfs pi(config_, 1000, 1000);
    ASSERT_TRUE(pi.mounted()) << pi.error();
    ASSERT_TRUE(pi.write_file("/home/pi/notes.txt", "hello from the pi\n")) << pi.error();
    EXPECT_EQ(pi.read_file("/home/pi/notes.txt"), "hello from the pi\n");
    nfs_stat_64 st = stat(pi, "/home/pi/notes.txt");
    EXPECT_EQ(st.nfs_uid, 1000u);
    EXPECT_EQ(st.nfs_gid, 1000u);
    EXPECT_EQ(st.nfs_size, 18u);
    // Overwrite in the middle and extend.
    nfsfh* fh = nullptr;
    ASSERT_EQ(nfs_open(pi.ctx(), "/home/pi/notes.txt", O_WRONLY, &fh), 0);
    ASSERT_EQ(nfs_pwrite(pi.ctx(), fh, 6, 4, "FROM"), 4);
    ASSERT_EQ(nfs_pwrite(pi.ctx(), fh, 30, 3, "end"), 3);
    ASSERT_EQ(nfs_close(pi.ctx(), fh), 0);
    auto content = pi.read_file("/home/pi/notes.txt");
    ASSERT_TRUE(content);
    EXPECT_EQ(*content, std::string("hello FROM the pi\n") + std::string(12, '\0') + "end");
    // The image's own copy is untouched: a copy-on-write delta holds the change.
    LibNfs root(config_);
    ASSERT_TRUE(root.write_file("/etc/hostname", "pi-one\n"));
    EXPECT_EQ(root.read_file("/etc/hostname"), "pi-one\n");
    std::ifstream golden(dir_.root() / "etc/hostname");
    std::string line;
    std::getline(golden, line);
    EXPECT_EQ(line, "golden");
}

TEST_F(NfsWrite, NamespaceOperations) {
    LibNfs nfs(config_);
    ASSERT_TRUE(nfs.mounted()) << nfs.error();
    nfs_context* c = nfs.ctx();
    ASSERT_EQ(nfs_mkdir(c, "/work"), 0) << nfs.error();
    ASSERT_TRUE(nfs.write_file("/work/a", "A"));
    ASSERT_EQ(nfs_symlink(c, "a", "/work/sym"), 0) << nfs.error();
    char target[64] = {};
    ASSERT_EQ(nfs_readlink(c, "/work/sym", target, sizeof target), 0);
    EXPECT_STREQ(target, "a");
    ASSERT_EQ(nfs_link(c, "/work/a", "/work/hard"), 0) << nfs.error();
    EXPECT_EQ(stat(nfs, "/work/a").nfs_nlink, 2u);
    EXPECT_EQ(stat(nfs, "/work/a").nfs_ino, stat(nfs, "/work/hard").nfs_ino);
    ASSERT_EQ(nfs_rename(c, "/work/hard", "/work/renamed"), 0) << nfs.error();
    EXPECT_EQ(nfs.read_file("/work/renamed"), "A");
    ASSERT_EQ(nfs_mkdir(c, "/work/sub"), 0);
    // docs/pi-boot.md NFS 15: a directory's nlink is 2 + its subdirectories.
    EXPECT_EQ(stat(nfs, "/work").nfs_nlink, 3u);
    EXPECT_EQ(nfs_rmdir(c, "/work"), -ENOTEMPTY);
    ASSERT_EQ(nfs_rmdir(c, "/work/sub"), 0);
    ASSERT_EQ(nfs_unlink(c, "/work/a"), 0);
    ASSERT_EQ(nfs_unlink(c, "/work/sym"), 0);
    EXPECT_EQ(stat(nfs, "/work/renamed").nfs_nlink, 1u);
    EXPECT_EQ(nfs_mkdir(c, "/work/renamed"), -EEXIST);
    ASSERT_EQ(nfs_unlink(c, "/work/renamed"), 0);
    nfsdir* d = nullptr;
    ASSERT_EQ(nfs_opendir(c, "/work", &d), 0);
    std::set<std::string> names;
    while (nfsdirent* e = nfs_readdir(c, d)) names.insert(e->name);
    nfs_closedir(c, d);
    EXPECT_EQ(names, (std::set<std::string>{".", ".."}));
    ASSERT_EQ(nfs_rmdir(c, "/work"), 0);
    // Removing an image directory with content is refused; an image file can be removed.
    EXPECT_EQ(nfs_rmdir(c, "/etc"), -ENOTEMPTY);
    ASSERT_EQ(nfs_unlink(c, "/bin/tool"), 0);
    nfs_stat_64 st{};
    EXPECT_EQ(nfs_stat64(c, "/bin/tool", &st), -ENOENT);
}

TEST_F(NfsWrite, MknodFifoAndDevices) {
    LibNfs root(config_);
    ASSERT_TRUE(root.mounted());
    ASSERT_EQ(nfs_mknod(root.ctx(), "/tmp/fifo", S_IFIFO | 0644, 0), 0) << root.error();
    EXPECT_TRUE(S_ISFIFO(stat(root, "/tmp/fifo").nfs_mode));
    ASSERT_EQ(nfs_mknod(root.ctx(), "/tmp/null", S_IFCHR | 0666, makedev(1, 3)), 0) << root.error();
    nfs_stat_64 st = stat(root, "/tmp/null");
    EXPECT_TRUE(S_ISCHR(st.nfs_mode));
    EXPECT_EQ(st.nfs_rdev, makedev(1, 3));
    LibNfs pi(config_, 1000, 1000);
    ASSERT_TRUE(pi.mounted());
    EXPECT_EQ(nfs_mknod(pi.ctx(), "/tmp/disk", S_IFBLK | 0600, makedev(8, 0)), -EPERM);
}

TEST_F(NfsWrite, SetattrChmodChownUtimesTruncate) {
    LibNfs nfs(config_);
    ASSERT_TRUE(nfs.write_file("/tmp/f", "0123456789"));
    nfs_context* c = nfs.ctx();
    ASSERT_EQ(nfs_chmod(c, "/tmp/f", 0600), 0);
    ASSERT_EQ(nfs_chown(c, "/tmp/f", 1000, 27), 0);
    ASSERT_EQ(nfs_truncate(c, "/tmp/f", 4), 0);  // before utimes: truncating sets mtime
    timeval tv[2] = {{1000000, 0}, {2000000, 0}};
    ASSERT_EQ(nfs_utimes(c, "/tmp/f", tv), 0) << nfs.error();
    nfs_stat_64 st = stat(nfs, "/tmp/f");
    EXPECT_EQ(st.nfs_mode & 07777, 0600u);
    EXPECT_EQ(st.nfs_uid, 1000u);
    EXPECT_EQ(st.nfs_gid, 27u);
    EXPECT_EQ(st.nfs_mtime, 2000000u);
    EXPECT_EQ(st.nfs_size, 4u);
    EXPECT_EQ(nfs.read_file("/tmp/f"), "0123");
    // The owner may chmod; others may not.
    LibNfs other(config_, 1001, 1001);
    EXPECT_EQ(nfs_chmod(other.ctx(), "/tmp/f", 0777), -EPERM);
    LibNfs owner(config_, 1000, 1000);
    EXPECT_EQ(nfs_chmod(owner.ctx(), "/tmp/f", 0640), 0);
    EXPECT_EQ(nfs_chown(owner.ctx(), "/tmp/f", 0, 0), -EPERM);
}

TEST_F(NfsWrite, PermissionDeniedForNonOwner) {
    LibNfs pi(config_, 1000, 1000);
    ASSERT_TRUE(pi.mounted()) << pi.error();
    EXPECT_FALSE(pi.write_file("/etc/evil", "x"));
    EXPECT_FALSE(pi.write_file("/etc/hostname", "x"));
    EXPECT_EQ(nfs_unlink(pi.ctx(), "/etc/hostname"), -EACCES);
    EXPECT_EQ(nfs_mkdir(pi.ctx(), "/etc/dir"), -EACCES);
    EXPECT_EQ(nfs_rename(pi.ctx(), "/etc/hostname", "/home/pi/stolen"), -EACCES);
    LibNfs root(config_);
    EXPECT_EQ(root.read_file("/etc/hostname"), "pi-test\n");
    // Sticky /tmp: another user cannot remove my file.
    ASSERT_TRUE(pi.write_file("/tmp/mine", "m"));
    LibNfs other(config_, 1001, 1001);
    EXPECT_EQ(nfs_unlink(other.ctx(), "/tmp/mine"), -EACCES);
    EXPECT_EQ(nfs_unlink(pi.ctx(), "/tmp/mine"), 0);
    // Root squash is off by default: root wrote /etc/hostname above; with it on, root is nobody.
}

TEST_F(NfsWrite, OwnerMayWriteItsReadOnlyFile) {
    // docs/pi-boot.md NFS 11: git and dpkg create a 0444 file and then write it.
    LibNfs pi(config_, 1000, 1000);
    ASSERT_TRUE(pi.mounted());
    nfsfh* fh = nullptr;
    ASSERT_EQ(nfs_open2(pi.ctx(), "/home/pi/pack.idx", O_WRONLY | O_CREAT, 0444, &fh), 0)
        << pi.error();
    EXPECT_EQ(nfs_pwrite(pi.ctx(), fh, 0, 5, "index"), 5) << pi.error();
    ASSERT_EQ(nfs_close(pi.ctx(), fh), 0);
    EXPECT_EQ(stat(pi, "/home/pi/pack.idx").nfs_mode & 0777, 0444u);
    EXPECT_EQ(pi.read_file("/home/pi/pack.idx"), "index");
}

TEST_F(NfsWrite, NonOwnerWriteClearsSetuid) {
    LibNfs root(config_);
    ASSERT_TRUE(root.write_file("/tmp/suid", "x", 0777));
    ASSERT_EQ(nfs_chmod(root.ctx(), "/tmp/suid", 06777), 0);
    LibNfs pi(config_, 1000, 1000);
    nfsfh* fh = nullptr;
    ASSERT_EQ(nfs_open(pi.ctx(), "/tmp/suid", O_WRONLY, &fh), 0);
    ASSERT_EQ(nfs_pwrite(pi.ctx(), fh, 0, 1, "y"), 1);
    ASSERT_EQ(nfs_close(pi.ctx(), fh), 0);
    EXPECT_EQ(stat(root, "/tmp/suid").nfs_mode & 07777, 0777u);
    // The image's setuid binaries stay setuid for their owner's writes.
    ASSERT_TRUE(root.write_file("/sbin/su", "patched"));
    EXPECT_EQ(stat(root, "/sbin/su").nfs_mode & 07777, 04755u);
}

TEST_F(NfsWrite, HardLinkCopyUpIsSeenThroughTheOtherName) {
    LibNfs nfs(config_);
    ASSERT_TRUE(nfs.mounted());
    nfsfh* reader = nullptr;
    ASSERT_EQ(nfs_open(nfs.ctx(), "/data/b", O_RDONLY, &reader), 0);
    char buf[64] = {};
    ASSERT_EQ(nfs_pread(nfs.ctx(), reader, 0, sizeof buf, buf), 11);
    EXPECT_EQ(std::string(buf, 11), "linked data");
    // Writing through "a" copies the shared image file up once; "b" names the same object.
    nfsfh* writer = nullptr;
    ASSERT_EQ(nfs_open(nfs.ctx(), "/data/a", O_WRONLY, &writer), 0);
    ASSERT_EQ(nfs_pwrite(nfs.ctx(), writer, 0, 6, "LINKED"), 6);
    ASSERT_EQ(nfs_fsync(nfs.ctx(), writer), 0);
    ASSERT_EQ(nfs_close(nfs.ctx(), writer), 0);
    ASSERT_EQ(nfs_pread(nfs.ctx(), reader, 0, sizeof buf, buf), 11);
    EXPECT_EQ(std::string(buf, 11), "LINKED data");
    nfs_close(nfs.ctx(), reader);
    EXPECT_EQ(stat(nfs, "/data/a").nfs_ino, stat(nfs, "/data/b").nfs_ino);
    EXPECT_EQ(stat(nfs, "/data/b").nfs_nlink, 2u);
}

TEST_F(NfsWrite, RenameOverAnOpenFile) {
    // dpkg's write-then-rename: the new file's handle keeps working after it replaced the old
    // name (docs/pi-boot.md NFS 1); the replaced file's handle is dead: STALE, not NOENT.
    LibNfs nfs(config_);
    ASSERT_TRUE(nfs.write_file("/tmp/conf", "old"));
    RawRpc rpc(config_.nfs.port);
    auto tmp = lookup(rpc, root_, "tmp");
    ASSERT_TRUE(tmp);
    auto old_fh = lookup(rpc, *tmp, "conf");
    ASSERT_TRUE(old_fh);
    nfsfh* fh = nullptr;
    ASSERT_EQ(nfs_open2(nfs.ctx(), "/tmp/conf.new", O_WRONLY | O_CREAT, 0644, &fh), 0);
    ASSERT_EQ(nfs_pwrite(nfs.ctx(), fh, 0, 4, "new1"), 4);
    ASSERT_EQ(nfs_rename(nfs.ctx(), "/tmp/conf.new", "/tmp/conf"), 0) << nfs.error();
    ASSERT_EQ(nfs_pwrite(nfs.ctx(), fh, 4, 4, "new2"), 4) << nfs.error();
    ASSERT_EQ(nfs_close(nfs.ctx(), fh), 0);
    EXPECT_EQ(nfs.read_file("/tmp/conf"), "new1new2");
    EXPECT_EQ(getattr_status(rpc, *old_fh), kNfs3ErrStale);
}

TEST_F(NfsWrite, SetattrGuardComparesCtime) {
    RawRpc rpc(config_.nfs.port);
    auto fh = lookup(rpc, root_, "big.bin");
    ASSERT_TRUE(fh);
    auto r = rpc.call(build_call(++xid_, kNfsProgram, 3, kNfs3GetAttr, fh_args(*fh)));
    XdrReader x = r->results();
    ASSERT_EQ(x.u32(), kNfs3Ok);
    x.skip(kFattr3Bytes - 8);
    uint32_t ctime_sec = x.u32(), ctime_nsec = x.u32();
    auto setattr = [&](uint32_t nsec) {
        std::vector<uint8_t> args;
        XdrWriter w(args);
        w.opaque(*fh);
        w.boolean(true);  // mode
        w.u32(0640);
        for (int i = 0; i < 3; ++i) w.boolean(false);
        w.u32(0);
        w.u32(0);
        w.boolean(true);  // guard
        w.u32(ctime_sec);
        w.u32(nsec);
        auto reply = rpc.call(build_call(++xid_, kNfsProgram, 3, kNfs3SetAttr, args));
        XdrReader rx = reply->results();
        uint32_t st = rx.u32();
        EXPECT_TRUE(rx.boolean());  // wcc before
        return st;
    };
    EXPECT_EQ(setattr(ctime_nsec + 1), kNfs3ErrNotSync);  // off by one nanosecond
    EXPECT_EQ(setattr(ctime_nsec), kNfs3Ok);
}

TEST_F(NfsWrite, CreateReturnsDirectoryWcc) {
    RawRpc rpc(config_.nfs.port);
    std::vector<uint8_t> args;
    XdrWriter w(args);
    w.opaque(root_);
    w.string("wcc-file");
    w.u32(1);  // GUARDED
    w.boolean(true);
    w.u32(0600);
    for (int i = 0; i < 3; ++i) w.boolean(false);
    w.u32(0);
    w.u32(0);
    auto r = rpc.call(build_call(++xid_, kNfsProgram, 3, kNfs3Create, args));
    ASSERT_TRUE(r);
    XdrReader x = r->results();
    ASSERT_EQ(x.u32(), kNfs3Ok);
    ASSERT_TRUE(x.boolean());  // handle
    x.opaque(64);
    ASSERT_TRUE(x.boolean());  // attributes
    x.u32();
    EXPECT_EQ(x.u32(), 0600u);
    x.skip(kFattr3Bytes - 8);
    ASSERT_TRUE(x.boolean());  // dir pre-op
    x.skip(24);
    EXPECT_TRUE(x.boolean());  // dir post-op
    // GUARDED over an existing name is EXIST.
    r = rpc.call(build_call(++xid_, kNfsProgram, 3, kNfs3Create, args));
    EXPECT_EQ(r->results().u32(), kNfs3ErrExist);
}

TEST_F(NfsWrite, RootSquashMakesRootNobody) {
    config_.clients[0].root_squash = true;
    server_.reset();
    server_ = std::make_unique<InProcessServer>(config_);
    ASSERT_TRUE(server_->ok());
    LibNfs root(config_);
    ASSERT_TRUE(root.mounted()) << root.error();
    EXPECT_EQ(root.read_file("/etc/secret"), std::nullopt);
    EXPECT_FALSE(root.write_file("/etc/hostname", "x"));
    EXPECT_EQ(root.read_file("/etc/hostname"), "pi-test\n");
}

}  // namespace
}  // namespace rootfarm::nfsd
