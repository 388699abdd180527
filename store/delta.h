#pragma once

// One client's delta: what it changed relative to its image, as plain state plus the
// operations that change it. The journal stores operations; replaying them in order over the
// last snapshot rebuilds the state. Every operation sets a value (never increments one), so
// replaying a record twice — as after a crash between writing a snapshot and clearing the
// journal — gives the same state.
//
// On disk, <state_dir>/clients/<mac-dashed>/:
//   delta.meta    image name, handle salt, first id (written once, atomically)
//   snapshot      the compacted state (journal.h)
//   journal       operations since the snapshot (journal.h)
//   objects/<id>  data of files the client wrote (decimal id); mode 0600, owned by the server
//
// Lower directories are found by object id, not by path: a renamed lower directory brings its
// lower entries along, and a directory created over a removed one is a new object with no
// lower entries at all (it is opaque by construction).

#include <compare>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.h"
#include "store/env.h"
#include "store/id_map.h"
#include "store/store.h"

namespace rootfarm::store {

struct DeltaObject {
    enum Flags : uint8_t {
        kNew = 1,   // created by the client: no image object behind it
        kData = 2,  // its data is objects/<id>
        kDead = 4,  // an image object the client removed
        // Its data was written by the server (store.h GeneratedFile), not by the client: any
        // change the client makes clears it.
        kGenerated = 8,
    };
    Attr attr;            // complete attributes; the view fills in fsid, fileid and used
    ObjectId parent = 0;  // directories: where ".." leads in this view
    uint8_t flags = 0;
    uint64_t verifier = 0;  // EXCLUSIVE create (RFC 1813 §3.3.8), docs/pi-boot.md NFS 8
    std::string target;     // symlinks the client made

    bool has(Flags f) const { return (flags & f) != 0; }
};

// Entries of a directory that differ from its image entries, in (hash, name) order: READDIR
// order (names.h).
struct EntryKey {
    uint64_t hash = 0;  // name_hash(name)
    std::string name;
    auto operator<=>(const EntryKey&) const = default;
};
// Looks entries up by (hash, name view) without building a key string.
struct EntryRef {
    uint64_t hash;
    std::string_view name;
};
struct EntryLess {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
        if (a.hash != b.hash) return a.hash < b.hash;
        return std::string_view(a.name) < std::string_view(b.name);
    }
};
using DeltaDir = std::map<EntryKey, ObjectId, EntryLess>;  // id 0 = whiteout: image entry removed

struct Op {
    enum class Kind : uint8_t {
        kPutObject = 1,   // id, object
        kDropObject = 2,  // id: a client-made object is gone
        kPutEntry = 3,    // id = directory, name, child (0 = whiteout)
        kDelEntry = 4,    // id = directory, name: back to the image's entry (or none)
        kNextId = 5,      // id = the next id to hand out (snapshots)
    };
    Kind kind = Kind::kPutObject;
    ObjectId id = 0;
    DeltaObject object;
    std::string name;
    ObjectId child = 0;
};

// Bytes charged against the quota for each changed object and entry, so a client cannot fill
// the disk with empty files and whiteouts either.
constexpr uint64_t kMetadataCost = 256;

struct DeltaState {
    ObjectId next_id = kFirstClientId;
    std::unordered_map<ObjectId, DeltaObject> objects;
    std::unordered_map<ObjectId, DeltaDir> dirs;
    uint64_t entries = 0;
    uint64_t data_bytes = 0;  // sizes of the data objects

    void apply(const Op& op);
    uint64_t usage() const { return data_bytes + kMetadataCost * (objects.size() + entries); }
    // The whole state as a few journal payloads (for a snapshot).
    std::vector<std::string> snapshot() const;
};

std::string encode_ops(std::span<const Op> ops);
// false if the payload is not a well-formed list of operations.
bool decode_ops(std::string_view payload, std::vector<Op>& out);

// delta.meta
struct DeltaMeta {
    std::string image;
    uint64_t salt = 0;  // part of every handle: a reset delta gets a new one (old ones: ESTALE)
    ObjectId first_id = kFirstClientId;  // a reset delta continues where the old one stopped
};
Result<DeltaMeta> load_delta_meta(Env& env, const std::filesystem::path& path);
Result<void> save_delta_meta(Env& env, const std::filesystem::path& path, const DeltaMeta& meta);

}  // namespace rootfarm::store
