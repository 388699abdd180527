#pragma once

// The expected tree of a crash or power-loss test: names below a round's directory and the
// inodes they name, as the test's workload changed them.

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "store/store.h"

namespace rootfarm::store::testing {

struct TreeModel {
    struct Inode {
        FileType type;
        std::string data;  // file contents or symlink target
        uint32_t mode;
        uint32_t uid = 0, gid = 0;
    };
    std::map<std::string, int> names;  // "/a/b" below the round directory -> inode
    std::map<int, Inode> inodes;
    int next_inode = 0;

    std::vector<std::string> of_type(FileType t) const {
        std::vector<std::string> out;
        for (const auto& [path, ino] : names) {
            if (inodes.at(ino).type == t) out.push_back(path);
        }
        return out;
    }
    bool empty_dir(const std::string& dir) const {
        auto it = names.upper_bound(dir + "/");
        return it == names.end() || it->first.compare(0, dir.size() + 1, dir + "/") != 0;
    }
};

// "/a/b/c" -> {"/a/b", "c"}.
inline std::pair<std::string, std::string> split(const std::string& path) {
    size_t slash = path.rfind('/');
    return {path.substr(0, slash), path.substr(slash + 1)};
}

}  // namespace rootfarm::store::testing
