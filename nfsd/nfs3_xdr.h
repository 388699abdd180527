#pragma once

// NFSv3 (RFC 1813 §2) data types on the wire: status codes, fattr3, wcc_data, sattr3, handles.

#include <cstdint>
#include <optional>
#include <string_view>
#include <system_error>

#include "nfsd/xdr.h"
#include "store/store.h"

namespace rootfarm::nfsd {

inline constexpr uint32_t kNfsProgram = 100003;
inline constexpr uint32_t kNfsVersion = 3;
inline constexpr uint32_t kNfsAclProgram = 100227;
inline constexpr uint32_t kMaxHandleBytes = 64;  // NFS3_FHSIZE
inline constexpr uint32_t kMaxNameBytes = 255;   // what we store; longer is NAMETOOLONG
inline constexpr uint32_t kMaxPathBytes = 4096;  // symlink targets, MNT paths

// RFC 1813 §2.6 nfsstat3.
enum Nfs3Status : uint32_t {
    kNfs3Ok = 0,
    kNfs3ErrPerm = 1,
    kNfs3ErrNoEnt = 2,
    kNfs3ErrIo = 5,
    kNfs3ErrNxio = 6,
    kNfs3ErrAcces = 13,
    kNfs3ErrExist = 17,
    kNfs3ErrXdev = 18,
    kNfs3ErrNoDev = 19,
    kNfs3ErrNotDir = 20,
    kNfs3ErrIsDir = 21,
    kNfs3ErrInval = 22,
    kNfs3ErrFBig = 27,
    kNfs3ErrNoSpc = 28,
    kNfs3ErrRoFs = 30,
    kNfs3ErrMLink = 31,
    kNfs3ErrNameTooLong = 63,
    kNfs3ErrNotEmpty = 66,
    kNfs3ErrDQuot = 69,
    kNfs3ErrStale = 70,
    kNfs3ErrRemote = 71,
    kNfs3ErrBadHandle = 10001,
    kNfs3ErrNotSync = 10002,
    kNfs3ErrBadCookie = 10003,
    kNfs3ErrNotSupp = 10004,
    kNfs3ErrTooSmall = 10005,
    kNfs3ErrServerFault = 10006,
    kNfs3ErrBadType = 10007,
    kNfs3ErrJukebox = 10008,
};

// Maps a store errno (store/store.h header comment) to nfsstat3.
Nfs3Status to_nfs3_status(std::error_code ec);
Nfs3Status errno_to_nfs3(int e);

// fattr3 is 84 bytes on the wire; post_op_attr adds the 4-byte flag.
inline constexpr size_t kFattr3Bytes = 84;

void write_fattr3(XdrWriter& w, const store::Attr& a);
void write_post_op_attr(XdrWriter& w, const std::optional<store::Attr>& a);
void write_pre_op_attr(XdrWriter& w, const std::optional<store::WccAttr>& a);
void write_wcc(XdrWriter& w, const store::Wcc& wcc);
// wcc_data with no attributes (an error before anything was looked at).
void write_empty_wcc(XdrWriter& w);
void write_post_op_fh(XdrWriter& w, const std::optional<store::Handle>& h);
void write_time(XdrWriter& w, const store::Time& t);
store::WccAttr wcc_attr_of(const store::Attr& a);

// The uid/gid that names no one ((uid_t)-1); a sattr3 carrying it leaves the id unchanged.
inline constexpr uint32_t kNoId = 0xffffffff;

// sattr3 (RFC 1813 §2.5); false if malformed.
bool read_sattr3(XdrReader& r, store::SetAttrArgs& out);
store::Time read_time(XdrReader& r);

// A file name argument: NAMETOOLONG beyond 255 bytes; decoding fails (GARBAGE_ARGS) only for
// lengths past kMaxPathBytes.
struct NameArg {
    std::string_view name;
    bool too_long = false;
};
NameArg read_name(XdrReader& r);

}  // namespace rootfarm::nfsd
