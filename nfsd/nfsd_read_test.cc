// Integration: the read-only side of the NFS service (RPC, portmap, MOUNT, lookups, reads,
// directory listings) against an in-process server, driven by libnfs and by raw RPC calls.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <nfsc/libnfs.h>
// After libnfs.h, which defines the EXTERN its raw headers use.
#include <nfsc/libnfs-raw-nfs.h>
#include <nfsc/libnfs-raw.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>
#include <random>
#include <set>

#include "nfsd/access.h"
#include "nfsd/libnfs_client.h"
#include "nfsd/nfs3.h"
#include "nfsd/nfs3_xdr.h"
#include "nfsd/testing.h"
#include "store/names_test_util.h"

namespace rootfarm::nfsd {
namespace {

using namespace testing;

class NfsRead : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = new StateDir();
        make_standard_image(*dir_);
        config_ = new Config(test_config(dir_->path()));
        config_->nfs.exports = {"/", "/srv/rootfarm"};
        server_ = InProcessServer::start(*config_).release();
        ASSERT_NE(server_, nullptr);
        auto root = mount_root(config_->nfs.mount_port);
        ASSERT_TRUE(root);
        root_ = new std::vector<uint8_t>(*root);
    }
    static void TearDownTestSuite() {
        delete server_;
        delete config_;
        delete dir_;
        delete root_;
    }
    static uint16_t port() { return config_->nfs.port; }

    static StateDir* dir_;
    static Config* config_;
    static InProcessServer* server_;
    static std::vector<uint8_t>* root_;
};
StateDir* NfsRead::dir_;
Config* NfsRead::config_;
InProcessServer* NfsRead::server_;
std::vector<uint8_t>* NfsRead::root_;

TEST_F(NfsRead, LibnfsMountsAndReadsAFile) {
    LibNfs nfs(*config_);
    ASSERT_TRUE(nfs.mounted()) << nfs.error();
    // The client's own name, generated at MNT over the image's "golden".
    EXPECT_EQ(nfs.read_file("/etc/hostname"), "pi-test\n");
    EXPECT_EQ(nfs.read_file("/big.bin"), big_content());
}

TEST_F(NfsRead, StatShowsStoredOwnerModeAndOneFsid) {
    LibNfs nfs(*config_);
    ASSERT_TRUE(nfs.mounted()) << nfs.error();
    nfs_stat_64 secret{}, home{}, su{}, root{};
    ASSERT_EQ(nfs_stat64(nfs.ctx(), "/etc/secret", &secret), 0) << nfs.error();
    ASSERT_EQ(nfs_stat64(nfs.ctx(), "/home/pi", &home), 0) << nfs.error();
    ASSERT_EQ(nfs_stat64(nfs.ctx(), "/sbin/su", &su), 0) << nfs.error();
    ASSERT_EQ(nfs_stat64(nfs.ctx(), "/", &root), 0) << nfs.error();
    EXPECT_EQ(secret.nfs_mode & 07777, 0600u);
    EXPECT_TRUE(S_ISREG(secret.nfs_mode));
    EXPECT_EQ(secret.nfs_size, 6u);
    EXPECT_EQ(home.nfs_uid, 1000u);
    EXPECT_TRUE(S_ISDIR(home.nfs_mode));
    EXPECT_EQ(su.nfs_mode & 07777, 04755u);
    // docs/pi-boot.md NFS 2: one fsid for the whole export.
    EXPECT_EQ(secret.nfs_dev, root.nfs_dev);
    EXPECT_EQ(home.nfs_dev, root.nfs_dev);
    EXPECT_NE(secret.nfs_ino, home.nfs_ino);
}

TEST_F(NfsRead, MissingNameIsNoent) {
    LibNfs nfs(*config_);
    ASSERT_TRUE(nfs.mounted()) << nfs.error();
    nfs_stat_64 st{};
    EXPECT_EQ(nfs_stat64(nfs.ctx(), "/etc/nope", &st), -ENOENT);
}

TEST_F(NfsRead, ReadlinkAndLstat) {
    LibNfs nfs(*config_);
    ASSERT_TRUE(nfs.mounted()) << nfs.error();
    char buf[256] = {};
    ASSERT_EQ(nfs_readlink(nfs.ctx(), "/lib/hostname-link", buf, sizeof buf), 0) << nfs.error();
    EXPECT_STREQ(buf, "../etc/hostname");
    nfs_stat_64 st{};
    ASSERT_EQ(nfs_lstat64(nfs.ctx(), "/lib/hostname-link", &st), 0);
    EXPECT_TRUE(S_ISLNK(st.nfs_mode));
}

