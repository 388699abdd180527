#include "images/partition.h"

#include <cstring>

#include "images/errors.h"
#include "images/le.h"
#include "images/region.h"

namespace rootfarm::images {

namespace {

constexpr size_t kMbrTableOffset = 446;
constexpr uint8_t kProtectiveMbr = 0xee;
// UEFI 2.10 §5.3.3: at most this many entries are worth reading; real tables have 128.
constexpr uint32_t kMaxGptEntries = 1024;

bool is_extended(uint8_t type) {
    return type == 0x05 || type == 0x0f || type == 0x85;
}

Result<void> check_bounds(const Partition& p, uint64_t file_size) {
    if (p.offset > file_size || p.size > file_size - p.offset) {
        return image_error(ImageErrc::kTruncated,
                           "partition {} spans bytes {}..{} but the image has only {} bytes",
                           p.number, p.offset, p.offset + p.size, file_size);
    }
    return {};
}

// UEFI 2.10 §5.3.2 (header) and §5.3.3 (entries). The header's CRCs are not checked: a
// damaged table shows up as partitions that do not hold the filesystems we look for.
Result<std::vector<Partition>> read_gpt(const Region& disk) {
    uint8_t header[92];
    if (auto r = disk.read(kSectorSize, header, sizeof header); !r) return r.error();
    if (std::memcmp(header, "EFI PART", 8) != 0) {
        return image_error(ImageErrc::kNotAnImage, "protective MBR but no GPT header at LBA 1");
    }
    uint64_t entries_lba = le64(header + 72);
    uint32_t count = le32(header + 80);
    uint32_t entry_size = le32(header + 84);
    if (entry_size < 128 || entry_size > 4096 || entry_size % 8 != 0 || count > kMaxGptEntries ||
        entries_lba > disk.size / kSectorSize) {
        return image_error(ImageErrc::kNotAnImage,
                           "GPT header has a bad entry table ({} entries of {} bytes at LBA {})",
                           count, entry_size, entries_lba);
    }
    std::vector<uint8_t> table(static_cast<size_t>(count) * entry_size);
    if (auto r = disk.read(entries_lba * kSectorSize, table.data(), table.size()); !r) {
        return r.error();
    }
    std::vector<Partition> out;
    for (uint32_t i = 0; i < count; ++i) {
        const uint8_t* e = table.data() + static_cast<size_t>(i) * entry_size;
        static const uint8_t kUnused[16] = {};
        if (std::memcmp(e, kUnused, 16) == 0) continue;
        uint64_t first = le64(e + 32), last = le64(e + 40);
        if (first == 0 || last < first || last >= UINT64_MAX / kSectorSize) {
            return image_error(ImageErrc::kNotAnImage, "GPT entry {} has bad LBAs {}..{}", i + 1,
                               first, last);
        }
        Partition p{static_cast<int>(i + 1), 0, true, first * kSectorSize,
                    (last - first + 1) * kSectorSize};
        if (auto r = check_bounds(p, disk.size); !r) return r.error();
        out.push_back(p);
    }
    // As for an MBR (read_partitions): a table whose entries are all unused (UEFI 2.10
    // §5.3.3: a zero type GUID) lists no partition, so the file is no disk image to import.
    if (out.empty()) return image_error(ImageErrc::kNotAnImage, "the GPT lists no partition");
    return out;
}

}  // namespace

Result<std::vector<Partition>> read_partitions(int fd, uint64_t file_size) {
    Region disk{fd, 0, file_size};
    uint8_t mbr[kSectorSize];
    if (file_size < kSectorSize) {
        return image_error(ImageErrc::kNotAnImage, "{} bytes is too small for a disk image",
                           file_size);
    }
    if (auto r = disk.read(0, mbr, sizeof mbr); !r) return r.error();
    if (mbr[510] != 0x55 || mbr[511] != 0xaa) {
        return image_error(ImageErrc::kNotAnImage, "no MBR boot signature (55 aa) in sector 0");
    }
    std::vector<Partition> out;
    for (int i = 0; i < 4; ++i) {
        const uint8_t* e = mbr + kMbrTableOffset + 16 * i;
        // A FAT boot sector also ends in 55 aa; its bytes here are code, whose status bytes
        // are rarely the 0x00 / 0x80 an MBR entry must have.
        if (e[0] != 0x00 && e[0] != 0x80) {
            return image_error(ImageErrc::kNotAnImage, "MBR entry {} has status byte {:#04x}",
                               i + 1, e[0]);
        }
        uint8_t type = e[4];
        if (type == kProtectiveMbr) return read_gpt(disk);
        uint32_t start = le32(e + 8), sectors = le32(e + 12);
        if (type == 0 || sectors == 0 || is_extended(type)) continue;
        if (start == 0) {
            return image_error(ImageErrc::kNotAnImage, "MBR entry {} starts at sector 0", i + 1);
        }
        Partition p{i + 1, type, false, start * kSectorSize, sectors * kSectorSize};
        if (auto r = check_bounds(p, file_size); !r) return r.error();
        out.push_back(p);
    }
    if (out.empty()) return image_error(ImageErrc::kNotAnImage, "the MBR lists no partition");
    return out;
}

}  // namespace rootfarm::images
