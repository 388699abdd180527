// Roll-out on next boot: a client whose configured image changed is moved to it at its next MNT
// (when nothing earlier in its boot moved it), keeping or dropping its delta as [defaults]
// on_image_change says; never under a running client's old handles.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "nfsd/libnfs_client.h"
#include "nfsd/mount.h"
#include "nfsd/nfs3.h"
#include "nfsd/nfs3_xdr.h"
#include "nfsd/testing.h"

namespace rootfarm::nfsd {
namespace {

using namespace testing;
namespace fs = std::filesystem;

constexpr const char* kPasswd = "root:x:0:0:root:/root:/bin/bash\n";

// Image "b": a new version of "default" with the same /etc/passwd path and a marker file.
void make_image_b(const fs::path& state_dir) {
    fs::path root = state_dir / "images/b/root";
    fs::create_directories(root / "etc");
    fs::create_directories(state_dir / "images/b/boot");
    std::ofstream(root / "etc/passwd") << kPasswd;
    std::ofstream(root / "etc/release") << "image b\n";
}

class MountRollout : public ::testing::Test {
  protected:
    void SetUp() override {
        make_standard_image(dir_);
        dir_.write("etc/passwd", kPasswd);
        make_image_b(dir_.path());
        config_ = test_config(dir_.path());
    }

    StateDir dir_;
    Config config_;
    uint32_t xid_ = 0x7e000;
};

// What a reboot does: the server restarts with the client moved to image "b" (on_image_change
// "reset", the default); until it re-mounts it keeps image default, the re-mount moves it to b
// without the delta.
TEST_F(MountRollout, ResetOnNextMountOverTheWire) {
    std::vector<uint8_t> old_file;
    {
        auto server = InProcessServer::start(config_);
        ASSERT_NE(server, nullptr);
        LibNfs pi(config_);
        ASSERT_TRUE(pi.mounted()) << pi.error();
        ASSERT_TRUE(pi.write_file("/etc/mine.txt", "written on default\n")) << pi.error();
        auto root = mount_root(config_.nfs.mount_port);
        ASSERT_TRUE(root);
        RawRpc rpc(config_.nfs.port);
        auto etc = lookup(rpc, *root, "etc");
        ASSERT_TRUE(etc);
        auto f = lookup(rpc, *etc, "mine.txt");
        ASSERT_TRUE(f);
        old_file = *f;
    }
    config_.clients[0].image = "b";
    auto server = InProcessServer::start(config_);
    ASSERT_NE(server, nullptr);
    {
        // Before it re-mounts (a running client), it keeps its current image: its handle
        // still reaches its own file, never something of image b.
        RawRpc rpc(config_.nfs.port);
        auto r = rpc.call(build_call(++xid_, kNfsProgram, 3, kNfs3GetAttr, fh_args(old_file)));
        ASSERT_TRUE(r);
        ASSERT_EQ(r->accept_stat, 0u);
        EXPECT_EQ(r->results().u32(), 0u) << "served from the image its delta is on";
    }
    // It reboots: its boot ROM's DISCOVER says the system that used the root has stopped.
    server->clients().record(config_.clients[0].mac, BootEvent::kDhcpRomDiscover);
    LibNfs pi(config_);
    ASSERT_TRUE(pi.mounted()) << pi.error();
    EXPECT_EQ(pi.read_file("/etc/release"), "image b\n");
    EXPECT_FALSE(pi.read_file("/etc/mine.txt"));
    {
        // The handle of the dropped delta's file is stale now (RFC 1813 §2.6: NFS3ERR_STALE).
        RawRpc rpc(config_.nfs.port);
        auto r = rpc.call(build_call(++xid_, kNfsProgram, 3, kNfs3GetAttr, fh_args(old_file)));
        ASSERT_TRUE(r);
        ASSERT_EQ(r->accept_stat, 0u);
        EXPECT_EQ(r->results().u32(), static_cast<uint32_t>(kNfs3ErrStale));
    }
    // The previous image stays on disk, and another client could still use it.
    EXPECT_TRUE(fs::exists(dir_.path() / "images/default/root/etc/hostname"));
    EXPECT_EQ(server->store().images(), (std::vector<std::string>{"b", "default"}));
}

// MountService driven directly, with the full Config, so on_image_change is honoured.
class MountDirect : public MountRollout {
  protected:
    // MNT "/" as the client; true on MNT3_OK.
    bool mnt(MountService& m) {
        std::vector<uint8_t> args;
        XdrWriter w(args);
        w.string("/");
        CallHeader h;
        h.xid = ++xid_;
        h.prog = kMountProgram;
        h.vers = 3;
        h.proc = 1;  // MOUNTPROC3_MNT
        auto out = m.handle(h, XdrReader(args), Ipv4{INADDR_LOOPBACK});
        if (out.size() < 4) return false;
        auto parsed = parse_reply(std::vector<uint8_t>(out.begin() + 4, out.end()));  // record mark
        return parsed && parsed->accept_stat == 0 && parsed->results().u32() == 0;
    }