TEST_F(NfsRead, ReadAtOrPastEofIsOkWithEof) {
    RawRpc rpc(port());
    auto fh = lookup(rpc, *root_, "big.bin");
    ASSERT_TRUE(fh);
    const uint64_t size = big_content().size();
    // count and eof of a READ reply.
    auto count_eof = [](const RpcReply& r) {
        XdrReader x = r.results();
        EXPECT_EQ(x.u32(), kNfs3Ok);
        if (x.boolean()) x.skip(kFattr3Bytes);
        uint32_t count = x.u32();
        bool eof = x.boolean();
        EXPECT_TRUE(x.ok());
        return std::pair(count, eof);
    };
    for (uint64_t offset : {size, size + 10, uint64_t{1} << 40}) {
        auto r = rpc.call(build_call(77, kNfsProgram, 3, kNfs3Read, io_args(*fh, offset, 4096)));
        ASSERT_TRUE(r);
        EXPECT_EQ(count_eof(*r), std::pair(0u, true));
    }
    // The tail: a short count with eof set.
    auto r = rpc.call(build_call(78, kNfsProgram, 3, kNfs3Read, io_args(*fh, size - 100, 4096)));
    ASSERT_TRUE(r);
    EXPECT_EQ(count_eof(*r), std::pair(100u, true));
    EXPECT_EQ(read_data(*r), big_content().substr(size - 100));
}

TEST_F(NfsRead, LibnfsListsA5000EntryDirectory) {
    LibNfs nfs(*config_);
    ASSERT_TRUE(nfs.mounted()) << nfs.error();
    nfsdir* d = nullptr;
    ASSERT_EQ(nfs_opendir(nfs.ctx(), "/many", &d), 0) << nfs.error();
    std::set<std::string> names;
    size_t count = 0;
    while (nfsdirent* e = nfs_readdir(nfs.ctx(), d)) {
        names.insert(e->name);
        ++count;
    }
    nfs_closedir(nfs.ctx(), d);
    EXPECT_EQ(count, 5002u);
    EXPECT_EQ(names.size(), 5002u);
    EXPECT_TRUE(names.count("."));
    EXPECT_TRUE(names.count(".."));
    EXPECT_TRUE(names.count("f4999"));
}

// Pages through a directory with READDIR (plus=false) or READDIRPLUS and tiny counts; returns
// every name seen, in order.
std::vector<std::string> list_raw(RawRpc& rpc, const std::vector<uint8_t>& dir, bool plus,
                                  uint32_t dircount, uint32_t maxcount, int* calls) {
    std::vector<std::string> names;
    uint64_t cookie = 0;
    uint32_t xid = plus ? 0x50000 : 0x60000;
    for (*calls = 0; *calls < 100000; ++*calls) {
        std::vector<uint8_t> args;
        XdrWriter w(args);
        w.opaque(dir);
        w.u64(cookie);
        // Linux resends stale verifiers: a made-up one must never be refused (docs/pi-boot.md NFS 4).
        w.u64(cookie ? 0xdeadbeefcafef00dull : 0);
        if (plus) w.u32(dircount);
        w.u32(maxcount);
        auto r = rpc.call(
            build_call(++xid, kNfsProgram, 3, plus ? kNfs3ReadDirPlus : kNfs3ReadDir, args));
        if (!r) return {};
        // The whole reply body must respect maxcount (§3.3.16/17).
        EXPECT_LE(r->body.size() - r->results_offset, maxcount);
        XdrReader x = r->results();
        if (x.u32() != kNfs3Ok) return {};
        if (x.boolean()) x.skip(kFattr3Bytes);
        x.skip(8);
        size_t in_reply = 0;
        while (x.boolean()) {
            x.u64();
            names.emplace_back(x.string(255));
            cookie = x.u64();
            if (plus) {
                if (x.boolean()) x.skip(kFattr3Bytes);
                if (x.boolean()) x.opaque(64);
            }
            ++in_reply;
        }
        bool eof = x.boolean();
        EXPECT_TRUE(x.ok());
        if (eof) return names;
        EXPECT_GT(in_reply, 0u);
        if (in_reply == 0) return {};
    }
    return {};
}

