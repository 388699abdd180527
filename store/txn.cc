#include "store/txn.h"

namespace rootfarm::store {

DeltaObject& Txn::touch(const Obj& o) {
    auto it = objects_.find(o.id);
    if (it != objects_.end()) return it->second;
    DeltaObject d;
    if (o.delta) {
        d = *o.delta;
    } else {
        d.attr = view_.image_->attr(*o.lower);
        if (o.lower->type == FileType::kDirectory) d.parent = view_.image_->parent(*o.lower).id;
    }
    // Whatever touches it now makes it the client's own (store.h GeneratedFile); generate()
    // sets the flag again on the objects it writes.
    d.flags &= ~DeltaObject::kGenerated;
    return objects_.emplace(o.id, std::move(d)).first->second;
}

DeltaObject& Txn::add(ObjectId id, DeltaObject object) {
    object.flags |= DeltaObject::kNew;
    return objects_.insert_or_assign(id, std::move(object)).first->second;
}

void Txn::put_entry(const Obj& dir, std::string_view name, ObjectId child) {
    Op op;
    op.id = dir.id;
    op.name = name;
    const ImageNode* lower = dir.lower ? view_.image_->lookup(*dir.lower, name) : nullptr;
    if (lower && lower->id == child) {
        op.kind = Op::Kind::kDelEntry;
    } else {
        op.kind = Op::Kind::kPutEntry;
        op.child = child;
    }
    entry_ops_.push_back(std::move(op));
}

void Txn::remove_entry(const Obj& dir, std::string_view name) {
    Op op;
    op.id = dir.id;
    op.name = name;
    op.kind = view_.lower_entry(dir, name) ? Op::Kind::kPutEntry : Op::Kind::kDelEntry;
    entry_ops_.push_back(std::move(op));
}

bool Txn::unlink(const Obj& o, Time now) {
    DeltaObject& d = touch(o);
    if (o.type() != FileType::kDirectory && d.attr.nlink > 1) {
        --d.attr.nlink;
        d.attr.ctime = now;
        return false;
    }
    if (d.has(DeltaObject::kNew)) {
        objects_.erase(o.id);
        drops_.push_back(o.id);
    } else {
        d.flags |= DeltaObject::kDead;
        d.attr.nlink = 0;
    }
    return true;
}

void Txn::dir_changed(const Obj& dir, Time now, int subdirs) {
    DeltaObject& d = touch(dir);
    d.attr.mtime = d.attr.ctime = now;
    d.attr.nlink = static_cast<uint32_t>(static_cast<int64_t>(d.attr.nlink) + subdirs);
}

std::vector<Op> Txn::ops() const {
    // Entries first: an object that dies takes its directory's delta entries with it.
    std::vector<Op> out = entry_ops_;
    for (const auto& [id, object] : objects_) {
        Op op;
        op.kind = Op::Kind::kPutObject;
        op.id = id;
        op.object = object;
        out.push_back(std::move(op));
    }
    for (ObjectId id : drops_) {
        Op op;
        op.kind = Op::Kind::kDropObject;
        op.id = id;
        out.push_back(std::move(op));
    }
    return out;
}

void apply_setattr(Attr& a, const SetAttrArgs& args, Time now) {
    if (args.mode) a.mode = *args.mode & 07777;
    if (args.uid) a.uid = *args.uid;
    if (args.gid) a.gid = *args.gid;
    if (args.size && *args.size != a.size) {
        a.size = *args.size;
        a.mtime = now;
    }
    if (args.atime_how == SetAttrArgs::TimeHow::kServerTime) a.atime = now;
    if (args.atime_how == SetAttrArgs::TimeHow::kClientTime) a.atime = args.atime;
    if (args.mtime_how == SetAttrArgs::TimeHow::kServerTime) a.mtime = now;
    if (args.mtime_how == SetAttrArgs::TimeHow::kClientTime) a.mtime = args.mtime;
    a.ctime = now;
}

}  // namespace rootfarm::store
