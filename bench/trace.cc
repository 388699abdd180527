#include "bench/trace.h"

#include <array>
#include <charconv>
#include <fstream>
#include <sstream>

#include "core/trace_format.h"

namespace rootfarm::bench {

namespace {

// Each Proc's RFC 1813 §3.3 procedure number (READDIR came last to the enum).
constexpr std::array<uint32_t, kProcCount> kRfcProc = {
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17, 18, 19, 20, 21, 16,
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

// An escaped absolute path (core/trace_format.h: trace_escape per component).
bool take_path(std::string_view s, std::string& out) {
    return !s.empty() && s.front() == '/' && trace_unescape(s, out);
}
bool take_name(std::string_view s, std::string& out) {
    return trace_unescape(s, out) && !out.empty() && out != "." && out != ".." &&
           out.find('/') == std::string::npos;
}

bool parse_time(std::string_view s, SetTime& t) {
    if (s == "now") {
        t.how = SetTime::How::kServer;
        return true;
    }
    auto dot = s.find('.');
    uint64_t sec = 0, nsec = 0;
    if (dot == std::string_view::npos || !parse_u64(s.substr(0, dot), sec) ||
        !parse_u64(s.substr(dot + 1), nsec) || nsec >= 1000000000 || sec > INT64_MAX) {
        return false;
    }
    t = {SetTime::How::kClient, static_cast<int64_t>(sec), static_cast<uint32_t>(nsec)};
    return true;
}

std::string format_time(const SetTime& t) {
    if (t.how == SetTime::How::kServer) return "now";
    char buf[40];
    std::snprintf(buf, sizeof buf, "%lld.%09u", static_cast<long long>(t.sec), t.nsec);
    return buf;
}

// SETATTR's "key value" pairs.
bool parse_setattr(const std::vector<std::string_view>& f, size_t from, TraceOp& op) {
    if ((f.size() - from) % 2 != 0) return false;
    for (size_t i = from; i < f.size(); i += 2) {
        std::string_view key = f[i], v = f[i + 1];
        uint64_t n = 0;
        if (key == "size") {
            if (!parse_u64(v, n)) return false;
            op.size = n;
        } else if (key == "mode") {
            if (!parse_u64(v, n, 8) || n > 07777) return false;
            op.mode = static_cast<uint32_t>(n);
        } else if (key == "uid" || key == "gid") {
            if (!parse_u64(v, n) || n > UINT32_MAX) return false;
            (key == "uid" ? op.uid : op.gid) = static_cast<uint32_t>(n);
        } else if (key == "atime" || key == "mtime") {
            if (!parse_time(v, key == "atime" ? op.atime : op.mtime)) return false;
        } else {
            return false;
        }
    }
    return true;
}

bool parse_mknod(const std::vector<std::string_view>& f, size_t from, TraceOp& op) {
    size_t left = f.size() - from;
    if (left == 0) return true;
    std::string_view type = f[from];
    if (type == "fifo" || type == "sock") {
        op.node = type == "fifo" ? NodeType::kFifo : NodeType::kSocket;
        return left == 1;
    }
    if (type != "chr" && type != "blk") return false;
    op.node = type == "chr" ? NodeType::kChar : NodeType::kBlock;
    uint64_t major = 0, minor = 0;
    if (left != 3 || !parse_u64(f[from + 1], major) || !parse_u64(f[from + 2], minor) ||
        major > UINT32_MAX || minor > UINT32_MAX) {
        return false;
    }
    op.major = static_cast<uint32_t>(major);
    op.minor = static_cast<uint32_t>(minor);
    return true;
}

}  // namespace

std::string_view proc_name(Proc p) {
    return nfs3_proc_name(kRfcProc[static_cast<size_t>(p)]);
}

Result<TraceOp> parse_trace_line(std::string_view line) {
    auto f = split(line);
    if (f.empty() || f[0].front() == '#') return std::errc::no_message;
    TraceOp op;
    auto number = nfs3_proc_number(f[0]);
    size_t i = 0;
    while (i < kRfcProc.size() && kRfcProc[i] != number) ++i;
    if (i == kRfcProc.size()) return std::errc::invalid_argument;
    op.proc = static_cast<Proc>(i);
    auto bad = std::errc::invalid_argument;
    // A trailing "=STATUS": the status the call must answer (escaped fields never hold '=').
    if (f.size() > 2 && f.back().front() == '=') {
        if (!trace_parse_status(f.back().substr(1), op.status)) return bad;
        f.pop_back();
    }
    if (f.size() < 2 || !take_path(f[1], op.path)) return bad;
    switch (op.proc) {
        case Proc::kLookup:
        case Proc::kMkdir:
        case Proc::kRemove:
        case Proc::kRmdir:
            if (f.size() != 3 || !take_name(f[2], op.name)) return bad;
            break;
        case Proc::kCreate:
            if (f.size() < 3 || f.size() > 4 || !take_name(f[2], op.name)) return bad;
            if (f.size() == 4) {
                if (f[3] == "guarded") {
                    op.create = CreateHow::kGuarded;
                } else if (f[3] == "exclusive") {
                    op.create = CreateHow::kExclusive;
                } else {
                    return bad;
                }
            }
            break;
        case Proc::kMknod:
            if (f.size() < 3 || !take_name(f[2], op.name) || !parse_mknod(f, 3, op)) return bad;
            break;
        case Proc::kSymlink:
            if (f.size() != 4 || !take_name(f[2], op.name)) return bad;
            if (!trace_unescape(f[3], op.name2)) return bad;
            break;
        case Proc::kRename:
            if (f.size() != 5 || !take_name(f[2], op.name) || !take_path(f[3], op.path2) ||
                !take_name(f[4], op.name2)) {
                return bad;
            }
            break;
        case Proc::kLink:
            if (f.size() != 4 || !take_path(f[2], op.path2) || !take_name(f[3], op.name2)) {
                return bad;
            }
            break;
        case Proc::kRead:
        case Proc::kWrite:
            if (f.size() < 4 || !parse_u64(f[2], op.offset) || !parse_u64(f[3], op.count)) {
                return bad;
            }
            // RFC 1813 §3.3.6/§3.3.7: count is a 32-bit field.
            if (op.count > UINT32_MAX) return bad;
            if (op.proc == Proc::kWrite && f.size() == 5) {
                if (f[4] == "datasync") {
                    op.stable = 1;
                } else if (f[4] == "filesync") {
                    op.stable = 2;
                } else {
                    return bad;
                }
            } else if (f.size() != 4) {
                return bad;
            }
            break;
        case Proc::kSetattr:
            if (!parse_setattr(f, 2, op)) return bad;
            break;
        case Proc::kReaddir:
        case Proc::kReaddirplus:
            if (f.size() == 3 && f[2] == "more") {
                op.more = true;
            } else if (f.size() != 2) {
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
    o << proc_name(op.proc) << ' ' << trace_escape(op.path);
    switch (op.proc) {
        case Proc::kLookup:
        case Proc::kMkdir:
        case Proc::kRemove:
        case Proc::kRmdir:
            o << ' ' << trace_escape(op.name);
            break;
        case Proc::kCreate:
            o << ' ' << trace_escape(op.name);
            if (op.create == CreateHow::kGuarded) o << " guarded";
            if (op.create == CreateHow::kExclusive) o << " exclusive";
            break;
        case Proc::kMknod: {
            o << ' ' << trace_escape(op.name);
            constexpr const char* kNodes[] = {" fifo", " sock", " chr", " blk"};
            o << kNodes[static_cast<int>(op.node)];
            if (op.node == NodeType::kChar || op.node == NodeType::kBlock) {
                o << ' ' << op.major << ' ' << op.minor;
            }
            break;
        }
        case Proc::kSymlink:
            o << ' ' << trace_escape(op.name) << ' ' << trace_escape(op.name2);
            break;
        case Proc::kRename:
            o << ' ' << trace_escape(op.name) << ' ' << trace_escape(op.path2) << ' '
              << trace_escape(op.name2);
            break;
        case Proc::kLink:
            o << ' ' << trace_escape(op.path2) << ' ' << trace_escape(op.name2);
            break;
        case Proc::kRead:
        case Proc::kWrite:
            o << ' ' << op.offset << ' ' << op.count;
            if (op.stable == 1) o << " datasync";
            if (op.stable == 2) o << " filesync";
            break;
        case Proc::kSetattr:
            if (op.size) o << " size " << *op.size;
            if (op.mode) o << " mode " << std::oct << *op.mode << std::dec;
            if (op.uid) o << " uid " << *op.uid;
            if (op.gid) o << " gid " << *op.gid;
            if (op.atime.how != SetTime::How::kKeep) o << " atime " << format_time(op.atime);
            if (op.mtime.how != SetTime::How::kKeep) o << " mtime " << format_time(op.mtime);
            break;
        case Proc::kReaddir:
        case Proc::kReaddirplus:
            if (op.more) o << " more";
            break;
        default:
            break;
    }
    if (op.status != 0) o << " =" << trace_status_name(op.status);
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