// Lists /many with tiny counts: every entry exactly once, in many calls.
void expect_complete_listing(uint16_t port, const std::vector<uint8_t>& root, bool plus,
                             uint32_t dircount, uint32_t maxcount) {
    RawRpc rpc(port);
    auto many = lookup(rpc, root, "many");
    ASSERT_TRUE(many);
    int calls = 0;
    auto names = list_raw(rpc, *many, plus, dircount, maxcount, &calls);
    EXPECT_EQ(names.size(), 5002u);
    EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), 5002u);
    EXPECT_GT(calls, 100);  // the small counts really paged
}

TEST_F(NfsRead, ReaddirPlusWithSmallCountsReturnsEveryEntryOnce) {
    expect_complete_listing(port(), *root_, true, 512, 2048);
}

TEST_F(NfsRead, ReaddirWithSmallCountReturnsEveryEntryOnce) {
    expect_complete_listing(port(), *root_, false, 0, 600);
}

TEST_F(NfsRead, ReaddirPlusTooSmallForOneEntry) {
    RawRpc rpc(port());
    std::vector<uint8_t> args;
    XdrWriter w(args);
    w.opaque(*root_);
    w.u64(0);
    w.u64(0);
    w.u32(100);
    w.u32(120);  // not even the header and "." fit
    auto r = rpc.call(build_call(5, kNfsProgram, 3, kNfs3ReadDirPlus, args));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->results().u32(), kNfs3ErrTooSmall);
}

TEST_F(NfsRead, FsinfoPathconfFsstat) {
    RawRpc rpc(port());
    auto r = rpc.call(build_call(9, kNfsProgram, 3, kNfs3FsInfo, fh_args(*root_)));
    ASSERT_TRUE(r);
    XdrReader x = r->results();
    ASSERT_EQ(x.u32(), kNfs3Ok);
    ASSERT_TRUE(x.boolean());
    x.skip(kFattr3Bytes);
    EXPECT_EQ(x.u32(), 1u << 20);  // rtmax
    x.u32();
    x.u32();
    EXPECT_EQ(x.u32(), 1u << 20);  // wtmax
    x.u32();
    x.u32();
    x.u32();
    EXPECT_GT(x.u64(), uint64_t{1} << 40);  // maxfilesize
    EXPECT_EQ(x.u32(), 0u);                 // time_delta 1 ns
    EXPECT_EQ(x.u32(), 1u);
    EXPECT_EQ(x.u32(), 0x1bu);  // LINK | SYMLINK | HOMOGENEOUS | CANSETTIME
    EXPECT_TRUE(x.ok());

    r = rpc.call(build_call(10, kNfsProgram, 3, kNfs3PathConf, fh_args(*root_)));
    ASSERT_TRUE(r);
    x = r->results();
    ASSERT_EQ(x.u32(), kNfs3Ok);
    ASSERT_TRUE(x.boolean());
    x.skip(kFattr3Bytes);
    x.u32();
    EXPECT_EQ(x.u32(), 255u);  // name_max

    LibNfs nfs(*config_);
    ASSERT_TRUE(nfs.mounted()) << nfs.error();
    struct statvfs sv {};
    ASSERT_EQ(nfs_statvfs(nfs.ctx(), "/", &sv), 0) << nfs.error();
    EXPECT_GT(sv.f_blocks, 0u);
}

TEST_F(NfsRead, AccessReflectsOwnerAndMode) {
    RawRpc rpc(port());
    auto etc = lookup(rpc, *root_, "etc");
    ASSERT_TRUE(etc);
    auto secret = lookup(rpc, *etc, "secret");
    ASSERT_TRUE(secret);
    auto access = [&](uint32_t uid) {
        std::vector<uint8_t> args;
        XdrWriter w(args);
        w.opaque(*secret);
        w.u32(0x3f);
        auto r = rpc.call(build_call(11, kNfsProgram, 3, kNfs3Access, args, uid, uid));
        XdrReader x = r->results();
        EXPECT_EQ(x.u32(), kNfs3Ok);
        if (x.boolean()) x.skip(kFattr3Bytes);
        return x.u32();
    };
    EXPECT_EQ(access(1000), 0u);
    EXPECT_EQ(access(0), kAccessRead | kAccessModify | kAccessExtend);
}

TEST_F(NfsRead, NonOwnerCannotReadPrivateFile) {
    LibNfs nfs(*config_, 1000, 1000);
    ASSERT_TRUE(nfs.mounted()) << nfs.error();
    EXPECT_EQ(nfs.read_file("/etc/secret"), std::nullopt);
    EXPECT_EQ(nfs.read_file("/etc/hostname"), "pi-test\n");
}

