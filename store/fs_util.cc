#include "store/fs_util.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>

namespace rootfarm::store {

std::error_code last_error() {
    return errno_error(errno);
}

namespace {

Result<void> write_all(int fd, std::string_view data) {
    size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return last_error();
        }
        done += static_cast<size_t>(n);
    }
    return {};
}

}  // namespace

Result<void> write_file_atomic(const std::filesystem::path& path, std::string_view data) {
    std::filesystem::path tmp = path;
    tmp += ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return last_error();
    Result<void> r = write_all(fd, data);
    if (r.ok() && ::fsync(fd) != 0) r = last_error();
    ::close(fd);
    if (r.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) r = last_error();
    if (!r.ok()) {
        ::unlink(tmp.c_str());
        return r;
    }
    return fsync_dir(path.parent_path());
}

Result<std::string> read_whole_file(const std::filesystem::path& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return last_error();
    std::string out;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            std::error_code ec = last_error();
            ::close(fd);
            return ec;
        }
        if (n == 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
}

Result<void> fsync_dir(const std::filesystem::path& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return last_error();
    int r = ::fsync(fd);
    std::error_code ec = r != 0 ? last_error() : std::error_code{};
    ::close(fd);
    if (ec) return ec;
    return {};
}

std::string random_bytes(size_t n) {
    std::string out(n, '\0');
    size_t done = 0;
    while (done < n) {
        ssize_t r = ::getrandom(out.data() + done, n - done, 0);
        if (r > 0) done += static_cast<size_t>(r);
    }
    return out;
}

Time now() {
    timespec ts;
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return Time{ts.tv_sec, static_cast<uint32_t>(ts.tv_nsec)};
}

Result<void> copy_file_data(int src, int dst, uint64_t length) {
    if (length == 0) return {};
    struct stat st;
    if (::fstat(src, &st) != 0) return last_error();
    // FICLONE shares extents (btrfs, XFS): instant and no extra space. It clones the whole
    // file, so only when the whole file is wanted; the size is then cut to `length`.
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
    char buf[65536];
    while (done < length) {
        size_t want = std::min<uint64_t>(sizeof buf, length - done);
        ssize_t n = ::pread(src, buf, want, static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return last_error();
        if (n == 0) break;  // the lower file is shorter than its attributes: the rest reads 0
        ssize_t w = ::pwrite(dst, buf, static_cast<size_t>(n), static_cast<off_t>(done));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return last_error();
        done += static_cast<uint64_t>(w);
    }
    return {};
}

}  // namespace rootfarm::store
