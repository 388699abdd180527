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

// Data files a view keeps open for the next READ or WRITE of them. A Pi writes a few files at
// a time (a log, a package being unpacked); a bound per view keeps a room of Pis to a bounded
// number of descriptors each (250 Pis: at most 250 x (16 + a journal)).
constexpr size_t kOpenDataFiles = 16;

uint64_t random_salt() {
    std::string r = random_bytes(8);
    uint64_t salt;
    std::memcpy(&salt, r.data(), 8);
    return salt == 0 ? 1 : salt;  // 0 is the pristine image view's
}

}  // namespace

ClientViewImpl::ClientViewImpl(const MacAddr& mac, std::shared_ptr<const ImageIndex> image,
                               const HandleKey& key, Env& env)
    : mac_(mac), image_(std::move(image)), key_(key), env_(env) {}

std::shared_ptr<ClientViewImpl> ClientViewImpl::pristine(std::shared_ptr<const ImageIndex> image,
                                                         const HandleKey& key) {
    // Read-only: it never writes a file, so no Env of the store's is needed.
    return std::shared_ptr<ClientViewImpl>(
        new ClientViewImpl(MacAddr{}, std::move(image), key, *Env::Default()));
}

Result<std::shared_ptr<ClientViewImpl>> ClientViewImpl::open(
    const MacAddr& mac, std::shared_ptr<const ImageIndex> image, const HandleKey& key, Env& env,
    const std::filesystem::path& dir, uint64_t quota, std::shared_ptr<CommitLog> log,
    uint64_t compact_bytes) {
    std::shared_ptr<ClientViewImpl> view(new ClientViewImpl(mac, std::move(image), key, env));
    view->dir_ = dir;
    view->log_ = std::move(log);
    view->compact_bytes_ = compact_bytes;
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
    std::filesystem::path meta_path = dir_ / "delta.meta";
    Result<DeltaMeta> meta = load_delta_meta(env_, meta_path);
    if (!meta.ok()) {
        if (meta.error() != std::errc::no_such_file_or_directory) {
            store_log().error("client {}: {}", mac_.to_string(), meta.message());
            return meta.failure();
        }
        // A new delta. delta.meta is written last, so a crash part-way leaves no delta.meta
        // and the next start begins again; a journal without one is not possible.
        DeltaMeta fresh{image_->name(), random_salt(), meta_.first_id};
        Result<void> made = env_.create_directories(objects_dir());
        for (const char* stale : {"journal", "snapshot"}) {
            if (!made.ok()) break;
            made = env_.unlink(dir_ / stale);
            if (made.error() == std::errc::no_such_file_or_directory) made = {};
        }
        if (made.ok()) made = save_delta_meta(env_, meta_path, fresh);
        // delta.meta's own directory is synced by the atomic write; the delta directory's
        // name in clients/ is made durable here.
        if (made.ok()) made = env_.sync_dir(dir_.parent_path());
        if (!made.ok()) {
            store_log().error("client {}: cannot start a delta: {}", mac_.to_string(),
                              made.message());
            return made;
        }
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
    if (!d) return io_error("opendir", objects_dir(), errno);
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
            if (Result<void> r = env_.unlink(path); !r.ok()) {
                store_log().warn("client {}: {}", mac_.to_string(), r.message());
            }
            continue;
        }
        struct stat st;
        if (::stat(path.c_str(), &st) == 0 &&
            static_cast<uint64_t>(st.st_size) > it->second.attr.size) {
            // Synced: if the file grows again (SETATTR size, whose journal record is all that
            // is synced), the cut bytes must not come back after a crash.
            Result<int> fd = env_.open(path, O_WRONLY);
            Result<void> r = fd.ok() ? env_.ftruncate(*fd, path, it->second.attr.size)
                                     : Result<void>(fd.failure());
            if (r.ok()) r = env_.fdatasync(*fd, path);
            if (fd.ok()) ::close(*fd);
            if (!r.ok()) {
                ::closedir(d);
                store_log().error("client {}: {}", mac_.to_string(), r.message());
                return r;
            }
        }
    }
    ::closedir(d);

    // A client-made file's data file is created, and recorded as its data, without a sync of
    // objects/ (create_data_file): nothing is promised until a stable WRITE or COMMIT, which
    // sync it. Yet another call's journal sync can make that record durable first, and after a
    // crash the file has no data file. Its unpromised writes are lost, as UNSTABLE writes may
    // be: the file reads as zeros up to its size, instead of failing every READ.
    bool recreated = false;
    for (const auto& [id, object] : state_.objects) {
        if (!object.has(DeltaObject::kData) || object.has(DeltaObject::kDead)) continue;
        std::filesystem::path path = data_path(id);
        struct stat st;
        if (::stat(path.c_str(), &st) == 0 || errno != ENOENT) continue;
        store_log().warn(
            "client {}: {} is missing (its writes were never synced); it reads "
            "as zeros",
            mac_.to_string(), path.string());
        Result<int> fd = env_.open(path, O_RDWR | O_CREAT, 0600);
        if (!fd.ok()) {
            store_log().error("client {}: {}", mac_.to_string(), fd.message());
            return fd.failure();
        }
        ::close(*fd);
        recreated = true;
    }
    if (recreated) {
        if (Result<void> r = env_.sync_dir(objects_dir()); !r.ok()) {
            store_log().error("client {}: {}", mac_.to_string(), r.message());
            return r;
        }
    }
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
    Result<bool> snap = read_snapshot(env_, dir_ / "snapshot", apply);
    if (!snap.ok()) {
        store_log().error("client {}: snapshot: {}", mac_.to_string(), snap.message());
        return snap.failure();
    }
    std::error_code ec;
    snapshot_bytes_ = *snap ? std::filesystem::file_size(dir_ / "snapshot", ec) : 0;
    if (!writable) {
        Result<bool> r = read_journal(env_, dir_ / "journal", apply);
        if (!r.ok()) return r.failure();
        return {};
    }
    Result<std::unique_ptr<Journal>> journal = Journal::open(env_, dir_ / "journal", apply);
    if (!journal.ok()) {
        store_log().error("client {}: journal: {}", mac_.to_string(), journal.message());
        return journal.failure();
    }
    journal_ = std::move(*journal);
    // The salt tells this delta's records from those of the one a reset replaced.
    if (log_) journal_->attach(log_.get(), LogMember{dir_.filename().string(), meta_.salt});
    return {};
}

