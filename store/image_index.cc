#include "store/image_index.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "store/fs_util.h"
#include "store/names.h"

namespace rootfarm::store {

namespace {

// Descriptors kept open for reads of image files; beyond this the oldest are let go (readers
// holding one keep it alive).
constexpr size_t kMaxCachedFiles = 512;

}  // namespace

const ImageNode* ImageIndex::lookup(const ImageNode& dir, std::string_view name) const {
    if (dir.type != FileType::kDirectory) return nullptr;
    uint64_t hash = name_hash(name);
    std::span<const ImageChild> kids = children(dir);
    auto it = kids.begin() + static_cast<ptrdiff_t>(first_from(dir, hash));
    for (; it != kids.end() && it->hash == hash; ++it) {
        if (name_of(*it) == name) return &nodes_[it->node];
    }
    return nullptr;
}

size_t ImageIndex::first_from(const ImageNode& dir, uint64_t hash) const {
    std::span<const ImageChild> kids = children(dir);
    auto it = std::lower_bound(kids.begin(), kids.end(), hash,
                               [](const ImageChild& c, uint64_t h) { return c.hash < h; });
    return static_cast<size_t>(it - kids.begin());
}

Attr ImageIndex::attr(const ImageNode& n) const {
    Attr a;
    a.type = n.type;
    a.mode = n.mode;
    a.nlink = n.nlink;
    a.uid = n.uid;
    a.gid = n.gid;
    a.size = n.size;
    a.used = n.used;
    a.rdev_major = n.rdev_major;
    a.rdev_minor = n.rdev_minor;
    a.fsid = fsid_;
    a.fileid = n.id;
    a.atime = n.atime;
    a.mtime = n.mtime;
    a.ctime = n.ctime;
    return a;
}

Result<std::shared_ptr<BackingFile>> ImageIndex::open_file(const ImageNode& n) const {
    if (n.type != FileType::kRegular || n.text_len == 0) return errno_error(EINVAL);
    {
        MutexLock lock(files_mu_);
        auto it = files_.find(n.id);
        if (it != files_.end()) return it->second;
    }
    // The backing path is the file's key (id_map.h): "root/...", "boot/..." in the image,
    // "layer/<layer>/..." in a layer.
    std::string_view key = symlink_target(n);
    std::filesystem::path path = key.starts_with("layer/")
                                     ? layers_dir_ / std::string(key.substr(6))
                                     : image_dir_ / std::string(key);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        // The image changed under us: the object is gone as far as a client can tell.
        return errno_error(errno == ENOENT ? ESTALE : EIO);
    }
    auto file = std::make_shared<BackingFile>(fd);
    MutexLock lock(files_mu_);
    if (files_.size() >= kMaxCachedFiles) files_.erase(files_.begin());
    files_.emplace(n.id, file);
    return file;
}

size_t ImageIndex::memory_bytes() const {
    return sizeof(*this) + nodes_.capacity() * sizeof(ImageNode) +
           children_.capacity() * sizeof(ImageChild) + by_id_.capacity() * sizeof(uint32_t) +
           names_.capacity() + text_.capacity();
}

}  // namespace rootfarm::store
