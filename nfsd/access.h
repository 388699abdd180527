#pragma once

// Permission checks from an object's stored owner and mode against the caller's AUTH_SYS
// credentials, the way a local POSIX file system (and knfsd, which defers to it) decides.
// The store enforces only structure; these checks are nfsd's job (store/store.h).

#include <cstdint>

#include "nfsd/rpc.h"
#include "store/store.h"

namespace rootfarm::nfsd {

inline constexpr uint32_t kAnonId = 65534;

// RFC 1813 §3.3.4 ACCESS3 bits.
enum : uint32_t {
    kAccessRead = 0x01,
    kAccessLookup = 0x02,
    kAccessModify = 0x04,
    kAccessExtend = 0x08,
    kAccessDelete = 0x10,
    kAccessExecute = 0x20,
};

// Maps uid/gid 0 to the anonymous ids when the client is configured with root_squash; root is
// not squashed by default (a Pi's root filesystem needs root).
Cred squash(const Cred& cred, bool root_squash);

bool in_group(const Cred& cred, uint32_t gid);

// The rwx permission bits (4/2/1) that apply to `cred` for `attr`, ignoring root's override.
uint32_t mode_class_bits(const store::Attr& attr, const Cred& cred);

bool may_read(const store::Attr& attr, const Cred& cred);
bool may_write(const store::Attr& attr, const Cred& cred);
// Root may execute a regular file only if some execute bit is set; search a directory always.
bool may_exec(const store::Attr& attr, const Cred& cred);

// WRITE and truncating SETATTR: the owner may write a file whose mode forbids it, since in NFSv3
// there is no OPEN and the client already checked at open(2) time (docs/pi-boot.md NFS 11: git and
// dpkg create 0444 files and then write them). knfsd does the same (NFSD_MAY_OWNER_OVERRIDE).
bool may_write_data(const store::Attr& attr, const Cred& cred);
// READ: owner override as above, and reading an execute-only file is allowed because the client
// must page in binaries it may execute (knfsd).
bool may_read_data(const store::Attr& attr, const Cred& cred);

// Removing or renaming `victim` out of `dir`: write+search on dir, and with the sticky bit set
// only the owner of the file or of the directory (or root) may.
bool may_delete(const store::Attr& dir, const store::Attr& victim, const Cred& cred);

// The ACCESS3 bits of `requested` that the caller holds on `attr` (RFC 1813 §3.3.4).
uint32_t access_bits(const store::Attr& attr, const Cred& cred, uint32_t requested);

// Whether `cred` may apply SETATTR `args` to an object with `attr`, decided as knfsd does:
// nfsd_setattr's write-access check first (EACCES), then the VFS's setattr_prepare (EPERM).
// Returns 0 or that errno. Root is uid 0 after root_squash (squash above).
int setattr_permission(const store::Attr& attr, const Cred& cred, const store::SetAttrArgs& args);

// The set-id bits a permitted SETATTR drops on its own, folded into `args.mode`: setgid from a
// chmod by someone outside the group, setuid/setgid from a chown of a non-directory, and both
// from a truncate by someone other than the owner.
void drop_setid_bits(const store::Attr& attr, const Cred& cred, store::SetAttrArgs& args);

}  // namespace rootfarm::nfsd
