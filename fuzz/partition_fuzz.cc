// The partition table of a downloaded .img (images/partition.h): MBR, or GPT behind a
// protective MBR, read from the file. Every partition returned must lie inside the file.
//
// Input: the first bytes of the image; the file goes on with zeros up to kImageBytes, so
// partitions a seed's table declares lie inside it without the seed carrying them.

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "fuzz/fuzz_util.h"
#include "images/partition.h"

using namespace rootfarm;
using namespace rootfarm::images;

namespace {
constexpr uint64_t kImageBytes = 16u << 20;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::quiet_logs();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::MemFile file(std::span(data, size));
    file.extend_to(kImageBytes);
    const uint64_t file_size = std::max<uint64_t>(size, kImageBytes);
    auto parts = read_partitions(file.fd(), file_size);
    if (!parts.ok()) return 0;
    if (parts->empty()) std::abort();  // "no partition" is kNotAnImage
    for (const Partition& p : *parts) {
        if (p.offset > file_size || p.size > file_size - p.offset || p.number < 1) std::abort();
    }
    return 0;
}
