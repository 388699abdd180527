// Integration: `[nfs] trace` records what a real client (libnfs) does against an in-process
// server in the bench's trace format, and rootfarm-bench's replayer replays the recording
// against a fresh server with every call answering the status it answered when recorded.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "bench/nfs_replay.h"
#include "bench/trace.h"
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

    StateDir dir_;
    std::filesystem::path trace_path_;
    Config config_;
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
    auto server = InProcessServer::start(config_);
    ASSERT_NE(server, nullptr);
    auto root = mount_root(config_.nfs.mount_port);
    ASSERT_TRUE(root);
    RawRpc rpc(config_.nfs.port);
    ASSERT_TRUE(rpc.connected());
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
    server.reset();
    std::string text = slurp(trace_path_);
    EXPECT_NE(text.find("MKDIR / once\n"), std::string::npos) << text;
    EXPECT_EQ(text.find("MKDIR / once\n"), text.rfind("MKDIR / once\n")) << text;
}

TEST(TraceFormat, EscapesRoundTripAndStatusesHaveNames) {
    for (std::string raw :
         {std::string("plain"), std::string("a b%c=d"), std::string("\x01\xff")}) {
        std::string esc = trace_escape(raw);
        EXPECT_EQ(esc.find_first_of(" =\x01\xff"), std::string::npos) << esc;
        std::string back;
        ASSERT_TRUE(trace_unescape(esc, back));
        EXPECT_EQ(back, raw);
    }
    std::string out;
    EXPECT_FALSE(trace_unescape("bad%2", out));
    EXPECT_FALSE(trace_unescape("bad%zz", out));
    uint32_t s = 0;
    EXPECT_EQ(trace_status_name(2), "NOENT");
    ASSERT_TRUE(trace_parse_status("NOTEMPTY", s));
    EXPECT_EQ(s, 66u);
    ASSERT_TRUE(trace_parse_status("10008", s));
    EXPECT_EQ(s, 10008u);
    EXPECT_FALSE(trace_parse_status("NOPE", s));
    EXPECT_FALSE(trace_parse_status("", s));
}

}  // namespace
}  // namespace rootfarm::nfsd
