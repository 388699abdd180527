// ClientViewImpl: opening, replaying, journaling, compacting and resetting a delta.

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

#include "core/log.h"
#include "store/fs_util.h"
#include "store/view.h"

namespace rootfarm::store {

namespace {

// The journal is compacted into a snapshot once it holds this much and more than the last
// snapshot: replay time stays bounded, and compaction cost stays proportional to the writes.
constexpr uint64_t kCompactMinBytes = 4u << 20;

uint64_t random_salt() {
    std::string r = random_bytes(8);
    uint64_t salt;
    std::memcpy(&salt, r.data(), 8);
    return salt == 0 ? 1 : salt;  // 0 is the pristine image view's
}

}  // namespace

ClientViewImpl::ClientViewImpl(const MacAddr& mac, std::shared_ptr<const ImageIndex> image,
                               const HandleKey& key)
    : mac_(mac), image_(std::move(image)), key_(key) {}

std::shared_ptr<ClientViewImpl> ClientViewImpl::pristine(std::shared_ptr<const ImageIndex> image,
                                                         const HandleKey& key) {
    return std::shared_ptr<ClientViewImpl>(new ClientViewImpl(MacAddr{}, std::move(image), key));
}

Result<std::shared_ptr<ClientViewImpl>> ClientViewImpl::open(
    const MacAddr& mac, std::shared_ptr<const ImageIndex> image, const HandleKey& key,
    const std::filesystem::path& dir, uint64_t quota) {
    std::shared_ptr<ClientViewImpl> view(new ClientViewImpl(mac, std::move(image), key));
    view->dir_ = dir;
    view->read_only_ = false;
    view->quota_ = quota;
    view->meta_.first_id = kFirstClientId;
    std::unique_lock lock(view->mu_);
    Result<void> r = view->load();
    if (!r.ok()) return r.error();
    return view;
}

std::filesystem::path ClientViewImpl::data_path(ObjectId id) const {
    return objects_dir() / std::to_string(id);
}

Result<void> ClientViewImpl::load() {
    std::error_code ec;
    std::filesystem::path meta_path = dir_ / "delta.meta";
    Result<DeltaMeta> meta = load_delta_meta(meta_path);
    if (!meta.ok()) {
        if (meta.error() != std::errc::no_such_file_or_directory) {
            store_log().error("client {}: {}: {}", mac_.to_string(), meta_path.string(),
                              meta.error().message());
            return meta.error();
        }
        // A new delta. delta.meta is written last, so a crash part-way leaves no delta.meta
        // and the next start begins again; a journal without one is not possible.
        std::filesystem::create_directories(objects_dir(), ec);
        if (ec) return ec;
        DeltaMeta fresh{image_->name(), random_salt(), meta_.first_id};
        std::filesystem::remove(dir_ / "journal", ec);
        std::filesystem::remove(dir_ / "snapshot", ec);
        Result<void> saved = save_delta_meta(meta_path, fresh);
        if (!saved.ok()) return saved;
        Result<void> synced = fsync_dir(dir_.parent_path());
        if (!synced.ok()) return synced;
        meta = fresh;
        store_log().info("client {}: new delta on image {}", mac_.to_string(), image_->name());
    }
    if (meta->image != image_->name()) {
        store_log().error(
            "client {}: its delta {} belongs to image {}, not {}; reset the client "
            "to move it",
            mac_.to_string(), dir_.string(), meta->image, image_->name());
        return errno_error(EXDEV);
    }
    meta_ = *meta;
    if (Result<void> r = replay(true); !r.ok()) return r;
    {
        MutexLock files(files_mu_);
        files_.clear();
    }

    // Data files no operation refers to are left by a crash between creating them and
    // journaling them (or between journaling a removal and unlinking). Files longer than
    // their object hold unstable writes that were never committed: cut them, so the bytes
    // past the size read as zeros once the file grows again.
    DIR* d = ::opendir(objects_dir().c_str());
    if (!d) return last_error();
    while (dirent* e = ::readdir(d)) {
        std::string_view name = e->d_name;
        if (name == "." || name == "..") continue;
        ObjectId id = 0;
        auto [end, perr] = std::from_chars(name.data(), name.data() + name.size(), id);
        auto it = perr == std::errc{} && end == name.data() + name.size() ? state_.objects.find(id)
                                                                          : state_.objects.end();
        std::filesystem::path path = objects_dir() / std::string(name);
        if (it == state_.objects.end() || !it->second.has(DeltaObject::kData) ||
            it->second.has(DeltaObject::kDead)) {
            ::unlink(path.c_str());
            continue;
        }
        struct stat st;
        if (::stat(path.c_str(), &st) == 0 &&
            static_cast<uint64_t>(st.st_size) > it->second.attr.size) {
            (void)::truncate(path.c_str(), static_cast<off_t>(it->second.attr.size));
        }
    }
    ::closedir(d);
    store_log().debug("client {}: delta loaded: {} objects, {} entries", mac_.to_string(),
                      state_.objects.size(), state_.entries);
    return {};
}

Result<void> ClientViewImpl::replay(bool writable) {
    state_ = DeltaState{};
    state_.next_id = meta_.first_id;
    unstable_.clear();
    auto apply = [this](std::string_view payload) {
        std::vector<Op> ops;
        if (!decode_ops(payload, ops)) return false;
        for (const Op& op : ops) state_.apply(op);
        return true;
    };
    Result<bool> snap = read_snapshot(dir_ / "snapshot", apply);
    if (!snap.ok()) {
        store_log().error("client {}: damaged snapshot in {}", mac_.to_string(), dir_.string());
        return snap.error();
    }
    std::error_code ec;
    snapshot_bytes_ = *snap ? std::filesystem::file_size(dir_ / "snapshot", ec) : 0;
    if (!writable) {
        Result<bool> r = read_journal(dir_ / "journal", apply);
        if (!r.ok()) return r.error();
        return {};
    }
    Result<std::unique_ptr<Journal>> journal = Journal::open(dir_ / "journal", apply);
    if (!journal.ok()) {
        store_log().error("client {}: journal: {}", mac_.to_string(), journal.error().message());
        return journal.error();
    }
    journal_ = std::move(*journal);
    return {};
}

Result<std::shared_ptr<ClientViewImpl>> ClientViewImpl::inspect(
    const MacAddr& mac, std::shared_ptr<const ImageIndex> image, const HandleKey& key,
    const std::filesystem::path& dir) {
    std::shared_ptr<ClientViewImpl> view(new ClientViewImpl(mac, std::move(image), key));
    view->dir_ = dir;
    std::unique_lock lock(view->mu_);
    Result<DeltaMeta> meta = load_delta_meta(dir / "delta.meta");
    if (!meta.ok()) return meta.error();
    if (meta->image != view->image_->name()) return errno_error(EXDEV);
    view->meta_ = *meta;
    if (Result<void> r = view->replay(false); !r.ok()) return r.error();
    return view;
}

Result<uint64_t> ClientViewImpl::commit_ops(const std::vector<Op>& ops) {
    if (!journal_) return errno_error(EROFS);
    Result<uint64_t> position = journal_->append(encode_ops(ops));
    if (!position.ok()) {
        store_log().error("client {}: journal append failed: {}", mac_.to_string(),
                          position.error().message());
        return position.error().value() == ENOSPC ? position.error() : errno_error(EIO);
    }
    for (const Op& op : ops) state_.apply(op);
    if (journal_->bytes() > std::max(kCompactMinBytes, 2 * snapshot_bytes_)) {
        Result<void> r = compact_locked();
        if (!r.ok()) {
            store_log().warn("client {}: compaction failed: {}", mac_.to_string(),
                             r.error().message());
        }
    }
    return position;
}

Result<void> ClientViewImpl::wait(const std::shared_ptr<Journal>& journal,
                                  uint64_t position) const {
    Result<void> r = journal->wait_durable(position);
    if (!r.ok()) return errno_error(EIO);
    return {};
}

Result<void> ClientViewImpl::compact_locked() {
    std::vector<std::string> records = state_.snapshot();
    Result<void> r = write_snapshot(dir_ / "snapshot", records);
    if (!r.ok()) return r;
    // The snapshot holds every journaled operation (and the unstable sizes, now durable too).
    unstable_.clear();
    snapshot_bytes_ = 0;
    for (const std::string& rec : records) snapshot_bytes_ += rec.size();
    return journal_->clear();
}

Result<void> ClientViewImpl::compact() {
    if (read_only_) return errno_error(EROFS);
    std::unique_lock lock(mu_);
    return compact_locked();
}

uint64_t ClientViewImpl::journal_syncs() const {
    std::shared_lock lock(mu_);
    return journal_ ? journal_->syncs() : 0;
}

Result<void> ClientViewImpl::sync_objects_dir() const {
    // Held across the fsync: a caller finding the flag clear must not reply "stable" while
    // another caller's fsync of the same names is still running.
    MutexLock lock(dir_sync_mu_);
    if (!objects_dir_dirty_.exchange(false)) return {};
    Result<void> r = fsync_dir(objects_dir());
    if (!r.ok()) {
        objects_dir_dirty_ = true;
        return errno_error(EIO);
    }
    return {};
}

Result<std::shared_ptr<BackingFile>> ClientViewImpl::data_file(ObjectId id) const {
    MutexLock lock(files_mu_);
    auto it = files_.find(id);
    if (it != files_.end()) return it->second;
    int fd = ::open(data_path(id).c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return errno_error(EIO);
    auto file = std::make_shared<BackingFile>(fd);
    if (files_.size() >= 256) files_.erase(files_.begin());
    files_.emplace(id, file);
    return file;
}

const std::string& ClientViewImpl::image() const {
    std::shared_lock lock(mu_);
    return image_->name();
}

ObjectId ClientViewImpl::root() const {
    std::shared_lock lock(mu_);
    return image_->root();
}

ObjectId ClientViewImpl::boot_root() const {
    std::shared_lock lock(mu_);
    return image_->boot_root();
}

Result<void> ClientViewImpl::switch_image(std::shared_ptr<const ImageIndex> image,
                                          bool keep_delta) {
    if (read_only_) return errno_error(EROFS);
    if (!keep_delta) {
        {
            std::unique_lock lock(mu_);
            retired_.push_back(image_);
            image_ = std::move(image);
        }
        return reset();
    }
    std::unique_lock lock(mu_);
    DeltaMeta meta = meta_;
    meta.image = image->name();
    Result<void> saved = save_delta_meta(dir_ / "delta.meta", meta);
    if (!saved.ok()) return saved;
    meta_ = meta;
    store_log().info("client {}: moved from image {} to {} keeping its delta", mac_.to_string(),
                     image_->name(), image->name());
    retired_.push_back(image_);
    image_ = std::move(image);
    return {};
}

Result<void> ClientViewImpl::reset() {
    if (read_only_) return errno_error(EROFS);
    std::unique_lock lock(mu_);
    // Move the directory out of the way first: the rename is atomic, so a crash leaves either
    // the old delta or none, never half of one.
    std::filesystem::path trash = dir_.parent_path() / (".trash-" + dir_.filename().string() + "-" +
                                                        std::to_string(random_salt()));
    if (::rename(dir_.c_str(), trash.c_str()) != 0 && errno != ENOENT) return last_error();
    Result<void> synced = fsync_dir(dir_.parent_path());
    if (!synced.ok()) return synced;
    journal_.reset();
    meta_.first_id = state_.next_id;  // ids are never reused, not even across a reset
    std::error_code ec;
    std::filesystem::remove_all(trash, ec);
    Result<void> r = load();
    if (r.ok()) store_log().info("client {}: delta reset", mac_.to_string());
    return r;
}

}  // namespace rootfarm::store
