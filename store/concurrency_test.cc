// Many threads on one client's view at once, as NFS workers do.

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "store/store.h"
#include "store/test_util.h"
#include "store/view.h"

namespace rootfarm::store {
namespace {

using namespace testing;

TEST(Concurrency, ParallelMutationsAndReadsAllSurviveAReopen) {
    TempDir dir;
    write_file(dir.path() / "images/pi/root/etc/hostname", "pi\n");
    for (int i = 0; i < 20; ++i) {
        write_file(dir.path() / "images/pi/root/usr/lib" / ("lib" + std::to_string(i)), "x");
    }
    StoreOptions o;
    o.state_dir = dir.path();
    constexpr int kThreads = 6, kFiles = 25;
    {
        auto store = Store::open(o);
        ASSERT_TRUE(store.ok());
        std::shared_ptr<ClientView> v = *(*store)->view(mac(1), "pi");
        std::atomic<bool> writers_done = false;
        std::atomic<int> failures = 0;
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t) {
            threads.emplace_back([&, t] {
                auto d = v->mkdir(v->root(), "t" + std::to_string(t), {}, {});
                if (!d.ok()) {
                    ++failures;
                    return;
                }
                for (int i = 0; i < kFiles; ++i) {
                    std::string name = "f" + std::to_string(i);
                    auto f = v->create(d->id, name, {});
                    if (!f.ok() || !write_at(*v, f->id, 0, name + "@" + std::to_string(t)).ok()) {
                        ++failures;
                    }
                    // Everyone also copies up and renames lower files of a shared directory.
                    if (i == t) {
                        ObjectId lib = walk(*v, "/usr/lib");
                        std::string from = "lib" + std::to_string(t);
                        if (!v->rename(lib, from, lib, from + ".moved").ok()) ++failures;
                    }
                }
            });
        }
        std::thread reader([&] {
            while (!writers_done) {
                for (const std::string& n : list(*v, v->root())) {
                    Result<ObjectId> id = v->lookup(v->root(), n);
                    if (id.ok() && !v->getattr(*id).ok()) ++failures;
                }
                list(*v, walk(*v, "/usr/lib"));
            }
        });
        for (auto& t : threads) t.join();
        writers_done = true;
        reader.join();
        EXPECT_EQ(failures.load(), 0);
        auto* impl = dynamic_cast<ClientViewImpl*>(v.get());
        // Informational: how much the group commit shared (not asserted: timing-dependent).
        std::printf("%d mutations, %llu fdatasyncs of the journal\n", kThreads * (1 + 3 * kFiles),
                    (unsigned long long)impl->journal_syncs());
    }
    auto store = Store::open(o);
    ASSERT_TRUE(store.ok());
    std::shared_ptr<ClientView> v = *(*store)->view(mac(1), "pi");
    for (int t = 0; t < kThreads; ++t) {
        for (int i = 0; i < kFiles; ++i) {
            std::string name = "f" + std::to_string(i);
            std::string path = "/t" + std::to_string(t) + "/" + name;
            ASSERT_TRUE(exists(*v, path)) << path;
            EXPECT_EQ(read_all(*v, walk(*v, path)), name + "@" + std::to_string(t));
        }
        EXPECT_TRUE(exists(*v, "/usr/lib/lib" + std::to_string(t) + ".moved"));
        EXPECT_FALSE(exists(*v, "/usr/lib/lib" + std::to_string(t)));
    }
    EXPECT_EQ(list(*v, walk(*v, "/usr/lib")).size(), 20u);
}

}  // namespace
}  // namespace rootfarm::store
