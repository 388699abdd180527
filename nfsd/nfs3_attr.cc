// GETATTR, SETATTR, LOOKUP, ACCESS, READLINK (RFC 1813 §3.3.1-3.3.5).

#include "nfsd/access.h"
#include "nfsd/nfs3.h"
#include "nfsd/nfs3_util.h"
#include "nfsd/nfs3_xdr.h"

namespace rootfarm::nfsd {

FhArg read_fh(Nfs3Call& c) {
    FhArg out;
    auto fh = c.args.opaque(kMaxHandleBytes);
    if (!c.args.ok()) return out;
    auto id = c.view.resolve(fh);
    if (!id) {
        // A handle that no longer resolves is STALE, not NOENT (docs/pi-boot.md NFS 12).
        out.status = to_nfs3_status(id.error());
        if (out.status == kNfs3ErrServerFault) out.status = kNfs3ErrStale;
        return out;
    }
    out.id = *id;
    return out;
}

std::optional<store::Attr> attr_of(const store::ClientView& view, store::ObjectId id) {
    auto a = view.getattr(id);
    if (!a) return std::nullopt;
    return *a;
}

std::optional<store::Attr> attr_or_fail(Nfs3Call& c, XdrWriter& out, const FhArg& fh) {
    if (fh.status) {
        out.u32(fh.status);
        out.boolean(false);
        return std::nullopt;
    }
    auto a = c.view.getattr(fh.id);
    if (!a) {
        out.u32(to_nfs3_status(a.error()));
        out.boolean(false);
        return std::nullopt;
    }
    return *a;
}

bool nfs3_getattr(Nfs3Call& c, XdrWriter& out) {
    FhArg fh = read_fh(c);
    if (!c.args.ok()) return false;
    c.keep({.fh = fh});
    if (fh.status) {
        out.u32(fh.status);
        return true;
    }
    auto a = c.view.getattr(fh.id);
    if (!a) {
        out.u32(to_nfs3_status(a.error()));
        return true;
    }
    out.u32(kNfs3Ok);
    write_fattr3(out, *a);
    return true;
}

bool nfs3_setattr(Nfs3Call& c, XdrWriter& out) {
    FhArg fh = read_fh(c);
    store::SetAttrArgs args;
    bool sattr_ok = read_sattr3(c.args, args);
    if (c.args.boolean()) args.guard_ctime = read_time(c.args);
    if (!c.args.ok() || !sattr_ok) return false;
    c.keep({.fh = fh, .attrs = args});
    if (fh.status) {
        out.u32(fh.status);
        write_empty_wcc(out);
        return true;
    }
    auto before = c.view.getattr(fh.id);
    if (!before) {
        out.u32(to_nfs3_status(before.error()));
        write_empty_wcc(out);
        return true;
    }
    // RFC 1813 §3.3.2: a guard mismatch is NOT_SYNC whoever asks; test it before permissions
    // so a client retrying after a race sees the real cause.
    if (args.guard_ctime && *args.guard_ctime != before->ctime) {
        out.u32(kNfs3ErrNotSync);
        write_unchanged_wcc(out, *before);
        return true;
    }
    // nfsd_setattr: a size change is for regular files only (fh_verify with S_IFREG; the wrong
    // type is INVAL in NFSv3), checked before permissions; a mode change of a symlink is ignored
    // (nfsd_sanitize_attrs), so it needs no ownership either.
    if (args.size && before->type != store::FileType::kRegular) {
        out.u32(before->type == store::FileType::kDirectory ? kNfs3ErrIsDir : kNfs3ErrInval);
        write_unchanged_wcc(out, *before);
        return true;
    }
    if (before->type == store::FileType::kSymlink) args.mode.reset();
    if (int e = setattr_permission(*before, c.cred, args)) {
        out.u32(errno_to_nfs3(e));
        write_unchanged_wcc(out, *before);
        return true;
    }
    drop_setid_bits(*before, c.cred, args);
    auto wcc = c.view.setattr(fh.id, args);
    if (!wcc) {
        out.u32(to_nfs3_status(wcc.error()));
        write_unchanged_wcc(out, *before);
        return true;
    }
    out.u32(kNfs3Ok);
    write_wcc(out, *wcc);
    return true;
}

bool nfs3_lookup(Nfs3Call& c, XdrWriter& out) {
    FhArg dir = read_fh(c);
    NameArg name = read_name(c.args);
    if (!c.args.ok()) return false;
    c.keep({.fh = dir, .name = name.name});
    if (dir.status) {
        out.u32(dir.status);
        out.boolean(false);
        return true;
    }
    auto dattr = attr_of(c.view, dir.id);
    uint32_t status = kNfs3Ok;
    if (!dattr) {
        status = kNfs3ErrStale;
    } else if (dattr->type != store::FileType::kDirectory) {
        status = kNfs3ErrNotDir;
    } else if (!may_exec(*dattr, c.cred)) {
        status = kNfs3ErrAcces;
    } else if (name.too_long) {
        status = kNfs3ErrNameTooLong;
    }
    Result<store::ObjectId> id = std::errc::no_such_file_or_directory;
    if (status == kNfs3Ok) {
        id = c.view.lookup(dir.id, name.name);
        if (!id) status = to_nfs3_status(id.error());
    }
    std::optional<store::Attr> oattr;
    if (status == kNfs3Ok) {
        oattr = attr_of(c.view, *id);
        if (!oattr) status = kNfs3ErrNoEnt;
    }
    out.u32(status);
    if (status != kNfs3Ok) {
        write_post_op_attr(out, dattr);
        return true;
    }
    out.opaque(c.view.handle(*id).span());
    write_post_op_attr(out, oattr);
    write_post_op_attr(out, dattr);
    return true;
}

bool nfs3_access(Nfs3Call& c, XdrWriter& out) {
    FhArg fh = read_fh(c);
    uint32_t requested = c.args.u32();
    if (!c.args.ok()) return false;
    c.keep({.fh = fh});
    auto a = attr_or_fail(c, out, fh);
    if (!a) return true;
    out.u32(kNfs3Ok);
    write_post_op_attr(out, a);
    out.u32(access_bits(*a, c.cred, requested));
    return true;
}

bool nfs3_readlink(Nfs3Call& c, XdrWriter& out) {
    FhArg fh = read_fh(c);
    if (!c.args.ok()) return false;
    c.keep({.fh = fh});
    auto a = attr_or_fail(c, out, fh);
    if (!a) return true;
    if (a->type != store::FileType::kSymlink) {
        out.u32(kNfs3ErrInval);
        write_post_op_attr(out, a);
        return true;
    }
    auto target = c.view.readlink(fh.id);
    if (!target) {
        out.u32(to_nfs3_status(target.error()));
        write_post_op_attr(out, a);
        return true;
    }
    out.u32(kNfs3Ok);
    write_post_op_attr(out, a);
    out.string(*target);
    return true;
}

}  // namespace rootfarm::nfsd
