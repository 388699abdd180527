// FSSTAT, FSINFO, PATHCONF, COMMIT (RFC 1813 §3.3.18-3.3.21).

#include "nfsd/nfs3.h"
#include "nfsd/nfs3_util.h"
#include "nfsd/nfs3_xdr.h"

namespace rootfarm::nfsd {

namespace {

// RFC 1813 §3.3.19 FSINFO properties.
constexpr uint32_t kFsfLink = 0x0001;
constexpr uint32_t kFsfSymlink = 0x0002;
constexpr uint32_t kFsfHomogeneous = 0x0008;
constexpr uint32_t kFsfCanSetTime = 0x0010;

}  // namespace

bool nfs3_fsstat(Nfs3Call& c, XdrWriter& out) {
    FhArg fh = read_fh(c);
    if (!c.args.ok()) return false;
    c.keep({.fh = fh});
    auto a = attr_or_fail(c, out, fh);
    if (!a) return true;
    store::FsStat s = c.view.fsstat();
    out.u32(kNfs3Ok);
    write_post_op_attr(out, a);
    out.u64(s.total_bytes);
    out.u64(s.free_bytes);
    out.u64(s.avail_bytes);
    out.u64(s.total_files);
    out.u64(s.free_files);
    out.u64(s.avail_files);
    out.u32(0);  // invarsec: the numbers may change at any time
    return true;
}

bool nfs3_fsinfo(Nfs3Call& c, XdrWriter& out) {
    FhArg fh = read_fh(c);
    if (!c.args.ok()) return false;
    c.keep({.fh = fh});
    auto a = attr_or_fail(c, out, fh);
    if (!a) return true;
    // docs/pi-boot.md NFS 14: 1 MiB transfers (the kernel mounts with rsize=wsize=1048576),
    // nanosecond times, one homogeneous file system with links, symlinks and settable times. Over
    // UDP the sizes shrink to what fits in a datagram.
    const uint32_t io = static_cast<uint32_t>(c.max_io);
    out.u32(kNfs3Ok);
    write_post_op_attr(out, a);
    out.u32(io);                   // rtmax
    out.u32(io);                   // rtpref
    out.u32(4096);                 // rtmult
    out.u32(io);                   // wtmax
    out.u32(io);                   // wtpref
    out.u32(4096);                 // wtmult
    out.u32(65536);                // dtpref
    out.u64(store::kMaxFileSize);  // maxfilesize
    out.u32(0);                    // time_delta: 1 ns
    out.u32(1);
    out.u32(kFsfLink | kFsfSymlink | kFsfHomogeneous | kFsfCanSetTime);
    return true;
}

bool nfs3_pathconf(Nfs3Call& c, XdrWriter& out) {
    FhArg fh = read_fh(c);
    if (!c.args.ok()) return false;
    c.keep({.fh = fh});
    auto a = attr_or_fail(c, out, fh);
    if (!a) return true;
    out.u32(kNfs3Ok);
    write_post_op_attr(out, a);
    out.u32(65000);          // linkmax (ext4's limit)
    out.u32(kMaxNameBytes);  // name_max
    out.boolean(true);       // no_trunc: long names are refused, not cut
    out.boolean(true);       // chown_restricted: only root gives files away
    out.boolean(false);      // case_insensitive
    out.boolean(true);       // case_preserving
    return true;
}

bool nfs3_commit(Nfs3Call& c, XdrWriter& out) {
    FhArg fh = read_fh(c);
    c.args.u64();  // offset and count: everything written so far is committed at once
    c.args.u32();
    if (!c.args.ok()) return false;
    c.keep({.fh = fh});
    if (fh.status) {
        out.u32(fh.status);
        write_empty_wcc(out);
        return true;
    }
    auto before = attr_of(c.view, fh.id);
    auto r = c.view.commit(fh.id);
    if (!r) {
        out.u32(to_nfs3_status(r.error()));
        write_unchanged_wcc(out, before);
        return true;
    }
    out.u32(kNfs3Ok);
    store::Wcc wcc;
    if (before) wcc.before = wcc_attr_of(*before);
    wcc.after = attr_of(c.view, fh.id);
    write_wcc(out, wcc);
    out.u64(c.write_verifier);
    return true;
}

}  // namespace rootfarm::nfsd
