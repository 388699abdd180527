#pragma once

// Writes one tree of an image ("root" or "boot") as plain files owned by the importing user,
// and the metadata lines (store/image_metadata.h) for what the files cannot carry. Never calls
// chown or mknod: an import needs no privilege.

#include <ctime>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"
#include "images/import.h"
#include "images/progress.h"
#include "store/store.h"

namespace rootfarm::images {

struct EntryMeta {
    store::FileType type = store::FileType::kRegular;
    uint32_t mode = 0;  // 07777
    uint32_t uid = 0, gid = 0;
    uint32_t rdev_major = 0, rdev_minor = 0;
    timespec atime{}, mtime{};
};

// Receives a regular file's data; offsets not written stay holes.
class FileOut {
  public:
    FileOut(int fd, std::filesystem::path path, ImportReport& report, Progress& progress)
        : fd_(fd), path_(std::move(path)), report_(report), progress_(progress) {}
    Result<void> write_at(uint64_t offset, std::span<const uint8_t> data);
    int fd() const { return fd_; }

  private:
    int fd_;
    std::filesystem::path path_;
    ImportReport& report_;
    Progress& progress_;
};

class TreeWriter {
  public:
    // `dir` is created by add_dir(""); `tree` is the metadata key prefix ("root" or "boot").
    TreeWriter(std::filesystem::path dir, std::string tree, ImportReport& report,
               Progress& progress, std::string& metadata);

    // `rel` is a relative path of validated components; "" is the tree's top directory.
    Result<void> add_dir(const std::string& rel, const EntryMeta& meta);
    using Filler = std::function<Result<void>(FileOut&)>;
    // Creates the file, lets `fill` write its data, then sets its size (a trailing hole stays
    // a hole), mode and times.
    Result<void> add_file(const std::string& rel, const EntryMeta& meta, uint64_t size,
                          const Filler& fill);
    Result<void> add_symlink(const std::string& rel, const std::string& target,
                             const EntryMeta& meta);
    // A further name of the file already written as `existing`.
    Result<void> add_hardlink(const std::string& rel, const std::string& existing,
                              const EntryMeta& meta);
    // A device, fifo or socket: an empty placeholder file plus its metadata line.
    Result<void> add_special(const std::string& rel, const EntryMeta& meta);
    // Sets the directories' final modes and times, deepest first.
    Result<void> finish();

  private:
    std::filesystem::path path_of(const std::string& rel) const;
    void record(const std::string& rel, const EntryMeta& meta);

    std::filesystem::path dir_;
    std::string tree_;
    ImportReport& report_;
    Progress& progress_;
    std::string& metadata_;
    std::vector<std::pair<std::string, EntryMeta>> dirs_;
};

}  // namespace rootfarm::images