    std::unique_ptr<store::Store> open_store() {
        store::StoreOptions o;
        o.state_dir = dir_.path();
        auto s = store::Store::open(o);
        return s ? std::move(*s) : nullptr;
    }

    store::ObjectId walk(const store::ClientView& v, const std::string& a, const std::string& b) {
        auto d = v.lookup(v.root(), a);
        if (!d) return 0;
        auto f = v.lookup(*d, b);
        return f ? *f : 0;
    }

    std::string read(const store::ClientView& v, store::ObjectId id) {
        auto t = v.open_read(id);
        if (!t || !t->file) return {};
        std::string s(t->attr.size, '\0');
        ssize_t n = ::pread(t->file->fd(), s.data(), s.size(), 0);
        s.resize(n > 0 ? static_cast<size_t>(n) : 0);
        return s;
    }

    // The client writes its own /etc/passwd and /etc/mine.txt on "default"; returns the fileid
    // of its /etc/passwd.
    store::ObjectId write_on_default() {
        auto store = open_store();
        EXPECT_NE(store, nullptr);
        if (!store) return 0;
        Clients clients(config_, store.get());
        MountService m(config_.nfs, clients);
        EXPECT_TRUE(mnt(m));
        auto v = store->view(config_.clients[0].mac, "default");
        EXPECT_TRUE(v);
        if (!v) return 0;
        auto& view = **v;
        store::ObjectId passwd = walk(view, "etc", "passwd");
        EXPECT_NE(passwd, 0u);
        auto w = view.begin_write(passwd);
        EXPECT_TRUE(w);
        if (!w) return 0;
        std::string mine = "root:x:0:0:root:/root:/bin/bash\npi:x:1000:1000::/home/pi:/bin/sh\n";
        EXPECT_EQ(::pwrite(w->file->fd(), mine.data(), mine.size(), 0),
                  static_cast<ssize_t>(mine.size()));
        EXPECT_TRUE(view.end_write(passwd, 0, mine.size(), true));
        auto etc = view.lookup(view.root(), "etc");
        store::CreateArgs c;
        auto created = view.create(*etc, "mine.txt", c);
        EXPECT_TRUE(created);
        return passwd;
    }
};

// on_image_change = "keep": the delta follows the client to image b, its own /etc/passwd keeps
// its content and fileid (ids carried over by path, store/id_map.h).
TEST_F(MountDirect, KeepCarriesDeltaAndIds) {
    config_.defaults.on_image_change = DefaultsConfig::OnImageChange::kKeep;
    store::ObjectId passwd = write_on_default();
    ASSERT_NE(passwd, 0u);
    config_.clients[0].image = "b";
    auto store = open_store();
    ASSERT_NE(store, nullptr);
    Clients clients(config_, store.get());
    const MacAddr mac = config_.clients[0].mac;
    // Not moved until it mounts.
    EXPECT_EQ(store->view(mac, "b").error().value(), EXDEV);
    MountService m(config_.nfs, clients);
    ASSERT_TRUE(mnt(m));
    auto v = store->view(mac, "b");
    ASSERT_TRUE(v);
    EXPECT_EQ((*v)->image(), "b");
    EXPECT_EQ(read(**v, walk(**v, "etc", "release")), "image b\n");
    EXPECT_NE(walk(**v, "etc", "mine.txt"), 0u);
    EXPECT_EQ(walk(**v, "etc", "passwd"), passwd);
    EXPECT_EQ(read(**v, passwd),
              "root:x:0:0:root:/root:/bin/bash\npi:x:1000:1000::/home/pi:/bin/sh\n");
    EXPECT_TRUE(fs::exists(dir_.path() / "images/default/root/etc/passwd"));
}

// on_image_change = "reset": image b, pristine.
TEST_F(MountDirect, ResetDropsDelta) {
    store::ObjectId passwd = write_on_default();
    ASSERT_NE(passwd, 0u);
    config_.clients[0].image = "b";
    auto store = open_store();
    ASSERT_NE(store, nullptr);
    Clients clients(config_, store.get());
    MountService m(config_.nfs, clients);
    ASSERT_TRUE(mnt(m));
    auto v = store->view(config_.clients[0].mac, "b");
    ASSERT_TRUE(v);
    EXPECT_EQ(walk(**v, "etc", "mine.txt"), 0u);
    EXPECT_EQ(read(**v, walk(**v, "etc", "passwd")), kPasswd);
    EXPECT_TRUE(fs::exists(dir_.path() / "images/default/root/etc/passwd"));
}

}  // namespace
}  // namespace rootfarm::nfsd
