// ClientViewImpl: the read side of the merged view, answered from memory.

#include <sys/statvfs.h>

#include "store/names.h"
#include "store/view.h"

namespace rootfarm::store {

namespace {

uint64_t round_up(uint64_t n, uint64_t to) {
    return (n + to - 1) / to * to;
}

}  // namespace

FileType ClientViewImpl::Obj::type() const {
    return delta ? delta->attr.type : lower->type;
}

std::optional<ClientViewImpl::Obj> ClientViewImpl::find(ObjectId id) const {
    const ImageNode* lower = id < kFirstClientId ? image_->node(id) : nullptr;
    if (auto it = state_.objects.find(id); it != state_.objects.end()) {
        if (it->second.has(DeltaObject::kDead)) return std::nullopt;
        return Obj{id, &it->second, lower};
    }
    if (!lower) return std::nullopt;
    return Obj{id, nullptr, lower};
}

Result<ClientViewImpl::Obj> ClientViewImpl::find_dir(ObjectId id) const {
    std::optional<Obj> o = find(id);
    if (!o) return errno_error(ESTALE);
    if (o->type() != FileType::kDirectory) return errno_error(ENOTDIR);
    return *o;
}

Attr ClientViewImpl::attr_of(const Obj& o) const {
    if (!o.delta) return image_->attr(*o.lower);
    Attr a = o.delta->attr;
    a.fsid = image_->fsid();
    a.fileid = o.id;
    if (o.delta->has(DeltaObject::kData)) {
        a.used = round_up(a.size, 4096);
    } else if (o.lower) {
        a.used = o.lower->used;
    } else {
        a.used = a.type == FileType::kDirectory ? 4096 : 0;
    }
    return a;
}

WccAttr ClientViewImpl::wcc_of(const Obj& o) const {
    Attr a = attr_of(o);
    return WccAttr{a.size, a.mtime, a.ctime};
}

ObjectId ClientViewImpl::entry(const Obj& dir, std::string_view name) const {
    if (auto d = state_.dirs.find(dir.id); d != state_.dirs.end()) {
        auto it = d->second.find(EntryRef{name_hash(name), name});
        if (it != d->second.end()) return it->second;
    }
    if (dir.lower && dir.lower->type == FileType::kDirectory) {
        if (const ImageNode* n = image_->lookup(*dir.lower, name)) return n->id;
    }
    return 0;
}

bool ClientViewImpl::lower_entry(const Obj& dir, std::string_view name) const {
    return dir.lower && image_->lookup(*dir.lower, name) != nullptr;
}

ObjectId ClientViewImpl::parent_of(const Obj& dir) const {
    if (dir.id == image_->root()) return dir.id;
    if (dir.delta && dir.delta->parent != 0) return dir.delta->parent;
    if (dir.lower) return image_->parent(*dir.lower).id;
    return image_->root();
}

void ClientViewImpl::for_each_entry(const Obj& dir, uint64_t after, const EntryFn& fn) const {
    // Two sequences in (hash, name) order: the image's entries and the delta's. Where both have a
    // name, the delta's entry wins (another object, or a whiteout). A rank counts the entries
    // listed before in the same hash, so both sequences start at the first entry of `after`'s.
    const CookiePosition from = cookie_position(after);
    std::span<const ImageChild> lower;
    size_t li = 0;
    if (dir.lower && dir.lower->type == FileType::kDirectory) {
        lower = image_->children(*dir.lower);
        li = image_->first_from(*dir.lower, from.hash);
    }
    const DeltaDir* delta = nullptr;
    DeltaDir::const_iterator di;
    if (auto d = state_.dirs.find(dir.id); d != state_.dirs.end()) {
        delta = &d->second;
        di = delta->lower_bound(EntryRef{from.hash, {}});
    }
    uint64_t hash = 0;  // no name hashes to 0 (names.h)
    uint64_t rank = 0;
    auto visit = [&](std::string_view name, uint64_t h, ObjectId id) {
        rank = h == hash ? rank + 1 : 0;
        hash = h;
        if (h == from.hash && rank <= from.rank) return true;
        return fn(name, entry_cookie(h, rank), id);
    };
    for (;;) {
        bool have_lower = li < lower.size();
        bool have_delta = delta && di != delta->end();
        if (!have_lower && !have_delta) return;
        int order = 0;  // <0: lower first, >0: delta first, 0: same name
        if (!have_delta) {
            order = -1;
        } else if (!have_lower) {
            order = 1;
        } else if (lower[li].hash != di->first.hash) {
            order = lower[li].hash < di->first.hash ? -1 : 1;
        } else {
            int c = image_->name_of(lower[li]).compare(di->first.name);
            order = c < 0 ? -1 : c > 0 ? 1 : 0;
        }
        if (order < 0) {
            const ImageChild& c = lower[li++];
            if (!visit(image_->name_of(c), c.hash, image_->node_of(c).id)) return;
            continue;
        }
        if (order == 0) ++li;
        const auto& [key, id] = *di++;
        if (id != 0 && !visit(key.name, key.hash, id)) return;
    }
}

bool ClientViewImpl::dir_empty(const Obj& dir) const {
    bool empty = true;
    for_each_entry(dir, 0, [&](std::string_view, uint64_t, ObjectId) {
        empty = false;
        return false;
    });
    return empty;
}

Handle ClientViewImpl::handle(ObjectId id) const {
    std::shared_lock lock(mu_);
    return key_.make(mac_, HandleFields{image_->generation(), id, meta_.salt});
}

Result<ObjectId> ClientViewImpl::resolve(std::span<const uint8_t> handle) const {
    Result<HandleFields> f = key_.parse(mac_, handle);
    if (!f.ok()) return f.error();
    std::shared_lock lock(mu_);
    if (f->salt != meta_.salt || f->generation != image_->generation() || !find(f->id)) {
        return errno_error(ESTALE);
    }
    return f->id;
}

Result<Attr> ClientViewImpl::getattr(ObjectId id) const {
    std::shared_lock lock(mu_);
    std::optional<Obj> o = find(id);
    if (!o) return errno_error(ESTALE);
    return attr_of(*o);
}

Result<ObjectId> ClientViewImpl::lookup(ObjectId dir, std::string_view name) const {
    std::shared_lock lock(mu_);
    Result<Obj> d = find_dir(dir);
    if (!d.ok()) return d.error();
    if (name == ".") return dir;
    if (name == "..") return parent_of(*d);
    if (int e = check_name(name)) return errno_error(e == ENAMETOOLONG ? e : ENOENT);
    ObjectId id = entry(*d, name);
    if (id == 0) return errno_error(ENOENT);
    return id;
}

Result<std::string> ClientViewImpl::readlink(ObjectId id) const {
    std::shared_lock lock(mu_);
    std::optional<Obj> o = find(id);
    if (!o) return errno_error(ESTALE);
    if (o->type() != FileType::kSymlink) return errno_error(EINVAL);
    if (o->delta && o->delta->has(DeltaObject::kNew)) return o->delta->target;
    return std::string(image_->symlink_target(*o->lower));
}

Result<DirPage> ClientViewImpl::readdir(ObjectId dir, uint64_t cookie, size_t max_entries) const {
    std::shared_lock lock(mu_);
    Result<Obj> d = find_dir(dir);
    if (!d.ok()) return d.error();
    DirPage page;
    page.eof = true;
    for_each_entry(*d, cookie, [&](std::string_view name, uint64_t c, ObjectId id) {
        std::optional<Obj> o = find(id);
        if (!o) return true;
        if (page.entries.size() == max_entries) {
            page.eof = false;
            return false;
        }
        page.entries.push_back(DirEntry{std::string(name), id, c, o->type()});
        return true;
    });
    return page;
}

FsStat ClientViewImpl::fsstat() const {
    std::shared_lock lock(mu_);
    FsStat s;
    struct statvfs v;
    std::filesystem::path where = read_only_ ? std::filesystem::path("/") : dir_;
    if (::statvfs(where.c_str(), &v) == 0) {
        s.total_bytes = uint64_t{v.f_blocks} * v.f_frsize;
        s.free_bytes = uint64_t{v.f_bfree} * v.f_frsize;
        s.avail_bytes = read_only_ ? 0 : uint64_t{v.f_bavail} * v.f_frsize;
        s.total_files = v.f_files;
        s.free_files = v.f_ffree;
        s.avail_files = read_only_ ? 0 : v.f_favail;
    }
    if (quota_ > 0) {
        uint64_t left = quota_ > state_.usage() ? quota_ - state_.usage() : 0;
        s.total_bytes = quota_;
        s.free_bytes = std::min(s.free_bytes, left);
        s.avail_bytes = std::min(s.avail_bytes, left);
    }
    return s;
}

Result<ReadTarget> ClientViewImpl::open_read(ObjectId id) const {
    std::shared_lock lock(mu_);
    std::optional<Obj> o = find(id);
    if (!o) return errno_error(ESTALE);
    if (o->type() == FileType::kDirectory) return errno_error(EISDIR);
    if (o->type() != FileType::kRegular) return errno_error(EINVAL);
    ReadTarget t;
    t.attr = attr_of(*o);
    if (t.attr.size == 0) return t;
    Result<std::shared_ptr<BackingFile>> file = errno_error(EIO);
    if (o->delta && o->delta->has(DeltaObject::kData)) {
        file = data_file(id);
    } else if (o->lower && !(o->delta && o->delta->has(DeltaObject::kNew))) {
        file = image_->open_file(*o->lower);
    } else {
        return t;  // a client-made file never written: all hole
    }
    if (!file.ok()) return file.error();
    t.file = std::move(*file);
    return t;
}

}  // namespace rootfarm::store
