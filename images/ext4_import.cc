#include "images/ext4_import.h"

// com_err.h has no C++ linkage guard of its own.
extern "C" {
#include <com_err.h>
}
#include <ext2fs/ext2fs.h>

#include <cstddef>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "images/errors.h"
#include "images/le.h"

namespace rootfarm::images {

namespace {

constexpr size_t kReadChunk = 1 << 20;
constexpr size_t kMaxSymlink = 4095;  // PATH_MAX - 1

struct FsCloser {
    void operator()(struct_ext2_filsys* fs) const { ext2fs_close_free(&fs); }
};
using FsPtr = std::unique_ptr<struct_ext2_filsys, FsCloser>;

std::error_code corrupt(std::string_view what, errcode_t err) {
    if (err == EXT2_ET_SHORT_READ) {
        return image_error(ImageErrc::kTruncated, "{}: the image ends inside the ext4 partition",
                           what);
    }
    return image_error(ImageErrc::kCorruptExt4, "{}: {}", what, error_message(err));
}

// The kernel's ext4_decode_extra_time(): seconds are signed 32-bit, extended by two epoch bits
// in the extra field, whose upper 30 bits are nanoseconds.
timespec decode_time(uint32_t secs, uint32_t extra, bool have_extra) {
    int64_t s = static_cast<int32_t>(secs);
    long nsec = 0;
    if (have_extra) {
        s += static_cast<int64_t>(extra & EXT4_EPOCH_MASK) << 32;
        nsec = std::min<long>(extra >> EXT4_EPOCH_BITS, 999999999);
    }
    return timespec{static_cast<time_t>(s), nsec};
}

bool has_extra(const ext2_filsys fs, const ext2_inode_large& inode, size_t field_end) {
    return EXT2_INODE_SIZE(fs->super) > EXT2_GOOD_OLD_INODE_SIZE &&
           size_t{EXT2_GOOD_OLD_INODE_SIZE} + inode.i_extra_isize >= field_end;
}

// The kernel's ext4 device encoding: old 16-bit numbers in i_block[0], otherwise the "new"
// 32-bit encoding in i_block[1] (fs/ext4/inode.c, old_decode_dev / new_decode_dev).
void decode_dev(const ext2_inode_large& inode, EntryMeta& meta) {
    uint32_t old = inode.i_block[0];
    if (old != 0) {
        meta.rdev_major = (old >> 8) & 0xff;
        meta.rdev_minor = old & 0xff;
    } else {
        uint32_t dev = inode.i_block[1];
        meta.rdev_major = (dev & 0xfff00) >> 8;
        meta.rdev_minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
    }
}

struct Child {
    std::string name;
    ext2_ino_t ino;
};

int collect_entry(ext2_ino_t, int, ext2_dir_entry* dirent, int, int, char*, void* priv) {
    auto* kids = static_cast<std::vector<Child>*>(priv);
    int len = ext2fs_dirent_name_len(dirent);
    std::string name(dirent->name, static_cast<size_t>(len));
    if (dirent->inode != 0 && name != "." && name != "..") kids->push_back({name, dirent->inode});
    return 0;
}

struct Run {
    uint64_t first = 0, count = 0;  // logical blocks
};

int collect_block(ext2_filsys, blk64_t*, e2_blkcnt_t blockcnt, blk64_t, int, void* priv) {
    auto* runs = static_cast<std::vector<Run>*>(priv);
    if (blockcnt < 0) return 0;
    auto b = static_cast<uint64_t>(blockcnt);
    if (!runs->empty() && runs->back().first + runs->back().count == b) {
        ++runs->back().count;
    } else {
        runs->push_back({b, 1});
    }
    return 0;
}

class Ext4Walker {
  public:
    Ext4Walker(ext2_filsys fs, TreeWriter& out, std::vector<CapabilityFile>& caps)
        : fs_(fs), out_(out), caps_(caps) {}

