#include "store/id_map.h"

#include <charconv>
#include <cstring>
#include <map>

#include "store/escape.h"
#include "store/fs_util.h"

namespace rootfarm::store {

Result<IdMap> IdMap::load(const std::filesystem::path& path) {
    IdMap map;
    Result<std::string> data = read_whole_file(path);
    if (!data.ok()) {
        if (data.error() != std::errc::no_such_file_or_directory) return data.error();
        std::string r = random_bytes(4);
        std::memcpy(&map.generation_, r.data(), 4);
        map.dirty_ = true;
        return map;
    }
    std::string_view rest = *data;
    bool header = true;
    while (!rest.empty()) {
        size_t eol = rest.find('\n');
        if (eol == std::string_view::npos) break;  // a torn last line: the file is rewritten
        std::string_view line = rest.substr(0, eol);
        rest.remove_prefix(eol + 1);
        if (header) {
            constexpr std::string_view kPrefix = "rootfarm-ids 1 ";
            if (line.substr(0, kPrefix.size()) != kPrefix) return errno_error(EIO);
            line.remove_prefix(kPrefix.size());
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
        map.ids_[unescape_path(line.substr(space + 1))] = id;
        map.next_ = std::max(map.next_, id + 1);
    }
    if (header) return errno_error(EIO);
    return map;
}

ObjectId IdMap::get(const std::string& key) {
    auto [it, inserted] = ids_.try_emplace(key, next_);
    if (inserted) {
        ++next_;
        dirty_ = true;
    }
    return it->second;
}

ObjectId IdMap::find(const std::string& key) const {
    auto it = ids_.find(key);
    return it == ids_.end() ? 0 : it->second;
}

void IdMap::alias(const std::string& key, ObjectId id) {
    auto [it, inserted] = ids_.try_emplace(key, id);
    if (inserted) dirty_ = true;
}

Result<void> IdMap::save(const std::filesystem::path& path) {
    // Sorted by id, so the file reads in the order the image was first walked.
    std::map<ObjectId, std::vector<const std::string*>> by_id;
    for (const auto& [key, id] : ids_) by_id[id].push_back(&key);
    std::string out = "rootfarm-ids 1 " + std::to_string(generation_) + "\n";
    for (const auto& [id, keys] : by_id) {
        for (const std::string* key : keys) {
            out += std::to_string(id);
            out += ' ';
            out += escape_path(*key);
            out += '\n';
        }
    }
    Result<void> r = write_file_atomic(path, out);
    if (r.ok()) dirty_ = false;
    return r;
}

}  // namespace rootfarm::store
