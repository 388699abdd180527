#pragma once

// A read-only FAT16/FAT32 reader (Microsoft FAT specification, "FAT: General Overview of
// On-Disk Format", 2000; section numbers below refer to it). It exists so the boot partition
// can be read from the image file without mounting it. Every cluster number, chain and
// directory entry is checked: a chain that leaves the volume, loops, or ends before the file
// does, and a directory with an impossible name, are kCorruptFat errors.

#include <cstdint>
#include <ctime>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "images/region.h"

namespace rootfarm::images {

class FatVolume {
  public:
    enum class Kind { kFat16, kFat32 };

    struct Entry {
        std::string name;  // UTF-8: the long name if it has a valid one, else the 8.3 name
        bool directory = false;
        bool read_only = false;
        uint32_t first_cluster = 0;
        uint32_t size = 0;
        timespec mtime{};
        timespec atime{};
    };

    // Reads the boot sector and the first FAT. kUnsupportedFat for FAT12, exFAT or anything
    // that is not a FAT boot sector.
    static Result<FatVolume> open(const Region& region);

    Kind kind() const { return kind_; }
    uint32_t cluster_bytes() const { return cluster_bytes_; }

    // The entries of the root directory (first_cluster 0) or of a subdirectory, without "."
    // and "..", deleted entries and the volume label. `what` names the directory in errors.
    Result<std::vector<Entry>> read_dir(uint32_t first_cluster, std::string_view what) const;

    // Calls `sink(offset, bytes)` for the file's data in order, one cluster at a time.
    using Sink = std::function<Result<void>(uint64_t offset, std::span<const uint8_t> data)>;
    Result<void> read_file(const Entry& entry, std::string_view what, const Sink& sink) const;

  private:
    // The clusters of the chain starting at `first`: exactly `need` of them (files), or up to
    // the end-of-chain mark (need == 0, directories).
    Result<std::vector<uint32_t>> chain(uint32_t first, uint64_t need, std::string_view what) const;
    Result<std::vector<Entry>> parse_dir(std::span<const uint8_t> bytes,
                                         std::string_view what) const;
    uint64_t cluster_offset(uint32_t cluster) const {
        return data_offset_ + static_cast<uint64_t>(cluster - 2) * cluster_bytes_;
    }

    Region region_;
    Kind kind_ = Kind::kFat32;
    uint32_t cluster_bytes_ = 0;
    uint32_t cluster_count_ = 0;
    uint32_t root_cluster_ = 0;     // FAT32
    uint64_t root_dir_offset_ = 0;  // FAT16: the fixed root directory region
    uint32_t root_dir_bytes_ = 0;
    uint64_t data_offset_ = 0;
    std::vector<uint32_t> fat_;  // entry per cluster, widened to 32 bits
};

}  // namespace rootfarm::images