    Result<void> run() {
        Result<EntryMeta> top = read_meta(EXT2_ROOT_INO, "/");
        if (!top) return top.error();
        if (top->type != store::FileType::kDirectory) {
            return image_error(ImageErrc::kCorruptExt4, "ext4 root inode is not a directory");
        }
        if (auto r = out_.add_dir("", *top); !r) return r;
        seen_dirs_.insert(EXT2_ROOT_INO);
        std::vector<std::pair<ext2_ino_t, std::string>> stack{{EXT2_ROOT_INO, ""}};
        while (!stack.empty()) {
            auto [dir, rel] = std::move(stack.back());
            stack.pop_back();
            std::vector<Child> kids;
            errcode_t err = ext2fs_dir_iterate2(fs_, dir, 0, nullptr, collect_entry, &kids);
            if (err) return corrupt("reading directory /" + rel, err);
            for (const Child& kid : kids) {
                std::string path = rel.empty() ? kid.name : rel + "/" + kid.name;
                Result<bool> is_dir = add(kid, path);
                if (!is_dir) return is_dir.error();
                if (*is_dir) stack.emplace_back(kid.ino, path);
            }
        }
        return {};
    }

  private:
    Result<EntryMeta> read_meta(ext2_ino_t ino, const std::string& path) {
        if (ino < 1 || ino > fs_->super->s_inodes_count) {
            return image_error(ImageErrc::kCorruptExt4, "/{}: inode number {} out of range", path,
                               ino);
        }
        inode_ = {};
        errcode_t err =
            ext2fs_read_inode_full(fs_, ino, reinterpret_cast<ext2_inode*>(&inode_), sizeof inode_);
        if (err) return corrupt("reading inode of /" + path, err);
        if (inode_.i_links_count == 0) {
            return image_error(ImageErrc::kCorruptExt4, "/{}: entry names the free inode {}", path,
                               ino);
        }
        EntryMeta meta;
        switch (inode_.i_mode & 0170000) {
            case 0100000:
                meta.type = store::FileType::kRegular;
                break;
            case 0040000:
                meta.type = store::FileType::kDirectory;
                break;
            case 0120000:
                meta.type = store::FileType::kSymlink;
                break;
            case 0020000:
                meta.type = store::FileType::kChar;
                break;
            case 0060000:
                meta.type = store::FileType::kBlock;
                break;
            case 0010000:
                meta.type = store::FileType::kFifo;
                break;
            case 0140000:
                meta.type = store::FileType::kSocket;
                break;
            default:
                return image_error(ImageErrc::kCorruptExt4, "/{}: inode {} has file type {:o}",
                                   path, ino, inode_.i_mode & 0170000);
        }
        meta.mode = inode_.i_mode & 07777;
        meta.uid = inode_uid(inode_);
        meta.gid = inode_gid(inode_);
        meta.mtime =
            decode_time(inode_.i_mtime, inode_.i_mtime_extra,
                        has_extra(fs_, inode_, offsetof(ext2_inode_large, i_mtime_extra) + 4));
        meta.atime =
            decode_time(inode_.i_atime, inode_.i_atime_extra,
                        has_extra(fs_, inode_, offsetof(ext2_inode_large, i_atime_extra) + 4));
        if (meta.type == store::FileType::kChar || meta.type == store::FileType::kBlock) {
            decode_dev(inode_, meta);
        }
        return meta;
    }

