// An image's attribute file (store/image_metadata.h, images/<name>/metadata): bad lines are
// skipped, never fatal, and every entry parsed must format to a line that parses back to it.

#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "store/image_metadata.h"

using namespace rootfarm;
using namespace rootfarm::store;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::quiet_logs();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto entries = parse_image_metadata(text, "fuzz");
    for (const auto& [key, e] : entries) {
        auto back = parse_image_metadata(format_metadata_line(key, e), "fuzz");
        auto it = back.find(key);
        if (back.size() != 1 || it == back.end()) std::abort();
        const MetadataEntry& b = it->second;
        if (b.type != e.type || b.mode != e.mode || b.uid != e.uid || b.gid != e.gid ||
            b.rdev_major != e.rdev_major || b.rdev_minor != e.rdev_minor) {
            std::abort();
        }
    }
    return 0;
}
