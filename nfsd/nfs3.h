#pragma once

// NFS version 3 procedures (RFC 1813 §3.3). Each synchronous handler decodes its arguments from
// `c.args`, calls the client's view and writes the results after the accepted RPC header into
// `out`. It returns false, having written nothing, when the arguments do not decode
// (GARBAGE_ARGS). READ and WRITE go through io_uring and answer through `c.respond`. Every
// handler hands its arguments to `c.keep` once they all decoded, before it answers.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "core/loop.h"
#include "nfsd/rpc.h"
#include "nfsd/xdr.h"
#include "store/store.h"

namespace rootfarm::nfsd {

// RFC 1813 §3.3 procedure numbers.
enum Nfs3Proc : uint32_t {
    kNfs3Null = 0,
    kNfs3GetAttr,
    kNfs3SetAttr,
    kNfs3Lookup,
    kNfs3Access,
    kNfs3ReadLink,
    kNfs3Read,
    kNfs3Write,
    kNfs3Create,
    kNfs3MkDir,
    kNfs3SymLink,
    kNfs3MkNod,
    kNfs3Remove,
    kNfs3RmDir,
    kNfs3Rename,
    kNfs3Link,
    kNfs3ReadDir,
    kNfs3ReadDirPlus,
    kNfs3FsStat,
    kNfs3FsInfo,
    kNfs3PathConf,
    kNfs3Commit,
    kNfs3ProcCount,
};

// A reply: its bytes, built with new_reply() (record-mark bytes reserved), and for a READ over
// TCP the data, which follows them on the wire straight from the file (Connection::send_file),
// then `tail` (the data's XDR padding). An empty `bytes` means "no reply".
struct Reply {
    Reply() = default;
    Reply(std::vector<uint8_t> b) : bytes(std::move(b)) {}  // NOLINT: most replies are bytes
    std::vector<uint8_t> bytes;
    FileRange file;  // none when fd < 0
    std::vector<uint8_t> tail;

    bool empty() const { return bytes.empty(); }
    bool has_file() const { return file.fd >= 0; }
    // Bytes on the wire, record mark included.
    size_t size() const { return bytes.size() + file.length + tail.size(); }
};

// Sends a complete reply; called exactly once per call. An empty reply means "no reply" (see
// Request::respond in service.h).
using Responder = std::function<void(Reply)>;

// Runs `work` where it may block on a disk flush and sends the reply it returns through the
// call's Responder on the connection's loop (blocking.h). Empty when the caller runs
// everything inline.
using Offload = std::function<void(std::function<std::vector<uint8_t>()> work)>;

// A decoded nfs_fh3: the object it resolved to in the caller's view, or the status (STALE,
// BADHANDLE) to answer with.
struct FhArg {
    store::ObjectId id = 0;
    uint32_t status = 0;
};

// The arguments a handler decoded, kept for the tracer (trace.h) so that a traced call is
// decoded once. Each procedure fills the fields it has; the names point into the call record.
struct Nfs3Args {
    FhArg fh{};                  // the object, or the directory of a name; LINK: the file
    std::string_view name{};     // the name in `fh` (RENAME: the old name)
    FhArg fh2{};                 // RENAME: the new directory; LINK: the directory
    std::string_view name2{};    // RENAME, LINK: the new name
    std::string_view target{};   // SYMLINK
    store::SetAttrArgs attrs{};  // SETATTR, as sent
    uint64_t offset = 0;         // READ, WRITE; READDIR, READDIRPLUS: the cookie
    uint32_t count = 0;          // READ, WRITE
    uint32_t how = 0;            // CREATE: createmode3; WRITE: stable_how; MKNOD: ftype3
    uint32_t major = 0;          // MKNOD of a device
    uint32_t minor = 0;
};

struct Nfs3Call {
    const CallHeader& header;
    Cred cred;  // after root_squash
    XdrReader args;
    store::ClientView& view;
    std::shared_ptr<store::ClientView> view_ref;         // kept alive by asynchronous procedures
    std::shared_ptr<const std::vector<uint8_t>> record;  // the call; WRITE data points into it
    Loop* loop = nullptr;
    size_t max_io = 1u << 20;  // rtmax/wtmax for this transport
    uint64_t write_verifier = 0;
    Responder respond;
    Offload offload;  // for the part of an asynchronous procedure that may block
    // Where the handler keeps its arguments once they all decoded (keep); null when the call
    // is not traced.
    std::optional<Nfs3Args>* decoded = nullptr;
    // The transport sends a Reply's file range (TCP); else READ data travels in the bytes.
    bool file_replies = false;

    void keep(const Nfs3Args& a) {
        if (decoded) *decoded = a;
    }
};

// Decodes an nfs_fh3 and resolves it in the caller's view; a malformed XDR length leaves
// `c.args` failed.
FhArg read_fh(Nfs3Call& c);

bool nfs3_getattr(Nfs3Call& c, XdrWriter& out);
bool nfs3_setattr(Nfs3Call& c, XdrWriter& out);
bool nfs3_lookup(Nfs3Call& c, XdrWriter& out);
bool nfs3_access(Nfs3Call& c, XdrWriter& out);
bool nfs3_readlink(Nfs3Call& c, XdrWriter& out);
bool nfs3_create(Nfs3Call& c, XdrWriter& out);
bool nfs3_mkdir(Nfs3Call& c, XdrWriter& out);
bool nfs3_symlink(Nfs3Call& c, XdrWriter& out);
bool nfs3_mknod(Nfs3Call& c, XdrWriter& out);
bool nfs3_remove(Nfs3Call& c, XdrWriter& out);
bool nfs3_rmdir(Nfs3Call& c, XdrWriter& out);
bool nfs3_rename(Nfs3Call& c, XdrWriter& out);
bool nfs3_link(Nfs3Call& c, XdrWriter& out);
bool nfs3_readdir(Nfs3Call& c, XdrWriter& out);
bool nfs3_readdirplus(Nfs3Call& c, XdrWriter& out);
bool nfs3_fsstat(Nfs3Call& c, XdrWriter& out);
bool nfs3_fsinfo(Nfs3Call& c, XdrWriter& out);
bool nfs3_pathconf(Nfs3Call& c, XdrWriter& out);
bool nfs3_commit(Nfs3Call& c, XdrWriter& out);

// Asynchronous: return false on GARBAGE_ARGS (nothing sent); otherwise they call c.respond.
bool nfs3_read(Nfs3Call& c);
bool nfs3_write(Nfs3Call& c);

// Non-idempotent procedures whose replies go through the duplicate request cache
// (docs/pi-boot.md NFS 7). SETATTR is included only when guarded; the caller checks that.
bool nfs3_is_non_idempotent(uint32_t proc);

}  // namespace rootfarm::nfsd
