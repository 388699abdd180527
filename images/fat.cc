#include "images/fat.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <unordered_set>

#include "images/errors.h"
#include "images/le.h"

namespace rootfarm::images {

namespace {

constexpr uint8_t kAttrReadOnly = 0x01;
constexpr uint8_t kAttrVolumeId = 0x08;
constexpr uint8_t kAttrDirectory = 0x10;
constexpr uint8_t kAttrLongName = 0x0f;  // §7: read-only | hidden | system | volume id
constexpr uint8_t kLastLongEntry = 0x40;
constexpr size_t kEntrySize = 32;
// §6: a directory holds at most 65536 entries. Also bounds a directory chain that loops.
constexpr uint64_t kMaxDirBytes = 65536 * kEntrySize;
// Windows NT's lower-case flags in DIR_NTRes, which Linux vfat and mtools honour.
constexpr uint8_t kLowerBase = 0x08;
constexpr uint8_t kLowerExt = 0x10;

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = static_cast<unsigned>(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// §6.1 date and time fields. FAT stores local time without a zone; like Linux vfat's default
// (tz=UTC unless told otherwise) we read it as UTC. Out-of-range fields are clamped.
timespec fat_time(uint16_t date, uint16_t time) {
    unsigned year = 1980 + (date >> 9);
    unsigned month = std::clamp<unsigned>((date >> 5) & 0x0f, 1, 12);
    unsigned day = std::clamp<unsigned>(date & 0x1f, 1, 31);
    int64_t secs = days_from_civil(year, month, day) * 86400 + (time >> 11) * 3600 +
                   ((time >> 5) & 0x3f) * 60 + (time & 0x1f) * 2;
    return timespec{static_cast<time_t>(secs), 0};
}

void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xc0 | cp >> 6);
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xe0 | cp >> 12);
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
        out += static_cast<char>(0xf0 | cp >> 18);
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    }
}

// UCS-2/UTF-16 to UTF-8, stopping at NUL. Empty on an unpaired surrogate.
std::string utf16_to_utf8(const std::vector<uint16_t>& units) {
    std::string out;
    for (size_t i = 0; i < units.size() && units[i] != 0; ++i) {
        uint32_t cp = units[i];
        if (cp >= 0xd800 && cp < 0xdc00) {
            if (i + 1 >= units.size() || units[i + 1] < 0xdc00 || units[i + 1] >= 0xe000) {
                return {};
            }
            cp = 0x10000 + ((cp - 0xd800) << 10) + (units[++i] - 0xdc00);
        } else if (cp >= 0xdc00 && cp < 0xe000) {
            return {};
        }
        append_utf8(out, cp);
    }
    return out;
}

// §7.2: the checksum of the 8.3 name that ties long-name entries to their short entry.
uint8_t short_name_checksum(const uint8_t* name) {
    uint8_t sum = 0;
    for (int i = 0; i < 11; ++i)
        sum = static_cast<uint8_t>(((sum & 1) ? 0x80 : 0) + (sum >> 1) + name[i]);
    return sum;
}

// Bytes above 0x7f are OEM code page characters; they are taken as Latin-1, which keeps them
// distinct and valid UTF-8 (Pi boot partitions use ASCII names).
std::string short_name(const uint8_t* e) {
    auto part = [](const uint8_t* p, size_t n, bool lower) {
        while (n > 0 && p[n - 1] == ' ') --n;
        std::string out;
        for (size_t i = 0; i < n; ++i) {
            uint8_t c = p[i];
            if (lower && c >= 'A' && c <= 'Z') c = static_cast<uint8_t>(c - 'A' + 'a');
            append_utf8(out, c);
        }
        return out;
    };
    uint8_t base[8];
    std::memcpy(base, e, 8);
    if (base[0] == 0x05) base[0] = 0xe5;  // §6.1: 0x05 stands for a leading 0xe5
    std::string name = part(base, 8, e[12] & kLowerBase);
    std::string ext = part(e + 8, 3, e[12] & kLowerExt);
    if (!ext.empty()) name += "." + ext;
    return name;
}

bool valid_name(const std::string& name) {
    return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
           name.find('\0') == std::string::npos;
}

}  // namespace

