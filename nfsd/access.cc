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

// knfsd runs a call with uid 0 with the capabilities a local root has (CAP_CHOWN, CAP_FOWNER,
// CAP_FSETID) and drops them for every other uid (nfsd_setuser), so "capable" below is uid 0.
int setattr_permission(const Attr& attr, const Cred& cred, const store::SetAttrArgs& args) {
    using How = store::SetAttrArgs::TimeHow;
    const bool root = cred.uid == 0;
    const bool owner = cred.uid == attr.uid;
    const bool explicit_time =
        args.atime_how == How::kClientTime || args.mtime_how == How::kClientTime;
    const bool now_time = args.atime_how == How::kServerTime || args.mtime_how == How::kServerTime;
    // nfsd_setattr: a size change, and times set to the server's clock with no explicit time
    // beside them (utimes(2) with NULL), need write access, which the owner has whatever the
    // mode (NFSD_MAY_OWNER_OVERRIDE). A size change of a non-regular file was refused before.
    if ((args.size || (now_time && !explicit_time)) && !may_write_data(attr, cred)) return EACCES;
    if (root) return 0;
    // setattr_prepare, chown_ok(): without CAP_CHOWN only the owner may "change" the owner, and
    // only to itself; a non-owner's no-op chown is EPERM.
    if (args.uid && !(owner && *args.uid == attr.uid)) return EPERM;
    // chgrp_ok(): only the owner, to the file's own group or one it is a member of.
    if (args.gid && !(owner && (*args.gid == attr.gid || in_group(cred, *args.gid)))) {
        return EPERM;
    }
    // inode_owner_or_capable() for a mode change and for explicit times (ATTR_[AM]TIME_SET).
    if ((args.mode || explicit_time) && !owner) return EPERM;
    return 0;
}

void drop_setid_bits(const Attr& attr, const Cred& cred, store::SetAttrArgs& args) {
    constexpr uint32_t kSetUid = 04000, kSetGid = 02000, kGroupExec = 0010;
    const bool root = cred.uid == 0;
    // setattr_prepare(): a chmod by someone outside the file's (new) group and without
    // CAP_FSETID loses setgid without an error, or user 1000 could make a file of group root run
    // with group root.
    if (args.mode && !root && !in_group(cred, args.gid.value_or(attr.gid))) {
        *args.mode &= ~kSetGid;
    }
    // A truncate by anyone but the owner or root drops both, as a WRITE by them does.
    if (args.size && !root && cred.uid != attr.uid && (attr.mode & (kSetUid | kSetGid)) &&
        !args.mode) {
        args.mode = attr.mode & ~(kSetUid | kSetGid);
    }
    if ((args.uid || args.gid) && attr.type != FileType::kDirectory) {
        // nfsd_sanitize_attrs(): a chown or chgrp of a non-directory revokes setuid whoever asks,
        // root included, and setgid where group-exec makes it a real one. With a new mode in the
        // same call, the bits go from that mode.
        if (args.mode) {
            *args.mode &= ~kSetUid;
            if (*args.mode & kGroupExec) *args.mode &= ~kSetGid;
        } else {
            uint32_t m = attr.mode & ~kSetUid;
            // setattr_should_drop_sgid(): setgid without group-exec (a locking mark) stays unless
            // the caller is outside the file's group and not root.
            if ((m & kSetGid) && ((m & kGroupExec) || (!root && !in_group(cred, attr.gid)))) {
                m &= ~kSetGid;
            }
            if (m != attr.mode) args.mode = m;
        }
    }
}

}  // namespace rootfarm::nfsd
