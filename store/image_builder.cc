// ImageIndex::build: the one walk of an image's trees.

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "core/log.h"
#include "store/fs_util.h"
#include "store/id_map.h"
#include "store/image_index.h"
#include "store/image_metadata.h"
#include "store/names.h"

namespace rootfarm::store {

namespace {

std::optional<FileType> type_of(mode_t mode) {
    switch (mode & S_IFMT) {
        case S_IFREG:
            return FileType::kRegular;
        case S_IFDIR:
            return FileType::kDirectory;
        case S_IFLNK:
            return FileType::kSymlink;
        case S_IFCHR:
            return FileType::kChar;
        case S_IFBLK:
            return FileType::kBlock;
        case S_IFIFO:
            return FileType::kFifo;
        case S_IFSOCK:
            return FileType::kSocket;
        default:
            return std::nullopt;
    }
}

Time time_of(const timespec& ts) {
    return Time{ts.tv_sec, static_cast<uint32_t>(ts.tv_nsec)};
}

bool is_special(FileType t) {
    return t == FileType::kChar || t == FileType::kBlock || t == FileType::kFifo ||
           t == FileType::kSocket;
}

std::vector<std::string> split_path(std::string_view path) {
    std::vector<std::string> parts;
    while (!path.empty()) {
        size_t slash = path.find('/');
        std::string_view part = path.substr(0, slash);
        if (!part.empty() && part != ".") parts.emplace_back(part);
        if (slash == std::string_view::npos) break;
        path.remove_prefix(slash + 1);
    }
    return parts;
}

// Non-empty lines without surrounding blanks, "#" comments skipped.
std::vector<std::string> split_lines(std::string_view text) {
    std::vector<std::string> out;
    while (!text.empty()) {
        size_t eol = text.find('\n');
        std::string_view line = text.substr(0, eol);
        text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) {
            line.remove_suffix(1);
        }
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) {
            line.remove_prefix(1);
        }
        if (!line.empty() && line[0] != '#') out.emplace_back(line);
    }
    return out;
}

struct PairHash {
    size_t operator()(const std::pair<dev_t, ino_t>& p) const {
        return std::hash<uint64_t>{}(p.first * 1000003u ^ p.second);
    }
};

}  // namespace

class ImageBuilder {
  public:
    ImageBuilder(ImageIndex& index, IdMap& ids,
                 std::unordered_map<std::string, MetadataEntry> metadata)
        : index_(index), ids_(ids), metadata_(std::move(metadata)) {
        for (const auto& [key, e] : metadata_) {
            if (!is_special(e.type)) continue;
            size_t slash = key.rfind('/');
            if (slash != std::string::npos) {
                missing_[key.substr(0, slash)].push_back(key.substr(slash + 1));
            }
        }
    }

    // Adds the top directory of a tree ("root" or "boot") and everything below it.
    Result<uint32_t> add_tree(const std::filesystem::path& dir, const std::string& key,
                              const std::string& skip_key) {
        skip_key_ = skip_key;
        int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return last_error();
        struct stat st;
        if (::fstat(fd, &st) != 0) {
            ::close(fd);
            return last_error();
        }
        uint32_t top = add_node(st, FileType::kDirectory, key);
        Result<void> r = walk(fd, top, key);
        ::close(fd);
        if (!r.ok()) return r.error();
        return top;
    }

    // A directory that exists only to hold the boot tree's mount point.
    uint32_t add_synthetic_dir(const std::string& key, const ImageNode& like) {
        uint32_t i = static_cast<uint32_t>(index_.nodes_.size());
        ImageNode n;
        n.id = ids_.get(key, FileType::kDirectory);
        n.type = FileType::kDirectory;
        n.mode = 0755;
        n.size = 4096;
        n.atime = like.atime;
        n.mtime = like.mtime;
        n.ctime = like.ctime;
        index_.nodes_.push_back(n);
        kids_.emplace_back();
        names_of_.push_back(0);
        return i;
    }

    // `name` in directory `dir`, or nullopt.
    std::optional<uint32_t> find_kid(uint32_t dir, std::string_view name) const {
        for (const auto& [n, i] : kids_[dir]) {
            if (n == name) return i;
        }
        return std::nullopt;
    }

    // Adds dir/name -> node; `replace` (merging a layer) first looks for an entry to replace.
    void set_kid(uint32_t dir, const std::string& name, uint32_t node, bool replace = true) {
        if (replace) {
            for (auto& [n, i] : kids_[dir]) {
                if (n == name) {
                    --names_of_[i];
                    i = node;
                    if (names_of_[node]++ == 0) index_.nodes_[node].parent = dir;
                    return;
                }
            }
        }
        kids_[dir].emplace_back(name, node);
        if (names_of_[node]++ == 0) index_.nodes_[node].parent = dir;
    }