TEST_F(NfsRead, ForgedHandleIsBadHandleOrStaleNeverNoent) {
    RawRpc rpc(port());
    auto fh = lookup(rpc, *root_, "big.bin");
    ASSERT_TRUE(fh);
    (*fh)[fh->size() - 1] ^= 0x5a;
    auto r = rpc.call(build_call(12, kNfsProgram, 3, kNfs3GetAttr, fh_args(*fh)));
    ASSERT_TRUE(r);
    uint32_t st = r->results().u32();
    EXPECT_TRUE(st == kNfs3ErrBadHandle || st == kNfs3ErrStale) << st;
}

// Runs a shell command, bounded by `timeout`; returns its exit status and output.
std::pair<int, std::string> run(const std::string& cmd) {
    std::string out;
    FILE* p = ::popen(("timeout 20 " + cmd + " 2>&1").c_str(), "r");
    char buf[512];
    while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    return {::pclose(p), out};
}

// A TI-RPC universal address (RFC 5665 §5.2.3.3) for 127.0.0.1:port.
std::string uaddr(uint16_t port) {
    return "127.0.0.1." + std::to_string(port >> 8) + "." + std::to_string(port & 0xff);
}

TEST_F(NfsRead, RpcinfoReachesNfsAndMount) {
    // rpcinfo (the rpcbind package's real client) calls NULL at a given address; `-n PORT -t`
    // would still ask an rpcbind on port 111 first.
    auto [status, out] = run("rpcinfo -a " + uaddr(port()) + " -T tcp 100003 3");
    EXPECT_EQ(status, 0) << out;
    EXPECT_NE(out.find("ready and waiting"), std::string::npos) << out;
    std::tie(status, out) =
        run("rpcinfo -a " + uaddr(config_->nfs.mount_port) + " -T tcp 100005 3");
    EXPECT_EQ(status, 0) << out;
    std::tie(status, out) =
        run("rpcinfo -a " + uaddr(config_->nfs.mount_port) + " -T udp 100005 1");
    EXPECT_EQ(status, 0) << out;
    // NFSACL is refused the way the kernel expects (it then stops asking).
    std::tie(status, out) = run("rpcinfo -a " + uaddr(port()) + " -T tcp 100227 3");
    EXPECT_NE(status, 0);
    EXPECT_NE(out.find("not available"), std::string::npos) << out;
}

TEST_F(NfsRead, MountRulesByPathAndClient) {
    // An export path from the Pi's cmdline is the root too.
    auto srv = mount_root(config_->nfs.mount_port, "/srv/rootfarm");
    ASSERT_TRUE(srv);
    RawRpc rpc(port());
    auto attr_uid = [&](const std::vector<uint8_t>& fh) {
        auto r = rpc.call(build_call(13, kNfsProgram, 3, kNfs3GetAttr, fh_args(fh)));
        XdrReader x = r->results();
        EXPECT_EQ(x.u32(), kNfs3Ok);
        x.u32();
        x.u32();
        x.u32();
        uint32_t uid = x.u32();
        x.skip(4 + 8 + 8 + 8 + 8);
        uint64_t fileid = x.u64();
        return std::pair(uid, fileid);
    };
    EXPECT_EQ(attr_uid(*srv).second, attr_uid(*root_).second);
    // A directory inside the view mounts as that directory (libnfs tools mount parents).
    auto home = mount_root(config_->nfs.mount_port, "/home/pi");
    ASSERT_TRUE(home);
    EXPECT_EQ(attr_uid(*home).first, 1000u);
    EXPECT_FALSE(mount_root(config_->nfs.mount_port, "/etc/hostname"));  // not a directory
    EXPECT_FALSE(mount_root(config_->nfs.mount_port, "/nope"));

    // An address that maps to no client is refused with MNT3ERR_ACCES.
    RawRpc stranger(config_->nfs.mount_port, "127.0.0.2");
    ASSERT_TRUE(stranger.connected());
    std::vector<uint8_t> args;
    XdrWriter(args).string("/");
    auto r = stranger.call(build_call(1, 100005, 3, 1, args));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->accept_stat, 0u);
    EXPECT_EQ(r->results().u32(), 13u);
    // Nor is it served NFS with a handle it got elsewhere: never someone else's view.
    RawRpc stranger_nfs(port(), "127.0.0.2");
    r = stranger_nfs.call(build_call(2, kNfsProgram, 3, kNfs3GetAttr, fh_args(*root_)));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->reply_stat, 1u);  // MSG_DENIED, AUTH_ERROR
    EXPECT_EQ(r->accept_stat, 1u);

    // EXPORT lists the configured paths; MNT lists AUTH_SYS.
    RawRpc m(config_->nfs.mount_port);
    r = m.call(build_call(2, 100005, 3, 5, {}));
    ASSERT_TRUE(r);
    XdrReader x = r->results();
    std::vector<std::string> exports;
    while (x.boolean()) {
        exports.emplace_back(x.string(1024));
        while (x.boolean()) x.string(255);
    }
    EXPECT_EQ(exports, (std::vector<std::string>{"/", "/srv/rootfarm"}));
    r = m.call(build_call(3, 100005, 3, 1, [] {
        std::vector<uint8_t> a;
        XdrWriter(a).string("/");
        return a;
    }()));
    ASSERT_TRUE(r);
    x = r->results();
    EXPECT_EQ(x.u32(), 0u);
    x.opaque(64);
    EXPECT_EQ(x.u32(), 1u);
    EXPECT_EQ(x.u32(), kAuthSys);
    // MOUNT is also answered on the NFS port.
    RawRpc on_nfs(port());
    r = on_nfs.call(build_call(4, 100005, 3, 0, {}));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->accept_stat, 0u);
}

