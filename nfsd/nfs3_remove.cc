// REMOVE, RMDIR, RENAME, LINK (RFC 1813 §3.3.12-3.3.15).

#include "nfsd/access.h"
#include "nfsd/nfs3.h"
#include "nfsd/nfs3_util.h"
#include "nfsd/nfs3_xdr.h"

namespace rootfarm::nfsd {

namespace {

using store::FileType;

struct DirOp {
    FhArg fh;
    NameArg name;
    std::optional<store::Attr> dir_attr;
};

DirOp read_dirop(Nfs3Call& c) {
    DirOp d;
    d.fh = read_fh(c);
    d.name = read_name(c.args);
    return d;
}

// Checks shared by every call that changes entries of `d`: a live directory the caller may
// write and search, and a name that fits.
uint32_t check_dir(Nfs3Call& c, DirOp& d) {
    if (d.fh.status) return d.fh.status;
    d.dir_attr = attr_of(c.view, d.fh.id);
    if (!d.dir_attr) return kNfs3ErrStale;
    if (d.dir_attr->type != FileType::kDirectory) return kNfs3ErrNotDir;
    if (!may_write(*d.dir_attr, c.cred) || !may_exec(*d.dir_attr, c.cred)) return kNfs3ErrAcces;
    if (d.name.too_long) return kNfs3ErrNameTooLong;
    return kNfs3Ok;
}

// REMOVE and RMDIR differ only in the store call.
template <class Fn>
bool remove_common(Nfs3Call& c, XdrWriter& out, bool want_dir, Fn&& fn) {
    DirOp d = read_dirop(c);
    if (!c.args.ok()) return false;
    c.keep({.fh = d.fh, .name = d.name.name});
    uint32_t status = check_dir(c, d);
    if (status == kNfs3Ok && (d.name.name == "." || d.name.name == "..")) {
        status = want_dir ? kNfs3ErrInval : kNfs3ErrAcces;
    }
    if (status == kNfs3Ok) {
        auto victim = c.view.lookup(d.fh.id, d.name.name);
        if (!victim) {
            status = to_nfs3_status(victim.error());
        } else {
            auto va = attr_of(c.view, *victim);
            if (va && !may_delete(*d.dir_attr, *va, c.cred)) status = kNfs3ErrAcces;
        }
    }
    if (status != kNfs3Ok) {
        out.u32(status);
        write_unchanged_wcc(out, d.dir_attr);
        return true;
    }
    Result<store::Wcc> wcc = fn(d.fh.id, d.name.name);
    if (!wcc) {
        out.u32(to_nfs3_status(wcc.error()));
        write_unchanged_wcc(out, attr_of(c.view, d.fh.id));
        return true;
    }
    out.u32(kNfs3Ok);
    write_wcc(out, *wcc);
    return true;
}

}  // namespace

bool nfs3_remove(Nfs3Call& c, XdrWriter& out) {
    return remove_common(c, out, false, [&](store::ObjectId dir, std::string_view name) {
        return c.view.remove(dir, name);
    });
}

bool nfs3_rmdir(Nfs3Call& c, XdrWriter& out) {
    return remove_common(c, out, true, [&](store::ObjectId dir, std::string_view name) {
        return c.view.rmdir(dir, name);
    });
}

bool nfs3_rename(Nfs3Call& c, XdrWriter& out) {
    DirOp from = read_dirop(c);
    DirOp to = read_dirop(c);
    if (!c.args.ok()) return false;
    c.keep({.fh = from.fh, .name = from.name.name, .fh2 = to.fh, .name2 = to.name.name});
    uint32_t status = check_dir(c, from);
    if (status == kNfs3Ok) status = check_dir(c, to);
    auto bad_name = [](std::string_view n) { return n.empty() || n == "." || n == ".."; };
    if (status == kNfs3Ok && (bad_name(from.name.name) || bad_name(to.name.name))) {
        status = kNfs3ErrInval;
    }
    if (status == kNfs3Ok) {
        auto src = c.view.lookup(from.fh.id, from.name.name);
        if (!src) {
            status = to_nfs3_status(src.error());
        } else if (auto sa = attr_of(c.view, *src)) {
            if (!may_delete(*from.dir_attr, *sa, c.cred)) status = kNfs3ErrAcces;
            // Moving a directory to a new parent rewrites its "..": needs write on it (POSIX).
            if (sa->type == FileType::kDirectory && from.fh.id != to.fh.id &&
                !may_write(*sa, c.cred)) {
                status = kNfs3ErrAcces;
            }
        }
        if (status == kNfs3Ok) {
            auto dst = c.view.lookup(to.fh.id, to.name.name);
            if (dst) {
                auto da = attr_of(c.view, *dst);
                if (da && !may_delete(*to.dir_attr, *da, c.cred)) status = kNfs3ErrAcces;
            }
        }
    }
    if (status != kNfs3Ok) {
        out.u32(status);
        write_unchanged_wcc(out, from.dir_attr);
        write_unchanged_wcc(out, to.dir_attr);
        return true;
    }
    auto r = c.view.rename(from.fh.id, from.name.name, to.fh.id, to.name.name);
    if (!r) {
        out.u32(to_nfs3_status(r.error()));
        write_unchanged_wcc(out, attr_of(c.view, from.fh.id));
        write_unchanged_wcc(out, attr_of(c.view, to.fh.id));
        return true;
    }
    out.u32(kNfs3Ok);
    write_wcc(out, r->from_dir);
    write_wcc(out, r->to_dir);
    return true;
}

bool nfs3_link(Nfs3Call& c, XdrWriter& out) {
    FhArg file = read_fh(c);
    DirOp d = read_dirop(c);
    if (!c.args.ok()) return false;
    c.keep({.fh = file, .fh2 = d.fh, .name2 = d.name.name});
    uint32_t status = file.status;
    std::optional<store::Attr> fattr;
    if (status == kNfs3Ok) {
        fattr = attr_of(c.view, file.id);
        if (!fattr) status = kNfs3ErrStale;
    }
    if (status == kNfs3Ok) status = check_dir(c, d);
    if (status == kNfs3Ok && fattr->type == FileType::kDirectory) status = kNfs3ErrIsDir;
    if (status != kNfs3Ok) {
        out.u32(status);
        write_post_op_attr(out, fattr);
        write_unchanged_wcc(out, d.dir_attr);
        return true;
    }
    auto r = c.view.link(file.id, d.fh.id, d.name.name);
    if (!r) {
        out.u32(to_nfs3_status(r.error()));
        write_post_op_attr(out, attr_of(c.view, file.id));
        write_unchanged_wcc(out, attr_of(c.view, d.fh.id));
        return true;
    }
    out.u32(kNfs3Ok);
    write_post_op_attr(out, r->file);
    write_wcc(out, r->dir);
    return true;
}

}  // namespace rootfarm::nfsd