Result<std::shared_ptr<ClientViewImpl>> ClientViewImpl::inspect(
    const MacAddr& mac, std::shared_ptr<const ImageIndex> image, const HandleKey& key, Env& env,
    const std::filesystem::path& dir) {
    std::shared_ptr<ClientViewImpl> view(new ClientViewImpl(mac, std::move(image), key, env));
    view->dir_ = dir;
    std::unique_lock lock(view->mu_);
    Result<DeltaMeta> meta = load_delta_meta(env, dir / "delta.meta");
    if (!meta.ok()) return meta.failure();
    if (meta->image != view->image_->name()) return errno_error(EXDEV);
    view->meta_ = *meta;
    if (Result<void> r = view->replay(false); !r.ok()) return r.error();
    return view;
}

namespace {
thread_local Deferred* t_deferred = nullptr;
}  // namespace

Deferred::Deferred() : outer_(t_deferred) {
    t_deferred = this;
}

Deferred::~Deferred() {
    t_deferred = outer_;
}

Deferred* Deferred::current() {
    return t_deferred;
}

void Deferred::when_durable(std::function<void(Result<void>)> done) {
    if (!pending()) {
        done({});
        return;
    }
    log_->when_durable(position_,
                       [after = std::move(after_), done = std::move(done)](Result<void> r) mutable {
                           if (r.ok()) {
                               for (auto& step : after) step();
                           }
                           done(std::move(r));
                       });
    position_ = 0;
    after_.clear();
}

std::error_code ClientViewImpl::would_block(Deferred& d) {
    d.would_block_ = true;
    return errno_error(EWOULDBLOCK);
}

void ClientViewImpl::after_durable(std::function<void()> step) {
    Deferred* d = deferring();
    if (d && d->pending()) {
        d->after_.push_back(std::move(step));
    } else {
        step();
    }
}

