// Integration, writer to reader: `[nfs] trace` (nfsd/trace.h) records what a real client
// (libnfs) and exact raw calls do against an in-process server, in the bench's trace format;
// rootfarm-bench's parser (bench/trace.h) loads the recording and its replayer replays it
// against a fresh server with every call answering the status it answered when recorded.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>

#include "bench/nfs_replay.h"
#include "bench/trace.h"
#include "core/trace_format.h"
#include "nfsd/libnfs_client.h"
#include "nfsd/nfs3_xdr.h"
#include "nfsd/testing.h"
#include "nfsd/trace.h"

namespace rootfarm::nfsd {
namespace {

using namespace testing;

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// What a booting system does, in small: reads, negative lookups, a log file written and
// fsync'ed, a temp file renamed into place, links, a FIFO, a listing of a big directory, and
// names with a space and a '%' in them. It removes what it creates, as a shutdown would not,
// so that the recording can be replayed twice against the same server.
void run_script(nfs_context* nfs) {
    struct nfs_stat_64 st {};
    ASSERT_EQ(nfs_stat64(nfs, "/etc/hostname", &st), 0) << nfs_get_error(nfs);
    EXPECT_NE(nfs_stat64(nfs, "/etc/no-such-file", &st), 0);
    char link[256] = {};
    ASSERT_EQ(nfs_readlink(nfs, "/lib/hostname-link", link, sizeof link - 1), 0);

    nfsfh* fh = nullptr;
    ASSERT_EQ(nfs_open(nfs, "/etc/hostname", O_RDONLY, &fh), 0);
    char buf[64];
    EXPECT_GT(nfs_read(nfs, fh, sizeof buf, buf), 0);
    nfs_close(nfs, fh);

    ASSERT_EQ(nfs_mkdir(nfs, "/tmp/log"), 0) << nfs_get_error(nfs);
    ASSERT_EQ(nfs_creat(nfs, "/tmp/log/boot 1%.log", 0644, &fh), 0) << nfs_get_error(nfs);
    std::string line(5000, 'x');
    ASSERT_EQ(nfs_write(nfs, fh, line.size(), line.data()), static_cast<int>(line.size()));
    ASSERT_EQ(nfs_fsync(nfs, fh), 0);
    nfs_close(nfs, fh);

    ASSERT_EQ(nfs_creat(nfs, "/tmp/log/state.tmp", 0600, &fh), 0);
    ASSERT_EQ(nfs_write(nfs, fh, 3, "on\n"), 3);
    nfs_close(nfs, fh);
    ASSERT_EQ(nfs_rename(nfs, "/tmp/log/state.tmp", "/tmp/log/state"), 0);
    ASSERT_EQ(nfs_chmod(nfs, "/tmp/log/state", 0640), 0);
    ASSERT_EQ(nfs_truncate(nfs, "/tmp/log/state", 1), 0);
    ASSERT_EQ(nfs_link(nfs, "/tmp/log/state", "/tmp/log/state.bak"), 0);
    ASSERT_EQ(nfs_symlink(nfs, "state", "/tmp/log/current"), 0);
    ASSERT_EQ(nfs_mknod(nfs, "/tmp/log/initctl", S_IFIFO | 0600, 0), 0) << nfs_get_error(nfs);
    ASSERT_EQ(nfs_stat64(nfs, "/tmp/log/state.bak", &st), 0);
    EXPECT_NE(nfs_mkdir(nfs, "/tmp/log"), 0);  // EXIST, recorded as such

    nfsdir* dir = nullptr;
    ASSERT_EQ(nfs_opendir(nfs, "/many", &dir), 0);
    int entries = 0;
    while (nfs_readdir(nfs, dir)) ++entries;
    nfs_closedir(nfs, dir);
    EXPECT_EQ(entries, 5002);

    for (const char* f : {"boot 1%.log", "state", "state.bak", "current", "initctl"}) {
        ASSERT_EQ(nfs_unlink(nfs, (std::string("/tmp/log/") + f).c_str()), 0) << f;
    }
    ASSERT_EQ(nfs_rmdir(nfs, "/tmp/log"), 0);
}

class Trace : public ::testing::Test {
  protected:
    void SetUp() override {
        make_standard_image(dir_);
        trace_path_ = dir_.path() / "calls.trace";
        config_ = test_config(dir_.path());
        config_.nfs.trace = trace_path_.string();
    }

