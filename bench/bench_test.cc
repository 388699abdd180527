#include <gtest/gtest.h>

#include "bench/stats.h"
#include "bench/trace.h"
#include "bench/trace_close.h"

#include <sys/stat.h>

#include <fstream>

namespace rootfarm::bench {
namespace {

TEST(Percentile, NearestRankIsAlwaysARealSample) {
    std::vector<double> v;
    for (int i = 1; i <= 100; ++i) v.push_back(i);
    EXPECT_EQ(percentile(v, 0.50), 50);
    EXPECT_EQ(percentile(v, 0.99), 99);
    EXPECT_EQ(percentile(v, 1.0), 100);
    EXPECT_EQ(percentile({7}, 0.99), 7);
    EXPECT_EQ(percentile({}, 0.5), 0);
    Summary s = summarise({5, 1, 3});
    EXPECT_EQ(s.count, 3u);
    EXPECT_EQ(s.p50_us, 3);
    EXPECT_EQ(s.max_us, 5);
}

TEST(TraceLine, ParsesRoundTripsAndRejectsMalformed) {
    auto r = parse_trace_line("READ /usr/lib/libc.so.6 131072 65536");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->proc, Proc::kRead);
    EXPECT_EQ(r->path, "/usr/lib/libc.so.6");
    EXPECT_EQ(r->offset, 131072u);
    EXPECT_EQ(r->count, 65536u);
    for (const char* line : {"LOOKUP /usr/lib libc.so.6",
                             "RENAME /var/tmp a /var/tmp b",
                             "SETATTR /etc/x mode 644",
                             "SETATTR /var/f size 0",
                             "SYMLINK /tmp l ../etc/hostname",
                             "LINK /tmp/f /tmp g",
                             "READDIRPLUS /",
                             "LOOKUP /etc nx =NOENT",
                             "MKDIR /run d =EXIST",
                             "CREATE /run f exclusive",
                             "CREATE /run f guarded",
                             "MKNOD /dev null chr 1 3",
                             "MKNOD /run s sock",
                             "WRITE /f 0 10 filesync",
                             "READDIRPLUS /usr more",
                             "READDIR /",
                             "SETATTR /f size 0 mode 4755 uid 0 gid 7 atime now mtime 12.000000005",
                             "SYMLINK /tmp l ../a%20b%25",
                             "CREATE /log boot%201.log",
                             "GETATTR /x =JUKEBOX"}) {
        auto op = parse_trace_line(line);
        ASSERT_TRUE(op) << line;
        EXPECT_EQ(format_trace_op(*op), line);
    }
    auto esc = parse_trace_line("CREATE /var/log boot%201%25.log =EXIST");
    ASSERT_TRUE(esc);
    EXPECT_EQ(esc->name, "boot 1%.log");
    EXPECT_EQ(esc->status, 17u);
    auto numbered = parse_trace_line("GETATTR /x =10008");
    ASSERT_TRUE(numbered);
    EXPECT_EQ(numbered->status, 10008u);
    auto set = parse_trace_line("SETATTR /f mode 644 mtime 5.000000001");
    ASSERT_TRUE(set);
    EXPECT_EQ(set->mode, 0644u);
    EXPECT_FALSE(set->size);
    EXPECT_EQ(set->mtime.how, SetTime::How::kClient);
    EXPECT_EQ(set->mtime.nsec, 1u);
    EXPECT_EQ(parse_trace_line("# comment").error(), std::errc::no_message);
    EXPECT_EQ(parse_trace_line("   ").error(), std::errc::no_message);
    for (const char* bad :
         {"FROB /x", "LOOKUP /usr", "LOOKUP usr lib", "LOOKUP /usr a/b", "LOOKUP /usr ..",
          "READ /f 0", "READ /f 0 99999999999", "READ /f x 1", "SETATTR /f mode 9",
          "GETATTR /f extra", "LOOKUP /etc x =WHAT", "SETATTR /f mode", "SETATTR /f atime 1",
          "CREATE /a b weird", "MKNOD /a b chr 1", "READDIRPLUS / less", "LOOKUP /a b%2",
          "LOOKUP /a b%2Fc", "WRITE /f 0 1 sometimes"}) {
        EXPECT_FALSE(parse_trace_line(bad)) << bad;
    }
}

TEST(TraceLine, EveryProcedureByItsRfcName) {
    const char* want[kProcCount] = {
        "GETATTR", "SETATTR",     "LOOKUP",  "ACCESS", "READLINK", "READ",   "WRITE",
        "CREATE",  "MKDIR",       "SYMLINK", "MKNOD",  "REMOVE",   "RMDIR",  "RENAME",
        "LINK",    "READDIRPLUS", "FSSTAT",  "FSINFO", "PATHCONF", "COMMIT", "READDIR",
    };
    for (int k = 0; k < kProcCount; ++k) {
        auto p = static_cast<Proc>(k);
        EXPECT_EQ(proc_name(p), want[k]);
        TraceOp op;
        op.proc = p;
        op.path = "/x";
        op.name = "n";
        op.path2 = "/y";
        op.name2 = "m";
        auto back = parse_trace_line(format_trace_op(op));
        ASSERT_TRUE(back) << want[k];
        EXPECT_EQ(back->proc, p);
    }
    // NULL is a procedure but no call a trace replays.
    EXPECT_FALSE(parse_trace_line("NULL /"));
    EXPECT_FALSE(parse_trace_line("UNKNOWN /"));
}

TEST(CloseTrace, UndoesWhatTheTraceChangedInTheImage) {
    namespace fs = std::filesystem;
    fs::path root = fs::temp_directory_path() / ("close-trace-" + std::to_string(::getpid()));
    fs::remove_all(root);
    fs::create_directories(root / "etc");
    fs::create_directories(root / "var/log");
    std::ofstream(root / "etc/old") << "0123456789";
    ::chmod((root / "etc/old").c_str(), 0600);
    fs::create_symlink("../target", root / "etc/link");
    Trace t;
    for (const char* line :
         {"CREATE /var/log a", "MKDIR /var/log d", "CREATE /var/log/d f", "REMOVE /etc old",
          "RENAME /etc link /etc link2", "LOOKUP /etc zz =NOENT", "MKDIR /var/log e =EXIST",
          "CREATE /etc keep", "REMOVE /etc keep"}) {
        auto op = parse_trace_line(line);
        ASSERT_TRUE(op) << line;
        t.ops.push_back(*op);
    }
    std::vector<std::string> got;
    for (const auto& op : closing_ops(t, root)) got.push_back(format_trace_op(op));
    fs::remove_all(root);
    std::vector<std::string> want = {
        "REMOVE /var/log/d f",         "RMDIR /var/log d",
        "REMOVE /var/log a",           "REMOVE /etc link2",
        "SYMLINK /etc link ../target", "CREATE /etc old",
        "WRITE /etc/old 0 10",         "SETATTR /etc/old mode 600",
    };
    EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace rootfarm::bench
