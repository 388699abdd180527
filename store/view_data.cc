// ClientViewImpl: file data — copy-up, writes, COMMIT.

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "core/log.h"
#include "store/fs_util.h"
#include "store/txn.h"
#include "store/view.h"

namespace rootfarm::store {

Result<void> ClientViewImpl::copy_up(const Obj& o, uint64_t length) {
    Result<std::shared_ptr<BackingFile>> src = image_->open_file(*o.lower);
    if (!src.ok()) return src.error();
    std::filesystem::path path = data_path(o.id);
    Result<int> fd = env_.open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (!fd.ok()) return io_failed(fd.failure());
    auto file = std::make_shared<BackingFile>(*fd);
    uint64_t lower_size = std::min(length, o.lower->size);
    Result<void> r = env_.copy_file_data((*src)->fd(), *fd, path, lower_size);
    if (r.ok()) r = env_.ftruncate(*fd, path, length);
    // The journal record that follows says "the data is in objects/<id> now"; once it is
    // durable the image's bytes must be too, or a crash would lose them.
    if (r.ok()) r = env_.fdatasync(*fd, path);
    if (r.ok()) {
        objects_dir_dirty_ = true;
        r = sync_objects_dir();  // logs its own failure
        if (!r.ok()) {
            (void)env_.unlink(path);
            return r;
        }
    }
    if (!r.ok()) {
        (void)env_.unlink(path);
        return io_failed(r.failure());
    }
    MutexLock lock(files_mu_);
    files_.insert_or_assign(o.id, std::move(file));
    return {};
}

Result<void> ClientViewImpl::create_data_file(ObjectId id) {
    Result<int> fd = env_.open(data_path(id), O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (!fd.ok()) return io_failed(fd.failure());
    // No data to lose yet: the directory is synced with the first stable write or COMMIT.
    objects_dir_dirty_ = true;
    MutexLock lock(files_mu_);
    files_.insert_or_assign(id, std::make_shared<BackingFile>(*fd));
    return {};
}

void ClientViewImpl::drop_data_file(ObjectId id) {
    {
        MutexLock lock(files_mu_);
        files_.erase(id);
    }
    std::shared_lock lock(mu_);
    if (find(id)) return;  // a reset or replay brought it back meanwhile
    // Not synced: a crash that brings the name back leaves an orphan load() removes.
    if (Result<void> r = env_.unlink(data_path(id)); !r.ok()) {
        store_log().warn("client {}: {}", mac_.to_string(), r.message());
    }
}

Result<void> ClientViewImpl::write_data(ObjectId id, const WriteTarget& target, uint64_t offset,
                                        std::string_view data) {
    Result<void> w = env_.pwrite(target.file->fd(), data_path(id), data, offset);
    if (!w.ok()) return io_failed(w.failure());
    return {};
}

Result<WriteTarget> ClientViewImpl::begin_write(ObjectId id) {
    // Copy-ups, data syncs: never under a Deferred (store.h).
    if (Deferred* d = deferring()) return would_block(*d);
    return mutate<WriteTarget>([&](uint64_t& position) -> Result<WriteTarget> {
        std::optional<Obj> o = find(id);
        if (!o) return errno_error(ESTALE);
        if (o->type() == FileType::kDirectory) return errno_error(EISDIR);
        if (o->type() != FileType::kRegular) return errno_error(EINVAL);
        WriteTarget out;
        out.before = wcc_of(*o);
        if (o->delta && o->delta->has(DeltaObject::kData)) {
            Result<std::shared_ptr<BackingFile>> f = data_file(id);
            if (!f.ok()) return f.error();
            out.file = std::move(*f);
            return out;
        }
        Attr a = attr_of(*o);
        if (Result<void> q = check_writable(a.size); !q.ok()) return q.error();
        bool lower_data = o->lower && !(o->delta && o->delta->has(DeltaObject::kNew));
        Result<void> made = lower_data ? copy_up(*o, a.size) : create_data_file(id);
        if (!made.ok()) return made.error();
        // Not waited for: the write it prepares is promised only by a stable end_write or a
        // COMMIT, and both wait for the journal up to its end.
        Txn txn(*this);
        txn.touch(*o).flags |= DeltaObject::kData;
        Result<uint64_t> p = commit_ops(txn.ops());
        if (!p.ok()) {
            MutexLock lock(files_mu_);
            files_.erase(id);
            return p.error();
        }
        Result<std::shared_ptr<BackingFile>> f = data_file(id);
        if (!f.ok()) return f.error();
        out.file = std::move(*f);
        return out;
    });
}

namespace {

// A stable write up to this size carries its bytes in the commit log: one fdatasync of the log,
// shared with every client, instead of one of its data file. Larger ones (a whole file copied
// in 1 MiB WRITEs) sync their data file, rather than writing every byte twice.
constexpr size_t kLoggedWriteMax = 64 * 1024;

}  // namespace

Result<Attr> ClientViewImpl::write(ObjectId id, const WriteTarget& target, uint64_t offset,
                                   std::string_view data, bool stable) {
    if (stable && log_ && data.size() <= kLoggedWriteMax) {
        return finish_write(id, offset, data.size(), true, &data);
    }
    if (Result<void> w = write_data(id, target, offset, data); !w.ok()) return w.error();
    return end_write(id, offset, data.size(), stable);
}

Result<Attr> ClientViewImpl::end_write(ObjectId id, uint64_t offset, uint64_t count, bool stable) {
    return finish_write(id, offset, count, stable, nullptr);
}

Result<Attr> ClientViewImpl::finish_write(ObjectId id, uint64_t offset, uint64_t count, bool stable,
                                          const std::string_view* logged) {
    // Copy-ups, data syncs: never under a Deferred (store.h).
    if (Deferred* d = deferring()) return would_block(*d);
    std::shared_ptr<BackingFile> file;
    Result<Attr> r = mutate<Attr>([&](uint64_t& position) -> Result<Attr> {
        std::optional<Obj> o = find(id);
        if (!o) return errno_error(ESTALE);
        if (!o->delta || !o->delta->has(DeltaObject::kData)) return errno_error(EINVAL);
        Result<std::shared_ptr<BackingFile>> f = data_file(id);
        if (!f.ok()) return f.error();
        file = *f;
        uint64_t size = o->delta->attr.size;
        if (count > kMaxFileSize || offset > kMaxFileSize - count) return errno_error(EFBIG);
        // Writing nothing changes no size, wherever it "ends" (write(2) of 0 bytes).
        uint64_t end = count == 0 ? 0 : offset + count;
        if (end > size) {
            if (Result<void> q = check_writable(end - size); !q.ok()) {
                if (logged) return q.error();  // nothing written yet
                // Over quota: this write's bytes beyond the old end go again, the state stays
                // whole. Only its own range: a truncate to the old end would also cut a
                // concurrent write to this file that is on disk but not yet recorded (the Linux
                // client sends WRITEs of one file in parallel), losing data it was promised.
                uint64_t from = std::max(offset, size);
                Result<void> z = env_.zero_range(file->fd(), data_path(id), from, end - from);
                if (!z.ok()) return io_failed(z.failure());
                return q.error();
            }
        }
        Op op;
        op.kind = Op::Kind::kPutObject;
        op.id = id;
        op.object = *o->delta;
        op.object.flags &= ~DeltaObject::kGenerated;  // the client wrote it: its own now
        op.object.attr.size = std::max(size, end);
        op.object.attr.mtime = op.object.attr.ctime = now();
        if (stable) {
            LoggedWrite write;
            if (logged) {
                write.object = id;
                write.offset = offset;
                write.bytes = *logged;
                write.fd = file->fd();
                write.path = data_path(id);
            }
            Result<uint64_t> p = commit_ops({op}, logged ? &write : nullptr);
            if (!p.ok()) return p.error();
            // After the log has the bytes: a kill in between leaves them in neither, or in the
            // log, whose replay writes them. Before, a kill could leave bytes in the data file
            // that a replay of older logged writes then partly covers.
            if (logged) {
                Result<void> w = env_.pwrite(file->fd(), data_path(id), *logged, offset);
                log_->written(write.ticket);
                if (!w.ok()) return io_failed(w.failure());
                maybe_compact_locked();
            }
            position = *p;
            unstable_.erase(id);
        } else {
            // UNSTABLE (RFC 1813 §3.3.7): the new size waits in memory for COMMIT.
            state_.apply(op);
            unstable_.insert(id);
        }
        return attr_of(*find(id));
    });
    // A logged write is durable with the log, which mutate() waited for.
    if (!r.ok() || !stable || logged) return r;
    // FILE_SYNC: the data too. After the journal wait, which has already returned; order does
    // not matter as both must be done before the reply.
    if (Result<void> s = env_.fdatasync(file->fd(), data_path(id)); !s.ok()) {
        return io_failed(s.failure());
    }
    if (Result<void> s = data_synced(id); !s.ok()) return s.failure();
    {
        std::shared_lock lock(mu_);
        if (Result<void> s = sync_objects_dir(); !s.ok()) return s.failure();
    }
    return r;
}

Result<void> ClientViewImpl::commit(ObjectId id) {
    // Copy-ups, data syncs: never under a Deferred (store.h).
    if (Deferred* d = deferring()) return would_block(*d);
    if (read_only_) return errno_error(EROFS);
    std::shared_ptr<BackingFile> file;
    std::shared_ptr<Journal> journal;
    uint64_t position = 0;
    {
        std::unique_lock lock(mu_);
        std::optional<Obj> o = find(id);
        if (!o) return errno_error(ESTALE);
        if (!journal_) return errno_error(EIO);
        if (unstable_.erase(id) > 0) {
            Op op;
            op.kind = Op::Kind::kPutObject;
            op.id = id;
            op.object = *o->delta;
            Result<uint64_t> p = commit_ops({op});
            if (!p.ok()) return p.error();
        }
        if (o->delta && o->delta->has(DeltaObject::kData)) {
            Result<std::shared_ptr<BackingFile>> f = data_file(id);
            if (!f.ok()) return f.error();
            file = *f;
        }
        journal = journal_;
        position = journal_->end();
    }
    if (file) {
        if (Result<void> s = env_.fdatasync(file->fd(), data_path(id)); !s.ok()) {
            return io_failed(s.failure());
        }
        if (Result<void> s = data_synced(id); !s.ok()) return s;
    }
    {
        // Shared: the directory's fsync must not hold up this client's reads (GETATTR) as the
        // exclusive lock would.
        std::shared_lock lock(mu_);
        if (Result<void> s = sync_objects_dir(); !s.ok()) return s.failure();
    }
    return wait(journal, position);
}

Result<void> ClientViewImpl::data_synced(ObjectId id) const {
    if (!log_) return {};
    LogMember member;
    {
        std::shared_lock lock(mu_);
        if (!journal_) return {};
        member = journal_->member();
    }
    // The log's replay would also have made the data file's name again: before it forgets the
    // writes, the name must be durable on its own.
    if (Result<void> s = sync_objects_dir(); !s.ok()) return s;
    Result<uint64_t> mark = log_->data_synced(member, id);
    if (!mark.ok()) return io_failed(mark.failure());
    if (*mark == 0) return {};
    Result<void> w = log_->wait_durable(*mark);
    if (!w.ok()) return Error(errno_error(EIO), w.failure().context());
    return {};
}

}  // namespace rootfarm::store
