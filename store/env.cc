#include "store/env.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

namespace rootfarm::store {

Error io_error(std::string_view op, const std::filesystem::path& path, int err) {
    std::string context(op);
    context += ' ';
    context += path.string();
    return Error(errno_error(err), std::move(context));
}

namespace {

class PosixEnv final : public Env {
  public:
    Result<int> open(const std::filesystem::path& path, int flags, mode_t mode) override {
        int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
        if (fd < 0) return io_error("open", path, errno);
        return fd;
    }

    Result<void> pwrite(int fd, const std::filesystem::path& path, std::string_view data,
                        uint64_t offset) override {
        size_t done = 0;
        while (done < data.size()) {
            ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done,
                                 static_cast<off_t>(offset + done));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return io_error("write", path, errno);
            done += static_cast<size_t>(n);
        }
        return {};
    }

    Result<void> fdatasync(int fd, const std::filesystem::path& path) override {
        if (::fdatasync(fd) != 0) return io_error("fdatasync", path, errno);
        return {};
    }

    Result<void> fsync(int fd, const std::filesystem::path& path) override {
        if (::fsync(fd) != 0) return io_error("fsync", path, errno);
        return {};
    }

    Result<void> ftruncate(int fd, const std::filesystem::path& path, uint64_t size) override {
        if (::ftruncate(fd, static_cast<off_t>(size)) != 0)
            return io_error("truncate", path, errno);
        return {};
    }

    Result<void> zero_range(int fd, const std::filesystem::path& path, uint64_t offset,
                            uint64_t length) override {
        if (length == 0) return {};
        // ext4, xfs, btrfs and tmpfs punch holes; elsewhere zeros are written.
        if (::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                        static_cast<off_t>(length)) == 0) {
            return {};
        }
        static const std::string zeros(1u << 16, '\0');
        while (length > 0) {
            size_t n = static_cast<size_t>(std::min<uint64_t>(length, zeros.size()));
            Result<void> w = pwrite(fd, path, std::string_view(zeros).substr(0, n), offset);
            if (!w.ok()) return w;
            offset += n;
            length -= n;
        }
        return {};
    }

    Result<void> copy_file_data(int src, int dst, const std::filesystem::path& dst_path,
                                uint64_t length) override {
        if (length == 0) return {};
        struct stat st;
        if (::fstat(src, &st) != 0) return io_error("stat source of", dst_path, errno);
        // FICLONE shares extents (btrfs, XFS): instant and no extra space. It clones the whole
        // file, so only when the whole file is wanted.
        if (static_cast<uint64_t>(st.st_size) == length && ::ioctl(dst, FICLONE, src) == 0) {
            return {};
        }
        uint64_t done = 0;
        while (done < length) {
            loff_t in = static_cast<loff_t>(done), out = static_cast<loff_t>(done);
            ssize_t n = ::copy_file_range(src, &in, dst, &out, length - done, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;  // EXDEV, ENOSYS, EOF...: finish with plain reads and writes
            done += static_cast<uint64_t>(n);
        }
        std::vector<char> buf(65536);
        while (done < length) {
            size_t want = std::min<uint64_t>(buf.size(), length - done);
            ssize_t n = ::pread(src, buf.data(), want, static_cast<off_t>(done));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return io_error("read source of", dst_path, errno);
            if (n == 0) break;  // the lower file is shorter than its attributes: the rest reads 0
            Result<void> w =
                pwrite(dst, dst_path, std::string_view(buf.data(), static_cast<size_t>(n)), done);
            if (!w.ok()) return w;
            done += static_cast<uint64_t>(n);
        }
        return {};
    }

    Result<void> rename(const std::filesystem::path& from, const std::filesystem::path& to,
                        unsigned flags) override {
        if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), flags) != 0) {
            return io_error("rename " + from.string() + " to", to, errno);
        }
        return {};
    }

    Result<void> sync_dir(const std::filesystem::path& dir) override {
        int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return io_error("open directory", dir, errno);
        int r = ::fsync(fd);
        int err = errno;
        ::close(fd);
        if (r != 0) return io_error("fsync directory", dir, err);
        return {};
    }

    Result<void> sync_filesystem(const std::filesystem::path& path) override {
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return io_error("open", path, errno);
        int r = ::syncfs(fd);
        int err = errno;
        ::close(fd);
        if (r != 0) return io_error("syncfs", path, err);
        return {};
    }

    Result<void> unlink(const std::filesystem::path& path) override {
        if (::unlink(path.c_str()) != 0) return io_error("unlink", path, errno);
        return {};
    }

    Result<void> mkdir(const std::filesystem::path& path, mode_t mode) override {
        if (::mkdir(path.c_str(), mode) != 0) return io_error("mkdir", path, errno);
        return {};
    }

    Result<void> remove_all(const std::filesystem::path& path) override {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
        if (ec) return Error(ec, "remove " + path.string());
        return {};
    }

    Result<std::string> read_file(const std::filesystem::path& path) override {
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return io_error("open", path, errno);
        std::string out;
        std::vector<char> buf(65536);
        for (;;) {
            ssize_t n = ::read(fd, buf.data(), buf.size());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                Error e = io_error("read", path, errno);
                ::close(fd);
                return e;
            }
            if (n == 0) break;
            out.append(buf.data(), static_cast<size_t>(n));
        }
        ::close(fd);
        return out;
    }
};

}  // namespace

Env* Env::Default() {
    static PosixEnv* env = new PosixEnv;  // never destroyed: used until the process exits
    return env;
}

Result<void> Env::create_directories(const std::filesystem::path& path, mode_t mode) {
    std::error_code ec;
    if (path.empty() || std::filesystem::is_directory(path, ec)) return {};
    if (path.has_parent_path() && path.parent_path() != path) {
        if (Result<void> r = create_directories(path.parent_path(), mode); !r.ok()) return r;
    }
    Result<void> r = mkdir(path, mode);
    if (!r.ok() && r.error() == std::errc::file_exists && std::filesystem::is_directory(path, ec)) {
        return {};
    }
    return r;
}

Result<void> Env::truncate(const std::filesystem::path& path, uint64_t size) {
    Result<int> fd = open(path, O_WRONLY);
    if (!fd.ok()) return fd.failure();
    Result<void> r = ftruncate(*fd, path, size);
    ::close(*fd);
    return r;
}

Result<void> Env::write_file_atomic(const std::filesystem::path& path, std::string_view data,
                                    mode_t mode) {
    std::filesystem::path tmp = path;
    tmp += ".tmp";
    Result<int> fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (!fd.ok()) return fd.failure();
    Result<void> r = pwrite(*fd, tmp, data, 0);
    if (r.ok()) r = fsync(*fd, tmp);
    ::close(*fd);
    if (r.ok()) r = rename(tmp, path);
    if (!r.ok()) {
        (void)unlink(tmp);
        return r;
    }
    return sync_dir(path.parent_path());
}

}  // namespace rootfarm::store