TEST_F(NfsRead, MountDumpUmntAndVersion1) {
    auto path_args = [](const std::string& p) {
        std::vector<uint8_t> a;
        XdrWriter(a).string(p);
        return a;
    };
    auto dump = [&](RawRpc& m) {
        std::vector<std::pair<std::string, std::string>> out;
        auto r = m.call(build_call(50, 100005, 3, 2, {}));
        if (!r) return out;
        XdrReader x = r->results();
        while (x.boolean()) {
            std::string host(x.string(255));
            out.emplace_back(host, std::string(x.string(1024)));
        }
        return out;
    };
    RawRpc m(config_->nfs.mount_port);
    ASSERT_TRUE(m.call(build_call(51, 100005, 3, 1, path_args("/home/pi"))));
    auto mounts = dump(m);
    EXPECT_NE(std::find(mounts.begin(), mounts.end(),
                        std::pair<std::string, std::string>("127.0.0.1", "/home/pi")),
              mounts.end());
    ASSERT_TRUE(m.call(build_call(52, 100005, 3, 3, path_args("/home/pi"))));  // UMNT
    mounts = dump(m);
    EXPECT_EQ(std::find(mounts.begin(), mounts.end(),
                        std::pair<std::string, std::string>("127.0.0.1", "/home/pi")),
              mounts.end());
    ASSERT_TRUE(m.call(build_call(53, 100005, 3, 4, {})));  // UMNTALL
    EXPECT_TRUE(dump(m).empty());
    // MOUNT v1 answers MNT with a fixed 32-byte handle when ours fits, else an error; never
    // garbage.
    auto r = m.call(build_call(54, 100005, 1, 1, path_args("/")));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->accept_stat, 0u);
    XdrReader x = r->results();
    uint32_t st = x.u32();
    if (st == 0) {
        x.fixed(32);
        EXPECT_TRUE(x.ok());
    } else {
        EXPECT_EQ(st, 10006u);
    }
    r = m.call(build_call(55, 100005, 4, 0, {}));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->accept_stat, uint32_t(AcceptStat::kProgMismatch));
    x = r->results();
    EXPECT_EQ(x.u32(), 1u);
    EXPECT_EQ(x.u32(), 3u);
}

TEST_F(NfsRead, RpcErrorsAreTheProtocolsOwn) {
    RawRpc rpc(port());
    auto r = rpc.call(build_call(20, kNfsAclProgram, 3, 0, {}));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->accept_stat, uint32_t(AcceptStat::kProgUnavail));
    r = rpc.call(build_call(21, kNfsProgram, 2, 0, {}));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->accept_stat, uint32_t(AcceptStat::kProgMismatch));
    XdrReader x = r->results();
    EXPECT_EQ(x.u32(), 3u);
    EXPECT_EQ(x.u32(), 3u);
    r = rpc.call(build_call(22, kNfsProgram, 3, 99, {}));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->accept_stat, uint32_t(AcceptStat::kProcUnavail));
    r = rpc.call(build_call(23, kNfsProgram, 3, kNfs3GetAttr, {0, 0, 1, 0}));  // fh len 256
    ASSERT_TRUE(r);
    EXPECT_EQ(r->accept_stat, uint32_t(AcceptStat::kGarbageArgs));
    // The connection still works afterwards, and a request split into 7-byte fragments is
    // reassembled (RFC 5531 §11).
    ASSERT_TRUE(rpc.send_record(build_call(24, kNfsProgram, 3, kNfs3GetAttr, fh_args(*root_)), 7));
    r = rpc.receive();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->xid, 24u);
    EXPECT_EQ(r->results().u32(), kNfs3Ok);
}

