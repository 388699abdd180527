// The boot partition of a downloaded .img (images/fat.h): FatVolume and import_fat copy every
// directory and file into a TreeWriter, as `rootfarm image import` does. Every cluster chain,
// directory entry and name comes from the file; nothing may land outside the tree's directory.
//
// Input: the first bytes of the partition. The rest, up to kPartitionBytes, reads as zeros
// (free clusters, empty directories), so a seed need not carry the megabytes of a real volume:
// FAT16 starts at 4085 clusters.

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "fuzz/fuzz_util.h"
#include "fuzz/replay_util.h"
#include "images/fat_import.h"
#include "images/import.h"
#include "images/progress.h"
#include "images/tree_writer.h"

using namespace rootfarm;
using namespace rootfarm::images;

namespace {
constexpr uint64_t kPartitionBytes = 64u << 20;  // holds a FAT32 volume of 512-byte clusters
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::quiet_logs();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto scratch = fuzz::scratch_dir("fat");
    const auto tree = scratch / "boot";
    std::filesystem::remove_all(tree);

    fuzz::MemFile file(std::span(data, size));
    file.extend_to(kPartitionBytes);
    ImportReport report;
    Progress progress(false);
    std::string metadata;
    TreeWriter writer(tree, "boot", report, progress, metadata);
    Result<void> r =
        import_fat(Region{file.fd(), 0, std::max<uint64_t>(size, kPartitionBytes)}, writer);
    if (r.ok()) (void)writer.finish();
    // Names come from the image: none may step out of the tree.
    for (const auto& e : std::filesystem::directory_iterator(scratch)) {
        if (e.path() != tree) std::abort();
    }
    return 0;
}