Result<FatVolume> FatVolume::open(const Region& region) {
    uint8_t bs[512];
    if (auto r = region.read(0, bs, sizeof bs); !r) return r.error();
    if (std::memcmp(bs + 3, "EXFAT   ", 8) == 0) {
        return image_error(ImageErrc::kUnsupportedFat, "boot partition is exFAT");
    }
    uint32_t bytes_per_sector = le16(bs + 11);
    uint32_t sectors_per_cluster = bs[13];
    uint32_t reserved = le16(bs + 14);
    uint32_t fats = bs[16];
    uint32_t root_entries = le16(bs + 17);
    uint32_t total = le16(bs + 19) ? le16(bs + 19) : le32(bs + 32);
    uint32_t fat_sectors = le16(bs + 22) ? le16(bs + 22) : le32(bs + 36);
    // §3.1: the BPB fields every FAT volume must have.
    bool bpb_ok = bs[510] == 0x55 && bs[511] == 0xaa && (bs[0] == 0xeb || bs[0] == 0xe9) &&
                  (bytes_per_sector == 512 || bytes_per_sector == 1024 ||
                   bytes_per_sector == 2048 || bytes_per_sector == 4096) &&
                  sectors_per_cluster != 0 &&
                  (sectors_per_cluster & (sectors_per_cluster - 1)) == 0 && reserved != 0 &&
                  fats != 0 && total != 0 && fat_sectors != 0;
    if (!bpb_ok) {
        return image_error(ImageErrc::kUnsupportedFat, "boot partition has no FAT16/FAT32 BPB");
    }
    FatVolume v;
    v.region_ = region;
    v.cluster_bytes_ = bytes_per_sector * sectors_per_cluster;
    uint64_t root_sectors = (root_entries * 32ull + bytes_per_sector - 1) / bytes_per_sector;
    uint64_t meta_sectors = reserved + static_cast<uint64_t>(fats) * fat_sectors + root_sectors;
    if (meta_sectors >= total) {
        return image_error(ImageErrc::kCorruptFat, "FAT BPB: {} metadata sectors of {} total",
                           meta_sectors, total);
    }
    if (static_cast<uint64_t>(total) * bytes_per_sector > region.size) {
        return image_error(ImageErrc::kTruncated,
                           "FAT volume of {} sectors does not fit its {}-byte partition", total,
                           region.size);
    }
    // §3.5: the variant is decided by the cluster count alone.
    uint64_t clusters = (total - meta_sectors) / sectors_per_cluster;
    if (clusters < 4085) {
        return image_error(ImageErrc::kUnsupportedFat, "boot partition is FAT12 ({} clusters)",
                           clusters);
    }
    v.kind_ = clusters < 65525 ? Kind::kFat16 : Kind::kFat32;
    v.cluster_count_ = static_cast<uint32_t>(clusters);
    uint64_t fat_offset = static_cast<uint64_t>(reserved) * bytes_per_sector;
    v.root_dir_offset_ = fat_offset + static_cast<uint64_t>(fats) * fat_sectors * bytes_per_sector;
    v.root_dir_bytes_ = static_cast<uint32_t>(root_sectors * bytes_per_sector);
    v.data_offset_ = meta_sectors * bytes_per_sector;
    if (v.kind_ == Kind::kFat32) {
        v.root_cluster_ = le32(bs + 44);
        if (root_entries != 0 || v.root_cluster_ < 2 || v.root_cluster_ >= clusters + 2) {
            return image_error(ImageErrc::kCorruptFat, "FAT32 root cluster {} is invalid",
                               v.root_cluster_);
        }
    } else if (root_entries == 0) {
        return image_error(ImageErrc::kCorruptFat, "FAT16 volume without a root directory");
    }
    size_t entry_bytes = v.kind_ == Kind::kFat32 ? 4 : 2;
    uint64_t fat_bytes = (clusters + 2) * entry_bytes;
    if (fat_bytes > static_cast<uint64_t>(fat_sectors) * bytes_per_sector) {
        return image_error(ImageErrc::kCorruptFat, "FAT of {} sectors is too small for {} clusters",
                           fat_sectors, clusters);
    }
    std::vector<uint8_t> raw(fat_bytes);
    if (auto r = region.read(fat_offset, raw.data(), raw.size()); !r) return r.error();
    v.fat_.resize(clusters + 2);
    for (size_t i = 0; i < v.fat_.size(); ++i) {
        // §4: the top four bits of a FAT32 entry are reserved.
        v.fat_[i] = entry_bytes == 4 ? le32(&raw[i * 4]) & 0x0fffffff : le16(&raw[i * 2]);
    }
    return v;
}

Result<std::vector<uint32_t>> FatVolume::chain(uint32_t first, uint64_t need,
                                               std::string_view what) const {
    uint32_t end_mark = kind_ == Kind::kFat32 ? 0x0ffffff8 : 0xfff8;
    uint64_t limit = need != 0 ? need : kMaxDirBytes / cluster_bytes_ + 1;
    std::vector<uint32_t> out;
    std::unordered_set<uint32_t> seen;
    uint32_t c = first;
    while (need == 0 || out.size() < need) {
        if (c < 2 || c >= cluster_count_ + 2) {
            if (need == 0 && c >= end_mark && !out.empty()) break;
            return image_error(
                ImageErrc::kCorruptFat,
                "{}: cluster chain from {} reaches invalid cluster {:#x} after {} clusters", what,
                first, c, out.size());
        }
        if (out.size() >= limit) {
            return image_error(
                ImageErrc::kCorruptFat,
                "{}: directory cluster chain from {} is longer than a directory may be", what,
                first);
        }
        if (!seen.insert(c).second) {
            return image_error(ImageErrc::kCorruptFat,
                               "{}: cluster chain from {} loops at cluster {}", what, first, c);
        }
        out.push_back(c);
        c = fat_[c];
    }
    return out;
}