    // Stacks layer `layer` (a directory with root/ and/or boot/ and an optional metadata file)
    // on what was added so far: its files add to or replace the image's at the same path, its
    // directories merge with the image's, its metadata overrides attributes at any path of the
    // merged tree (e.g. modes of image files the layer does not hold).
    Result<void> add_layer(const std::filesystem::path& dir, const std::string& layer,
                           uint32_t root, uint32_t boot, const std::string& mount_path) {
        merging_ = true;
        std::string key = "layer/" + layer;
        for (auto [tree, top] : {std::pair{"root", root}, std::pair{"boot", boot}}) {
            int fd = ::open((dir / tree).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (fd < 0) continue;
            skip_key_ = tree == std::string("root") && !mount_path.empty()
                            ? key + "/root" + mount_path
                            : std::string();
            Result<void> r = walk(fd, top, key + "/" + tree);
            ::close(fd);
            if (!r.ok()) return r;
        }
        for (const auto& [path, entry] : load_image_metadata(dir / "metadata")) {
            std::vector<std::string> parts = split_path(path);
            std::optional<uint32_t> n = parts[0] == "root" ? root : boot;
            for (size_t i = 1; n && i < parts.size(); ++i) n = find_kid(*n, parts[i]);
            if (!n) {
                store_log().warn("image {}: layer {}: metadata for missing {}", index_.name_, layer,
                                 path);
                continue;
            }
            apply_entry(index_.nodes_[*n], entry, key + ":" + path);
        }
        merging_ = false;
        return {};
    }

    // Link counts, the sorted entry table and the id table.
    void finish() {
        auto& nodes = index_.nodes_;
        for (size_t i = 0; i < nodes.size(); ++i) {
            if (nodes[i].type == FileType::kDirectory) {
                uint32_t subdirs = 0;
                for (const auto& [name, kid] : kids_[i]) {
                    if (nodes[kid].type == FileType::kDirectory) ++subdirs;
                }
                nodes[i].nlink = 2 + subdirs;
            } else {
                nodes[i].nlink = std::max<uint32_t>(1, names_of_[i]);
            }
        }
        for (size_t i = 0; i < nodes.size(); ++i) {
            auto& kids = kids_[i];
            std::vector<ImageChild> sorted;
            sorted.reserve(kids.size());
            for (const auto& [name, kid] : kids) {
                ImageChild c;
                c.hash = name_hash(name);
                c.name_off = static_cast<uint32_t>(index_.names_.size());
                c.name_len = static_cast<uint16_t>(name.size());
                c.node = kid;
                index_.names_ += name;
                sorted.push_back(c);
            }
            std::sort(sorted.begin(), sorted.end(), [&](const ImageChild& a, const ImageChild& b) {
                if (a.hash != b.hash) return a.hash < b.hash;
                return index_.name_of(a) < index_.name_of(b);
            });
            nodes[i].first_child = static_cast<uint32_t>(index_.children_.size());
            nodes[i].child_count = static_cast<uint32_t>(sorted.size());
            index_.children_.insert(index_.children_.end(), sorted.begin(), sorted.end());
            std::vector<std::pair<std::string, uint32_t>>().swap(kids);
        }
        ObjectId max_id = 0;
        for (const ImageNode& n : nodes) max_id = std::max(max_id, n.id);
        index_.by_id_.assign(max_id + 1, 0);
        for (size_t i = 0; i < nodes.size(); ++i) {
            index_.by_id_[nodes[i].id] = static_cast<uint32_t>(i + 1);
        }
        index_.nodes_.shrink_to_fit();
        index_.names_.shrink_to_fit();
        index_.text_.shrink_to_fit();
    }

  private:
    uint32_t add_node(const struct stat& st, FileType type, const std::string& key) {
        uint32_t i = static_cast<uint32_t>(index_.nodes_.size());
        ImageNode n;
        n.id = ids_.get(key, type);
        n.type = type;
        n.mode = st.st_mode & 07777;
        n.uid = st.st_uid;
        n.gid = st.st_gid;
        n.size =
            type == FileType::kRegular || type == FileType::kDirectory || type == FileType::kSymlink
                ? static_cast<uint64_t>(st.st_size)
                : 0;
        n.used = static_cast<uint64_t>(st.st_blocks) * 512;
        if (type == FileType::kChar || type == FileType::kBlock) {
            n.rdev_major = major(st.st_rdev);
            n.rdev_minor = minor(st.st_rdev);
        }
        n.atime = time_of(st.st_atim);
        n.mtime = time_of(st.st_mtim);
        n.ctime = time_of(st.st_ctim);
        if (type == FileType::kRegular) set_text(n, key);
        apply_metadata(n, key);
        index_.nodes_.push_back(n);
        kids_.emplace_back();
        names_of_.push_back(0);
        return i;
    }

    void set_text(ImageNode& n, std::string_view text) {
        n.text_off = static_cast<uint32_t>(index_.text_.size());
        n.text_len = static_cast<uint32_t>(text.size());
        index_.text_ += text;
    }

    void apply_metadata(ImageNode& n, const std::string& key) {
        auto it = metadata_.find(key);
        if (it != metadata_.end()) apply_entry(n, it->second, key);
    }

    void apply_entry(ImageNode& n, const MetadataEntry& e, const std::string& key) {
        bool placeholder = n.type == FileType::kRegular && n.size == 0 && is_special(e.type);
        if (e.type != n.type && !placeholder) {
            store_log().warn("image {}: metadata for {} says type {}, the file is type {}; ignored",
                             index_.name_, key, static_cast<int>(e.type), static_cast<int>(n.type));
            return;
        }
        if (placeholder) {
            n.type = e.type;
            n.text_len = 0;
        }
        n.mode = e.mode;
        n.uid = e.uid;
        n.gid = e.gid;
        n.rdev_major = e.rdev_major;
        n.rdev_minor = e.rdev_minor;
    }

    Result<void> walk(int dirfd, uint32_t dir, const std::string& key) {
        int fd = ::dup(dirfd);
        if (fd < 0) return last_error();
        DIR* d = ::fdopendir(fd);
        if (!d) {
            ::close(fd);
            return last_error();
        }
        std::vector<std::string> names;
        while (dirent* e = ::readdir(d)) {
            std::string_view name = e->d_name;
            if (name != "." && name != "..") names.emplace_back(name);
        }
        ::closedir(d);
        // Sorted, so ids are handed out in the same order on every machine.
        std::sort(names.begin(), names.end());
        for (const std::string& name : names) {
            std::string kid_key = key + "/" + name;
            if (kid_key == skip_key_) continue;
            struct stat st;
            if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
                store_log().warn("image {}: {}: {}", index_.name_, kid_key, last_error().message());
                continue;
            }
            std::optional<FileType> type = type_of(st.st_mode);
            if (!type) continue;
            std::optional<uint32_t> existing = merging_ ? find_kid(dir, name) : std::nullopt;
            if (existing && *type == FileType::kDirectory &&
                index_.nodes_[*existing].type == FileType::kDirectory) {
                Result<void> r = walk_into(dirfd, name, *existing, kid_key);
                if (!r.ok()) return r;
                continue;
            }
            if (*type != FileType::kDirectory && st.st_nlink > 1) {
                auto [it, fresh] = links_.try_emplace({st.st_dev, st.st_ino}, 0);
                if (!fresh) {
                    ids_.alias(kid_key, index_.nodes_[it->second].id, *type);
                    set_kid(dir, name, it->second, merging_);
                    continue;
                }
                it->second = static_cast<uint32_t>(index_.nodes_.size());
            }
            uint32_t kid = add_node(st, *type, kid_key);
            set_kid(dir, name, kid, merging_);
            if (*type == FileType::kSymlink) {
                std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
                ssize_t n = ::readlinkat(dirfd, name.c_str(), target.data(), target.size());
                target.resize(n < 0 ? 0 : static_cast<size_t>(n));
                set_text(index_.nodes_[kid], target);
                index_.nodes_[kid].size = target.size();
            } else if (*type == FileType::kDirectory) {
                // A directory new to the image: nothing below it to merge with.
                bool merging = std::exchange(merging_, false);
                Result<void> r = walk_into(dirfd, name, kid, kid_key);
                merging_ = merging;
                if (!r.ok()) return r;
            }
        }
        add_missing_specials(dir, key);
        return {};
    }

