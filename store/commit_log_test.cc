// The commit log shared by every client's journal (store/commit_log.h): one fdatasync for many
// clients, and a replay after a crash that gives each delta back exactly its own records.

#include "store/commit_log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include "store/fault_env_test_util.h"
#include "store/journal.h"
#include "store/sync_gate_test_util.h"
#include "store/test_util.h"
#include "store/view.h"

namespace rootfarm::store {
namespace {

using namespace testing;

class CommitLogTest : public ::testing::Test {
  protected:
    void SetUp() override {
        write_file(state() / "images/pi/root/etc/hostname", "pi\n");
        write_file(state() / "images/pi/boot/config.txt", "");
    }
    std::filesystem::path state() const { return dir_.path() / "state"; }

    std::unique_ptr<Store> open(Env* env, bool commit_log = true, uint64_t compact_bytes = 0) {
        StoreOptions o;
        o.state_dir = state();
        o.env = env;
        o.commit_log = commit_log;
        if (compact_bytes) o.compact_bytes = compact_bytes;
        Result<std::unique_ptr<Store>> s = Store::open(o);
        EXPECT_TRUE(s.ok()) << s.message();
        return s.ok() ? std::move(*s) : nullptr;
    }
    // A crash: the power goes before the store can checkpoint at its stop, then everything
    // not durable is lost.
    void crash(std::unique_ptr<Store>& store, FaultEnv& env) {
        env.power_off_after(0);
        store.reset();
        env.clear_faults();
        env.simulate_power_loss();
    }
    std::vector<std::filesystem::path> log_files() const {
        std::vector<std::filesystem::path> out;
        for (const auto& e : std::filesystem::directory_iterator(state() / "commit-log")) {
            if (e.path().extension() == ".log") out.push_back(e.path());
        }
        return out;
    }

