#pragma once

// The persisted object ids of one image: every path of the image keeps its id across restarts
// and re-walks, so handles and fileids handed out once stay valid (NFS-NOTES 1, 3).
//
// File <state_dir>/index/<image>.ids, text, rewritten atomically when ids are added:
//   rootfarm-ids 1 <generation>
//   <id> <key>            one line per path; hard links share the id of their inode
// where <key> is "root/<path>" or "boot/<path>" (the tree and the path in it; "root" and "boot"
// are the trees themselves), "layer/<layer>/root/<path>" or ".../boot/<path>" for a site
// layer's file, or "mount/<path>" for a directory made up to hold the boot tree's mount point.
//
// A new version of an image keeps the ids (and handle generation) of the old one where the
// paths match if its .ids file starts as a copy of the old one's: the importer copies
// index/<old>.ids to index/<new>.ids before the new image is first used. Backslash, tab, newline
// and carriage return in a key are written as in escape.h. Image ids count up from 1 and stay below
// kFirstClientId.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/result.h"
#include "store/store.h"

namespace rootfarm::store {

// Objects a client creates take ids from here up (delta.h); image objects stay below, so the
// fileids of both fit 32 bits (NFS-NOTES 3) until a client made 2^31 objects.
constexpr ObjectId kFirstClientId = ObjectId{1} << 31;

class IdMap {
  public:
    // Reads `path`; a missing file gives an empty map with a new random generation.
    static Result<IdMap> load(const std::filesystem::path& path);

    // The id of `key`, assigning the next free one if it has none.
    ObjectId get(const std::string& key);
    // The id of `key`, or 0.
    ObjectId find(const std::string& key) const;
    // Records that `key` names object `id` too (a hard link).
    void alias(const std::string& key, ObjectId id);

    uint32_t generation() const { return generation_; }
    bool dirty() const { return dirty_; }
    Result<void> save(const std::filesystem::path& path);

  private:
    std::unordered_map<std::string, ObjectId> ids_;
    ObjectId next_ = 1;
    uint32_t generation_ = 0;
    bool dirty_ = false;
};

}  // namespace rootfarm::store
