#include "nfsd/nfs3_xdr.h"

#include <cerrno>

namespace rootfarm::nfsd {

Nfs3Status errno_to_nfs3(int e) {
    switch (e) {
        case 0:
            return kNfs3Ok;
        case EPERM:
            return kNfs3ErrPerm;
        case ENOENT:
            return kNfs3ErrNoEnt;
        case EIO:
            return kNfs3ErrIo;
        case ENXIO:
            return kNfs3ErrNxio;
        case EACCES:
            return kNfs3ErrAcces;
        case EEXIST:
            return kNfs3ErrExist;
        case EXDEV:
            return kNfs3ErrXdev;
        case ENODEV:
            return kNfs3ErrNoDev;
        case ENOTDIR:
            return kNfs3ErrNotDir;
        case EISDIR:
            return kNfs3ErrIsDir;
        case EINVAL:
            return kNfs3ErrInval;
        case EFBIG:
            return kNfs3ErrFBig;
        case ENOSPC:
            return kNfs3ErrNoSpc;
        case EROFS:
            return kNfs3ErrRoFs;
        case EMLINK:
            return kNfs3ErrMLink;
        case ENAMETOOLONG:
            return kNfs3ErrNameTooLong;
        case ENOTEMPTY:
            return kNfs3ErrNotEmpty;
        case EDQUOT:
            return kNfs3ErrDQuot;
        case ESTALE:
            return kNfs3ErrStale;
        case EBADF:
            return kNfs3ErrBadHandle;
        case ECANCELED:
            return kNfs3ErrNotSync;
        case EOPNOTSUPP:
            return kNfs3ErrNotSupp;
        default:
            return kNfs3ErrServerFault;
    }
}

Nfs3Status to_nfs3_status(std::error_code ec) {
    if (!ec) return kNfs3Ok;
    return errno_to_nfs3(ec.category() == std::generic_category() ? ec.value() : EIO);
}

void write_time(XdrWriter& w, const store::Time& t) {
    // nfstime3 seconds are unsigned 32-bit (RFC 1813 §2.5); times before 1970 clamp to 0.
    w.u32(t.sec < 0 ? 0 : static_cast<uint32_t>(t.sec));
    w.u32(t.nsec);
}

void write_fattr3(XdrWriter& w, const store::Attr& a) {
    w.u32(static_cast<uint32_t>(a.type));
    w.u32(a.mode & 07777);
    w.u32(a.nlink);
    w.u32(a.uid);
    w.u32(a.gid);
    w.u64(a.size);
    w.u64(a.used);
    w.u32(a.rdev_major);
    w.u32(a.rdev_minor);
    w.u64(a.fsid);
    w.u64(a.fileid);
    write_time(w, a.atime);
    write_time(w, a.mtime);
    write_time(w, a.ctime);
}

void write_post_op_attr(XdrWriter& w, const std::optional<store::Attr>& a) {
    w.boolean(a.has_value());
    if (a) write_fattr3(w, *a);
}

void write_pre_op_attr(XdrWriter& w, const std::optional<store::WccAttr>& a) {
    w.boolean(a.has_value());
    if (a) {
        w.u64(a->size);
        write_time(w, a->mtime);
        write_time(w, a->ctime);
    }
}

void write_wcc(XdrWriter& w, const store::Wcc& wcc) {
    write_pre_op_attr(w, wcc.before);
    write_post_op_attr(w, wcc.after);
}

void write_empty_wcc(XdrWriter& w) {
    w.boolean(false);
    w.boolean(false);
}

void write_post_op_fh(XdrWriter& w, const std::optional<store::Handle>& h) {
    w.boolean(h.has_value());
    if (h) w.opaque(h->span());
}

store::WccAttr wcc_attr_of(const store::Attr& a) {
    return {a.size, a.mtime, a.ctime};
}

store::Time read_time(XdrReader& r) {
    store::Time t;
    t.sec = r.u32();
    t.nsec = r.u32();
    return t;
}

bool read_sattr3(XdrReader& r, store::SetAttrArgs& out) {
    // Type bits in a mode are not the client's to change: knfsd keeps only S_IALLUGO.
    if (r.boolean()) out.mode = r.u32() & 07777;
    // (uid_t)-1 is no id but chown(2)'s "leave it": knfsd drops an id make_kuid() rejects.
    if (r.boolean()) {
        if (uint32_t uid = r.u32(); uid != kNoId) out.uid = uid;
    }
    if (r.boolean()) {
        if (uint32_t gid = r.u32(); gid != kNoId) out.gid = gid;
    }
    if (r.boolean()) out.size = r.u64();
    using How = store::SetAttrArgs::TimeHow;
    for (int i = 0; i < 2; ++i) {
        uint32_t how = r.u32();
        How h = How::kDontChange;
        store::Time t;
        if (how == 1) {
            h = How::kServerTime;
        } else if (how == 2) {
            h = How::kClientTime;
            t = read_time(r);
            if (t.nsec >= 1000000000u) return false;
        } else if (how != 0) {
            return false;
        }
        if (i == 0) {
            out.atime_how = h;
            out.atime = t;
        } else {
            out.mtime_how = h;
            out.mtime = t;
        }
    }
    return r.ok();
}

NameArg read_name(XdrReader& r) {
    NameArg n;
    n.name = r.string(kMaxPathBytes);
    n.too_long = n.name.size() > kMaxNameBytes;
    return n;
}

}  // namespace rootfarm::nfsd