Result<std::vector<FatVolume::Entry>> FatVolume::read_dir(uint32_t first_cluster,
                                                          std::string_view what) const {
    std::vector<uint8_t> bytes;
    if (first_cluster == 0 && kind_ == Kind::kFat16) {
        bytes.resize(root_dir_bytes_);
        if (auto r = region_.read(root_dir_offset_, bytes.data(), bytes.size()); !r) {
            return r.error();
        }
    } else {
        uint32_t start = first_cluster == 0 ? root_cluster_ : first_cluster;
        Result<std::vector<uint32_t>> clusters = chain(start, 0, what);
        if (!clusters) return clusters.error();
        bytes.resize(clusters->size() * cluster_bytes_);
        for (size_t i = 0; i < clusters->size(); ++i) {
            auto r = region_.read(cluster_offset((*clusters)[i]), &bytes[i * cluster_bytes_],
                                  cluster_bytes_);
            if (!r) return r.error();
        }
    }
    return parse_dir(bytes, what);
}

Result<std::vector<FatVolume::Entry>> FatVolume::parse_dir(std::span<const uint8_t> bytes,
                                                           std::string_view what) const {
    std::vector<Entry> out;
    std::set<std::string> seen;
    std::vector<uint16_t> long_name;
    int long_next = 0;  // the sequence number the next long-name entry must carry
    uint8_t long_sum = 0;
    for (size_t off = 0; off + kEntrySize <= bytes.size(); off += kEntrySize) {
        const uint8_t* e = bytes.data() + off;
        if (e[0] == 0x00) break;  // §6.1: no further entries
        if (e[0] == 0xe5) {
            long_next = 0;
            continue;
        }
        uint8_t attr = e[11];
        if ((attr & 0x3f) == kAttrLongName) {
            // §7: long-name pieces come last piece first, numbered down to 1.
            int ord = e[0] & 0x3f;
            if (e[0] & kLastLongEntry) {
                long_next = ord;
                long_sum = e[13];
                long_name.assign(static_cast<size_t>(ord) * 13, 0xffff);
            } else if (ord != long_next || e[13] != long_sum) {
                long_next = 0;
                continue;
            }
            if (ord == 0 || long_next == 0) {
                long_next = 0;
                continue;
            }
            static constexpr int kOffsets[13] = {1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30};
            for (int i = 0; i < 13; ++i) {
                long_name[static_cast<size_t>(ord - 1) * 13 + i] = le16(e + kOffsets[i]);
            }
            --long_next;
            continue;
        }
        bool have_long = long_next == 0 && !long_name.empty() && long_sum == short_name_checksum(e);
        std::vector<uint16_t> units;
        units.swap(long_name);
        long_next = 0;
        if (attr & kAttrVolumeId) continue;
        if (e[0] == '.' && (e[1] == ' ' || (e[1] == '.' && e[2] == ' '))) continue;
        Entry entry;
        if (have_long) entry.name = utf16_to_utf8(units);
        if (entry.name.empty()) entry.name = short_name(e);
        if (!valid_name(entry.name) || !seen.insert(entry.name).second) {
            return image_error(ImageErrc::kCorruptFat,
                               "{}: entry {} has an invalid or repeated name \"{}\"", what,
                               off / kEntrySize, entry.name);
        }
        entry.directory = attr & kAttrDirectory;
        entry.read_only = attr & kAttrReadOnly;
        entry.first_cluster = static_cast<uint32_t>(le16(e + 20)) << 16 | le16(e + 26);
        if (kind_ == Kind::kFat16) entry.first_cluster &= 0xffff;
        entry.size = entry.directory ? 0 : le32(e + 28);
        entry.mtime = fat_time(le16(e + 24), le16(e + 22));
        entry.atime = fat_time(le16(e + 18), 0);
        bool cluster_ok = entry.first_cluster == 0 ? !entry.directory && entry.size == 0
                                                   : entry.first_cluster >= 2 &&
                                                         entry.first_cluster < cluster_count_ + 2;
        if (!cluster_ok) {
            return image_error(ImageErrc::kCorruptFat, "{}: \"{}\" starts at invalid cluster {}",
                               what, entry.name, entry.first_cluster);
        }
        out.push_back(std::move(entry));
    }
    return out;
}

Result<void> FatVolume::read_file(const Entry& entry, std::string_view what,
                                  const Sink& sink) const {
    if (entry.size == 0) return {};
    uint64_t need = (entry.size + uint64_t{cluster_bytes_} - 1) / cluster_bytes_;
    Result<std::vector<uint32_t>> clusters = chain(entry.first_cluster, need, what);
    if (!clusters) return clusters.error();
    std::vector<uint8_t> buf(cluster_bytes_);
    uint64_t done = 0;
    for (uint32_t c : *clusters) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(cluster_bytes_, entry.size - done));
        if (auto r = region_.read(cluster_offset(c), buf.data(), n); !r) return r.error();
        if (auto r = sink(done, std::span<const uint8_t>(buf.data(), n)); !r) return r;
        done += n;
    }
    return {};
}

}  // namespace rootfarm::images
