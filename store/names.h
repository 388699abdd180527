#pragma once

// Directory entry names and their READDIR cookies.

#include <xxhash.h>

#include <cerrno>
#include <cstdint>
#include <string_view>

namespace rootfarm::store {

// A directory entry's cookie is a hash of its name, and every directory lists its entries in
// cookie order: a cookie then resumes at the right place whatever was added or removed since,
// and stays the same across restarts (NFS-NOTES 4, 5). 0, 1 and 2 stay free for the start,
// "." and ".." (the values Linux knfsd gives them).
inline uint64_t name_cookie(std::string_view name) {
    uint64_t h = XXH3_64bits(name.data(), name.size());
    return h < 3 ? h + 3 : h;
}

// 0 if `name` can be a new directory entry, else the errno saying why not.
inline int check_name(std::string_view name) {
    if (name.empty() || name == "." || name == "..") return EINVAL;
    if (name.size() > 255) return ENAMETOOLONG;
    if (name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos) {
        return EINVAL;
    }
    return 0;
}

}  // namespace rootfarm::store
