#include "images/test_util.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

namespace rootfarm::images::testing {

namespace {

constexpr uint64_t kAlign = 1 << 20;

uint64_t aligned_size(const std::filesystem::path& p) {
    uint64_t size = std::filesystem::file_size(p);
    return (size + kAlign - 1) / kAlign * kAlign;
}

}  // namespace

TempDir::TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "rootfarm-images-XXXXXX");
    path_ = ::mkdtemp(tmpl.data());
    // Reachable by the unprivileged user some tests switch to.
    ::chmod(path_.c_str(), 0755);
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

int sh(const std::string& command) {
    int status = std::system(("set -e; " + command).c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

void write_file(const std::filesystem::path& path, std::string_view data) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << data;
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<std::pair<std::string, std::string>> fat_files() {
    std::string big;
    for (int i = 0; i < 3000; ++i) big += "kernel block " + std::to_string(i) + "\n";
    return {
        {"config.txt", "arm_64bit=1\ndtoverlay=vc4-kms-v3d\n"},
        {"cmdline.txt", "console=serial0,115200 root=PARTUUID=1234abcd-02 rootwait\n"},
        {"A long file name, with spaces.dat", "long name content\n"},
        {"kernel8.img", big},
        {"overlays/vc4-kms-v3d.dtbo", "overlay bytes"},
        {"overlays/README", "read me\n"},
    };
}

bool make_fat(const std::filesystem::path& file, int fat_bits, int kib) {
    std::filesystem::path src = file.string() + ".src";
    for (const auto& [path, content] : fat_files()) write_file(src / path, content);
    // One sector per cluster keeps a small volume above FAT32's 65525-cluster minimum.
    std::string cmd = "rm -f '" + file.string() + "'; mkfs.vfat -F " + std::to_string(fat_bits) +
                      " -S 512 -s 1 -n BOOTFS -C '" + file.string() + "' " + std::to_string(kib) +
                      " >/dev/null && mcopy -s -Q -i '" + file.string() + "' '" + src.string() +
                      "'/* ::/";
    int rc = sh(cmd);
    std::filesystem::remove_all(src);
    return rc == 0;
}

uint64_t partition_offset(const std::vector<std::pair<std::filesystem::path, std::string>>& parts,
                          size_t index) {
    uint64_t offset = kAlign;
    for (size_t i = 0; i < index; ++i) offset += aligned_size(parts[i].first);
    return offset;
}

bool make_disk(const std::filesystem::path& disk,
               const std::vector<std::pair<std::filesystem::path, std::string>>& parts, bool gpt) {
    std::string script = gpt ? "label: gpt\n" : "label: dos\n";
    for (size_t i = 0; i < parts.size(); ++i) {
        script += "start=" + std::to_string(partition_offset(parts, i) / 512) +
                  ", size=" + std::to_string(aligned_size(parts[i].first) / 512) +
                  ", type=" + parts[i].second + "\n";
    }
    // GPT keeps a backup table in the disk's last sectors.
    uint64_t total = partition_offset(parts, parts.size()) + (gpt ? kAlign : 0);
    std::string cmd = "rm -f '" + disk.string() + "'; truncate -s " + std::to_string(total) + " '" +
                      disk.string() + "'; printf '" + script + "' | sfdisk -q '" + disk.string() +
                      "' >/dev/null";
    for (size_t i = 0; i < parts.size(); ++i) {
        cmd += "; dd if='" + parts[i].first.string() + "' of='" + disk.string() +
               "' bs=1M seek=" + std::to_string(partition_offset(parts, i) / kAlign) +
               " conv=notrunc,sparse status=none";
    }
    return sh(cmd) == 0;
}

}  // namespace rootfarm::images::testing
