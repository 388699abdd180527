#include "images/import.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "images/catalog.h"
#include "images/dir_import.h"
#include "images/ext4_import.h"
#include "images/fat_import.h"
#include "images/fixups.h"
#include "images/partition.h"
#include "images/progress.h"
#include "images/text_file.h"
#include "images/tree_writer.h"
#include "images/xz.h"
#include "store/env.h"

namespace rootfarm::images {

namespace {

// MBR partition types of FAT volumes (FAT12, FAT16 <32M, FAT16, FAT32 CHS, FAT32 LBA, FAT16 LBA).
bool is_fat_type(uint8_t t) {
    return t == 0x01 || t == 0x04 || t == 0x06 || t == 0x0b || t == 0x0c || t == 0x0e;
}

// A FAT boot sector by its signature and file-system type string (BS_FilSysType at 54 for
// FAT16, 82 for FAT32), without logging: this only picks the candidate.
bool looks_like_fat(const Region& r) {
    uint8_t bs[512];
    if (r.size < sizeof bs || !r.read(0, bs, sizeof bs)) return false;
    return bs[510] == 0x55 && bs[511] == 0xaa &&
           (std::string_view(reinterpret_cast<char*>(bs + 54), 3) == "FAT" ||
            std::string_view(reinterpret_cast<char*>(bs + 82), 3) == "FAT");
}

std::string utc_now() {
    time_t t = ::time(nullptr);
    tm tm;
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string hex(std::string_view bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out += kDigits[c >> 4];
        out += kDigits[c & 15];
    }
    return out;
}

Result<void> import_disk_image(const std::filesystem::path& source,
                               const std::filesystem::path& tmp, ImportReport& report,
                               Progress& progress, std::string& metadata,
                               std::vector<CapabilityFile>& caps) {
    int fd = ::open(source.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return system_error(errno, "open " + source.string());
    struct stat st;
    Result<std::vector<Partition>> parts =
        ::fstat(fd, &st) == 0 ? read_partitions(fd, static_cast<uint64_t>(st.st_size))
                              : system_error(errno, "stat " + source.string());
    const Partition* root = nullptr;
    const Partition* boot = nullptr;
    if (parts) {
        for (const Partition& p : *parts) {
            Region r{fd, p.offset, p.size};
            if (!root && has_ext_superblock(r)) {
                root = &p;
            } else if (!boot && (is_fat_type(p.mbr_type) || p.gpt) && looks_like_fat(r)) {
                boot = &p;
            }
        }
    }
    Result<void> result;
    if (!parts) {
        result = parts.error();
    } else if (!root) {
        result = image_error(ImageErrc::kNoRootPartition,
                             "{}: no partition holds an ext2/3/4 filesystem", source.string());
    } else if (!boot) {
        result = image_error(ImageErrc::kNoBootPartition, "{}: no partition holds a FAT filesystem",
                             source.string());
    } else {
        core_log().info("importing {}: boot partition {} ({} MiB), root partition {} ({} MiB)",
                        source.string(), boot->number, boot->size >> 20, root->number,
                        root->size >> 20);
        TreeWriter root_out(tmp / "root", "root", report, progress, metadata);
        result =
            import_ext4(source, Region{fd, root->offset, root->size}, root_out, progress, caps);
        if (result) result = root_out.finish();
        TreeWriter boot_out(tmp / "boot", "boot", report, progress, metadata);
        if (result) result = import_fat(Region{fd, boot->offset, boot->size}, boot_out);
        if (result) result = boot_out.finish();
    }
    ::close(fd);
    return result;
}

// A directory SOURCE holding root/ (and boot/) as in <state_dir>/images/<name>/, or a bare
// root tree, whose boot tree is then empty.
Result<void> import_source_dir(const std::filesystem::path& source,
                               const std::filesystem::path& tmp, ImportReport& report,
                               Progress& progress, std::string& metadata,
                               std::vector<CapabilityFile>& caps) {
    std::error_code ec;
    bool split = std::filesystem::is_directory(source / "root", ec);
    TreeWriter root_out(tmp / "root", "root", report, progress, metadata);
    Result<void> r = import_directory(split ? source / "root" : source, "root", root_out, caps);
    if (r) r = root_out.finish();
    if (!r) return r;
    TreeWriter boot_out(tmp / "boot", "boot", report, progress, metadata);
    if (split && std::filesystem::is_directory(source / "boot", ec)) {
        r = import_directory(source / "boot", "boot", boot_out, caps);
    } else {
        EntryMeta top;
        top.type = store::FileType::kDirectory;
        top.mode = 0755;
        r = boot_out.add_dir("", top);
    }
    if (r) r = boot_out.finish();
    return r;
}

Result<ImportReport> import_into(const Config& config, const std::filesystem::path& source,
                                 std::string_view name, const ImportOptions& options,
                                 const std::filesystem::path& tmp,
                                 const std::filesystem::path& layer_tmp) {
    struct stat st;
    if (::stat(source.c_str(), &st) != 0) return system_error(errno, "stat " + source.string());
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
        return image_error(ImageErrc::kBadSource, "{} is neither a disk image file nor a directory",
                           source.string());
    }
    if (Result<void> m = store::Env::Default()->mkdir(tmp, 0700); !m) {
        return system_error(m.failure());
    }
    ImportReport report;
    Progress progress(options.progress);
    std::string metadata =
        "# rootfarm image metadata (store/image_metadata.h), written by image import\n";
    std::vector<CapabilityFile> caps;
    Result<void> r;
    if (S_ISDIR(st.st_mode)) {
        r = import_source_dir(source, tmp, report, progress, metadata, caps);
    } else {
        // .img.xz, as Raspberry Pi OS is downloaded: decompressed beside the images (a temp
        // name, removed below or by the next import if this one is killed), then read as .img.
        std::filesystem::path disk = source;
        std::filesystem::path unpacked = temp_path(images_dir(config), std::string(name) + ".img");
        int fd = ::open(source.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return system_error(errno, "open " + source.string());
        bool xz = is_xz(fd);
        ::close(fd);
        if (xz) {
            r = decompress_xz(source, unpacked, progress);
            disk = unpacked;
        }
        if (r) r = import_disk_image(disk, tmp, report, progress, metadata, caps);
        if (xz) (void)store::Env::Default()->unlink(unpacked);
    }
    progress.finish();
    if (!r) return r.error();

    std::string cap_lines;
    for (const CapabilityFile& c : caps) cap_lines += c.key + "\t" + hex(c.value) + "\n";
    std::string info =
        "# rootfarm image, for `rootfarm image list`\nsource " +
        std::filesystem::absolute(source).string() + "\nimported_at " + utc_now() + "\nfiles " +
        std::to_string(report.files) + "\ndirs " + std::to_string(report.dirs) + "\nsymlinks " +
        std::to_string(report.symlinks) + "\ndevices " + std::to_string(report.devices) +
        "\nhardlinks " + std::to_string(report.hardlinks) + "\nbytes " +
        std::to_string(report.bytes) + "\n";
    if (r = write_new_file(tmp / "metadata", metadata, 0644); !r) return r.error();
    if (r = write_new_file(tmp / "capabilities", cap_lines, 0644); !r) return r.error();
    if (r = write_new_file(tmp / "import.info", info, 0644); !r) return r.error();
    std::string layers =
        "# site layers, bottom first (store/image_index.h)\n" + std::string(name) + "-fixups\n";
    if (r = write_new_file(tmp / "layers", layers, 0644); !r) return r.error();

    auto fixups = build_fixup_layer(config, tmp, layer_tmp);
    if (!fixups) return fixups.error();
    report.fixups = std::move(*fixups);
    // The layer first: an interruption between the two renames leaves a layer without its
    // image (harmless, replaced by the next import), never an image without its fix-ups.
    if (r = publish(layer_tmp, fixup_layer_dir(config, name), true); !r) return r.error();
    if (r = publish(tmp, images_dir(config) / std::string(name), options.replace); !r) {
        return r.error();
    }
    return report;
}

}  // namespace

Result<ImportReport> import_image(const Config& config, const std::filesystem::path& source,
                                  std::string_view name, const ImportOptions& options) {
    if (!valid_image_name(name)) {
        return image_error(ImageErrc::kBadName,
                           "\"{}\" is not a valid image name (1-64 of A-Z a-z 0-9 . _ + -, not "
                           "starting with . or -)",
                           name);
    }
    std::filesystem::path images = images_dir(config), layers = layers_dir(config);
    store::Env& env = *store::Env::Default();
    Result<void> made = env.create_directories(images);
    if (made) made = env.create_directories(layers);
    if (!made) return system_error(made.failure());
    std::error_code ec;
    remove_stale_temps(images);
    remove_stale_temps(layers);
    std::filesystem::path final = images / std::string(name);
    if (std::filesystem::exists(final, ec)) {
        if (!options.replace) {
            return image_error(ImageErrc::kExists, "image {} exists (use --replace)", name);
        }
        // Replacing files under a running client would change its root under its feet.
        if (auto r = check_unused(config, name); !r) return r.error();
    }
    std::filesystem::path tmp = temp_path(images, name);
    std::filesystem::path layer_tmp = temp_path(layers, std::string(name) + "-fixups");
    Result<ImportReport> report = import_into(config, source, name, options, tmp, layer_tmp);
    (void)env.remove_all(tmp);
    (void)env.remove_all(layer_tmp);
    if (report) {
        core_log().info(
            "image {}: {} files, {} directories, {} symlinks, {} devices, {} hard links, {} bytes",
            name, report->files, report->dirs, report->symlinks, report->devices, report->hardlinks,
            report->bytes);
    }
    return report;
}

}  // namespace rootfarm::images
