#include "images/dir_import.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <memory>

#include "images/errors.h"

namespace rootfarm::images {

namespace {

constexpr size_t kChunk = 1 << 20;

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

EntryMeta meta_of(const struct stat& st) {
    EntryMeta meta;
    switch (st.st_mode & S_IFMT) {
        case S_IFDIR:
            meta.type = store::FileType::kDirectory;
            break;
        case S_IFLNK:
            meta.type = store::FileType::kSymlink;
            break;
        case S_IFCHR:
            meta.type = store::FileType::kChar;
            break;
        case S_IFBLK:
            meta.type = store::FileType::kBlock;
            break;
        case S_IFIFO:
            meta.type = store::FileType::kFifo;
            break;
        case S_IFSOCK:
            meta.type = store::FileType::kSocket;
            break;
        default:
            meta.type = store::FileType::kRegular;
            break;
    }
    meta.mode = st.st_mode & 07777;
    meta.uid = st.st_uid;
    meta.gid = st.st_gid;
    meta.rdev_major = major(st.st_rdev);
    meta.rdev_minor = minor(st.st_rdev);
    meta.atime = st.st_atim;
    meta.mtime = st.st_mtim;
    return meta;
}

// Copies the data extents only (SEEK_DATA / SEEK_HOLE), so holes stay holes.
Result<void> copy_data(const std::filesystem::path& path, uint64_t size, FileOut& sink) {
    Fd in{::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)};
    if (in.fd < 0) return system_error(errno, "open " + path.string());
    std::vector<uint8_t> buf(kChunk);
    off_t pos = 0;
    while (static_cast<uint64_t>(pos) < size) {
        off_t data = ::lseek(in.fd, pos, SEEK_DATA);
        if (data < 0) {
            if (errno == ENXIO) break;  // only a hole remains
            return system_error(errno, "seek in " + path.string());
        }
        off_t hole = ::lseek(in.fd, data, SEEK_HOLE);
        if (hole < 0) return system_error(errno, "seek in " + path.string());
        hole = std::min<off_t>(hole, static_cast<off_t>(size));
        for (pos = data; pos < hole;) {
            size_t want = static_cast<size_t>(std::min<off_t>(hole - pos, kChunk));
            ssize_t n = ::pread(in.fd, buf.data(), want, pos);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return system_error(errno, "read " + path.string());
            if (n == 0) return {};  // the file shrank while we read it
            auto r = sink.write_at(static_cast<uint64_t>(pos),
                                   std::span<const uint8_t>(buf.data(), static_cast<size_t>(n)));
            if (!r) return r;
            pos += n;
        }
    }
    return {};
}

}  // namespace

Result<void> import_directory(const std::filesystem::path& source, const std::string& tree,
                              TreeWriter& out, std::vector<CapabilityFile>& caps) {
    struct stat st;
    if (::lstat(source.c_str(), &st) != 0) return system_error(errno, "stat " + source.string());
    if (!S_ISDIR(st.st_mode)) {
        return image_error(ImageErrc::kBadSource, "{} is not a directory", source.string());
    }
    if (auto r = out.add_dir("", meta_of(st)); !r) return r;
    std::map<std::pair<dev_t, ino_t>, std::string> links;
    std::vector<std::string> stack{""};
    while (!stack.empty()) {
        std::string rel = std::move(stack.back());
        stack.pop_back();
        std::filesystem::path dir = rel.empty() ? source : source / rel;
        std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
        if (!d) return system_error(errno, "open directory " + dir.string());
        std::vector<std::string> names;
        while (dirent* de = ::readdir(d.get())) {
            std::string_view n = de->d_name;
            if (n != "." && n != "..") names.emplace_back(n);
        }
        for (const std::string& name : names) {
            std::string path = rel.empty() ? name : rel + "/" + name;
            std::filesystem::path full = source / path;
            if (::lstat(full.c_str(), &st) != 0)
                return system_error(errno, "stat " + full.string());
            EntryMeta meta = meta_of(st);
            Result<void> r;
            if (S_ISDIR(st.st_mode)) {
                r = out.add_dir(path, meta);
                stack.push_back(path);
            } else if (st.st_nlink > 1 && links.count({st.st_dev, st.st_ino})) {
                r = out.add_hardlink(path, links[{st.st_dev, st.st_ino}], meta);
            } else {
                if (st.st_nlink > 1) links[{st.st_dev, st.st_ino}] = path;
                if (S_ISREG(st.st_mode)) {
                    char value[64];
                    ssize_t n =
                        ::lgetxattr(full.c_str(), "security.capability", value, sizeof value);
                    if (n > 0) caps.push_back({tree + "/" + path, std::string(value, n)});
                    uint64_t size = static_cast<uint64_t>(st.st_size);
                    r = out.add_file(path, meta, size,
                                     [&](FileOut& sink) { return copy_data(full, size, sink); });
                } else if (S_ISLNK(st.st_mode)) {
                    std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
                    ssize_t n = ::readlink(full.c_str(), target.data(), target.size());
                    if (n < 0) return system_error(errno, "readlink " + full.string());
                    target.resize(static_cast<size_t>(n));
                    r = out.add_symlink(path, target, meta);
                } else {
                    r = out.add_special(path, meta);
                }
            }
            if (!r) return r;
        }
    }
    return {};
}

}  // namespace rootfarm::images
