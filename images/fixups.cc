#include "images/fixups.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

#include "images/catalog.h"
#include "images/errors.h"
#include "images/import.h"
#include "images/le.h"
#include "images/text_file.h"
#include "store/env.h"
#include "store/image_metadata.h"

namespace rootfarm::images {

namespace {

// linux/capability.h, in bit order.
constexpr const char* kCapNames[] = {"chown",
                                     "dac_override",
                                     "dac_read_search",
                                     "fowner",
                                     "fsetid",
                                     "kill",
                                     "setgid",
                                     "setuid",
                                     "setpcap",
                                     "linux_immutable",
                                     "net_bind_service",
                                     "net_broadcast",
                                     "net_admin",
                                     "net_raw",
                                     "ipc_lock",
                                     "ipc_owner",
                                     "sys_module",
                                     "sys_rawio",
                                     "sys_chroot",
                                     "sys_ptrace",
                                     "sys_pacct",
                                     "sys_admin",
                                     "sys_boot",
                                     "sys_nice",
                                     "sys_resource",
                                     "sys_time",
                                     "sys_tty_config",
                                     "mknod",
                                     "lease",
                                     "audit_write",
                                     "audit_control",
                                     "setfcap",
                                     "mac_override",
                                     "mac_admin",
                                     "syslog",
                                     "wake_alarm",
                                     "block_suspend",
                                     "audit_read",
                                     "perfmon",
                                     "bpf",
                                     "checkpoint_restore"};
constexpr uint32_t kCapRevisionMask = 0xff000000;
constexpr uint32_t kCapEffective = 0x000001;

std::vector<std::string_view> split_fields(std::string_view line) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
        if (i > start) out.push_back(line.substr(start, i - start));
    }
    return out;
}

bool is_sd_card_mount(std::string_view line) {
    std::vector<std::string_view> f = split_fields(line);
    if (f.size() < 2 || f[0].starts_with("#")) return false;
    bool sd = f[0].starts_with("PARTUUID=") || f[0].starts_with("LABEL=") ||
              f[0].starts_with("/dev/mmcblk");
    bool ours = f[1] == "/" || f[1] == "/boot" || f[1].starts_with("/boot/");
    return sd && ours;
}

// A regular file of the image tree, not followed through symlinks: a hostile image could
// point etc/fstab at the server's own files.
Result<std::string> read_image_file(const std::filesystem::path& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return errno_error(errno);
    ::close(fd);
    return store::Env::Default()->read_file(path);
}

// A layer file, with the directories above it.
Result<void> write_file(const std::filesystem::path& path, std::string_view data, mode_t mode) {
    if (Result<void> r = store::Env::Default()->create_directories(path.parent_path()); !r) {
        return system_error(r.failure());
    }
    return write_new_file(path, data, mode);
}

std::vector<std::pair<std::string, std::string>> load_capabilities(
    const std::filesystem::path& path) {
    std::vector<std::pair<std::string, std::string>> out;
    Result<std::string> text = store::Env::Default()->read_file(path);
    if (!text) return out;
    for (std::string_view line : split_lines(*text)) {
        size_t tab = line.rfind('\t');
        if (tab == std::string_view::npos) continue;
        std::string value;
        std::string_view hex = line.substr(tab + 1);
        for (size_t i = 0; i + 1 < hex.size(); i += 2) {
            unsigned byte = 0;
            std::from_chars(hex.data() + i, hex.data() + i + 2, byte, 16);
            value += static_cast<char>(byte);
        }
        out.emplace_back(std::string(line.substr(0, tab)), std::move(value));
    }
    return out;
}

void note(std::vector<std::string>& fixups, std::string line) {
    core_log().info("fix-up: {}", line);
    fixups.push_back(std::move(line));
}

}  // namespace

std::string describe_capability(std::string_view xattr) {
    if (xattr.size() < 12) return "?";
    auto* p = reinterpret_cast<const uint8_t*>(xattr.data());
    uint32_t magic = le32(p);
    uint64_t permitted = le32(p + 4);
    if ((magic & kCapRevisionMask) != 0x01000000) {
        if (xattr.size() < 20) return "?";
        permitted |= static_cast<uint64_t>(le32(p + 12)) << 32;
    }
    std::string out;
    for (size_t bit = 0; bit < 64; ++bit) {
        if (!(permitted >> bit & 1)) continue;
        if (!out.empty()) out += ',';
        out += bit < std::size(kCapNames) ? std::string("cap_") + kCapNames[bit]
                                          : "cap_" + std::to_string(bit);
    }
    return out + ((magic & kCapEffective) ? "=ep" : "=p");
}

