#include "tftpd/path.h"

#include <cctype>
#include <deque>

namespace rootfarm::tftpd {
namespace {

constexpr size_t kMaxComponent = 255;  // NAME_MAX
constexpr int kMaxSymlinks = 8;

std::vector<std::string> split_path(std::string_view path) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i <= path.size()) {
        size_t slash = path.find('/', i);
        if (slash == std::string_view::npos) slash = path.size();
        std::string_view part = path.substr(i, slash - i);
        if (!part.empty() && part != ".") out.emplace_back(part);
        i = slash + 1;
    }
    return out;
}

bool all_hex(std::string_view s) {
    for (char c : s) {
        if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
    }
    return true;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace

std::string RequestPath::relative() const {
    std::string out;
    for (const auto& c : components) {
        if (!out.empty()) out += '/';
        out += c;
    }
    return out;
}

Result<RequestPath> parse_request_path(std::string_view filename) {
    for (char c : filename) {
        // The decoder already cut the name at its NUL; other control characters have no place
        // in a boot file name and would end up in our logs.
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return std::errc::permission_denied;
    }
    RequestPath rp;
    rp.components = split_path(filename);
    for (const auto& c : rp.components) {
        if (c == "..") return std::errc::permission_denied;
        if (c.size() > kMaxComponent) return std::errc::filename_too_long;
    }
    if (rp.components.size() >= 2) {
        const std::string& first = rp.components.front();
        // Pi 4 TFTP_PREFIX=0 sends the 8-digit serial, a Pi 5 the low 32 bits of its 16-digit
        // one; some tools print all 16 digits, so both lengths are taken.
        if ((first.size() == 8 || first.size() == 16) && all_hex(first)) {
            rp.serial = lower(first);
        } else if (first.size() == 17 && first[2] == '-') {
            rp.mac = MacAddr::parse(first);
        }
        if (rp.serial || rp.mac) rp.components.erase(rp.components.begin());
    }
    if (rp.components.empty()) return std::errc::no_such_file_or_directory;
    return rp;
}

Result<store::ObjectId> resolve_boot_file(const store::ClientView& view,
                                          const std::vector<std::string>& components,
                                          std::string_view boot_mount) {
    // The directories from the boot root down to where we are: ".." from a link target pops
    // one, and popping the boot root itself would leave the boot view.
    std::vector<store::ObjectId> dirs{view.boot_root()};
    std::deque<std::string> todo(components.begin(), components.end());
    int links = 0;
    while (!todo.empty()) {
        std::string name = std::move(todo.front());
        todo.pop_front();
        if (name == "..") {
            if (dirs.size() == 1) return std::errc::permission_denied;
            dirs.pop_back();
            continue;
        }
        auto id = view.lookup(dirs.back(), name);
        if (!id) return id.error();
        auto attr = view.getattr(*id);
        if (!attr) return attr.error();
        if (attr->type == store::FileType::kSymlink) {
            if (++links > kMaxSymlinks) return std::errc::too_many_symbolic_link_levels;
            auto target = view.readlink(*id);
            if (!target) return target.error();
            std::string_view t = *target;
            if (!t.empty() && t.front() == '/') {
                std::string_view mount = boot_mount;
                while (!mount.empty() && mount.back() == '/') mount.remove_suffix(1);
                if (t.substr(0, mount.size()) != mount ||
                    (t.size() > mount.size() && t[mount.size()] != '/')) {
                    return std::errc::permission_denied;
                }
                t.remove_prefix(mount.size());
                dirs.resize(1);
            }
            auto parts = split_path(t);
            todo.insert(todo.begin(), parts.begin(), parts.end());
            continue;
        }
        if (!todo.empty()) {
            if (attr->type != store::FileType::kDirectory) return std::errc::not_a_directory;
            dirs.push_back(*id);
            continue;
        }
        if (attr->type == store::FileType::kRegular) return *id;
        if (attr->type == store::FileType::kDirectory) return std::errc::is_a_directory;
        return std::errc::permission_denied;
    }
    // The walk ended on a directory (the boot root, or reached through ".." or a link).
    return std::errc::is_a_directory;
}

}  // namespace rootfarm::tftpd
