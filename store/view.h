#pragma once

// ClientViewImpl: one client's image merged with its delta (delta.h), and the read-only view of
// a pristine image (no delta; mutating calls answer EROFS).
//
// Locking: one shared_mutex per view. Reads take it shared. A mutation takes it exclusive,
// checks, applies its operations in memory and appends them to the journal, then releases it
// and waits for the journal's group commit before returning (or leaves that wait to a
// store::Deferred), so concurrent mutations of one client share an fdatasync.

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "core/mutex.h"
#include "store/delta.h"
#include "store/handle.h"
#include "store/image_index.h"
#include "store/journal.h"
#include "store/store.h"

namespace rootfarm::store {

class ClientViewImpl final : public ClientView,
                             public std::enable_shared_from_this<ClientViewImpl> {
  public:
    // The view of `mac` with its delta in `dir` (created if missing, replayed if present). Its
    // files are written through `env`, which must outlive the view. With `log`, its journal
    // records are durable through the store's commit log (store/commit_log.h).
    static Result<std::shared_ptr<ClientViewImpl>> open(
        const MacAddr& mac, std::shared_ptr<const ImageIndex> image, const HandleKey& key, Env& env,
        const std::filesystem::path& dir, uint64_t quota, std::shared_ptr<CommitLog> log = nullptr,
        uint64_t compact_bytes = 4u << 20);
    // A read-only look at the delta in `dir` as it is on disk, changing nothing (the server
    // may be running it). ENOENT if there is no delta.
    static Result<std::shared_ptr<ClientViewImpl>> inspect(const MacAddr& mac,
                                                           std::shared_ptr<const ImageIndex> image,
                                                           const HandleKey& key, Env& env,
                                                           const std::filesystem::path& dir);
    // The read-only view of the pristine image.
    static std::shared_ptr<ClientViewImpl> pristine(std::shared_ptr<const ImageIndex> image,
                                                    const HandleKey& key);

    // Drops the delta while serving: removes `dir_`, starts an empty one with a new salt.
    Result<void> reset();
    Result<std::vector<DeltaChange>> diff() const;
    // Moves the view to another image: keeping the delta (applied by object id) or dropping it
    // as reset() does.
    Result<void> switch_image(std::shared_ptr<const ImageIndex> image, bool keep_delta);
    // Journal records bytes and fdatasync count (tests, status).
    uint64_t journal_syncs() const;
    // Writes a snapshot and empties the journal now.
    Result<void> compact();

    const MacAddr& mac() const override { return mac_; }
    bool defers_durability() const override { return log_ != nullptr && !read_only_; }
    const std::string& image() const override;
    ObjectId root() const override;
    ObjectId boot_root() const override;

    Handle handle(ObjectId id) const override;
    Result<ObjectId> resolve(std::span<const uint8_t> handle) const override;

    Result<Attr> getattr(ObjectId id) const override;
    Result<ObjectId> lookup(ObjectId dir, std::string_view name) const override;
    Result<std::string> readlink(ObjectId id) const override;
    Result<DirPage> readdir(ObjectId dir, uint64_t cookie, size_t max_entries) const override;
    FsStat fsstat() const override;

    Result<ReadTarget> open_read(ObjectId id) const override;
    Result<WriteTarget> begin_write(ObjectId id) override;
    Result<void> write_data(ObjectId id, const WriteTarget& target, uint64_t offset,
                            std::string_view data) override;
    Result<Attr> end_write(ObjectId id, uint64_t offset, uint64_t count, bool stable) override;
    Result<Attr> write(ObjectId id, const WriteTarget& target, uint64_t offset,
                       std::string_view data, bool stable) override;
    Result<void> commit(ObjectId id) override;

    Result<Wcc> setattr(ObjectId id, const SetAttrArgs& args) override;
    Result<NewObject> create(ObjectId dir, std::string_view name, const CreateArgs& args) override;
    Result<NewObject> mkdir(ObjectId dir, std::string_view name, const SetAttrArgs& attrs,
                            Owner owner) override;
    Result<NewObject> symlink(ObjectId dir, std::string_view name, std::string_view target,
                              const SetAttrArgs& attrs, Owner owner) override;
    Result<NewObject> mknod(ObjectId dir, std::string_view name, FileType type, uint32_t rdev_major,
                            uint32_t rdev_minor, const SetAttrArgs& attrs, Owner owner) override;
    Result<LinkResult> link(ObjectId file, ObjectId dir, std::string_view name) override;
    Result<Wcc> remove(ObjectId dir, std::string_view name) override;
    Result<Wcc> rmdir(ObjectId dir, std::string_view name) override;
    Result<RenameResult> rename(ObjectId from_dir, std::string_view from_name, ObjectId to_dir,
                                std::string_view to_name) override;
    Result<size_t> generate(std::span<const GeneratedFile> files) override;

    // An object as this view sees it: its delta record and/or its image node.
    struct Obj {
        ObjectId id = 0;
        const DeltaObject* delta = nullptr;
        const ImageNode* lower = nullptr;
        FileType type() const;
    };

  private:
    friend class Txn;
    friend class DiffWalker;
    ClientViewImpl(const MacAddr& mac, std::shared_ptr<const ImageIndex> image,
                   const HandleKey& key, Env& env);

    // Under mu_ exclusive: delta.meta, snapshot, journal, objects/ (created if missing).
    Result<void> load();
    // The state in delta.meta, snapshot and journal, applied to state_.
    Result<void> replay(bool writable);
    std::filesystem::path objects_dir() const { return dir_ / "objects"; }
    std::filesystem::path data_path(ObjectId id) const;

    // Everything below: mu_ held (shared for reads, exclusive for changes).
    std::optional<Obj> find(ObjectId id) const;
    Result<Obj> find_dir(ObjectId id) const;
    Attr attr_of(const Obj& o) const;
    WccAttr wcc_of(const Obj& o) const;
    // The entry `name` of directory `dir`: object id, 0 if none.
    ObjectId entry(const Obj& dir, std::string_view name) const;
    // Whether the image has an entry `name` under `dir` (a removal must leave a whiteout).
    bool lower_entry(const Obj& dir, std::string_view name) const;
    ObjectId parent_of(const Obj& dir) const;
    bool dir_empty(const Obj& dir) const;
    // Calls fn(name, cookie, id) for each entry past cookie `after` (0: all), in READDIR order
    // (names.h), until it returns false.
    using EntryFn = std::function<bool(std::string_view, uint64_t, ObjectId)>;
    void for_each_entry(const Obj& dir, uint64_t after, const EntryFn& fn) const;
    Result<void> check_writable(uint64_t more_bytes) const;
    Result<std::shared_ptr<BackingFile>> data_file(ObjectId id) const;
    Result<NewObject> make_object(ObjectId dir, std::string_view name, DeltaObject object,
                                  const SetAttrArgs& attrs, Owner owner, uint64_t& position);
    // `cut` is set to the data file if it was made shorter: sync_cut() it after the wait.
    Result<Wcc> setattr_locked(ObjectId id, const SetAttrArgs& args, uint64_t& position,
                               std::shared_ptr<BackingFile>& cut);
    // Makes a data file's cut durable, once the journal holds its new size (nullptr: none).
    Result<void> sync_cut(ObjectId id, const std::shared_ptr<BackingFile>& cut);
    // REMOVE and RMDIR; `gone_data` is set to an object whose data file can go.
    Result<Wcc> remove_name(ObjectId dir, std::string_view name, bool want_dir, uint64_t& position,
                            ObjectId& gone_data);
    // Copies the first `length` bytes of an image file into objects/<id> (durably: the
    // journal will say the data lives there) and caches its descriptor.
    Result<void> copy_up(const Obj& o, uint64_t length);
    // An empty objects/<id> for a client-made file.
    Result<void> create_data_file(ObjectId id);
    // The object at absolute `path`, following no symlinks.
    std::optional<Obj> find_path(std::string_view path) const;
    // Whole content of a small file (generate()): its data file, else its image file.
    Result<std::string> read_small(const Obj& o) const;
    // Replaces objects/<id> with `content`, durably (generate()).
    Result<void> write_data_file(ObjectId id, std::string_view content);
    // Forgets the data file of an object that is gone, once its removal is durable.
    void drop_data_file(ObjectId id);

    // Runs body(position) with mu_ held exclusively, then, with mu_ released, waits until the
    // journal holds everything up to `position` (0: nothing to wait for); under a Deferred
    // (store.h) it hands `position` to the Deferred instead.
    template <class T, class F>
    Result<T> mutate(F&& body);
    // The Deferred the calls of this thread report to, when this view can defer (it has the
    // commit log, whose sync thread completes deferred waits).
    Deferred* deferring() const { return log_ ? Deferred::current() : nullptr; }
    // Refuses a call that would block under `d` with EWOULDBLOCK (Deferred::would_block()).
    static std::error_code would_block(Deferred& d);
    // Runs `step` once the calls so far are durable: now, unless they are deferred.
    void after_durable(std::function<void()> step);

    // Appends `ops` to the journal (with `write`'s bytes, to the commit log) and applies them;
    // returns the position to wait for.
    Result<uint64_t> commit_ops(const std::vector<Op>& ops, LoggedWrite* write = nullptr);
    // end_write(), or with `logged` a stable write whose bytes go to the commit log with its
    // record and then to the data file.
    Result<Attr> finish_write(ObjectId id, uint64_t offset, uint64_t count, bool stable,
                              const std::string_view* logged);
    // After an fdatasync of `id`'s data file: the commit log must not write its older logged
    // writes over it again.
    Result<void> data_synced(ObjectId id) const;
    // Waits for `position` with mu_ released; `journal` is the journal it was appended to.
    Result<void> wait(const std::shared_ptr<Journal>& journal, uint64_t position) const;
    Result<void> compact_locked();
    // Compacts once the journal holds compact_bytes_ and more than the last snapshot.
    void maybe_compact_locked();
    // Whether a journal of `journal_bytes` is past that point.
    bool compaction_due(uint64_t journal_bytes) const {
        return journal_bytes > std::max(compact_bytes_, 2 * snapshot_bytes_);
    }
    Result<void> sync_objects_dir() const;
    // Turns a failed file operation into the error NFS sees (ENOSPC stays, anything else is
    // EIO), logging its full message ("fdatasync <path>: ...") once, here.
    Error io_failed(const Error& e) const;

    const MacAddr mac_;
    std::shared_ptr<const ImageIndex> image_;  // changes only in switch_image(), under mu_
    // Images this view was on before: kept so a name image() returned stays valid.
    std::vector<std::shared_ptr<const ImageIndex>> retired_;
    const HandleKey& key_;
    Env& env_;
    std::filesystem::path dir_;
    bool read_only_ = true;
    uint64_t quota_ = 0;

    mutable SharedMutex mu_;
    DeltaMeta meta_;
    DeltaState state_;
    std::shared_ptr<Journal> journal_;
    std::shared_ptr<CommitLog> log_;  // set at open, never changed
    // The journal is compacted into a snapshot once it holds this much and more than the last
    // snapshot: replay time stays bounded, and compaction cost stays proportional to the writes.
    uint64_t compact_bytes_ = 4u << 20;
    uint64_t snapshot_bytes_ = 0;
    // Objects whose size/mtime changed by unstable writes not yet journaled (COMMIT does it).
    std::unordered_set<ObjectId> unstable_;
    // Data files created since objects/ was last fsync'ed.
    mutable std::atomic<bool> objects_dir_dirty_ = false;
    mutable Mutex dir_sync_mu_;
    mutable Mutex files_mu_;
    mutable std::unordered_map<ObjectId, std::shared_ptr<BackingFile>> files_ GUARDED_BY(files_mu_);
};

template <class T, class F>
Result<T> ClientViewImpl::mutate(F&& body) {
    if (read_only_) return errno_error(EROFS);
    std::unique_lock lock(mu_);
    if (!journal_) return errno_error(EIO);
    uint64_t position = 0;
    Result<T> r = body(position);
    if (!r.ok() || position == 0) return r;
    std::shared_ptr<Journal> journal = journal_;
    lock.unlock();
    if (Deferred* d = deferring()) {
        // The journal's positions are the commit log's (Journal::append with a log).
        d->log_ = log_;
        d->position_ = std::max(d->position_, position);
        return r;
    }
    Result<void> w = wait(journal, position);
    if (!w.ok()) return w.error();
    return r;
}

}  // namespace rootfarm::store
