#pragma once

// The bench's NFS trace: one NFSv3 call per line, named by path so it can be replayed against
// any server and any client's own view (file handles are resolved on the target). rootfarm's
// `[nfs] trace = PATH` writes it (nfsd/trace.h); `rootfarm-bench gen-trace` synthesises one.
//
//   # comment                          GETATTR /etc/passwd
//   LOOKUP /usr/lib libc.so.6          READ /usr/lib/libc.so.6 0 131072
//   WRITE /var/tmp/f 0 4096 [datasync|filesync]            (default: unstable)
//   SETATTR /var/tmp/f [size N] [mode OCTAL] [uid N] [gid N] [atime now|S.N] [mtime now|S.N]
//   CREATE /var/tmp f [guarded|exclusive]                  (default: unchecked)
//   MKDIR /var/tmp d                   MKNOD /var/tmp p [fifo|sock|chr MAJ MIN|blk MAJ MIN]
//   REMOVE /var/tmp f                  RMDIR /var/tmp d          SYMLINK /var/tmp l TARGET
//   RENAME /var/tmp a /var/tmp b       LINK /var/tmp/f /var/tmp g
//   READDIRPLUS|READDIR PATH [more]    (more: go on from where this client's previous listing
//                                       of PATH stopped, as the kernel does for a big directory)
//   ACCESS|READLINK|COMMIT|FSSTAT|FSINFO|PATHCONF PATH
//
// Any call may end with "=STATUS", the nfsstat3 (RFC 1813 §2.6) it must answer, by name without
// NFS3ERR_ (NOENT, EXIST, NOTEMPTY, ...) or by number; without it the call must answer OK.
// Paths are absolute inside the client's root. Paths, names and symlink targets are
// percent-escaped: '%', '=', and every byte outside '!'..'~' is written %XX. The procedure
// and status names and the escaping are core/trace_format.h's, shared with the writer.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace rootfarm::bench {

enum class Proc {
    kGetattr,
    kSetattr,
    kLookup,
    kAccess,
    kReadlink,
    kRead,
    kWrite,
    kCreate,
    kMkdir,
    kSymlink,
    kMknod,
    kRemove,
    kRmdir,
    kRename,
    kLink,
    kReaddirplus,
    kFsstat,
    kFsinfo,
    kPathconf,
    kCommit,
    kReaddir,
};
constexpr int kProcCount = 21;

std::string_view proc_name(Proc p);

// SETATTR times (RFC 1813 §2.5 time_how): unchanged, the server's clock, or a given time.
struct SetTime {
    enum class How { kKeep, kServer, kClient } how = How::kKeep;
    int64_t sec = 0;
    uint32_t nsec = 0;
};

enum class CreateHow { kUnchecked, kGuarded, kExclusive };  // RFC 1813 §3.3.8
enum class NodeType { kFifo, kSocket, kChar, kBlock };      // MKNOD (§3.3.11)

struct TraceOp {
    Proc proc = Proc::kGetattr;
    std::string path;   // the object, or the directory for name-based calls
    std::string name;   // LOOKUP/CREATE/MKDIR/SYMLINK/MKNOD/REMOVE/RMDIR/RENAME(from)
    std::string path2;  // RENAME/LINK target directory
    std::string name2;  // RENAME/LINK target name, SYMLINK target text
    uint64_t offset = 0;
    uint64_t count = 0;  // READ/WRITE bytes
    // SETATTR: what to change.
    std::optional<uint64_t> size;
    std::optional<uint32_t> mode, uid, gid;
    SetTime atime, mtime;
    CreateHow create = CreateHow::kUnchecked;
    NodeType node = NodeType::kFifo;
    uint32_t major = 0, minor = 0;  // MKNOD chr/blk
    uint32_t stable = 0;            // WRITE stable_how: 0 unstable, 1 data_sync, 2 file_sync
    bool more = false;              // READDIR(PLUS): continue the previous listing
    uint32_t status = 0;            // the nfsstat3 the call must answer
};

// One line; comment and blank lines yield an error code of std::errc::no_message so a caller
// can skip them. Malformed lines: std::errc::invalid_argument.
Result<TraceOp> parse_trace_line(std::string_view line);
std::string format_trace_op(const TraceOp& op);

// A whole file. The error names the first bad line in `error_line` (1-based).
struct Trace {
    std::vector<TraceOp> ops;
    std::vector<std::string> header;  // the leading comment lines, without "# "
};
Result<Trace> load_trace(const std::filesystem::path& path, size_t* error_line = nullptr);

}  // namespace rootfarm::bench