TEST_F(NfsRead, MalformedRecordsCloseOnlyTheirConnection) {
    RawRpc healthy(port());
    ASSERT_TRUE(healthy.call(build_call(30, kNfsProgram, 3, 0, {})));

    RawRpc huge(port());
    ASSERT_TRUE(huge.send_raw({0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4}));
    EXPECT_TRUE(huge.closed_by_peer());

    RawRpc garbage(port());
    std::vector<uint8_t> junk(64, 0xab);
    ASSERT_TRUE(garbage.send_record(junk));
    EXPECT_TRUE(garbage.closed_by_peer());

    {
        RawRpc truncated(port());
        auto call = build_call(31, kNfsProgram, 3, kNfs3GetAttr, fh_args(*root_));
        std::vector<uint8_t> bytes = {0x80, 0, 0, uint8_t(call.size() + 50)};
        bytes.insert(bytes.end(), call.begin(), call.end());
        ASSERT_TRUE(truncated.send_raw(bytes));  // then closes with the record unfinished
    }
    {
        RawRpc cut_header(port());
        auto call = build_call(32, kNfsProgram, 3, kNfs3GetAttr, fh_args(*root_));
        call.resize(20);  // a complete record holding half a call header
        ASSERT_TRUE(cut_header.send_record(call));
        EXPECT_TRUE(cut_header.closed_by_peer());
    }
    // The server and the first connection keep working.
    auto r = healthy.call(build_call(33, kNfsProgram, 3, kNfs3GetAttr, fh_args(*root_)));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->results().u32(), kNfs3Ok);
    RawRpc fresh(port());
    EXPECT_TRUE(fresh.call(build_call(34, kNfsProgram, 3, 0, {})));
}

TEST_F(NfsRead, RandomArgumentsToEveryProcedureNeverHurtTheServer) {
    // Every procedure gets garbage of every small length and a few valid-looking prefixes
    // (the root handle followed by random words): each call is answered, the server lives on.
    std::mt19937 rng(1234);
    RawRpc rpc(port());
    uint32_t xid = 0x90000;
    for (uint32_t proc = 1; proc < kNfs3ProcCount; ++proc) {
        for (int round = 0; round < 40; ++round) {
            std::vector<uint8_t> args;
            if (round % 2) {
                XdrWriter w(args);
                w.opaque(*root_);
            }
            size_t extra = rng() % 64;
            for (size_t i = 0; i < extra; ++i) args.push_back(static_cast<uint8_t>(rng()));
            // Never a mutation with a valid handle and random names: keep the image intact.
            if (round % 2 && nfs3_is_non_idempotent(proc)) continue;
            if (round % 2 && proc == kNfs3Write) continue;
            auto r = rpc.call(build_call(++xid, kNfsProgram, 3, proc, args, 1000, 1000));
            ASSERT_TRUE(r) << "proc " << proc << " round " << round;
            EXPECT_EQ(r->xid, xid);
        }
    }
    auto r = rpc.call(build_call(++xid, kNfsProgram, 3, kNfs3GetAttr, fh_args(*root_)));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->results().u32(), kNfs3Ok);
}

TEST_F(NfsRead, ManyCallsInFlightOnOneConnection) {
    // More than a connection may have executing at once (64): the rest wait, none is lost.
    // big.bin is 3 MiB, so READs wrap around it.
    constexpr uint32_t kCalls = 200;
    RawRpc rpc(port());
    auto fh = lookup(rpc, *root_, "big.bin");
    ASSERT_TRUE(fh);
    std::vector<uint8_t> all;
    for (uint32_t i = 0; i < kCalls; ++i) {
        std::vector<uint8_t> args;
        XdrWriter w(args);
        w.opaque(*fh);
        w.u64(uint64_t{i % 48} * 65536);
        w.u32(65536);
        auto call = build_call(1000 + i, kNfsProgram, 3, i % 2 ? kNfs3Read : kNfs3GetAttr,
                               i % 2 ? args : fh_args(*fh));
        XdrWriter(all).u32(0x80000000u | static_cast<uint32_t>(call.size()));
        all.insert(all.end(), call.begin(), call.end());
    }
    ASSERT_TRUE(rpc.send_raw(all));
    std::set<uint32_t> xids;
    const std::string big = big_content();
    for (uint32_t i = 0; i < kCalls; ++i) {
        auto r = rpc.receive();
        ASSERT_TRUE(r);
        xids.insert(r->xid);
        XdrReader x = r->results();
        ASSERT_EQ(x.u32(), kNfs3Ok);
        if (r->xid % 2) {
            ASSERT_TRUE(x.boolean());
            x.skip(kFattr3Bytes);
            uint32_t n = x.u32();
            x.boolean();
            auto data = x.opaque(65536);
            uint64_t off = uint64_t((r->xid - 1000) % 48) * 65536;
            EXPECT_EQ(n, 65536u);
            EXPECT_EQ(std::string(data.begin(), data.end()), big.substr(off, 65536));
        }
    }
    EXPECT_EQ(xids.size(), kCalls);
}