    // Adds one entry; true if it is a directory to descend into.
    Result<bool> add(const Child& kid, const std::string& path) {
        if (kid.name.empty() || kid.name.find('/') != std::string::npos ||
            kid.name.find('\0') != std::string::npos) {
            return image_error(ImageErrc::kCorruptExt4, "/{}: invalid name in directory", path);
        }
        Result<EntryMeta> meta = read_meta(kid.ino, path);
        if (!meta) return meta.error();
        if (meta->type == store::FileType::kDirectory) {
            // Directories cannot be hard-linked; a second name is a loop in a corrupt tree.
            if (!seen_dirs_.insert(kid.ino).second) {
                return image_error(ImageErrc::kCorruptExt4,
                                   "/{}: directory inode {} appears twice (a loop)", path, kid.ino);
            }
            if (auto r = out_.add_dir(path, *meta); !r) return r.error();
            return true;
        }
        if (inode_.i_links_count > 1) {
            auto [it, fresh] = links_.try_emplace(kid.ino, path);
            if (!fresh) {
                if (auto r = out_.add_hardlink(path, it->second, *meta); !r) return r.error();
                return false;
            }
        }
        Result<void> r;
        switch (meta->type) {
            case store::FileType::kRegular:
                r = add_file(kid.ino, path, *meta);
                break;
            case store::FileType::kSymlink:
                r = add_symlink(kid.ino, path, *meta);
                break;
            default:
                r = out_.add_special(path, *meta);
                break;
        }
        if (!r) return r.error();
        return false;
    }

    Result<void> add_file(ext2_ino_t ino, const std::string& path, const EntryMeta& meta) {
        uint64_t size = EXT2_I_SIZE(&inode_);
        std::vector<Run> runs;
        if (inode_.i_flags & EXT4_INLINE_DATA_FL) {
            runs.push_back({0, (size + fs_->blocksize - 1) / fs_->blocksize});
        } else {
            errcode_t err =
                ext2fs_block_iterate3(fs_, ino, BLOCK_FLAG_READ_ONLY | BLOCK_FLAG_DATA_ONLY,
                                      nullptr, collect_block, &runs);
            if (err) return corrupt("mapping blocks of /" + path, err);
        }
        if (auto r = read_caps(ino, path); !r) return r;
        return out_.add_file(path, meta, size, [&](FileOut& sink) -> Result<void> {
            ext2_file_t file;
            errcode_t err = ext2fs_file_open(fs_, ino, 0, &file);
            if (err) return corrupt("opening /" + path, err);
            Result<void> r = copy_runs(file, runs, size, path, sink);
            ext2fs_file_close(file);
            return r;
        });
    }

    // Only mapped blocks are read and written, so holes stay holes. ext2fs_file_read returns
    // zeros for unwritten (uninitialised) extents and handles inline data.
    Result<void> copy_runs(ext2_file_t file, const std::vector<Run>& runs, uint64_t size,
                           const std::string& path, FileOut& sink) {
        buf_.resize(kReadChunk);
        for (const Run& run : runs) {
            uint64_t pos = run.first * fs_->blocksize;
            if (pos >= size) break;
            uint64_t end = std::min(size, (run.first + run.count) * fs_->blocksize);
            errcode_t err = ext2fs_file_llseek(file, pos, EXT2_SEEK_SET, nullptr);
            if (err) return corrupt("seeking in /" + path, err);
            while (pos < end) {
                auto want = static_cast<unsigned>(std::min<uint64_t>(kReadChunk, end - pos));
                unsigned got = 0;
                err = ext2fs_file_read(file, buf_.data(), want, &got);
                if (err) return corrupt("reading /" + path, err);
                if (got != want) {
                    return image_error(ImageErrc::kCorruptExt4, "/{}: short read at {}", path, pos);
                }
                auto r = sink.write_at(pos, std::span<const uint8_t>(buf_.data(), got));
                if (!r) return r;
                pos += got;
            }
        }
        return {};
    }