    Result<void> walk_into(int dirfd, const std::string& name, uint32_t dir,
                           const std::string& key) {
        int sub = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0) {
            store_log().warn("image {}: {}: {}", index_.name_, key, last_error().message());
            return {};
        }
        Result<void> r = walk(sub, dir, key);
        ::close(sub);
        return r;
    }

    // Devices, fifos and sockets that only the metadata file knows (an unprivileged import
    // cannot mknod them).
    void add_missing_specials(uint32_t dir, const std::string& key) {
        auto it = missing_.find(key);
        if (it == missing_.end()) return;
        for (const std::string& name : it->second) {
            if (find_kid(dir, name)) continue;
            std::string kid_key = key + "/" + name;
            struct stat st {};
            st.st_mtim = st.st_atim =
                st.st_ctim = {index_.nodes_[dir].mtime.sec, index_.nodes_[dir].mtime.nsec};
            st.st_mode = S_IFREG;  // apply_metadata turns the placeholder into its real type
            set_kid(dir, name, add_node(st, FileType::kRegular, kid_key));
        }
    }

    ImageIndex& index_;
    IdMap& ids_;
    std::unordered_map<std::string, MetadataEntry> metadata_;
    std::unordered_map<std::string, std::vector<std::string>> missing_;  // dir key -> names
    std::vector<std::vector<std::pair<std::string, uint32_t>>> kids_;
    std::vector<uint32_t> names_of_;
    std::unordered_map<std::pair<dev_t, ino_t>, uint32_t, PairHash> links_;
    std::string skip_key_;
    bool merging_ = false;
};