TEST_F(NfsRead, UdpCallsAreAnswered) {
    auto r = udp_call(port(), build_call(40, kNfsProgram, 3, 0, {}));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->xid, 40u);
    r = udp_call(port(), build_call(41, kNfsProgram, 3, kNfs3GetAttr, fh_args(*root_)));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->results().u32(), kNfs3Ok);
    std::vector<uint8_t> args;
    XdrWriter(args).string("/");
    r = udp_call(config_->nfs.mount_port, build_call(42, 100005, 3, 1, args));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->results().u32(), 0u);
    // A 1 MiB READ over UDP is cut to what fits a datagram, never dropped.
    RawRpc tcp(port());
    auto big = lookup(tcp, *root_, "big.bin");
    ASSERT_TRUE(big);
    r = udp_call(port(), build_call(43, kNfsProgram, 3, kNfs3Read, io_args(*big, 0, 1u << 20)));
    ASSERT_TRUE(r);
    auto data = read_data(*r);
    ASSERT_TRUE(data);
    EXPECT_GT(data->size(), 0u);
    EXPECT_LE(data->size(), 65000u);
    EXPECT_EQ(*data, big_content().substr(0, data->size()));
}

// READDIR cookies as libnfs sees them (RFC 1813 §3.3.16): a fresh server per test, over an
// image whose /d holds `image_names` and the client's own `client_names`.
class NfsCookies : public ::testing::Test {
  protected:
    // One READDIR reply: names and cookies, in order.
    struct Page {
        std::vector<std::pair<std::string, uint64_t>> entries;
        bool eof = false;
    };

    void serve(const std::set<std::string>& image_names,
               const std::set<std::string>& client_names) {
        for (const std::string& name : image_names) dir_.write("d/" + name, name);
        config_ = test_config(dir_.path());
        server_ = InProcessServer::start(*config_);
        ASSERT_NE(server_, nullptr);
        nfs_.emplace(*config_);
        ASSERT_TRUE(nfs_->mounted()) << nfs_->error();
        for (const std::string& name : client_names) {
            ASSERT_TRUE(nfs_->write_file("/d/" + name, name)) << name << ": " << nfs_->error();
        }
        RawRpc rpc(config_->nfs.port);
        auto root = mount_root(config_->nfs.mount_port);
        ASSERT_TRUE(root);
        auto d = lookup(rpc, *root, "d");
        ASSERT_TRUE(d);
        d_ = *d;
    }

    // READDIR of /d from `cookie`, sent by libnfs on its mounted connection; nullopt if it fails.
    std::optional<Page> readdir(uint64_t cookie, uint32_t count) {
        struct Pending {
            bool done = false;
            bool ok = false;
            Page page;
        } p;
        READDIR3args a{};
        a.dir.data.data_len = static_cast<u_int>(d_.size());
        a.dir.data.data_val = reinterpret_cast<char*>(d_.data());
        a.cookie = cookie;
        a.count = count;
        auto on_reply = [](rpc_context*, int status, void* data, void* priv) {
            auto* p = static_cast<Pending*>(priv);
            p->done = true;
            auto* res = static_cast<READDIR3res*>(data);
            if (status != RPC_STATUS_SUCCESS || res->status != NFS3_OK) return;
            const dirlist3& list = res->READDIR3res_u.resok.reply;
            // libnfs carves entries out of its decode buffer at 4-byte alignment, short of
            // what entry3's 64-bit cookie needs: each entry is copied out before it is read.
            for (const entry3* at = list.entries; at;) {
                entry3 e;
                std::memcpy(&e, at, sizeof e);
                p->page.entries.emplace_back(e.name, e.cookie);
                at = e.nextentry;
            }
            p->page.eof = list.eof != 0;
            p->ok = true;
        };
        nfs_context* nfs = nfs_->ctx();
        if (rpc_nfs3_readdir_async(nfs_get_rpc_context(nfs), on_reply, &a, &p) != 0) {
            return std::nullopt;
        }
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (!p.done && std::chrono::steady_clock::now() < deadline) {
            pollfd pfd{nfs_get_fd(nfs), static_cast<short>(nfs_which_events(nfs)), 0};
            int r = ::poll(&pfd, 1, 100);
            if (nfs_service(nfs, r > 0 ? pfd.revents : 0) < 0) return std::nullopt;
        }
        if (!p.ok) return std::nullopt;
        return p.page;
    }

