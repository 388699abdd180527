#include "store/image_metadata.h"

#include <charconv>
#include <vector>

#include "core/log.h"
#include "store/env.h"
#include "store/escape.h"
#include "store/fs_util.h"

namespace rootfarm::store {

namespace {

constexpr std::string_view kTypeChars = "fdbclsp";
constexpr FileType kTypes[] = {FileType::kRegular, FileType::kDirectory, FileType::kBlock,
                               FileType::kChar,    FileType::kSymlink,   FileType::kSocket,
                               FileType::kFifo};

template <class T>
bool parse_number(std::string_view text, T& out, int base = 10) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, base);
    return ec == std::errc{} && end == text.data() + text.size();
}

}  // namespace

std::unordered_map<std::string, MetadataEntry> parse_image_metadata(std::string_view text,
                                                                    std::string_view source) {
    std::unordered_map<std::string, MetadataEntry> out;
    size_t line_no = 0;
    while (!text.empty()) {
        size_t eol = text.find('\n');
        std::string_view line = text.substr(0, eol);
        text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
        ++line_no;
        if (line.empty() || line[0] == '#') continue;
        std::vector<std::string_view> fields;
        for (;;) {
            size_t tab = line.find('\t');
            fields.push_back(line.substr(0, tab));
            if (tab == std::string_view::npos) break;
            line.remove_prefix(tab + 1);
        }
        MetadataEntry e;
        size_t type_index = fields.size() >= 2 && fields[1].size() == 1
                                ? kTypeChars.find(fields[1][0])
                                : std::string_view::npos;
        bool ok = (fields.size() == 5 || fields.size() == 7) && type_index != std::string::npos &&
                  parse_number(fields[2], e.mode, 8) && e.mode <= 07777 &&
                  parse_number(fields[3], e.uid) && parse_number(fields[4], e.gid);
        if (ok && fields.size() == 7) {
            ok = parse_number(fields[5], e.rdev_major) && parse_number(fields[6], e.rdev_minor);
        }
        std::string key = ok ? unescape_path(fields[0]) : std::string();
        if (ok && key.substr(0, 5) != "root/" && key.substr(0, 5) != "boot/" && key != "root" &&
            key != "boot") {
            ok = false;
        }
        if (!ok) {
            store_log().warn("{}:{}: malformed metadata line skipped", source, line_no);
            continue;
        }
        e.type = kTypes[type_index];
        // Device numbers belong to c and b only (mknod(2) ignores them for other types, and
        // format_metadata_line writes none): on another type's line they mean nothing.
        if (e.type != FileType::kChar && e.type != FileType::kBlock) {
            e.rdev_major = e.rdev_minor = 0;
        }
        out[std::move(key)] = e;
    }
    return out;
}

std::unordered_map<std::string, MetadataEntry> load_image_metadata(
    const std::filesystem::path& path) {
    Result<std::string> text = Env::Default()->read_file(path);
    if (!text.ok()) {
        if (text.error() != std::errc::no_such_file_or_directory) {
            store_log().warn("{}", text.message());
        }
        return {};
    }
    return parse_image_metadata(*text, path.string());
}

std::string format_metadata_line(const std::string& key, const MetadataEntry& e) {
    char mode[16];
    auto [end, ec] = std::to_chars(mode, mode + sizeof mode, e.mode, 8);
    std::string line = escape_path(key);
    line += '\t';
    for (size_t i = 0; i < std::size(kTypes); ++i) {
        if (kTypes[i] == e.type) line += kTypeChars[i];
    }
    line += '\t';
    line.append(mode, end);
    line += '\t' + std::to_string(e.uid) + '\t' + std::to_string(e.gid);
    if (e.type == FileType::kChar || e.type == FileType::kBlock) {
        line += '\t' + std::to_string(e.rdev_major) + '\t' + std::to_string(e.rdev_minor);
    }
    line += '\n';
    return line;
}

}  // namespace rootfarm::store
