#include "store/id_map.h"

#include <charconv>
#include <cstring>
#include <map>

#include "store/escape.h"
#include "store/fs_util.h"

namespace rootfarm::store {

Result<IdMap> IdMap::load(Env& env, const std::filesystem::path& path) {
    IdMap map;
    Result<std::string> data = env.read_file(path);
    if (!data.ok()) {
        if (data.error() != std::errc::no_such_file_or_directory) return data.failure();
        std::string r = random_bytes(4);
        std::memcpy(&map.generation_, r.data(), 4);
        map.dirty_ = true;
        return map;
    }
    std::string_view rest = *data;
    bool header = true;
    int version = 2;
    while (!rest.empty()) {
        size_t eol = rest.find('\n');
        if (eol == std::string_view::npos) break;  // a torn last line: the file is rewritten
        std::string_view line = rest.substr(0, eol);
        rest.remove_prefix(eol + 1);
        if (header) {
            constexpr std::string_view kPrefix = "rootfarm-ids ";
            if (line.substr(0, kPrefix.size()) != kPrefix) return errno_error(EIO);
            line.remove_prefix(kPrefix.size());
            if (line.starts_with("1 ")) {
                version = 1;
            } else if (!line.starts_with("2 ")) {
                return errno_error(EIO);
            }
            line.remove_prefix(2);
            if (std::from_chars(line.data(), line.data() + line.size(), map.generation_).ec !=
                std::errc{}) {
                return errno_error(EIO);
            }
            header = false;
            continue;
        }
        size_t space = line.find(' ');
        ObjectId id = 0;
        if (space == std::string_view::npos ||
            std::from_chars(line.data(), line.data() + space, id).ec != std::errc{} || id == 0 ||
            id >= kFirstClientId) {
            return errno_error(EIO);
        }
        Entry e{id, 0};
        line.remove_prefix(space + 1);
        if (version >= 2) {
            // "<type> <key>": a single digit, a FileType or 0 (unknown, see save()).
            if (line.size() < 2 || line[1] != ' ' || line[0] < '0' || line[0] > '7') {
                return errno_error(EIO);
            }
            e.type = static_cast<uint8_t>(line[0] - '0');
            line.remove_prefix(2);
        }
        map.ids_[unescape_path(line)] = e;
        map.next_ = std::max(map.next_, id + 1);
    }
    if (header) return errno_error(EIO);
    return map;
}

ObjectId IdMap::get(const std::string& key, FileType type) {
    const auto t = static_cast<uint8_t>(type);
    auto [it, inserted] = ids_.try_emplace(key, Entry{next_, t});
    if (inserted) {
        ++next_;
        dirty_ = true;
    } else if (it->second.type != t) {
        // A path that changed type is a new object: its old id's handles and delta changes
        // belong to what it was. Unknown (version 1) entries just learn their type.
        if (it->second.type != 0) it->second.id = next_++;
        it->second.type = t;
        dirty_ = true;
    }
    return it->second.id;
}

ObjectId IdMap::find(const std::string& key) const {
    auto it = ids_.find(key);
    return it == ids_.end() ? 0 : it->second.id;
}

void IdMap::alias(const std::string& key, ObjectId id, FileType type) {
    const auto t = static_cast<uint8_t>(type);
    Entry& e = ids_[key];
    if (e.id == id && e.type == t) return;
    e = Entry{id, t};
    dirty_ = true;
}

Result<void> IdMap::save(Env& env, const std::filesystem::path& path) {
    // Sorted by id, so the file reads in the order the image was first walked.
    std::map<ObjectId, std::vector<std::pair<const std::string*, uint8_t>>> by_id;
    for (const auto& [key, e] : ids_) by_id[e.id].emplace_back(&key, e.type);
    std::string out = "rootfarm-ids 2 " + std::to_string(generation_) + "\n";
    for (const auto& [id, keys] : by_id) {
        for (const auto& [key, type] : keys) {
            out += std::to_string(id);
            out += ' ';
            // 0: a version 1 entry not met in the image since; its type is still unknown.
            out += static_cast<char>('0' + type);
            out += ' ';
            out += escape_path(*key);
            out += '\n';
        }
    }
    Result<void> r = env.write_file_atomic(path, out);
    if (r.ok()) dirty_ = false;
    return r;
}

}  // namespace rootfarm::store