    // Lists /d in READDIRs of ~20 entries, then resumes from every cookie the server gave: every
    // name once, every cookie above 2 (0, 1 and 2 are the start, "." and "..") and below 2^63,
    // since the Linux client turns cookies into signed directory offsets (fs/nfs/dir.c).
    void check_listing(const std::set<std::string>& names) {
        std::vector<std::pair<std::string, uint64_t>> all;
        uint64_t cookie = 0;
        for (int calls = 0;; ++calls) {
            ASSERT_LT(calls, 10000) << "the listing never ends";
            auto page = readdir(cookie, 1024);
            ASSERT_TRUE(page) << nfs_->error();
            all.insert(all.end(), page->entries.begin(), page->entries.end());
            if (page->eof) break;
            ASSERT_FALSE(page->entries.empty());
            cookie = page->entries.back().second;
        }
        std::set<std::string> seen;
        std::set<uint64_t> cookies;
        for (const auto& [name, c] : all) {
            EXPECT_TRUE(seen.insert(name).second) << name << " listed twice";
            EXPECT_TRUE(cookies.insert(c).second) << name << " shares cookie " << c;
            EXPECT_LT(c, uint64_t{1} << 63) << name;
            if (name != "." && name != "..") {
                EXPECT_GT(c, 2u) << name;
            }
        }
        std::set<std::string> expected = names;
        expected.insert({".", ".."});
        EXPECT_EQ(seen, expected);
        for (size_t i = 0; i < all.size(); ++i) {
            auto page = readdir(all[i].second, 1024);
            ASSERT_TRUE(page) << nfs_->error();
            size_t next = i + 1;
            for (const auto& e : page->entries) {
                ASSERT_LT(next, all.size()) << "resumed after " << all[i].first;
                EXPECT_EQ(e, all[next++]) << "resumed after " << all[i].first;
            }
            EXPECT_EQ(page->eof, next == all.size()) << "resumed after " << all[i].first;
        }
        // And the listing libnfs itself pages through (READDIRPLUS, its own counts).
        nfsdir* d = nullptr;
        ASSERT_EQ(nfs_opendir(nfs_->ctx(), "/d", &d), 0) << nfs_->error();
        std::multiset<std::string> listed;
        while (nfsdirent* e = nfs_readdir(nfs_->ctx(), d)) listed.insert(e->name);
        nfs_closedir(nfs_->ctx(), d);
        EXPECT_EQ(listed, std::multiset<std::string>(expected.begin(), expected.end()));
    }

    static std::set<std::string> numbered(const std::string& prefix, int n) {
        std::set<std::string> names;
        for (int i = 0; i < n; ++i) names.insert(prefix + std::to_string(i));
        return names;
    }

    StateDir dir_;
    std::optional<store::testing::ScopedNameHash> hash_;  // outlives the server
    std::optional<Config> config_;
    std::unique_ptr<InProcessServer> server_;
    std::optional<LibNfs> nfs_;
    std::vector<uint8_t> d_;
};

TEST_F(NfsCookies, EveryCookieFitsASignedOffsetAndResumes) {
    std::set<std::string> image = numbered("i", 1000), client = numbered("c", 50);
    ASSERT_NO_FATAL_FAILURE(serve(image, client));
    image.merge(client);
    check_listing(image);
}

// Names whose hashes collide (four hashes for all names): each listed once, each resumable.
TEST_F(NfsCookies, CollidingNamesAreEachListedOnceAndResume) {
    hash_.emplace(&store::testing::four_name_hashes);
    std::set<std::string> image = numbered("i", 200), client = numbered("c", 100);
    ASSERT_NO_FATAL_FAILURE(serve(image, client));
    image.merge(client);
    check_listing(image);
}

}  // namespace
}  // namespace rootfarm::nfsd