Result<uint64_t> ClientViewImpl::commit_ops(const std::vector<Op>& ops, LoggedWrite* write) {
    if (!journal_) return errno_error(EROFS);
    // Its failure was logged when it stopped; not again for every call since.
    if (journal_->stopped()) return errno_error(EIO);
    std::string record = encode_ops(ops);
    if (Deferred* d = deferring()) {
        // The compaction this record would start syncs files and the log's checkpoint: not on
        // a thread that must not block. Nothing is changed yet.
        if (compaction_due(journal_->bytes() + kRecordFrameBytes + record.size())) {
            return would_block(*d);
        }
    }
    Result<uint64_t> position = journal_->append(record, write);
    if (!position.ok()) return io_failed(position.failure());
    for (const Op& op : ops) state_.apply(op);
    // Not with a logged write: its bytes reach the data file only after this returns, and the
    // checkpoint a compaction makes waits for them (CommitLog::written). finish_write compacts
    // once they are there.
    if (!write) maybe_compact_locked();
    return position;
}

void ClientViewImpl::maybe_compact_locked() {
    if (!compaction_due(journal_->bytes())) return;
    Result<void> r = compact_locked();
    if (!r.ok()) {
        store_log().warn("client {}: compaction failed: {}", mac_.to_string(), r.message());
    }
}

Result<void> ClientViewImpl::wait(const std::shared_ptr<Journal>& journal,
                                  uint64_t position) const {
    Result<void> r = journal->wait_durable(position);
    // The journal logged its failure, once, when its fdatasync failed.
    if (!r.ok()) return Error(errno_error(EIO), r.failure().context());
    return {};
}

Error ClientViewImpl::io_failed(const Error& e) const {
    store_log().error("client {}: {}", mac_.to_string(), e.message());
    return Error(errno_error(e.code().value() == ENOSPC ? ENOSPC : EIO), e.context());
}

Result<void> ClientViewImpl::compact_locked() {
    if (log_) {
        // The snapshot stands for every record so far, including sizes whose bytes only the
        // log holds yet: those must be in their data files before the log forgets them.
        if (Result<void> c = log_->checkpoint(); !c.ok()) return c;
    }
    std::vector<std::string> records = state_.snapshot();
    Result<void> r = write_snapshot(env_, dir_ / "snapshot", records);
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
    Result<void> r = env_.sync_dir(objects_dir());
    if (!r.ok()) {
        objects_dir_dirty_ = true;
        return io_failed(r.failure());
    }
    return {};
}

Result<std::shared_ptr<BackingFile>> ClientViewImpl::data_file(ObjectId id) const {
    MutexLock lock(files_mu_);
    auto it = files_.find(id);
    if (it != files_.end()) return it->second;
    Result<int> fd = env_.open(data_path(id), O_RDWR | O_NOFOLLOW);
    if (!fd.ok()) return io_failed(fd.failure());
    auto file = std::make_shared<BackingFile>(*fd);
    if (files_.size() >= kOpenDataFiles) files_.erase(files_.begin());
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
    Result<void> saved = save_delta_meta(env_, dir_ / "delta.meta", meta);
    if (!saved.ok()) {
        store_log().error("client {}: {}", mac_.to_string(), saved.message());
        return saved;
    }
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
    Result<void> moved = env_.rename(dir_, trash);
    if (moved.error() == std::errc::no_such_file_or_directory) moved = {};
    if (moved.ok()) moved = env_.sync_dir(dir_.parent_path());
    if (!moved.ok()) {
        store_log().error("client {}: reset: {}", mac_.to_string(), moved.message());
        return moved;
    }
    journal_.reset();
    meta_.first_id = state_.next_id;  // ids are never reused, not even across a reset
    if (Result<void> r = env_.remove_all(trash); !r.ok()) {
        store_log().warn("client {}: {}", mac_.to_string(), r.message());
    }
    Result<void> r = load();
    if (r.ok()) store_log().info("client {}: delta reset", mac_.to_string());
    return r;
}

}  // namespace rootfarm::store
