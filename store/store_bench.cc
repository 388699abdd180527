// LOOKUP and GETATTR on a 100k-entry image, through a client's view (ns/op), and the index's
// memory per entry. Run: build/store/store_bench

#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "store/image_index.h"
#include "store/store.h"

namespace rootfarm::store {
namespace {

constexpr int kDirs = 100;
constexpr int kFilesPerDir = 1000;  // 100k files + 100 directories

struct Fixture {
    Fixture() {
        std::string tmpl = std::filesystem::temp_directory_path() / "rootfarm-bench-XXXXXX";
        dir = ::mkdtemp(tmpl.data());
        auto root = dir / "images/big/root";
        for (int d = 0; d < kDirs; ++d) {
            auto sub = root / ("dir" + std::to_string(d));
            std::filesystem::create_directories(sub);
            for (int f = 0; f < kFilesPerDir; ++f) {
                std::ofstream(sub / ("file-with-a-typical-name-" + std::to_string(f) + ".so"));
            }
        }
        std::filesystem::create_directories(dir / "images/big/boot");
        StoreOptions o;
        o.state_dir = dir;
        store = Store::open(o).value();
        view = *store->view(MacAddr{{0xb8, 0x27, 0xeb, 0, 0, 1}}, "big");
        for (int d = 0; d < kDirs; ++d) {
            dirs.push_back(*view->lookup(view->root(), "dir" + std::to_string(d)));
        }
        for (int f = 0; f < kFilesPerDir; ++f) {
            names.push_back("file-with-a-typical-name-" + std::to_string(f) + ".so");
        }
        for (ObjectId d : dirs) {
            for (int f = 0; f < kFilesPerDir; f += 10) ids.push_back(*view->lookup(d, names[f]));
        }
    }
    ~Fixture() {
        view.reset();
        store.reset();
        std::filesystem::remove_all(dir);
    }

    std::filesystem::path dir;
    std::unique_ptr<Store> store;
    std::shared_ptr<ClientView> view;
    std::vector<ObjectId> dirs;
    std::vector<std::string> names;
    std::vector<ObjectId> ids;
};

Fixture& fixture() {
    static Fixture f;
    return f;
}

void BM_Lookup(benchmark::State& state) {
    Fixture& f = fixture();
    std::mt19937 rng(1);
    std::vector<std::pair<ObjectId, const std::string*>> queries;
    for (int i = 0; i < 4096; ++i) {
        queries.emplace_back(f.dirs[rng() % f.dirs.size()], &f.names[rng() % f.names.size()]);
    }
    size_t i = 0;
    for (auto _ : state) {
        auto& [dir, name] = queries[i++ & 4095];
        benchmark::DoNotOptimize(f.view->lookup(dir, *name));
    }
}
BENCHMARK(BM_Lookup)->ThreadRange(1, 2);

void BM_Getattr(benchmark::State& state) {
    Fixture& f = fixture();
    std::mt19937 rng(2);
    std::vector<ObjectId> queries;
    for (int i = 0; i < 4096; ++i) queries.push_back(f.ids[rng() % f.ids.size()]);
    size_t i = 0;
    for (auto _ : state) benchmark::DoNotOptimize(f.view->getattr(queries[i++ & 4095]));
}
BENCHMARK(BM_Getattr)->ThreadRange(1, 2);

// Builds the index of the 100k-entry image and reports its size per entry.
void BM_IndexBuild(benchmark::State& state) {
    Fixture& f = fixture();
    size_t bytes = 0, objects = 0;
    for (auto _ : state) {
        ImageOptions o;
        o.name = "big";
        o.image_dir = f.dir / "images/big";
        o.id_map_path = f.dir / "index/big.ids";
        auto index = ImageIndex::build(o);
        bytes = (*index)->memory_bytes();
        objects = (*index)->object_count();
    }
    state.counters["entries"] = static_cast<double>(objects);
    state.counters["bytes_per_entry"] = static_cast<double>(bytes) / static_cast<double>(objects);
}
BENCHMARK(BM_IndexBuild)->Iterations(3)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace rootfarm::store

BENCHMARK_MAIN();
