#include "bench/trace.h"

#include <array>
#include <charconv>
#include <fstream>
#include <sstream>

namespace rootfarm::bench {

namespace {

constexpr std::array<std::string_view, kProcCount> kNames = {
    "GETATTR", "SETATTR",     "LOOKUP",  "ACCESS", "READLINK", "READ",   "WRITE",
    "CREATE",  "MKDIR",       "SYMLINK", "MKNOD",  "REMOVE",   "RMDIR",  "RENAME",
    "LINK",    "READDIRPLUS", "FSSTAT",  "FSINFO", "PATHCONF", "COMMIT",
};

std::vector<std::string_view> split(std::string_view line) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
        size_t j = i;
        while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
        if (j > i) out.push_back(line.substr(i, j - i));
        i = j;
    }
    return out;
}

bool parse_u64(std::string_view s, uint64_t& out, int base = 10) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
    return ec == std::errc() && p == s.data() + s.size();
}

bool is_path(std::string_view s) {
    return !s.empty() && s.front() == '/';
}
bool is_name(std::string_view s) {
    return !s.empty() && s != "." && s != ".." && s.find('/') == std::string_view::npos;
}

}  // namespace

std::string_view proc_name(Proc p) {
    return kNames[static_cast<size_t>(p)];
}

Result<TraceOp> parse_trace_line(std::string_view line) {
    auto f = split(line);
    if (f.empty() || f[0].front() == '#') return std::errc::no_message;
    TraceOp op;
    size_t i = 0;
    while (i < kNames.size() && kNames[i] != f[0]) ++i;
    if (i == kNames.size()) return std::errc::invalid_argument;
    op.proc = static_cast<Proc>(i);
    auto bad = std::errc::invalid_argument;
    if (f.size() < 2 || !is_path(f[1])) return bad;
    op.path = f[1];
    switch (op.proc) {
        case Proc::kLookup:
        case Proc::kCreate:
        case Proc::kMkdir:
        case Proc::kMknod:
        case Proc::kRemove:
        case Proc::kRmdir:
            if (f.size() != 3 || !is_name(f[2])) return bad;
            op.name = f[2];
            break;
        case Proc::kSymlink:
            if (f.size() != 4 || !is_name(f[2])) return bad;
            op.name = f[2];
            op.name2 = f[3];
            break;
        case Proc::kRename:
            if (f.size() != 5 || !is_name(f[2]) || !is_path(f[3]) || !is_name(f[4])) return bad;
            op.name = f[2];
            op.path2 = f[3];
            op.name2 = f[4];
            break;
        case Proc::kLink:
            if (f.size() != 4 || !is_path(f[2]) || !is_name(f[3])) return bad;
            op.path2 = f[2];
            op.name2 = f[3];
            break;
        case Proc::kRead:
        case Proc::kWrite:
            if (f.size() != 4 || !parse_u64(f[2], op.offset) || !parse_u64(f[3], op.count)) {
                return bad;
            }
            // RFC 1813 §3.3.6/§3.3.7: count is a 32-bit field.
            if (op.count > UINT32_MAX) return bad;
            break;
        case Proc::kSetattr:
            if (f.size() != 4) return bad;
            if (f[2] == "size") {
                if (!parse_u64(f[3], op.count)) return bad;
            } else if (f[2] == "mode") {
                if (!parse_u64(f[3], op.count, 8) || op.count > 07777) return bad;
                op.set_mode = true;
            } else {
                return bad;
            }
            break;
        default:
            if (f.size() != 2) return bad;
            break;
    }
    return op;
}

std::string format_trace_op(const TraceOp& op) {
    std::ostringstream o;
    o << proc_name(op.proc) << ' ' << op.path;
    switch (op.proc) {
        case Proc::kLookup:
        case Proc::kCreate:
        case Proc::kMkdir:
        case Proc::kMknod:
        case Proc::kRemove:
        case Proc::kRmdir:
            o << ' ' << op.name;
            break;
        case Proc::kSymlink:
            o << ' ' << op.name << ' ' << op.name2;
            break;
        case Proc::kRename:
            o << ' ' << op.name << ' ' << op.path2 << ' ' << op.name2;
            break;
        case Proc::kLink:
            o << ' ' << op.path2 << ' ' << op.name2;
            break;
        case Proc::kRead:
        case Proc::kWrite:
            o << ' ' << op.offset << ' ' << op.count;
            break;
        case Proc::kSetattr:
            if (op.set_mode) {
                o << " mode " << std::oct << op.count;
            } else {
                o << " size " << op.count;
            }
            break;
        default:
            break;
    }
    return o.str();
}

Result<Trace> load_trace(const std::filesystem::path& path, size_t* error_line) {
    std::ifstream in(path);
    if (!in) return std::errc::no_such_file_or_directory;
    Trace trace;
    std::string line;
    size_t n = 0;
    bool in_header = true;
    while (std::getline(in, line)) {
        ++n;
        auto op = parse_trace_line(line);
        if (op) {
            in_header = false;
            trace.ops.push_back(std::move(*op));
            continue;
        }
        if (op.error() == std::errc::no_message) {
            if (in_header && line.starts_with("#")) {
                trace.header.push_back(line.size() > 2 ? line.substr(2) : "");
            }
            continue;
        }
        if (error_line) *error_line = n;
        return op.error();
    }
    return trace;
}

}  // namespace rootfarm::bench
