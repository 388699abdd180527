#include "images/tree_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "images/errors.h"
#include "store/env.h"
#include "store/image_metadata.h"

namespace rootfarm::images {

namespace {

// Modes of the backing files. Setuid/setgid/sticky stay in the metadata only: a setuid binary
// owned by the importing user must not appear on the server. Owner read (and, for directories,
// write and search) is added so the server can read the tree and `image rm` can delete it.
constexpr mode_t kFileDiskBits = 0400;
constexpr mode_t kDirDiskBits = 0700;

std::error_code fail(const std::filesystem::path& path, std::string_view what) {
    return system_error(errno, std::string(what) + " " + path.string());
}

}  // namespace

Result<void> FileOut::write_at(uint64_t offset, std::span<const uint8_t> data) {
    std::string_view bytes(reinterpret_cast<const char*>(data.data()), data.size());
    if (Result<void> r = store::Env::Default()->pwrite(fd_, path_, bytes, offset); !r) {
        return system_error(r.failure());
    }
    report_.bytes += data.size();
    progress_.add_bytes(data.size());
    return {};
}

TreeWriter::TreeWriter(std::filesystem::path dir, std::string tree, ImportReport& report,
                       Progress& progress, std::string& metadata)
    : dir_(std::move(dir)),
      tree_(std::move(tree)),
      report_(report),
      progress_(progress),
      metadata_(metadata) {}

std::filesystem::path TreeWriter::path_of(const std::string& rel) const {
    return rel.empty() ? dir_ : dir_ / rel;
}

void TreeWriter::record(const std::string& rel, const EntryMeta& meta) {
    store::MetadataEntry e{meta.type, meta.mode & 07777, meta.uid,
                           meta.gid,  meta.rdev_major,   meta.rdev_minor};
    metadata_ += store::format_metadata_line(rel.empty() ? tree_ : tree_ + "/" + rel, e);
}

Result<void> TreeWriter::add_dir(const std::string& rel, const EntryMeta& meta) {
    std::filesystem::path path = path_of(rel);
    // Owner-only while importing: the final mode is set by finish(), after the children.
    if (Result<void> r = store::Env::Default()->mkdir(path, 0700); !r) {
        return system_error(r.failure());
    }
    record(rel, meta);
    dirs_.emplace_back(rel, meta);
    ++report_.dirs;
    return {};
}

Result<void> TreeWriter::add_file(const std::string& rel, const EntryMeta& meta, uint64_t size,
                                  const Filler& fill) {
    std::filesystem::path path = path_of(rel);
    store::Env& env = *store::Env::Default();
    Result<int> opened = env.open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    if (!opened) return system_error(opened.failure());
    int fd = *opened;
    FileOut out(fd, path, report_, progress_);
    Result<void> r = fill(out);
    if (r) {
        if (Result<void> t = env.ftruncate(fd, path, size); !t) r = system_error(t.failure());
    }
    if (r && ::fchmod(fd, (meta.mode & 0777) | kFileDiskBits) != 0) r = fail(path, "chmod");
    timespec times[2] = {meta.atime, meta.mtime};
    if (r && ::futimens(fd, times) != 0) r = fail(path, "set times of");
    ::close(fd);
    if (!r) return r;
    record(rel, meta);
    ++report_.files;
    progress_.add_file();
    return {};
}

Result<void> TreeWriter::add_symlink(const std::string& rel, const std::string& target,
                                     const EntryMeta& meta) {
    std::filesystem::path path = path_of(rel);
    if (::symlink(target.c_str(), path.c_str()) != 0) return fail(path, "symlink");
    timespec times[2] = {meta.atime, meta.mtime};
    if (::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
        return fail(path, "set times of");
    }
    record(rel, meta);
    ++report_.symlinks;
    progress_.add_file();
    return {};
}

Result<void> TreeWriter::add_hardlink(const std::string& rel, const std::string& existing,
                                      const EntryMeta& meta) {
    std::filesystem::path path = path_of(rel);
    if (::link(path_of(existing).c_str(), path.c_str()) != 0) return fail(path, "link");
    record(rel, meta);
    ++report_.hardlinks;
    progress_.add_file();
    return {};
}

Result<void> TreeWriter::add_special(const std::string& rel, const EntryMeta& meta) {
    // image_metadata.h: an empty regular placeholder becomes the device, fifo or socket.
    std::filesystem::path path = path_of(rel);
    Result<int> opened =
        store::Env::Default()->open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    if (!opened) return system_error(opened.failure());
    int fd = *opened;
    timespec times[2] = {meta.atime, meta.mtime};
    Result<void> r;
    if (::futimens(fd, times) != 0) r = fail(path, "set times of");
    ::close(fd);
    if (!r) return r;
    record(rel, meta);
    ++report_.devices;
    progress_.add_file();
    return {};
}

Result<void> TreeWriter::finish() {
    // Children were added after their parents, so reverse order is deepest first: setting a
    // directory's mtime after its last entry keeps it.
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
        std::filesystem::path path = path_of(it->first);
        if (::chmod(path.c_str(), (it->second.mode & 0777) | kDirDiskBits) != 0) {
            return fail(path, "chmod");
        }
        timespec times[2] = {it->second.atime, it->second.mtime};
        if (::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
            return fail(path, "set times of");
        }
    }
    dirs_.clear();
    return {};
}

}  // namespace rootfarm::images
