#pragma once

// Helpers for the image tests: a temporary directory and disk images built the way a user's
// Raspberry Pi OS image is laid out (MBR, FAT boot partition, ext4 root), with the standard
// tools (mkfs.vfat + mtools, mkfs.ext4 -d + debugfs, sfdisk) and without root.

#include <filesystem>
#include <string>
#include <vector>

namespace rootfarm::images::testing {

class TempDir {
  public:
    TempDir();
    ~TempDir();
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

// Runs a shell command; its exit status (0 = success). Output goes to the test log.
int sh(const std::string& command);

void write_file(const std::filesystem::path& path, std::string_view data);
std::string read_file(const std::filesystem::path& path);

// A FAT image file of `kib` KiB made by mkfs.vfat with `fat_bits` (12, 16 or 32), holding the
// boot files of a Pi: config.txt, cmdline.txt, a long file name, overlays/ with a file.
// Returns false if a tool failed.
bool make_fat(const std::filesystem::path& file, int fat_bits, int kib);
// The files make_fat writes: path -> content.
std::vector<std::pair<std::string, std::string>> fat_files();

// Places partition images into a new MBR disk image `disk` with sfdisk and dd: each part is
// (image file, MBR type), aligned to 1 MiB. With `gpt`, a GPT instead (types are sfdisk's GPT
// type names or GUIDs). Returns false if a tool failed.
bool make_disk(const std::filesystem::path& disk,
               const std::vector<std::pair<std::filesystem::path, std::string>>& parts,
               bool gpt = false);

// The byte offset make_disk gave partition `index` (0-based) of those parts.
uint64_t partition_offset(const std::vector<std::pair<std::filesystem::path, std::string>>& parts,
                          size_t index);

}  // namespace rootfarm::images::testing
