#pragma once

// The persisted object ids of one image: every path of the image keeps its id across restarts
// and re-walks, so handles and fileids handed out once stay valid (docs/pi-boot.md NFS 1, 3).
//
// File <state_dir>/index/<image>.ids, text, rewritten atomically when ids are added:
//   rootfarm-ids 2 <generation>
//   <id> <type> <key>     one line per path; hard links share the id of their inode
// <type> is the FileType number, 0 if unknown (version 1 files had no types; such ids match
// any type once, then keep the type they met).
// where <key> is "root/<path>" or "boot/<path>" (the tree and the path in it; "root" and "boot"
// are the trees themselves), "layer/<layer>/root/<path>" or ".../boot/<path>" for a site
// layer's file, or "mount/<path>" for a directory made up to hold the boot tree's mount point.
//
// A new version of an image keeps the ids (and handle generation) of the old one where the
// path and type match if its .ids file starts as a copy of the old one's (store.cc: the client's
// old image's when a kept delta moves to a new image not yet indexed, else the newest one's);
// a path whose type changed gets a new id, so a delta never applies a file's changes to a
// directory. Backslash, tab, newline
// and carriage return in a key are written as in escape.h. Image ids count up from 1 and stay below
// kFirstClientId.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/result.h"
#include "store/env.h"
#include "store/store.h"

namespace rootfarm::store {

// Objects a client creates take ids from here up (delta.h); image objects stay below, so the
// fileids of both fit 32 bits (docs/pi-boot.md NFS 3) until a client made 2^31 objects.
constexpr ObjectId kFirstClientId = ObjectId{1} << 31;

class IdMap {
  public:
    // Reads `path`; a missing file gives an empty map with a new random generation.
    static Result<IdMap> load(Env& env, const std::filesystem::path& path);

    // The id of `key`, assigning the next free one if it has none or had another type.
    ObjectId get(const std::string& key, FileType type);
    // The id of `key`, or 0.
    ObjectId find(const std::string& key) const;
    // Records that `key` names object `id` too (a hard link).
    void alias(const std::string& key, ObjectId id, FileType type);

    uint32_t generation() const { return generation_; }
    bool dirty() const { return dirty_; }
    Result<void> save(Env& env, const std::filesystem::path& path);

  private:
    struct Entry {
        ObjectId id = 0;
        uint8_t type = 0;  // FileType; 0 = unknown (a version 1 file)
    };
    std::unordered_map<std::string, Entry> ids_;
    ObjectId next_ = 1;
    uint32_t generation_ = 0;
    bool dirty_ = false;
};

}  // namespace rootfarm::store
