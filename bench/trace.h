#pragma once

// The bench's NFS trace: one NFSv3 call per line, named by path so it can be replayed against
// any server and any client's own view (file handles are resolved on the target).
//
//   # comment                          GETATTR /etc/passwd
//   LOOKUP /usr/lib libc.so.6          READ /usr/lib/libc.so.6 0 131072
//   WRITE /var/tmp/f 0 4096            SETATTR /var/tmp/f size 0 | SETATTR /etc/x mode 644
//   CREATE /var/tmp f                  MKDIR /var/tmp d          MKNOD /var/tmp p  (a FIFO)
//   REMOVE /var/tmp f                  RMDIR /var/tmp d          SYMLINK /var/tmp l TARGET
//   RENAME /var/tmp a /var/tmp b       LINK /var/tmp/f /var/tmp g
//   ACCESS|READLINK|READDIRPLUS|COMMIT|FSSTAT|FSINFO|PATHCONF PATH
//
// Paths are absolute inside the client's root and contain no spaces.

#include <cstdint>
#include <filesystem>
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
};
constexpr int kProcCount = 20;

std::string_view proc_name(Proc p);

struct TraceOp {
    Proc proc = Proc::kGetattr;
    std::string path;   // the object, or the directory for name-based calls
    std::string name;   // LOOKUP/CREATE/MKDIR/SYMLINK/MKNOD/REMOVE/RMDIR/RENAME(from)
    std::string path2;  // RENAME/LINK target directory
    std::string name2;  // RENAME/LINK target name, SYMLINK target text
    uint64_t offset = 0;
    uint64_t count = 0;     // READ/WRITE bytes; SETATTR size or mode
    bool set_mode = false;  // SETATTR: mode (else size)
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
