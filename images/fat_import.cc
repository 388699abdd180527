#include "images/fat_import.h"

#include <unordered_set>

#include "images/errors.h"
#include "images/fat.h"

namespace rootfarm::images {

namespace {

EntryMeta meta_of(const FatVolume::Entry& e) {
    EntryMeta meta;
    meta.type = e.directory ? store::FileType::kDirectory : store::FileType::kRegular;
    meta.mode = e.read_only && !e.directory ? 0555 : 0755;
    meta.atime = e.atime;
    meta.mtime = e.mtime;
    return meta;
}

}  // namespace

Result<void> import_fat(const Region& partition, TreeWriter& out) {
    Result<FatVolume> volume = FatVolume::open(partition);
    if (!volume) return volume.error();
    EntryMeta top;
    top.type = store::FileType::kDirectory;
    top.mode = 0755;
    if (auto r = out.add_dir("", top); !r) return r;
    // A subdirectory entry pointing at an ancestor (or any directory twice) is a loop.
    std::unordered_set<uint32_t> seen;
    std::vector<std::pair<uint32_t, std::string>> stack{{0, ""}};
    while (!stack.empty()) {
        auto [cluster, rel] = std::move(stack.back());
        stack.pop_back();
        std::string what = "boot partition /" + rel;
        Result<std::vector<FatVolume::Entry>> entries = volume->read_dir(cluster, what);
        if (!entries) return entries.error();
        for (const FatVolume::Entry& e : *entries) {
            std::string path = rel.empty() ? e.name : rel + "/" + e.name;
            EntryMeta meta = meta_of(e);
            if (e.directory) {
                if (!seen.insert(e.first_cluster).second) {
                    return image_error(
                        ImageErrc::kCorruptFat,
                        "boot partition /{}: directory cluster {} is used twice (a loop)", path,
                        e.first_cluster);
                }
                if (auto r = out.add_dir(path, meta); !r) return r;
                stack.emplace_back(e.first_cluster, path);
                continue;
            }
            std::string file_what = "boot partition /" + path;
            auto r = out.add_file(path, meta, e.size, [&](FileOut& sink) {
                return volume->read_file(e, file_what,
                                         [&](uint64_t off, std::span<const uint8_t> data) {
                                             return sink.write_at(off, data);
                                         });
            });
            if (!r) return r;
        }
    }
    return {};
}

}  // namespace rootfarm::images
