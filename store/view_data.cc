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

Result<Attr> ClientViewImpl::end_write(ObjectId id, uint64_t offset, uint64_t count, bool stable) {
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
            Result<uint64_t> p = commit_ops({op});
            if (!p.ok()) return p.error();
            position = *p;
            unstable_.erase(id);
        } else {
            // UNSTABLE (RFC 1813 §3.3.7): the new size waits in memory for COMMIT.
            state_.apply(op);
            unstable_.insert(id);
        }
        return attr_of(*find(id));
    });
    if (!r.ok() || !stable) return r;
    // FILE_SYNC: the data too. After the journal wait, which has already returned; order does
    // not matter as both must be done before the reply.
    if (Result<void> s = env_.fdatasync(file->fd(), data_path(id)); !s.ok()) {
        return io_failed(s.failure());
    }
    {
        std::shared_lock lock(mu_);
        if (Result<void> s = sync_objects_dir(); !s.ok()) return s.failure();
    }
    return r;
}

Result<void> ClientViewImpl::commit(ObjectId id) {
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
    }
    {
        // Shared: the directory's fsync must not hold up this client's reads (GETATTR) as the
        // exclusive lock would.
        std::shared_lock lock(mu_);
        if (Result<void> s = sync_objects_dir(); !s.ok()) return s.failure();
    }
    return wait(journal, position);
}

}  // namespace rootfarm::store