    // Starts the server, mounts its root and connects a raw RPC client to it.
    void start_raw() {
        server_ = InProcessServer::start(config_);
        ASSERT_NE(server_, nullptr);
        auto root = mount_root(config_.nfs.mount_port);
        ASSERT_TRUE(root);
        root_ = *root;
        rpc_ = std::make_unique<RawRpc>(config_.nfs.port);
        ASSERT_TRUE(rpc_->connected());
    }

    StateDir dir_;
    std::filesystem::path trace_path_;
    Config config_;
    std::unique_ptr<InProcessServer> server_;  // start_raw()
    std::vector<uint8_t> root_;
    std::unique_ptr<RawRpc> rpc_;
};

TEST_F(Trace, RecordsABootScriptThatReplaysWithoutFailures) {
    {
        auto server = InProcessServer::start(config_);
        ASSERT_NE(server, nullptr);
        LibNfs client(config_);
        ASSERT_TRUE(client.mounted()) << client.error();
        run_script(client.ctx());
    }
    std::string text = slurp(trace_path_);
    SCOPED_TRACE(text.substr(0, 4000));
    EXPECT_EQ(text.find("# unresolved"), std::string::npos);
    // Names, escapes, expected statuses and the call arguments the replay needs.
    for (const char* want : {
             "\nLOOKUP /etc no-such-file =NOENT\n",
             "\nREADLINK /lib/hostname-link\n",
             "\nREAD /etc/hostname 0 ",
             "\nMKDIR /tmp log\n",
             "\nCREATE /tmp/log boot%201%25.log",
             "\nWRITE /tmp/log/boot%201%25.log 0 5000",
             "\nCOMMIT /tmp/log/boot%201%25.log\n",
             "\nRENAME /tmp/log state.tmp /tmp/log state\n",
             "\nSETATTR /tmp/log/state mode 640\n",
             "\nSETATTR /tmp/log/state size 1\n",
             "\nLINK /tmp/log/state /tmp/log state.bak\n",
             "\nSYMLINK /tmp/log current state\n",
             "\nMKNOD /tmp/log initctl fifo\n",
             "\nLOOKUP /tmp/log state.bak\n",
             "\nMKDIR /tmp log =EXIST\n",
             "\nREADDIRPLUS /many\n",
             "\nREADDIRPLUS /many more\n",
             "\nREMOVE /tmp/log initctl\n",
             "\nRMDIR /tmp log\n",
         }) {
        EXPECT_NE(text.find(want), std::string::npos) << want;
    }

    size_t bad_line = 0;
    auto trace = bench::load_trace(trace_path_, &bad_line);
    ASSERT_TRUE(trace) << "line " << bad_line;
    ASSERT_GT(trace->ops.size(), 40u);

    // A fresh server over the same image; the recording replays twice (the script removed
    // what it created), each call answering what it answered when recorded.
    StateDir fresh_dir;
    make_standard_image(fresh_dir);
    Config fresh = test_config(fresh_dir.path());
    auto server = InProcessServer::start(fresh);
    ASSERT_NE(server, nullptr);
    bench::NfsTarget target;
    target.nfs_port = fresh.nfs.port;
    target.mount_port = fresh.nfs.mount_port;
    target.call_timeout = std::chrono::seconds(20);
    for (int round = 0; round < 2; ++round) {
        auto r = bench::nfs_replay(Ipv4{}, target, *trace, 0);
        ASSERT_TRUE(r) << r.error().message();
        EXPECT_EQ(r->failed_ops, 0u) << "round " << round << ": " << r->first_error;
        EXPECT_EQ(r->op_us.size(), trace->ops.size());
        EXPECT_GE(r->bytes_written, 5000u);
    }
}

TEST_F(Trace, RetransmitIsWrittenOnce) {
    ASSERT_NO_FATAL_FAILURE(start_raw());
    RawRpc& rpc = *rpc_;
    const std::vector<uint8_t>* root = &root_;
    // MKDIR twice with one xid: the second is a retransmit the DRC answers; one line.
    std::vector<uint8_t> args;
    {
        XdrWriter w(args);
        put_fh(w, *root);
        w.string("once");
        for (int i = 0; i < 6; ++i) w.u32(0);  // sattr3: nothing set
    }
    auto call = build_call(0x5151, kNfsProgram, kNfsVersion, kNfs3MkDir, args);
    for (int i = 0; i < 2; ++i) {
        auto reply = rpc.call(call);
        ASSERT_TRUE(reply);
        EXPECT_EQ(reply->results().u32(), 0u);  // NFS3_OK both times: the cached reply
    }
    // GETATTR twice with one xid: no DRC entry, the call runs twice; still one line.
    auto getattr = build_call(0x5152, kNfsProgram, kNfsVersion, kNfs3GetAttr, fh_args(*root));
    for (int i = 0; i < 2; ++i) {
        auto reply = rpc.call(getattr);
        ASSERT_TRUE(reply);
        EXPECT_EQ(reply->results().u32(), 0u);
    }
    server_.reset();
    std::string text = slurp(trace_path_);
    EXPECT_EQ(text, "# client b8:27:eb:00:00:01\nMKDIR / once\nGETATTR /\n");
}

// Every argument form the format has, sent as exact calls, and the exact text written: the
// SETATTR fields and times, CREATE modes, WRITE stability, MKNOD types, "." and "..", a
// handle no reply named, and the calls that are not written (GARBAGE_ARGS, BADTYPE).
TEST_F(Trace, WritesEveryArgumentFormExactly) {
    ASSERT_NO_FATAL_FAILURE(start_raw());
    RawRpc& rpc = *rpc_;
    const std::vector<uint8_t>* root = &root_;
    uint32_t xid = 0x7000;
    // Sends one NFS call; its nfsstat3, or nullopt for an RPC-level error.
    auto call = [&](uint32_t proc, const std::function<void(XdrWriter&)>& args) {
        std::vector<uint8_t> a;
        XdrWriter w(a);
        args(w);
        auto reply = rpc.call(build_call(++xid, kNfsProgram, kNfsVersion, proc, a));
        EXPECT_TRUE(reply);
        std::optional<uint32_t> status;
        if (reply && reply->accept_stat == 0) status = reply->results().u32();
        return status;
    };
    auto no_attrs = [](XdrWriter& w) {
        for (int i = 0; i < 6; ++i) w.u32(0);
    };
    auto found = [&](const std::vector<uint8_t>& dir, const char* name) {
        auto fh = lookup(rpc, dir, name);
        EXPECT_TRUE(fh) << name;
        return fh.value_or(std::vector<uint8_t>{});
    };

    EXPECT_EQ(call(kNfs3MkDir, [&](XdrWriter& w) { put_fh(w, *root), w.string("d"), no_attrs(w); }),
              0u);
    auto d = found(*root, "d");
    auto create = [&](const char* name, uint32_t how) {
        return call(kNfs3Create, [&](XdrWriter& w) {
            put_fh(w, d);
            w.string(name);
            w.u32(how);
            if (how == 2) {
                w.u64(0x1122334455667788);  // createverf3
            } else {
                no_attrs(w);
            }
        });
    };
    EXPECT_EQ(create("g", 1), 0u);
    EXPECT_EQ(create("g", 1), uint32_t{kNfs3ErrExist});
    EXPECT_EQ(create("x", 2), 0u);
    auto g = found(d, "g");
    auto write = [&](uint64_t offset, std::string_view data, uint32_t stable) {
        return call(kNfs3Write, [&](XdrWriter& w) {
            put_fh(w, g);
            w.u64(offset);
            w.u32(static_cast<uint32_t>(data.size()));
            w.u32(stable);
            w.string(data);
        });
    };
    EXPECT_EQ(write(0, "abc", 1), 0u);
    EXPECT_EQ(write(3, "de", 2), 0u);
    EXPECT_EQ(write(5, "f", 0), 0u);
    EXPECT_EQ(call(kNfs3SetAttr,
                   [&](XdrWriter& w) {
                       put_fh(w, g);
                       w.u32(1), w.u32(0600);                  // mode
                       w.u32(1), w.u32(1000);                  // uid
                       w.u32(1), w.u32(1000);                  // gid
                       w.u32(0);                               // size
                       w.u32(1);                               // atime: SET_TO_SERVER_TIME
                       w.u32(2), w.u32(1700000000), w.u32(5);  // mtime: SET_TO_CLIENT_TIME
                       w.u32(0);                               // no guard
                   }),
              0u);
    EXPECT_EQ(call(kNfs3SetAttr,
                   [&](XdrWriter& w) {
                       put_fh(w, g);
                       w.u32(0), w.u32(0), w.u32(0);
                       w.u32(1), w.u64(2);  // size
                       w.u32(0), w.u32(0);
                       w.u32(0);
                   }),
              0u);
    EXPECT_EQ(call(kNfs3Read, [&](XdrWriter& w) { put_fh(w, g), w.u64(1), w.u32(4); }), 0u);
    EXPECT_EQ(call(kNfs3Commit, [&](XdrWriter& w) { put_fh(w, g), w.u64(0), w.u32(0); }), 0u);
    auto mknod = [&](const char* name, uint32_t type) {
        return call(kNfs3MkNod, [&](XdrWriter& w) {
            put_fh(w, d);
            w.string(name);
            w.u32(type);
            if (type == 3 || type == 4) {  // NF3BLK, NF3CHR: sattr3 and specdata3
                no_attrs(w);
                w.u32(1);
                w.u32(3);
            } else if (type == 6 || type == 7) {  // NF3SOCK, NF3FIFO: sattr3
                no_attrs(w);
            }
        });
    };
    EXPECT_EQ(mknod("c", 4), 0u);
    EXPECT_EQ(mknod("b", 3), 0u);
    EXPECT_EQ(mknod("s", 6), 0u);
    EXPECT_EQ(mknod("p", 7), 0u);
    EXPECT_EQ(mknod("r", 1), uint32_t{kNfs3ErrBadType});      // not written: no node to replay
    EXPECT_EQ(mknod("q", 0x103), uint32_t{kNfs3ErrBadType});  // nor is a type out of range
    EXPECT_EQ(call(kNfs3SymLink,
                   [&](XdrWriter& w) {
                       put_fh(w, d);
                       w.string("l");
                       no_attrs(w);
                       w.string("a b=c");
                   }),
              0u);
    // A target past PATH_MAX is decoded and answered NAMETOOLONG, and written as such.
    const std::string long_target(5000, 't');
    EXPECT_EQ(call(kNfs3SymLink,
                   [&](XdrWriter& w) {
                       put_fh(w, d);
                       w.string("long");
                       no_attrs(w);
                       w.string(long_target);
                   }),
              uint32_t{kNfs3ErrNameTooLong});
    auto l = found(d, "l");
    EXPECT_EQ(call(kNfs3ReadLink, [&](XdrWriter& w) { put_fh(w, l); }), 0u);
    EXPECT_EQ(call(kNfs3Rename,
                   [&](XdrWriter& w) {
                       put_fh(w, d), w.string("x");
                       put_fh(w, *root), w.string("x2");
                   }),
              0u);
    EXPECT_EQ(call(kNfs3Link, [&](XdrWriter& w) { put_fh(w, g), put_fh(w, *root), w.string("h"); }),
              0u);
    EXPECT_EQ(call(kNfs3Remove, [&](XdrWriter& w) { put_fh(w, *root), w.string("h"); }), 0u);
    EXPECT_EQ(call(kNfs3Remove, [&](XdrWriter& w) { put_fh(w, *root), w.string("h"); }),
              uint32_t{kNfs3ErrNoEnt});
    EXPECT_EQ(call(kNfs3RmDir, [&](XdrWriter& w) { put_fh(w, *root), w.string("d"); }),
              uint32_t{kNfs3ErrNotEmpty});
    EXPECT_EQ(call(kNfs3Lookup, [&](XdrWriter& w) { put_fh(w, d), w.string("."); }), 0u);
    EXPECT_EQ(call(kNfs3Lookup, [&](XdrWriter& w) { put_fh(w, d), w.string(".."); }), 0u);
    auto list = [&](uint32_t proc, uint64_t cookie) {
        return call(proc, [&](XdrWriter& w) {
            put_fh(w, d);
            w.u64(cookie);
            w.u64(0);  // cookieverf
            if (proc == kNfs3ReadDirPlus) w.u32(4096);
            w.u32(4096);
        });
    };
    EXPECT_EQ(list(kNfs3ReadDir, 0), 0u);
    EXPECT_EQ(list(kNfs3ReadDirPlus, 0), 0u);
    EXPECT_EQ(list(kNfs3ReadDir, 3), 0u);
    for (uint32_t proc : {kNfs3GetAttr, kNfs3FsStat, kNfs3FsInfo, kNfs3PathConf}) {
        EXPECT_EQ(call(proc, [&](XdrWriter& w) { put_fh(w, *root); }), 0u);
    }
    EXPECT_EQ(call(kNfs3Access, [&](XdrWriter& w) { put_fh(w, g), w.u32(0x3f); }), 0u);
    // A handle of the right shape that no reply named (its last byte changed).
    std::vector<uint8_t> forged = g;
    forged.back() ^= 0xff;
    auto stale = call(kNfs3GetAttr, [&](XdrWriter& w) { put_fh(w, forged); });
    ASSERT_TRUE(stale);
    EXPECT_NE(*stale, 0u);
    // Arguments that do not decode: GARBAGE_ARGS, not written.
    EXPECT_EQ(call(kNfs3GetAttr, [&](XdrWriter& w) {}), std::nullopt);
    server_.reset();

    std::string want = R"(# client b8:27:eb:00:00:01
MKDIR / d
LOOKUP / d
CREATE /d g guarded
CREATE /d g guarded =EXIST
CREATE /d x exclusive
LOOKUP /d g
WRITE /d/g 0 3 datasync
WRITE /d/g 3 2 filesync
WRITE /d/g 5 1
SETATTR /d/g mode 600 uid 1000 gid 1000 atime now mtime 1700000000.000000005
SETATTR /d/g size 2
READ /d/g 1 4
COMMIT /d/g
MKNOD /d c chr 1 3
MKNOD /d b blk 1 3
MKNOD /d s sock
MKNOD /d p fifo
SYMLINK /d l a%20b%3Dc
)";
    want += "SYMLINK /d long " + long_target + " =NAMETOOLONG\n";
    want += R"(LOOKUP /d l
READLINK /d/l
RENAME /d x / x2
LINK /d/g / h
REMOVE / h
REMOVE / h =NOENT
RMDIR / d =NOTEMPTY
LOOKUP / d
GETATTR /
READDIR /d
READDIRPLUS /d
READDIR /d more
GETATTR /
FSSTAT /
FSINFO /
PATHCONF /
ACCESS /d/g
)";
    want += "# unresolved GETATTR (object 0, reply " + trace_status_name(*stale) + ")\n";
    EXPECT_EQ(slurp(trace_path_), want);
}

}  // namespace
}  // namespace rootfarm::nfsd