    TempDir dir_;
};

std::atomic<int> g_syncs{0};
void count_and_linger() {
    ++g_syncs;
    // Long enough for the other clients' calls to pile up behind this sync, as they do behind
    // a real disk's.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

// Runs `per_client` MKDIRs on each of `clients` clients at once; returns the syncs made.
int storm_of_mkdirs(Store& store, int clients, int per_client) {
    std::vector<std::shared_ptr<ClientView>> views;
    for (int c = 0; c < clients; ++c) views.push_back(*store.view(mac(c + 1), "pi"));
    g_syncs = 0;
    Journal::set_global_sync_hook(&count_and_linger);
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
        threads.emplace_back([&, c] {
            for (int i = 0; i < per_client; ++i) {
                EXPECT_TRUE(
                    views[c]->mkdir(views[c]->root(), "d" + std::to_string(i), {}, {}).ok());
            }
        });
    }
    for (std::thread& t : threads) t.join();
    Journal::set_global_sync_hook(nullptr);
    for (int c = 0; c < clients; ++c) {
        for (int i = 0; i < per_client; ++i) {
            EXPECT_TRUE(exists(*views[c], "/d" + std::to_string(i)));
        }
    }
    return g_syncs;
}

uint64_t own_journal_syncs(Store& store, int clients) {
    uint64_t total = 0;
    for (int c = 0; c < clients; ++c) {
        total += static_cast<ClientViewImpl&>(**store.view(mac(c + 1), "pi")).journal_syncs();
    }
    return total;
}

TEST_F(CommitLogTest, OneSyncCoversTheRecordsOfEveryClient) {
    constexpr int kClients = 8, kEach = 40;
    std::unique_ptr<Store> store = open(Env::Default());
    ASSERT_TRUE(store);
    int syncs = storm_of_mkdirs(*store, kClients, kEach);
    // One client at a time, each call would need its own sync: 320. Sharing, a sync covers
    // about one call of every client, and no client synced its own journal.
    std::printf("%d MKDIRs of %d clients: %d syncs of the commit log\n", kClients * kEach, kClients,
                syncs);
    EXPECT_LT(syncs, kClients * kEach / 2);
    EXPECT_EQ(own_journal_syncs(*store, kClients), 0u);
}

TEST_F(CommitLogTest, WithoutTheLogEachClientSyncsItsOwnJournal) {
    // The comparison the log is for: the same storm, each journal syncing itself.
    constexpr int kClients = 8, kEach = 40;
    std::unique_ptr<Store> store = open(Env::Default(), false);
    ASSERT_TRUE(store);
    EXPECT_GE(storm_of_mkdirs(*store, kClients, kEach), kClients * kEach);
    EXPECT_GE(own_journal_syncs(*store, kClients), static_cast<uint64_t>(kClients * kEach));
    EXPECT_FALSE(std::filesystem::exists(state() / "commit-log"));
}

TEST_F(CommitLogTest, ACrashGivesEveryDeltaBackWhatOnlyTheLogHeld) {
    FaultEnv env(dir_.path());
    std::unique_ptr<Store> store = open(&env);
    ASSERT_TRUE(store);
    for (int c = 1; c <= 3; ++c) {
        std::shared_ptr<ClientView> v = *store->view(mac(c), "pi");
        ASSERT_TRUE(v->mkdir(v->root(), "kept", {}, {}).ok());
        Result<NewObject> f = v->create(v->root(), "file", {});
        ASSERT_TRUE(f.ok());
        ASSERT_TRUE(write_at(*v, f->id, 3, "client " + std::to_string(c)).ok());
    }
    // The journals were never synced: what was promised is in the log alone.
    crash(store, env);
    ASSERT_FALSE(log_files().empty());
    store = open(&env);
    ASSERT_TRUE(store);
    for (int c = 1; c <= 3; ++c) {
        std::shared_ptr<ClientView> v = *store->view(mac(c), "pi");
        EXPECT_TRUE(exists(*v, "/kept"));
        ASSERT_TRUE(exists(*v, "/file"));
        EXPECT_EQ(read_all(*v, walk(*v, "/file")),
                  std::string(3, '\0') + "client " + std::to_string(c));
    }
    // Replayed once: the logs are gone, the next start has nothing to do.
    EXPECT_EQ(log_files().size(), 1u);  // the new, empty one
}

TEST_F(CommitLogTest, ADeltaRemovedWithTheServerStoppedStaysRemoved) {
    FaultEnv env(dir_.path());
    std::unique_ptr<Store> store = open(&env);
    ASSERT_TRUE(store);
    for (int c = 1; c <= 2; ++c) {
        std::shared_ptr<ClientView> v = *store->view(mac(c), "pi");
        ASSERT_TRUE(v->mkdir(v->root(), "mine", {}, {}).ok());
    }
    crash(store, env);
    // The operator resets client 1 by hand: its directory goes, the log still has its records.
    std::filesystem::remove_all(state() / "clients" / mac(1).dashed());
    store = open(&env);
    ASSERT_TRUE(store);
    std::shared_ptr<ClientView> one = *store->view(mac(1), "pi");
    EXPECT_FALSE(exists(*one, "/mine"));
    std::shared_ptr<ClientView> two = *store->view(mac(2), "pi");
    EXPECT_TRUE(exists(*two, "/mine"));
}

TEST_F(CommitLogTest, AResetDeltaGetsNoneOfTheOldDeltasRecords) {
    FaultEnv env(dir_.path());
    std::unique_ptr<Store> store = open(&env);
    ASSERT_TRUE(store);
    {
        std::shared_ptr<ClientView> v = *store->view(mac(1), "pi");
        for (int i = 0; i < 10; ++i) {
            ASSERT_TRUE(v->mkdir(v->root(), "old" + std::to_string(i), {}, {}).ok());
        }
        ASSERT_TRUE(store->reset(mac(1)).ok());
        ASSERT_TRUE(v->mkdir(v->root(), "new", {}, {}).ok());
    }
    crash(store, env);
    store = open(&env);
    ASSERT_TRUE(store);
    std::shared_ptr<ClientView> v = *store->view(mac(1), "pi");
    EXPECT_TRUE(exists(*v, "/new"));
    for (int i = 0; i < 10; ++i) EXPECT_FALSE(exists(*v, "/old" + std::to_string(i))) << i;
}

TEST_F(CommitLogTest, ACompactionBeforeTheCrashReplaysOnlyWhatCameAfter) {
    FaultEnv env(dir_.path());
    std::unique_ptr<Store> store = open(&env);
    ASSERT_TRUE(store);
    {
        std::shared_ptr<ClientView> v = *store->view(mac(1), "pi");
        ASSERT_TRUE(v->mkdir(v->root(), "a", {}, {}).ok());
        ASSERT_TRUE(v->rename(v->root(), "a", v->root(), "b").ok());
        Result<NewObject> f = v->create(v->root(), "f", {});
        ASSERT_TRUE(f.ok());
        ASSERT_TRUE(write_at(*v, f->id, 0, "before").ok());
        ASSERT_TRUE(static_cast<ClientViewImpl&>(*v).compact().ok());
        // Renamed back after the snapshot: a replay of the older records on top would move it
        // again.
        ASSERT_TRUE(v->rename(v->root(), "b", v->root(), "a").ok());
        ASSERT_TRUE(write_at(*v, f->id, 6, " after").ok());
    }
    crash(store, env);
    store = open(&env);
    ASSERT_TRUE(store);
    std::shared_ptr<ClientView> v = *store->view(mac(1), "pi");
    EXPECT_TRUE(exists(*v, "/a"));
    EXPECT_FALSE(exists(*v, "/b"));
    EXPECT_EQ(read_all(*v, walk(*v, "/f")), "before after");
}

TEST_F(CommitLogTest, SmallStableWritesThatCompactTheJournalAreAllKept) {
    // A journal past its size is compacted by the call that grew it, which checkpoints the log
    // first; when that call is a logged write, the checkpoint must not wait for the write's own
    // bytes (it did: a deadlock).
    FaultEnv env(dir_.path());
    std::unique_ptr<Store> store = open(&env, true, 2048);
    ASSERT_TRUE(store);
    std::string expected;
    {
        std::shared_ptr<ClientView> v = *store->view(mac(1), "pi");
        Result<NewObject> f = v->create(v->root(), "log", {});
        ASSERT_TRUE(f.ok());
        auto writes = std::async(std::launch::async, [&] {
            for (int i = 0; i < 200; ++i) {
                std::string line = "line " + std::to_string(i) + "\n";
                if (!write_at(*v, f->id, expected.size(), line).ok()) return false;
                expected += line;
            }
            return true;
        });
        if (writes.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
            ADD_FAILURE() << "the writes hang";
            std::abort();  // a deadlocked thread cannot be joined
        }
        ASSERT_TRUE(writes.get());
        EXPECT_TRUE(std::filesystem::exists(state() / "clients" / mac(1).dashed() / "snapshot"));
    }
    crash(store, env);
    store = open(&env);
    ASSERT_TRUE(store);
    std::shared_ptr<ClientView> v = *store->view(mac(1), "pi");
    EXPECT_EQ(read_all(*v, walk(*v, "/log")), expected);
}

TEST_F(CommitLogTest, ACleanStopLeavesEverythingInTheDeltasAndNoLogFile) {
    std::unique_ptr<Store> store = open(Env::Default());
    ASSERT_TRUE(store);
    {
        std::shared_ptr<ClientView> v = *store->view(mac(1), "pi");
        ASSERT_TRUE(v->mkdir(v->root(), "kept", {}, {}).ok());
    }
    store.reset();
    EXPECT_TRUE(log_files().empty());
    // What the log held went to the journal: read without any log, it is there.
    store = open(Env::Default(), false);
    ASSERT_TRUE(store);
    EXPECT_TRUE(exists(**store->view(mac(1), "pi"), "/kept"));
}

TEST_F(CommitLogTest, ASecondStoreOnTheSameStateDirectoryKeepsItsHandsOffTheLog) {
    std::unique_ptr<Store> server = open(Env::Default());
    ASSERT_TRUE(server);
    std::shared_ptr<ClientView> v = *server->view(mac(1), "pi");
    ASSERT_TRUE(v->mkdir(v->root(), "served", {}, {}).ok());
    size_t logs = log_files().size();
    // A CLI command while the server runs: it must not replay (and remove) the server's live
    // log, and what it writes syncs its own journal.
    std::unique_ptr<Store> cli = open(Env::Default());
    ASSERT_TRUE(cli);
    EXPECT_EQ(log_files().size(), logs);
    std::shared_ptr<ClientView> other = *cli->view(mac(2), "pi");
    ASSERT_TRUE(other->mkdir(other->root(), "from-cli", {}, {}).ok());
    EXPECT_GT(static_cast<ClientViewImpl&>(*other).journal_syncs(), 0u);
    ASSERT_TRUE(v->mkdir(v->root(), "still-served", {}, {}).ok());
    EXPECT_EQ(static_cast<ClientViewImpl&>(*v).journal_syncs(), 0u);
}

// Regular files under every client's objects/ (the data files).
size_t data_files(const std::filesystem::path& state) {
    size_t n = 0;
    for (const auto& c : std::filesystem::directory_iterator(state / "clients")) {
        if (!std::filesystem::is_directory(c.path() / "objects")) continue;
        for (const auto& f : std::filesystem::directory_iterator(c.path() / "objects")) {
            n += f.is_regular_file();
        }
    }
    return n;
}

TEST_F(CommitLogTest, ADeferredMutationIsAnsweredOnlyOnceTheSyncThatCoversItIsDone) {
    std::unique_ptr<Store> store = open(Env::Default());
    std::shared_ptr<ClientView> view = *store->view(mac(1), "pi");
    ASSERT_TRUE(view->defers_durability());
    HeldSyncs held;
    std::promise<bool> answered;
    std::future<bool> answer = answered.get_future();
    {
        Deferred d;
        ASSERT_TRUE(view->mkdir(view->root(), "a", {}, {}).ok());
        EXPECT_TRUE(d.pending());
        EXPECT_FALSE(d.would_block());
        d.when_durable([&](Result<void> r) { answered.set_value(r.ok()); });
    }
    // Applied at once (the next call sees it), answered only after the log's sync.
    EXPECT_TRUE(exists(*view, "/a"));
    ASSERT_TRUE(SyncGate::get().wait_entered(std::chrono::seconds(10)));
    EXPECT_EQ(answer.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
    SyncGate::get().release();
    ASSERT_EQ(answer.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_TRUE(answer.get());
}

TEST_F(CommitLogTest, ADeferredRemoveDropsTheDataFileOnlyOnceTheRemovalIsDurable) {
    std::unique_ptr<Store> store = open(Env::Default());
    std::shared_ptr<ClientView> view = *store->view(mac(1), "pi");
    Result<NewObject> f = view->create(view->root(), "f", {});
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(write_at(*view, f->id, 0, "data").ok());
    const size_t before = data_files(state());
    ASSERT_GE(before, 1u);
    HeldSyncs held;
    std::promise<bool> answered;
    std::future<bool> answer = answered.get_future();
    {
        Deferred d;
        ASSERT_TRUE(view->remove(view->root(), "f").ok());
        d.when_durable([&](Result<void> r) { answered.set_value(r.ok()); });
    }
    ASSERT_TRUE(SyncGate::get().wait_entered(std::chrono::seconds(10)));
    // Gone from the view, but its data stays until the removal is durable: a crash now
    // replays a journal where the file still exists, and it must still have its bytes.
    EXPECT_FALSE(exists(*view, "/f"));
    EXPECT_EQ(data_files(state()), before);
    SyncGate::get().release();
    ASSERT_EQ(answer.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_TRUE(answer.get());
    EXPECT_EQ(data_files(state()), before - 1);
}

TEST_F(CommitLogTest, UnderADeferredWhatWouldBlockIsRefusedAndChangesNothing) {
    std::unique_ptr<Store> store = open(Env::Default());
    std::shared_ptr<ClientView> view = *store->view(mac(1), "pi");
    Result<NewObject> f = view->create(view->root(), "f", {});
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(write_at(*view, f->id, 0, "data").ok());
    const ObjectId image_file = walk(*view, "/etc/hostname");
    SetAttrArgs cut;
    cut.size = 1;
    auto refused = [](auto r, const Deferred& d) {
        return !r.ok() && r.error() == std::errc::operation_would_block && d.would_block();
    };
    {
        Deferred d;
        EXPECT_TRUE(refused(view->setattr(f->id, cut), d));  // cuts and syncs a data file
    }
    {
        Deferred d;
        EXPECT_TRUE(refused(view->setattr(image_file, cut), d));  // copies the image file up
    }
    {
        Deferred d;
        EXPECT_TRUE(refused(view->begin_write(f->id), d));
        EXPECT_FALSE(d.pending());
    }
    EXPECT_EQ(view->getattr(f->id)->size, 4u);
    EXPECT_EQ(read_all(*view, image_file), "pi\n");
    // Without a Deferred the same calls run (and wait) as ever.
    EXPECT_TRUE(view->setattr(f->id, cut).ok());
    EXPECT_EQ(view->getattr(f->id)->size, 1u);
}

TEST_F(CommitLogTest, UnderADeferredACallThatWouldCompactTheJournalIsRefused) {
    std::unique_ptr<Store> store = open(Env::Default(), true, 2048);
    std::shared_ptr<ClientView> view = *store->view(mac(1), "pi");
    int refused_at = -1;
    for (int i = 0; i < 500 && refused_at < 0; ++i) {
        const std::string name = "d" + std::to_string(i);
        Deferred d;
        Result<NewObject> r = view->mkdir(view->root(), name, {}, {});
        if (d.would_block()) {
            refused_at = i;
            EXPECT_FALSE(d.pending());
            EXPECT_FALSE(exists(*view, "/" + name));
            break;
        }
        ASSERT_TRUE(r.ok()) << r.message();
        std::promise<bool> answered;
        d.when_durable([&](Result<void> w) { answered.set_value(w.ok()); });
        ASSERT_TRUE(answered.get_future().get());
    }
    // A 2 KiB journal takes a few records before the next one would compact it.
    EXPECT_GT(refused_at, 1);
    // Without a Deferred the same call runs (and compacts).
    ASSERT_TRUE(view->mkdir(view->root(), "d" + std::to_string(refused_at), {}, {}).ok());
    EXPECT_TRUE(exists(*view, "/d" + std::to_string(refused_at)));
}

TEST_F(CommitLogTest, DeferredCallsGetTheErrorWhenTheLogsSyncFails) {
    FaultEnv env(dir_.path());
    std::unique_ptr<Store> store = open(&env);
    std::shared_ptr<ClientView> view = *store->view(mac(1), "pi");
    env.fail_nth(FaultEnv::Kind::kSync, 1, EIO);
    std::promise<bool> answered;
    std::future<bool> answer = answered.get_future();
    {
        Deferred d;
        ASSERT_TRUE(view->mkdir(view->root(), "a", {}, {}).ok());
        d.when_durable([&](Result<void> r) { answered.set_value(r.ok()); });
    }
    ASSERT_EQ(answer.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_FALSE(answer.get());
    env.clear_faults();
}

}  // namespace
}  // namespace rootfarm::store
