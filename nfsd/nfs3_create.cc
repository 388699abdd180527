// CREATE, MKDIR, SYMLINK, MKNOD (RFC 1813 §3.3.8-3.3.11).

#include "nfsd/access.h"
#include "nfsd/nfs3.h"
#include "nfsd/nfs3_util.h"
#include "nfsd/nfs3_xdr.h"
#include "nfsd/record.h"

namespace rootfarm::nfsd {

namespace {

using store::FileType;

// The directory a new object goes into, checked: exists, is a directory, caller may write and
// search it, the name fits. status != 0 means answer it with the unchanged dir wcc.
struct Where {
    FhArg fh;
    store::ObjectId dir = 0;
    std::optional<store::Attr> dir_attr;
    std::string_view name;
    uint32_t status = kNfs3Ok;
};

Where read_where(Nfs3Call& c) {
    Where w;
    w.fh = read_fh(c);
    NameArg name = read_name(c.args);
    w.name = name.name;
    if (!c.args.ok()) return w;
    if (w.fh.status) {
        w.status = w.fh.status;
        return w;
    }
    w.dir = w.fh.id;
    w.dir_attr = attr_of(c.view, w.dir);
    if (!w.dir_attr) {
        w.status = kNfs3ErrStale;
    } else if (w.dir_attr->type != FileType::kDirectory) {
        w.status = kNfs3ErrNotDir;
    } else if (!may_write(*w.dir_attr, c.cred) || !may_exec(*w.dir_attr, c.cred)) {
        w.status = kNfs3ErrAcces;
    } else if (name.too_long) {
        w.status = kNfs3ErrNameTooLong;
    } else if (name.name.empty() || name.name == "." || name.name == "..") {
        w.status = name.name.empty() ? kNfs3ErrAcces : kNfs3ErrExist;
    }
    return w;
}

// New objects belong to the caller; in a setgid directory they take its group (BSD semantics,
// as Linux does), and new directories inherit the setgid bit.
store::Owner owner_for(const Nfs3Call& c, const store::Attr& dir) {
    store::Owner o{c.cred.uid, c.cred.gid};
    if (dir.mode & 02000) o.gid = dir.gid;
    return o;
}

// Only root may give a new object another owner through its initial attributes. A new file
// that lands in a group its creator is not in (a setgid directory's) loses a requested setgid
// bit, as Linux's mode_strip_sgid() does; directories keep it.
void restrict_initial_attrs(const Nfs3Call& c, store::SetAttrArgs& attrs, const store::Owner& owner,
                            bool is_dir = false) {
    if (c.cred.uid == 0) return;
    attrs.uid.reset();
    if (attrs.gid && !in_group(c.cred, *attrs.gid)) attrs.gid.reset();
    if (!is_dir && attrs.mode && (*attrs.mode & 02010) == 02010 &&
        !in_group(c.cred, attrs.gid.value_or(owner.gid))) {
        *attrs.mode &= ~02000u;
    }
}

void write_result(Nfs3Call& c, XdrWriter& out, const Where& w,
                  const Result<store::NewObject>& made) {
    if (!made) {
        out.u32(to_nfs3_status(made.error()));
        write_unchanged_wcc(out, attr_of(c.view, w.dir));
        return;
    }
    out.u32(kNfs3Ok);
    write_post_op_fh(out, c.view.handle(made->id));
    write_post_op_attr(out, made->attr);
    write_wcc(out, made->dir);
}

void write_where_failure(XdrWriter& out, const Where& w) {
    out.u32(w.status);
    write_unchanged_wcc(out, w.dir_attr);
}

}  // namespace

bool nfs3_create(Nfs3Call& c, XdrWriter& out) {
    Where w = read_where(c);
    store::CreateArgs args;
    uint32_t how = c.args.u32();
    if (how == 0 || how == 1) {
        args.mode =
            how == 0 ? store::CreateArgs::Mode::kUnchecked : store::CreateArgs::Mode::kGuarded;
        if (!read_sattr3(c.args, args.attrs)) return false;
    } else if (how == 2) {
        args.mode = store::CreateArgs::Mode::kExclusive;
        args.verifier = c.args.u64();
    } else {
        return false;
    }
    if (!c.args.ok()) return false;
    c.keep({.fh = w.fh, .name = w.name, .how = how});
    if (w.status) {
        write_where_failure(out, w);
        return true;
    }
    args.owner = owner_for(c, *w.dir_attr);
    restrict_initial_attrs(c, args.attrs, args.owner);
    if (args.mode == store::CreateArgs::Mode::kUnchecked && args.attrs.size) {
        // UNCHECKED over an existing file truncates it (§3.3.8): that needs write access to it.
        auto existing = c.view.lookup(w.dir, w.name);
        if (existing) {
            auto ea = attr_of(c.view, *existing);
            if (ea && ea->type == FileType::kRegular && !may_write_data(*ea, c.cred)) {
                out.u32(kNfs3ErrAcces);
                write_unchanged_wcc(out, w.dir_attr);
                return true;
            }
        }
    }
    write_result(c, out, w, c.view.create(w.dir, w.name, args));
    return true;
}

bool nfs3_mkdir(Nfs3Call& c, XdrWriter& out) {
    Where w = read_where(c);
    store::SetAttrArgs attrs;
    if (!read_sattr3(c.args, attrs) || !c.args.ok()) return false;
    c.keep({.fh = w.fh, .name = w.name});
    if (w.status) {
        write_where_failure(out, w);
        return true;
    }
    store::Owner owner = owner_for(c, *w.dir_attr);
    restrict_initial_attrs(c, attrs, owner, true);
    if (w.dir_attr->mode & 02000) attrs.mode = attrs.mode.value_or(0755) | 02000;
    write_result(c, out, w, c.view.mkdir(w.dir, w.name, attrs, owner));
    return true;
}

bool nfs3_symlink(Nfs3Call& c, XdrWriter& out) {
    Where w = read_where(c);
    store::SetAttrArgs attrs;
    if (!read_sattr3(c.args, attrs)) return false;
    // Any length the record holds is decoded: a target past PATH_MAX is NAMETOOLONG from the
    // store, as knfsd answers, not GARBAGE_ARGS.
    std::string_view target = c.args.string(static_cast<uint32_t>(kMaxRecordBytes));
    if (!c.args.ok()) return false;
    c.keep({.fh = w.fh, .name = w.name, .target = target});
    if (w.status) {
        write_where_failure(out, w);
        return true;
    }
    store::Owner owner = owner_for(c, *w.dir_attr);
    restrict_initial_attrs(c, attrs, owner);
    write_result(c, out, w, c.view.symlink(w.dir, w.name, target, attrs, owner));
    return true;
}

bool nfs3_mknod(Nfs3Call& c, XdrWriter& out) {
    Where w = read_where(c);
    uint32_t type = c.args.u32();
    store::SetAttrArgs attrs;
    uint32_t major = 0, minor = 0;
    bool typed_ok = true;
    if (type == uint32_t(FileType::kChar) || type == uint32_t(FileType::kBlock)) {
        if (!read_sattr3(c.args, attrs)) return false;
        major = c.args.u32();
        minor = c.args.u32();
    } else if (type == uint32_t(FileType::kSocket) || type == uint32_t(FileType::kFifo)) {
        if (!read_sattr3(c.args, attrs)) return false;
    } else {
        typed_ok = false;  // regular, directory, symlink: no arguments follow
    }
    if (!c.args.ok()) return false;
    c.keep({.fh = w.fh, .name = w.name, .how = type, .major = major, .minor = minor});
    if (w.status) {
        write_where_failure(out, w);
        return true;
    }
    if (!typed_ok) {
        // §3.3.11: other types have their own procedures.
        out.u32(kNfs3ErrBadType);
        write_unchanged_wcc(out, w.dir_attr);
        return true;
    }
    bool device = type == uint32_t(FileType::kChar) || type == uint32_t(FileType::kBlock);
    if (device && c.cred.uid != 0) {
        // mknod(2): creating device nodes needs CAP_MKNOD.
        out.u32(kNfs3ErrPerm);
        write_unchanged_wcc(out, w.dir_attr);
        return true;
    }
    store::Owner owner = owner_for(c, *w.dir_attr);
    restrict_initial_attrs(c, attrs, owner);
    write_result(
        c, out, w,
        c.view.mknod(w.dir, w.name, static_cast<FileType>(type), major, minor, attrs, owner));
    return true;
}

}  // namespace rootfarm::nfsd
