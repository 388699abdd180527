#include "nfsd/access.h"

namespace rootfarm::nfsd {

using store::Attr;
using store::FileType;

Cred squash(const Cred& cred, bool root_squash) {
    Cred out = cred;
    if (root_squash) {
        if (out.uid == 0) out.uid = kAnonId;
        if (out.gid == 0) out.gid = kAnonId;
        for (uint8_t i = 0; i < out.ngroups; ++i) {
            if (out.groups[i] == 0) out.groups[i] = kAnonId;
        }
    }
    return out;
}

bool in_group(const Cred& cred, uint32_t gid) {
    if (cred.gid == gid) return true;
    for (uint32_t g : cred.group_list()) {
        if (g == gid) return true;
    }
    return false;
}

uint32_t mode_class_bits(const Attr& attr, const Cred& cred) {
    if (cred.uid == attr.uid) return (attr.mode >> 6) & 7;
    if (in_group(cred, attr.gid)) return (attr.mode >> 3) & 7;
    return attr.mode & 7;
}

bool may_read(const Attr& attr, const Cred& cred) {
    return cred.uid == 0 || (mode_class_bits(attr, cred) & 4);
}

bool may_write(const Attr& attr, const Cred& cred) {
    return cred.uid == 0 || (mode_class_bits(attr, cred) & 2);
}

bool may_exec(const Attr& attr, const Cred& cred) {
    if (cred.uid == 0) return attr.type == FileType::kDirectory || (attr.mode & 0111);
    return mode_class_bits(attr, cred) & 1;
}

bool may_write_data(const Attr& attr, const Cred& cred) {
    return cred.uid == attr.uid || may_write(attr, cred);
}

bool may_read_data(const Attr& attr, const Cred& cred) {
    return cred.uid == attr.uid || may_read(attr, cred) || may_exec(attr, cred);
}

bool may_delete(const Attr& dir, const Attr& victim, const Cred& cred) {
    if (!may_write(dir, cred) || !may_exec(dir, cred)) return false;
    if ((dir.mode & 01000) && cred.uid != 0) {
        return cred.uid == victim.uid || cred.uid == dir.uid;
    }
    return true;
}

uint32_t access_bits(const Attr& attr, const Cred& cred, uint32_t requested) {
    uint32_t granted = 0;
    if (may_read(attr, cred)) granted |= kAccessRead;
    bool w = may_write(attr, cred);
    if (attr.type == FileType::kDirectory) {
        if (may_exec(attr, cred)) granted |= kAccessLookup;
        // Modifying a directory's entries needs search permission too.
        if (w && may_exec(attr, cred)) granted |= kAccessModify | kAccessExtend | kAccessDelete;
    } else {
        if (w) granted |= kAccessModify | kAccessExtend;
        if (may_exec(attr, cred)) granted |= kAccessExecute;
    }
    return granted & requested;
}

int setattr_permission(const Attr& attr, const Cred& cred, const store::SetAttrArgs& args) {
    const bool root = cred.uid == 0;
    const bool owner = cred.uid == attr.uid;
    if (args.mode && !root && !owner) return EPERM;
    if (args.uid && *args.uid != attr.uid && !root) return EPERM;
    if (args.gid && *args.gid != attr.gid && !root) {
        // chown(2): the owner may change the group to one it belongs to.
        if (!owner || !in_group(cred, *args.gid)) return EPERM;
    }
    if (args.size && attr.type == FileType::kRegular && !may_write_data(attr, cred)) return EACCES;
    using How = store::SetAttrArgs::TimeHow;
    // utimes(2): setting explicit times needs ownership; "now" needs ownership or write access.
    bool explicit_time = args.atime_how == How::kClientTime || args.mtime_how == How::kClientTime;
    bool now_time = args.atime_how == How::kServerTime || args.mtime_how == How::kServerTime;
    if (explicit_time && !root && !owner) return EPERM;
    if (now_time && !root && !owner && !may_write(attr, cred)) return EACCES;
    return 0;
}

}  // namespace rootfarm::nfsd