Result<std::shared_ptr<const ImageIndex>> ImageIndex::build(const ImageOptions& options) {
    std::error_code ec;
    if (!std::filesystem::is_directory(options.image_dir / "root", ec)) {
        return errno_error(ENOENT);
    }
    Result<IdMap> ids = IdMap::load(*options.env, options.id_map_path);
    if (!ids.ok()) {
        store_log().error("image {}: unreadable id map {}: {}", options.name,
                          options.id_map_path.string(), ids.message());
        return ids.error();
    }
    std::shared_ptr<ImageIndex> index(new ImageIndex());
    index->name_ = options.name;
    index->image_dir_ = options.image_dir;
    index->layers_dir_ = options.layers_dir;
    index->generation_ = ids->generation();
    index->fsid_ = XXH3_64bits(options.name.data(), options.name.size());
    ImageBuilder b(*index, *ids, load_image_metadata(options.image_dir / "metadata"));

    std::vector<std::string> mount = split_path(options.boot_mount);
    bool has_boot = std::filesystem::is_directory(options.image_dir / "boot", ec);
    std::string mount_key = "root";
    for (const std::string& part : mount) mount_key += "/" + part;
    Result<uint32_t> root = b.add_tree(options.image_dir / "root", "root",
                                       has_boot && !mount.empty() ? mount_key : std::string());
    if (!root.ok()) return root.error();
    index->root_ = *root;
    index->boot_root_ = *root;
    if (has_boot) {
        Result<uint32_t> boot = b.add_tree(options.image_dir / "boot", "boot", std::string());
        if (!boot.ok()) return boot.error();
        index->boot_root_ = *boot;
    }
    // Site layers, bottom first, named one per line in <image>/layers.
    std::string mount_path;
    for (const std::string& part : mount) mount_path += "/" + part;
    if (Result<std::string> list = options.env->read_file(options.image_dir / "layers");
        list.ok()) {
        for (const std::string& layer : split_lines(*list)) {
            std::filesystem::path dir = options.layers_dir / layer;
            if (layer.find('/') != std::string::npos || !std::filesystem::is_directory(dir, ec)) {
                store_log().error("image {}: layer {} not found in {}", options.name, layer,
                                  options.layers_dir.string());
                return errno_error(ENOENT);
            }
            Result<void> r = b.add_layer(dir, layer, index->root_, index->boot_root_, mount_path);
            if (!r.ok()) return r.error();
        }
    }
    // Mount the boot tree: make up the directories leading to the mount point if the root tree
    // lacks them (a hand-made root may have no /boot/firmware).
    uint32_t dir = *root;
    std::string key = "mount";
    for (size_t i = 0; i + 1 < mount.size(); ++i) {
        key += "/" + mount[i];
        std::optional<uint32_t> kid = b.find_kid(dir, mount[i]);
        if (!kid || index->nodes_[*kid].type != FileType::kDirectory) {
            kid = b.add_synthetic_dir(key, index->nodes_[*root]);
            b.set_kid(dir, mount[i], *kid);
        }
        dir = *kid;
    }
    if (!mount.empty()) {
        if (has_boot) {
            b.set_kid(dir, mount.back(), index->boot_root_);
        } else if (std::optional<uint32_t> kid = b.find_kid(dir, mount.back());
                   kid && index->nodes_[*kid].type == FileType::kDirectory) {
            index->boot_root_ = *kid;
        } else {
            index->boot_root_ = b.add_synthetic_dir(key + "/" + mount.back(), index->nodes_[*root]);
            b.set_kid(dir, mount.back(), index->boot_root_);
        }
    }
    b.finish();
    index->nodes_[index->root_].parent = index->root_;
    if (ids->dirty()) {
        Result<void> saved = ids->save(*options.env, options.id_map_path);
        if (!saved.ok()) {
            store_log().error("image {}: cannot save id map {}: {}", options.name,
                              options.id_map_path.string(), saved.message());
            return saved.error();
        }
    }
    store_log().info("image {}: indexed {} objects, {} KiB", options.name, index->nodes_.size(),
                     index->memory_bytes() / 1024);
    return std::shared_ptr<const ImageIndex>(std::move(index));
}

}  // namespace rootfarm::store
