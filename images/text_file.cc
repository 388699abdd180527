#include "images/text_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "images/errors.h"
#include "store/env.h"

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
    store::Env& env = *store::Env::Default();
    Result<int> fd = env.open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (!fd) return system_error(fd.failure());
    Result<void> w = env.pwrite(*fd, path, data, 0);
    if (!w) {
        ::close(*fd);
        return system_error(w.failure());
    }
    if (::close(*fd) != 0) return system_error(errno, "close " + path.string());
    return {};
}

}  // namespace rootfarm::images
