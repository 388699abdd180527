// ClientViewImpl: namespace operations and SETATTR. Each one is a single journal record,
// durable before it returns (docs/pi-boot.md NFS 17).

#include <unistd.h>

#include "store/fs_util.h"
#include "store/names.h"
#include "store/txn.h"
#include "store/view.h"

namespace rootfarm::store {

namespace {

// Linux's limit for a symlink target: PATH_MAX (4096) counts the terminating NUL, so symlink(2)
// takes at most 4095 bytes.
constexpr size_t kMaxSymlink = 4095;
// ext4's link limit; NFS clients see EMLINK beyond it.
constexpr uint32_t kMaxLinks = 65000;

std::error_code err(int e) {
    return errno_error(e);
}

}  // namespace

Result<void> ClientViewImpl::check_writable(uint64_t more_bytes) const {
    // Written so that no sum can wrap past 2^64 and slip under the quota.
    if (quota_ > 0 && (more_bytes > quota_ || state_.usage() > quota_ - more_bytes)) {
        return err(EDQUOT);
    }
    return {};
}

Result<NewObject> ClientViewImpl::make_object(ObjectId dir, std::string_view name,
                                              DeltaObject object, const SetAttrArgs& attrs,
                                              Owner owner, uint64_t& position) {
    if (int e = check_name(name)) return err(e);
    if (attrs.size && *attrs.size > kMaxFileSize) return err(EFBIG);
    Result<Obj> d = find_dir(dir);
    if (!d.ok()) return d.error();
    if (entry(*d, name) != 0) return err(EEXIST);
    if (Result<void> q = check_writable(2 * kMetadataCost); !q.ok()) return q.error();
    bool is_dir = object.attr.type == FileType::kDirectory;
    if (is_dir && attr_of(*d).nlink >= kMaxLinks) return err(EMLINK);

    Time t = now();
    ObjectId id = state_.next_id;
    object.attr.uid = owner.uid;
    object.attr.gid = owner.gid;
    object.attr.atime = object.attr.mtime = object.attr.ctime = t;
    SetAttrArgs initial = attrs;
    initial.size.reset();  // a new file is empty; a size would make it all hole anyway
    if (object.attr.type == FileType::kRegular) initial.size = attrs.size;
    apply_setattr(object.attr, initial, t);
    if (is_dir) object.parent = dir;

    NewObject out;
    out.dir.before = wcc_of(*d);
    Txn txn(*this);
    txn.add(id, std::move(object));
    txn.put_entry(*d, name, id);
    txn.dir_changed(*d, t, is_dir ? 1 : 0);
    Result<uint64_t> p = commit_ops(txn.ops());
    if (!p.ok()) return p.error();
    position = *p;
    out.id = id;
    out.attr = attr_of(*find(id));
    out.dir.after = attr_of(*find(dir));
    return out;
}

Result<NewObject> ClientViewImpl::create(ObjectId dir, std::string_view name,
                                         const CreateArgs& args) {
    std::shared_ptr<BackingFile> cut;  // UNCHECKED over a file, with a smaller size
    Result<NewObject> r = mutate<NewObject>([&](uint64_t& position) -> Result<NewObject> {
        Result<Obj> d = find_dir(dir);
        if (!d.ok()) return d.error();
        if (ObjectId existing = check_name(name) == 0 ? entry(*d, name) : 0) {
            std::optional<Obj> o = find(existing);
            if (!o) return err(ESTALE);
            NewObject out;
            out.id = existing;
            out.dir.before = wcc_of(*d);
            // RFC 1813 §3.3.8: GUARDED fails on an existing name; EXCLUSIVE succeeds only
            // for the retransmission of the call that created it (same verifier).
            bool same_exclusive = args.mode == CreateArgs::Mode::kExclusive && o->delta &&
                                  o->delta->has(DeltaObject::kNew) &&
                                  o->delta->verifier == args.verifier &&
                                  o->type() == FileType::kRegular;
            bool unchecked =
                args.mode == CreateArgs::Mode::kUnchecked && o->type() == FileType::kRegular;
            if (!same_exclusive && !unchecked) return err(EEXIST);
            if (unchecked && args.attrs.size) {
                // UNCHECKED over an existing file applies the size (Linux opens O_TRUNC so).
                SetAttrArgs truncate;
                truncate.size = args.attrs.size;
                Result<Wcc> r = setattr_locked(existing, truncate, position, cut);
                if (!r.ok()) return r.error();
            }
            out.attr = attr_of(*find(existing));
            out.dir.after = attr_of(*find(dir));
            return out;
        }
        DeltaObject o;
        o.attr.type = FileType::kRegular;
        o.attr.mode = 0644;
        o.attr.nlink = 1;
        SetAttrArgs attrs = args.attrs;
        if (args.mode == CreateArgs::Mode::kExclusive) {
            // The verifier is kept with the object, not in its times: the client's SETATTR
            // after an exclusive create must not erase it (docs/pi-boot.md NFS 8).
            o.verifier = args.verifier;
            attrs = SetAttrArgs{};
        }
        return make_object(dir, name, std::move(o), attrs, args.owner, position);
    });
    if (!r.ok()) return r;
    if (Result<void> s = sync_cut(r->id, cut); !s.ok()) return s.failure();
    return r;
}

Result<NewObject> ClientViewImpl::mkdir(ObjectId dir, std::string_view name,
                                        const SetAttrArgs& attrs, Owner owner) {
    return mutate<NewObject>([&](uint64_t& position) {
        DeltaObject o;
        o.attr.type = FileType::kDirectory;
        o.attr.mode = 0755;
        o.attr.nlink = 2;
        o.attr.size = 4096;
        return make_object(dir, name, std::move(o), attrs, owner, position);
    });
}

Result<NewObject> ClientViewImpl::symlink(ObjectId dir, std::string_view name,
                                          std::string_view target, const SetAttrArgs& attrs,
                                          Owner owner) {
    return mutate<NewObject>([&](uint64_t& position) -> Result<NewObject> {
        // A NUL would cut the target short for every client that reads it as a C string.
        if (target.empty() || target.find('\0') != std::string_view::npos) return err(EINVAL);
        if (target.size() > kMaxSymlink) return err(ENAMETOOLONG);
        DeltaObject o;
        o.attr.type = FileType::kSymlink;
        o.attr.mode = 0777;
        o.attr.nlink = 1;
        o.attr.size = target.size();
        o.target = target;
        SetAttrArgs a = attrs;
        a.size.reset();
        return make_object(dir, name, std::move(o), a, owner, position);
    });
}

Result<NewObject> ClientViewImpl::mknod(ObjectId dir, std::string_view name, FileType type,
                                        uint32_t rdev_major, uint32_t rdev_minor,
                                        const SetAttrArgs& attrs, Owner owner) {
    return mutate<NewObject>([&](uint64_t& position) -> Result<NewObject> {
        if (type != FileType::kChar && type != FileType::kBlock && type != FileType::kSocket &&
            type != FileType::kFifo) {
            return err(EINVAL);
        }
        // The device exists only as metadata: no mknod(2), so no privilege is needed.
        DeltaObject o;
        o.attr.type = type;
        o.attr.mode = 0644;
        o.attr.nlink = 1;
        if (type == FileType::kChar || type == FileType::kBlock) {
            o.attr.rdev_major = rdev_major;
            o.attr.rdev_minor = rdev_minor;
        }
        return make_object(dir, name, std::move(o), attrs, owner, position);
    });
}

Result<LinkResult> ClientViewImpl::link(ObjectId file, ObjectId dir, std::string_view name) {
    return mutate<LinkResult>([&](uint64_t& position) -> Result<LinkResult> {
        if (int e = check_name(name)) return err(e);
        std::optional<Obj> f = find(file);
        if (!f) return err(ESTALE);
        Result<Obj> d = find_dir(dir);
        if (!d.ok()) return d.error();
        if (f->type() == FileType::kDirectory) return err(EPERM);  // link(2) on a directory
        if (entry(*d, name) != 0) return err(EEXIST);
        if (attr_of(*f).nlink >= kMaxLinks) return err(EMLINK);
        if (Result<void> q = check_writable(kMetadataCost); !q.ok()) return q.error();
        Time t = now();
        LinkResult out;
        out.dir.before = wcc_of(*d);
        Txn txn(*this);
        DeltaObject& o = txn.touch(*f);
        ++o.attr.nlink;
        o.attr.ctime = t;
        txn.put_entry(*d, name, file);
        txn.dir_changed(*d, t);
        Result<uint64_t> p = commit_ops(txn.ops());
        if (!p.ok()) return p.error();
        position = *p;
        out.file = attr_of(*find(file));
        out.dir.after = attr_of(*find(dir));
        return out;
    });
}

Result<Wcc> ClientViewImpl::remove_name(ObjectId dir, std::string_view name, bool want_dir,
                                        uint64_t& position, ObjectId& gone_data) {
    if (name == "." || name == "..") return err(want_dir && name == ".." ? ENOTEMPTY : EINVAL);
    if (int e = check_name(name)) return err(e == ENAMETOOLONG ? e : ENOENT);
    Result<Obj> d = find_dir(dir);
    if (!d.ok()) return d.error();
    ObjectId id = entry(*d, name);
    if (id == 0) return err(ENOENT);
    std::optional<Obj> o = find(id);
    if (!o) return err(ENOENT);
    bool is_dir = o->type() == FileType::kDirectory;
    if (want_dir && !is_dir) return err(ENOTDIR);
    if (!want_dir && is_dir) return err(EISDIR);
    if (is_dir && !dir_empty(*o)) return err(ENOTEMPTY);
    Time t = now();
    Wcc out;
    out.before = wcc_of(*d);
    Txn txn(*this);
    txn.remove_entry(*d, name);
    txn.dir_changed(*d, t, is_dir ? -1 : 0);
    bool had_data = o->delta && o->delta->has(DeltaObject::kData);
    bool gone = txn.unlink(*o, t);
    Result<uint64_t> p = commit_ops(txn.ops());
    if (!p.ok()) return p.error();
    position = *p;
    if (gone && had_data) gone_data = id;
    out.after = attr_of(*find(dir));
    return out;
}

Result<Wcc> ClientViewImpl::remove(ObjectId dir, std::string_view name) {
    ObjectId gone_data = 0;
    Result<Wcc> r = mutate<Wcc>(
        [&](uint64_t& position) { return remove_name(dir, name, false, position, gone_data); });
    if (r.ok() && gone_data != 0) {
        after_durable([view = shared_from_this(), gone_data] { view->drop_data_file(gone_data); });
    }
    return r;
}

Result<Wcc> ClientViewImpl::rmdir(ObjectId dir, std::string_view name) {
    ObjectId unused = 0;  // directories have no data file
    return mutate<Wcc>(
        [&](uint64_t& position) { return remove_name(dir, name, true, position, unused); });
}

Result<RenameResult> ClientViewImpl::rename(ObjectId from_dir, std::string_view from_name,
                                            ObjectId to_dir, std::string_view to_name) {
    ObjectId gone_data = 0;
    Result<RenameResult> r = mutate<RenameResult>([&](uint64_t& position) -> Result<RenameResult> {
        if (from_name == "." || from_name == "..") return err(EINVAL);
        if (int e = check_name(from_name)) return err(e == ENAMETOOLONG ? e : ENOENT);
        if (int e = check_name(to_name)) return err(e);
        Result<Obj> fd = find_dir(from_dir);
        if (!fd.ok()) return fd.error();
        Result<Obj> td = find_dir(to_dir);
        if (!td.ok()) return td.error();
        RenameResult out;
        out.from_dir.before = wcc_of(*fd);
        out.to_dir.before = wcc_of(*td);
        ObjectId src = entry(*fd, from_name);
        if (src == 0) return err(ENOENT);
        std::optional<Obj> s = find(src);
        if (!s) return err(ENOENT);
        ObjectId dst = entry(*td, to_name);
        if (dst == src) {
            // POSIX: both names are the same file; nothing happens.
            out.from_dir.after = attr_of(*fd);
            out.to_dir.after = attr_of(*td);
            return out;
        }
        bool src_dir = s->type() == FileType::kDirectory;
        std::optional<Obj> d;
        if (dst != 0) {
            d = find(dst);
            if (!d) return err(ESTALE);
            bool dst_dir = d->type() == FileType::kDirectory;
            if (src_dir && !dst_dir) return err(ENOTDIR);
            if (!src_dir && dst_dir) return err(EISDIR);
            if (dst_dir && !dir_empty(*d)) return err(ENOTEMPTY);
        }
        if (src_dir) {
            // A directory cannot move below itself.
            for (Obj p = *td;; p = *find(parent_of(p))) {
                if (p.id == src) return err(EINVAL);
                if (p.id == image_->root()) break;
            }
        }
        if (Result<void> q = check_writable(2 * kMetadataCost); !q.ok() && dst == 0) {
            return q.error();
        }
        Time t = now();
        Txn txn(*this);
        txn.remove_entry(*fd, from_name);
        txn.put_entry(*td, to_name, src);
        if (d) {
            bool dst_dir = d->type() == FileType::kDirectory;
            if (txn.unlink(*d, t) && d->delta && d->delta->has(DeltaObject::kData)) {
                gone_data = dst;
            }
            if (dst_dir) txn.dir_changed(*td, t, -1);
        }
        if (src_dir && fd->id != td->id) {
            txn.dir_changed(*fd, t, -1);
            txn.dir_changed(*td, t, 1);
            txn.touch(*s).parent = to_dir;
        }
        txn.dir_changed(*fd, t);
        txn.dir_changed(*td, t);
        txn.touch(*s).attr.ctime = t;  // Linux updates the moved inode's ctime
        Result<uint64_t> p = commit_ops(txn.ops());
        if (!p.ok()) return p.error();
        position = *p;
        out.from_dir.after = attr_of(*find(from_dir));
        out.to_dir.after = attr_of(*find(to_dir));
        return out;
    });
    if (r.ok() && gone_data != 0) {
        after_durable([view = shared_from_this(), gone_data] { view->drop_data_file(gone_data); });
    }
    return r;
}

Result<Wcc> ClientViewImpl::setattr_locked(ObjectId id, const SetAttrArgs& args, uint64_t& position,
                                           std::shared_ptr<BackingFile>& cut) {
    std::optional<Obj> o = find(id);
    if (!o) return err(ESTALE);
    Wcc out;
    out.before = wcc_of(*o);
    Attr current = attr_of(*o);
    // RFC 1813 §3.3.2: the guard is the ctime the client last saw, to the nanosecond.
    if (args.guard_ctime && *args.guard_ctime != current.ctime) return err(ECANCELED);
    bool has_data = o->delta && o->delta->has(DeltaObject::kData);
    if (args.size) {
        if (o->type() == FileType::kDirectory) return err(EISDIR);
        if (o->type() != FileType::kRegular) return err(EINVAL);
        if (*args.size > kMaxFileSize) return err(EFBIG);
        if (*args.size > current.size && has_data) {
            if (Result<void> q = check_writable(*args.size - current.size); !q.ok()) {
                return q.error();
            }
        }
    }
    bool resize = args.size && *args.size != current.size;
    bool lower_data = o->lower && !(o->delta && o->delta->has(DeltaObject::kNew)) && !has_data;
    // A copy-up, or a data file cut and synced: more than a record's wait.
    if (Deferred* d = deferring(); d && resize && (lower_data || has_data)) return would_block(*d);
    if (resize && lower_data) {
        // Truncating an image file is a data change: the bytes cut off must read as zeros if
        // the file grows again, so the kept part is copied up.
        uint64_t keep = std::min(*args.size, current.size);
        if (Result<void> q = check_writable(*args.size); !q.ok()) return q.error();
        if (Result<void> c = copy_up(*o, keep); !c.ok()) return c.error();
        has_data = true;
    }
    std::shared_ptr<BackingFile> file;
    if (resize && has_data) {
        Result<std::shared_ptr<BackingFile>> f = data_file(id);
        if (!f.ok()) return f.error();
        file = *f;
    }
    Txn txn(*this);
    DeltaObject& d = txn.touch(*o);
    if (has_data) d.flags |= DeltaObject::kData;
    apply_setattr(d.attr, args, now());
    Result<uint64_t> p = commit_ops(txn.ops());
    if (!p.ok()) return p.error();
    position = *p;
    // The data file follows the journal, never leads it: killed between the two, the replay
    // has the new size and loading the delta cuts a longer file to it (view_state.cc), and
    // bytes below the size past a shorter file's end read as zeros. Cut first, a kill before
    // the record left the old size over zeros: a SETATTR whose reply was lost half-applied.
    if (file) {
        Result<void> t = env_.ftruncate(file->fd(), data_path(id), *args.size);
        if (!t.ok()) return io_failed(t.failure());
        if (*args.size < current.size) cut = file;
    }
    unstable_.erase(id);
    out.after = attr_of(*find(id));
    return out;
}

Result<Wcc> ClientViewImpl::setattr(ObjectId id, const SetAttrArgs& args) {
    std::shared_ptr<BackingFile> cut;
    Result<Wcc> r =
        mutate<Wcc>([&](uint64_t& position) { return setattr_locked(id, args, position, cut); });
    if (!r.ok()) return r;
    if (Result<void> s = sync_cut(id, cut); !s.ok()) return s.failure();
    return r;
}

Result<void> ClientViewImpl::sync_cut(ObjectId id, const std::shared_ptr<BackingFile>& cut) {
    if (!cut) return {};
    // Once the new size is in the journal, not before: a crash in between finds the data
    // file longer than its object, and load() cuts it. And before the reply: were the cut not
    // durable when the file grows again (a larger SETATTR size syncs only the journal), a
    // crash would bring the cut bytes back where zeros were promised.
    Result<void> s = env_.fdatasync(cut->fd(), data_path(id));
    if (!s.ok()) return io_failed(s.failure());
    return data_synced(id);
}

}  // namespace rootfarm::store
