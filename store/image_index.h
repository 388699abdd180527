#pragma once

// The in-memory index of one image: `<state_dir>/images/<name>/root/` with the boot tree
// `<...>/boot/` mounted at StoreOptions::boot_mount, walked once when the image is first used.
// LOOKUP, GETATTR, READDIR and READLINK on image objects are answered from here without a
// system call (docs/architecture.md "The store"); only reads open the backing files.
//
// Owners, modes and device numbers are those of the files, overridden by the image's
// `metadata` file if it has one (image_metadata.h).
//
// Site layers: `<state_dir>/images/<name>/layers`, if present, names layers one per line,
// bottom first (blank lines and "#" comments ignored). Each is a directory
// `<state_dir>/layers/<layer>/` with `root/` and/or `boot/` trees and an optional `metadata`
// file in the same format, whose keys are paths of the merged image ("root/usr/bin/ping"), so a
// layer can change modes of image files it does not hold. A layer's files add to or replace the
// image's at the same path; its directories merge with the image's. Layers cannot remove an
// image file. A missing layer is an error (the image would boot without its fix-ups). Hard links
// within a tree (same inode) are one object. A directory's link count is 2 + its subdirectories
// (docs/pi-boot.md NFS 15); a file's is the number of its names in the image. Object ids come from
// the image's persisted IdMap. Immutable once built, so any number of threads may read it.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/mutex.h"
#include "core/result.h"
#include "store/env.h"
#include "store/store.h"

namespace rootfarm::store {

struct ImageOptions {
    std::string name;
    std::filesystem::path image_dir;    // <state_dir>/images/<name>
    std::filesystem::path id_map_path;  // <state_dir>/index/<name>.ids
    std::filesystem::path layers_dir;   // <state_dir>/layers
    std::string boot_mount = "/boot/firmware";
    Env* env = Env::Default();  // writes the id map
};

struct ImageNode {
    ObjectId id = 0;
    uint32_t parent = 0;       // node index of the directory holding its first name
    uint32_t first_child = 0;  // directories: entries are children_[first_child, +child_count)
    uint32_t child_count = 0;
    uint32_t nlink = 0;
    uint32_t mode = 0, uid = 0, gid = 0;
    uint32_t rdev_major = 0, rdev_minor = 0;
    uint32_t text_off = 0, text_len = 0;  // symlink target; regular file: backing path
    uint64_t size = 0, used = 0;
    Time atime, mtime, ctime;
    FileType type = FileType::kRegular;
};

// A directory entry, kept in (hash, name) order: READDIR order (names.h).
struct ImageChild {
    uint64_t hash = 0;  // name_hash(name)
    uint32_t name_off = 0;
    uint32_t node = 0;
    uint16_t name_len = 0;
};

class ImageIndex {
  public:
    static Result<std::shared_ptr<const ImageIndex>> build(const ImageOptions& options);

    const std::string& name() const { return name_; }
    // Changes only if the image's id map is deleted: handles of another generation are stale.
    uint32_t generation() const { return generation_; }
    uint64_t fsid() const { return fsid_; }
    ObjectId root() const { return nodes_[root_].id; }
    ObjectId boot_root() const { return nodes_[boot_root_].id; }

    // The image object `id`, or nullptr.
    const ImageNode* node(ObjectId id) const {
        if (id >= by_id_.size() || by_id_[id] == 0) return nullptr;
        return &nodes_[by_id_[id] - 1];
    }
    const ImageNode& parent(const ImageNode& n) const { return nodes_[n.parent]; }
    // Entry `name` of directory `dir`, or nullptr.
    const ImageNode* lookup(const ImageNode& dir, std::string_view name) const;
    std::span<const ImageChild> children(const ImageNode& dir) const {
        return {children_.data() + dir.first_child, dir.child_count};
    }
    // Index into children(dir) of the first entry whose hash is `hash` or above.
    size_t first_from(const ImageNode& dir, uint64_t hash) const;
    std::string_view name_of(const ImageChild& c) const {
        return std::string_view(names_).substr(c.name_off, c.name_len);
    }
    const ImageNode& node_of(const ImageChild& c) const { return nodes_[c.node]; }

    Attr attr(const ImageNode& n) const;
    std::string_view symlink_target(const ImageNode& n) const {
        return std::string_view(text_).substr(n.text_off, n.text_len);
    }
    // A descriptor of a regular file's data, shared and cached.
    Result<std::shared_ptr<BackingFile>> open_file(const ImageNode& n) const;

    size_t object_count() const { return nodes_.size(); }
    // Bytes the index occupies (nodes, entries, names, id table).
    size_t memory_bytes() const;

  private:
    friend class ImageBuilder;
    ImageIndex() = default;

    std::string name_;
    std::filesystem::path image_dir_;
    std::filesystem::path layers_dir_;
    uint32_t generation_ = 0;
    uint64_t fsid_ = 0;
    uint32_t root_ = 0, boot_root_ = 0;
    std::vector<ImageNode> nodes_;
    std::vector<ImageChild> children_;
    std::vector<uint32_t> by_id_;  // id -> node index + 1
    std::string names_;
    std::string text_;

    mutable Mutex files_mu_;
    mutable std::unordered_map<ObjectId, std::shared_ptr<BackingFile>> files_ GUARDED_BY(files_mu_);
};

}  // namespace rootfarm::store
