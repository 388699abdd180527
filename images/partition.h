#pragma once

// The partition table of a disk image: MBR, or GPT behind a protective MBR. Raspberry Pi OS
// images use an MBR with a FAT32 boot partition (type 0x0c) and an ext4 root (0x83); sectors
// are 512 bytes.

#include <cstdint>
#include <vector>

#include "core/result.h"

namespace rootfarm::images {

constexpr uint64_t kSectorSize = 512;

struct Partition {
    int number = 0;        // 1-based, as the kernel names it (mmcblk0p<number>)
    uint8_t mbr_type = 0;  // 0 for GPT partitions
    bool gpt = false;
    uint64_t offset = 0;  // bytes from the start of the file
    uint64_t size = 0;    // bytes
};

// The partitions of the image open as `fd`, `file_size` bytes long, in table order.
// kNotAnImage without a valid table or with no partition; kTruncated if one ends past the file.
Result<std::vector<Partition>> read_partitions(int fd, uint64_t file_size);

}  // namespace rootfarm::images
