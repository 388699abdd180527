// An image's persisted object ids (store/id_map.h, <state_dir>/index/<image>.ids): IdMap::load
// must take any file without crashing, and what it loaded must save and load again to the
// same map (the file is rewritten whenever ids are added).

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "fuzz/replay_util.h"
#include "store/fs_util.h"
#include "store/id_map.h"

using namespace rootfarm;
using namespace rootfarm::fuzz;

namespace {

std::vector<std::string> sorted_lines(const std::filesystem::path& path) {
    auto text = store::Env::Default()->read_file(path);
    if (!text.ok()) std::abort();
    std::vector<std::string> lines;
    std::istringstream in(*text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    std::sort(lines.begin(), lines.end());
    return lines;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    quiet_logs();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto dir = scratch_dir("id-map");
    const auto input = dir / "input.ids";
    write_bytes(input, std::span(data, size));
    store::Env& env = *store::Env::Default();
    auto map = store::IdMap::load(env, input);
    if (!map.ok()) return 0;
    if (map->generation() == 0 && size == 0) std::abort();  // an empty file is no map
    // Every key keeps its id through a save and a load.
    if (!map->save(env, dir / "a.ids").ok()) std::abort();
    auto again = store::IdMap::load(env, dir / "a.ids");
    if (!again.ok() || again->generation() != map->generation()) std::abort();
    if (!again->save(env, dir / "b.ids").ok()) std::abort();
    if (sorted_lines(dir / "a.ids") != sorted_lines(dir / "b.ids")) std::abort();
    return 0;
}