std::string strip_sd_card_mounts(std::string_view fstab, std::vector<std::string>& removed) {
    std::string out;
    while (!fstab.empty()) {
        size_t eol = fstab.find('\n');
        std::string_view line =
            fstab.substr(0, eol == std::string_view::npos ? fstab.size() : eol + 1);
        fstab.remove_prefix(line.size());
        std::string_view bare = line.substr(0, line.find('\n'));
        if (is_sd_card_mount(bare)) {
            removed.emplace_back(bare);
        } else {
            out += line;
        }
    }
    return out;
}

Result<std::vector<std::string>> build_fixup_layer(const Config& config,
                                                   const std::filesystem::path& image_dir,
                                                   const std::filesystem::path& layer_dir) {
    std::vector<std::string> fixups;
    std::string metadata = "# rootfarm fix-up layer: owner and mode of the files below\n";
    if (Result<void> r = store::Env::Default()->mkdir(layer_dir, 0755); !r) {
        return system_error(r.failure());
    }
    auto image_meta = store::load_image_metadata(image_dir / "metadata");
    auto meta_or = [&](const std::string& key, store::MetadataEntry fallback) {
        auto it = image_meta.find(key);
        return it != image_meta.end() ? it->second : fallback;
    };

    Result<std::string> fstab = read_image_file(image_dir / "root/etc/fstab");
    if (fstab) {
        std::vector<std::string> removed;
        std::string text = strip_sd_card_mounts(*fstab, removed);
        if (!removed.empty()) {
            store::MetadataEntry e = meta_or("root/etc/fstab", {store::FileType::kRegular, 0644});
            if (auto r = write_file(layer_dir / "root/etc/fstab", text, (e.mode & 0777) | 0400);
                !r) {
                return r.error();
            }
            metadata += store::format_metadata_line("root/etc/fstab", e);
            for (const std::string& line : removed) {
                note(fixups, "/etc/fstab: removed \"" + line + "\" (root and boot come over NFS)");
            }
        }
    } else {
        core_log().warn("image has no regular /etc/fstab; no fstab fix-up");
    }

    std::error_code ec;
    std::string boot_mount = std::filesystem::is_directory(image_dir / "root/boot/firmware", ec)
                                 ? "/boot/firmware"
                                 : "/boot";
    note(fixups, "boot partition served at " + config.store.boot_mount +
                     " (the image expects it at " + boot_mount + ")");
    if (boot_mount != config.store.boot_mount) {
        core_log().warn("[store] boot_mount is {} but this image mounts its boot partition at {}",
                        config.store.boot_mount, boot_mount);
    }

    if (config.image.enable_ssh) {
        if (auto r = write_file(layer_dir / "boot/ssh", "", 0755); !r) return r.error();
        metadata += store::format_metadata_line("boot/ssh", {store::FileType::kRegular, 0755});
        note(fixups, "boot/ssh: created, sshd starts on first boot ([image] enable_ssh)");
    }

    for (const auto& [key, value] : load_capabilities(image_dir / "capabilities")) {
        std::string caps = describe_capability(value);
        if (!config.image.setcap_fallback) {
            note(fixups, "/" + key.substr(5) + " has file capabilities " + caps +
                             ", which NFS does not carry ([image] setcap_fallback = true makes it "
                             "setuid root)");
            continue;
        }
        // File capabilities live in an xattr NFSv3 cannot transport, so the binary would run
        // without them (ping: "Operation not permitted"). Setuid root is what such binaries
        // were before capabilities (e.g. Debian's iputils-ping falls back to it when setcap
        // fails) and the mode bits do cross NFS. A layer's metadata may set attributes of an
        // image file it does not hold (store/image_index.h), so no copy is needed.
        store::MetadataEntry e = meta_or(key, {store::FileType::kRegular, 0755});
        if (e.type != store::FileType::kRegular) continue;
        e.mode |= 04000;
        e.uid = 0;
        metadata += store::format_metadata_line(key, e);
        note(fixups, "/" + key.substr(5) + ": setuid root instead of file capabilities " + caps);
    }
    if (auto r = write_file(layer_dir / "metadata", metadata, 0644); !r) return r.error();
    return fixups;
}

Result<std::vector<std::string>> write_fixup_layer(const Config& config, std::string_view name) {
    if (!valid_image_name(name)) return image_error(ImageErrc::kBadName, "bad image name");
    std::filesystem::path image = images_dir(config) / std::string(name);
    std::error_code ec;
    if (!std::filesystem::is_directory(image, ec)) {
        return image_error(ImageErrc::kNotFound, "no image {}", name);
    }
    if (Result<void> made = store::Env::Default()->create_directories(layers_dir(config)); !made) {
        return system_error(made.failure());
    }
    std::filesystem::path tmp = temp_path(layers_dir(config), std::string(name) + "-fixups");
    auto fixups = build_fixup_layer(config, image, tmp);
    Result<void> r = fixups ? publish(tmp, fixup_layer_dir(config, name), true) : fixups.error();
    if (!r) {
        (void)store::Env::Default()->remove_all(tmp);
        return r.error();
    }
    return fixups;
}

}  // namespace rootfarm::images