    Result<void> add_symlink(ext2_ino_t ino, const std::string& path, const EntryMeta& meta) {
        uint64_t size = EXT2_I_SIZE(&inode_);
        if (size == 0 || size > kMaxSymlink) {
            return image_error(ImageErrc::kCorruptExt4, "/{}: symlink of {} bytes", path, size);
        }
        std::string target(size, '\0');
        if (ext2fs_is_fast_symlink(reinterpret_cast<ext2_inode*>(&inode_))) {
            if (size > sizeof inode_.i_block) {
                return image_error(ImageErrc::kCorruptExt4, "/{}: fast symlink too long", path);
            }
            std::memcpy(target.data(), inode_.i_block, size);
        } else {
            ext2_file_t file;
            errcode_t err = ext2fs_file_open(fs_, ino, 0, &file);
            if (err) return corrupt("opening symlink /" + path, err);
            unsigned got = 0;
            err = ext2fs_file_read(file, target.data(), static_cast<unsigned>(size), &got);
            ext2fs_file_close(file);
            if (err) return corrupt("reading symlink /" + path, err);
            if (got != size) {
                return image_error(ImageErrc::kCorruptExt4, "/{}: short symlink", path);
            }
        }
        if (target.find('\0') != std::string::npos) {
            return image_error(ImageErrc::kCorruptExt4, "/{}: symlink target holds a NUL", path);
        }
        return out_.add_symlink(path, target, meta);
    }

    Result<void> read_caps(ext2_ino_t ino, const std::string& path) {
        if (!ext2fs_has_feature_xattr(fs_->super)) return {};
        ext2_xattr_handle* h = nullptr;
        errcode_t err = ext2fs_xattrs_open(fs_, ino, &h);
        if (!err) err = ext2fs_xattrs_read(h);
        if (err) {
            if (h) ext2fs_xattrs_close(&h);
            return corrupt("reading xattrs of /" + path, err);
        }
        void* value = nullptr;
        size_t len = 0;
        if (ext2fs_xattr_get(h, "security.capability", &value, &len) == 0) {
            caps_.push_back({"root/" + path, std::string(static_cast<char*>(value), len)});
            ext2fs_free_mem(&value);
        }
        ext2fs_xattrs_close(&h);
        return {};
    }

    ext2_filsys fs_;
    TreeWriter& out_;
    std::vector<CapabilityFile>& caps_;
    ext2_inode_large inode_{};
    std::unordered_map<ext2_ino_t, std::string> links_;
    std::unordered_set<ext2_ino_t> seen_dirs_;
    std::vector<uint8_t> buf_;
};

}  // namespace

bool has_ext_superblock(const Region& partition) {
    uint8_t magic[2];
    if (partition.size < 2048) return false;
    // ext2_fs.h: the superblock is at byte 1024, s_magic at its offset 56.
    if (!partition.read(1024 + 56, magic, sizeof magic)) return false;
    return le16(magic) == EXT2_SUPER_MAGIC;
}

Result<void> import_ext4(const std::filesystem::path& file, const Region& partition,
                         TreeWriter& out, Progress& progress, std::vector<CapabilityFile>& caps) {
    // com_err knows the library's messages ("Inode checksum does not match inode") only once
    // its table is registered.
    static const bool error_table = (initialize_ext2_error_table(), true);
    (void)error_table;
    std::string options = "offset=" + std::to_string(partition.offset);
    ext2_filsys raw = nullptr;
    // Read-only (no EXT2_FLAG_RW): unix_io opens the file O_RDONLY, no exclusive lock, no root.
    errcode_t err =
        ext2fs_open2(file.c_str(), options.c_str(), EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &raw);
    if (err) return corrupt("opening the ext4 root partition", err);
    FsPtr fs(raw);
    uint64_t fs_bytes = ext2fs_blocks_count(fs->super) * uint64_t{fs->blocksize};
    if (fs_bytes > partition.size) {
        return image_error(ImageErrc::kTruncated,
                           "ext4 filesystem of {} bytes is larger than its {}-byte partition",
                           fs_bytes, partition.size);
    }
    uint64_t used_inodes = fs->super->s_inodes_count - fs->super->s_free_inodes_count;
    uint64_t used_bytes =
        (ext2fs_blocks_count(fs->super) - ext2fs_free_blocks_count(fs->super)) * fs->blocksize;
    progress.set_totals(used_inodes, used_bytes);
    return Ext4Walker(fs.get(), out, caps).run();
}

}  // namespace rootfarm::images
