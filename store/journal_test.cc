#include "store/journal.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "store/test_util.h"

namespace rootfarm::store {
namespace {

using testing::TempDir;

std::vector<std::string> replay(const std::filesystem::path& path) {
    std::vector<std::string> out;
    auto j = Journal::open(*Env::Default(), path, [&](std::string_view p) {
        out.emplace_back(p);
        return true;
    });
    EXPECT_TRUE(j.ok());
    return out;
}

TEST(Journal, RecordsSurviveReopen) {
    TempDir dir;
    auto path = dir.path() / "journal";
    {
        auto j = Journal::open(*Env::Default(), path, [](std::string_view) { return true; });
        ASSERT_TRUE(j.ok());
        for (const std::string& r :
             std::vector<std::string>{"one", "two", std::string(100000, 'x'), ""}) {
            auto pos = (*j)->append(r);
            ASSERT_TRUE(pos.ok());
            ASSERT_TRUE((*j)->wait_durable(*pos).ok());
        }
    }
    EXPECT_EQ(replay(path), (std::vector<std::string>{"one", "two", std::string(100000, 'x'), ""}));
}

TEST(Journal, TornTailIsCutAndAppendingContinues) {
    TempDir dir;
    auto path = dir.path() / "journal";
    {
        auto j = Journal::open(*Env::Default(), path, [](std::string_view) { return true; });
        ASSERT_TRUE(j.ok());
        ASSERT_TRUE((*j)->append("first").ok());
        ASSERT_TRUE((*j)->append("second").ok());
    }
    auto full = std::filesystem::file_size(path);
    // A crash mid-write: the last record lost its final bytes, and garbage follows.
    std::filesystem::resize_file(path, full - 3);
    { std::ofstream(path, std::ios::app) << "garbage"; }
    EXPECT_EQ(replay(path), std::vector<std::string>{"first"});
    {
        auto j = Journal::open(*Env::Default(), path, [](std::string_view) { return true; });
        ASSERT_TRUE(j.ok());
        auto pos = (*j)->append("third");
        ASSERT_TRUE(pos.ok());
        ASSERT_TRUE((*j)->wait_durable(*pos).ok());
    }
    EXPECT_EQ(replay(path), (std::vector<std::string>{"first", "third"}));
}

TEST(Journal, FlippedBitStopsReplayAtThatRecord) {
    TempDir dir;
    auto path = dir.path() / "journal";
    {
        auto j = Journal::open(*Env::Default(), path, [](std::string_view) { return true; });
        ASSERT_TRUE(j.ok());
        ASSERT_TRUE((*j)->append("aaaa").ok());
        ASSERT_TRUE((*j)->append("bbbb").ok());
        ASSERT_TRUE((*j)->append("cccc").ok());
    }
    // Header 8, record 12 + 4: flip a payload byte of the second record.
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(8 + 16 + 12 + 1);
    f.put('X');
    f.close();
    EXPECT_EQ(replay(path), std::vector<std::string>{"aaaa"});
}

TEST(Journal, ConcurrentRecordsShareOneSync) {
    TempDir dir;
    auto j = Journal::open(*Env::Default(), dir.path() / "journal",
                           [](std::string_view) { return true; });
    ASSERT_TRUE(j.ok());
    Journal& journal = **j;
    // The first sync is held until two more records are appended behind it; those two must
    // then be covered by a single further fdatasync.
    std::mutex mu;
    std::condition_variable cv;
    int appended_behind = 0;
    bool first = true;
    journal.set_sync_hook([&] {
        std::unique_lock lock(mu);
        if (first) {
            first = false;
            cv.wait(lock, [&] { return appended_behind == 2; });
        }
    });
    auto p1 = journal.append("r1");
    ASSERT_TRUE(p1.ok());
    std::thread leader([&] { EXPECT_TRUE(journal.wait_durable(*p1).ok()); });
    // Wait until the leader is inside its sync.
    while (journal.syncs() == 0) {
        {
            std::lock_guard lock(mu);
            if (!first) break;
        }
        std::this_thread::yield();
    }
    std::vector<std::thread> followers;
    for (int i = 0; i < 2; ++i) {
        auto p = journal.append("r" + std::to_string(i + 2));
        ASSERT_TRUE(p.ok());
        {
            std::lock_guard lock(mu);
            ++appended_behind;
        }
        cv.notify_all();
        followers.emplace_back(
            [&journal, pos = *p] { EXPECT_TRUE(journal.wait_durable(pos).ok()); });
    }
    leader.join();
    for (auto& t : followers) t.join();
    EXPECT_EQ(journal.syncs(), 2u);
}

TEST(Journal, ClearAfterSnapshotKeepsPositionsMonotonic) {
    TempDir dir;
    auto path = dir.path() / "journal";
    auto j = Journal::open(*Env::Default(), path, [](std::string_view) { return true; });
    ASSERT_TRUE(j.ok());
    auto p1 = (*j)->append("before");
    ASSERT_TRUE(p1.ok());
    ASSERT_TRUE((*j)->clear().ok());
    EXPECT_TRUE((*j)->wait_durable(*p1).ok());
    auto p2 = (*j)->append("after");
    ASSERT_TRUE(p2.ok());
    EXPECT_GT(*p2, *p1);
    ASSERT_TRUE((*j)->wait_durable(*p2).ok());
    j->reset();
    EXPECT_EQ(replay(path), std::vector<std::string>{"after"});
}

TEST(Snapshot, WrittenAtomicallyAndReadBack) {
    TempDir dir;
    auto path = dir.path() / "snapshot";
    std::vector<std::string> got;
    auto none = read_snapshot(*Env::Default(), path, [](std::string_view) { return true; });
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(*none);
    ASSERT_TRUE(write_snapshot(*Env::Default(), path, {"a", "bb"}).ok());
    ASSERT_TRUE(write_snapshot(*Env::Default(), path, {"ccc"}).ok());
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "snapshot.tmp"));
    auto r = read_snapshot(*Env::Default(), path, [&](std::string_view p) {
        got.emplace_back(p);
        return true;
    });
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(got, std::vector<std::string>{"ccc"});
    // A damaged snapshot is an error, not a silently shorter state.
    std::filesystem::resize_file(path, std::filesystem::file_size(path) - 1);
    EXPECT_EQ(read_snapshot(*Env::Default(), path, [](std::string_view) { return true; }).error(),
              std::errc::io_error);
}

}  // namespace
}  // namespace rootfarm::store
