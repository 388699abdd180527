#include "images/text_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "images/errors.h"

namespace rootfarm::images {

std::vector<std::string_view> split_lines(std::string_view text) {
    std::vector<std::string_view> out;
    while (!text.empty()) {
        size_t eol = text.find('\n');
        out.push_back(text.substr(0, eol));
        text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    }
    return out;
}

Result<void> write_new_file(const std::filesystem::path& path, std::string_view data, mode_t mode) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) return system_error(errno, "create " + path.string());
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int err = n < 0 ? errno : EIO;
            ::close(fd);
            return system_error(err, "write " + path.string());
        }
        data.remove_prefix(static_cast<size_t>(n));
    }
    if (::close(fd) != 0) return system_error(errno, "close " + path.string());
    return {};
}

}  // namespace rootfarm::images
