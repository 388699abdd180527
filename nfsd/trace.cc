#include "nfsd/trace.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <optional>

#include "nfsd/nfs3_xdr.h"
#include "nfsd/rpc.h"
#include "nfsd/xdr.h"

namespace rootfarm::nfsd {

namespace {

// READDIRPLUS hands out a handle per entry; this many entries from the call's cookie on are
// named from the view (the Linux client asks for far fewer per call: 32 KiB maxcount).
constexpr size_t kListedEntries = 4096;
// Retransmits are recognised among this many recent xids per client.
constexpr size_t kRecentXids = 1024;

struct StatusName {
    uint32_t status;
    std::string_view name;
};
// RFC 1813 §2.6 nfsstat3, without the NFS3ERR_ prefix.
constexpr StatusName kStatusNames[] = {
    {0, "OK"},           {1, "PERM"},          {2, "NOENT"},           {5, "IO"},
    {6, "NXIO"},         {13, "ACCES"},        {17, "EXIST"},          {18, "XDEV"},
    {19, "NODEV"},       {20, "NOTDIR"},       {21, "ISDIR"},          {22, "INVAL"},
    {27, "FBIG"},        {28, "NOSPC"},        {30, "ROFS"},           {31, "MLINK"},
    {63, "NAMETOOLONG"}, {66, "NOTEMPTY"},     {69, "DQUOT"},          {70, "STALE"},
    {71, "REMOTE"},      {10001, "BADHANDLE"}, {10002, "NOT_SYNC"},    {10003, "BAD_COOKIE"},
    {10004, "NOTSUPP"},  {10005, "TOOSMALL"},  {10006, "SERVERFAULT"}, {10007, "BADTYPE"},
    {10008, "JUKEBOX"},
};

// The nfsstat3 of an accepted, successful RPC reply (RFC 5531 §9: xid, REPLY, MSG_ACCEPTED,
// verifier, SUCCESS; then the procedure's result, whose first word is the status for every
// NFSv3 procedure, RFC 1813 §3.3).
std::optional<uint32_t> reply_status(std::span<const uint8_t> reply) {
    auto h = read_reply_header(reply);
    if (!h || !h->accepted || h->stat != 0) return std::nullopt;
    return h->first_result;
}

bool is_dot(std::string_view name) {
    return name == "." || name == "..";
}

}  // namespace

// What a call's line needs, decoded from its arguments while the record is at hand.
struct TracedCall {
    uint32_t proc = 0;
    uint32_t xid = 0;
    std::string mac;
    store::ObjectId obj = 0;  // the object, or the directory of a name
    bool obj_ok = false;
    std::string name;
    bool has_second = false;   // RENAME's target directory, LINK's directory
    store::ObjectId obj2 = 0;  // (LINK: obj is the file)
    bool obj2_ok = false;
    std::string name2;
    std::string suffix;  // the rest of the line, formatted
    uint64_t cookie = 0;
};

namespace {

std::string time_field(store::SetAttrArgs::TimeHow how, const store::Time& t) {
    using How = store::SetAttrArgs::TimeHow;
    if (how == How::kServerTime) return "now";
    char buf[40];
    std::snprintf(buf, sizeof buf, "%lld.%09u", static_cast<long long>(t.sec), t.nsec);
    return buf;
}

std::string sattr_suffix(const store::SetAttrArgs& a) {
    using How = store::SetAttrArgs::TimeHow;
    std::string s;
    if (a.size) s += " size " + std::to_string(*a.size);
    if (a.mode) {
        char buf[16];
        std::snprintf(buf, sizeof buf, " mode %o", *a.mode);
        s += buf;
    }
    if (a.uid) s += " uid " + std::to_string(*a.uid);
    if (a.gid) s += " gid " + std::to_string(*a.gid);
    if (a.atime_how != How::kDontChange) s += " atime " + time_field(a.atime_how, a.atime);
    if (a.mtime_how != How::kDontChange) s += " mtime " + time_field(a.mtime_how, a.mtime);
    return s;
}

// Decodes the arguments of an NFSv3 call (RFC 1813 §3.3) into what its trace line needs.
std::optional<TracedCall> decode(const CallHeader& h, std::span<const uint8_t> args,
                                 store::ClientView& view) {
    TracedCall c;
    c.proc = h.proc;
    c.xid = h.xid;
    c.mac = view.mac().to_string();
    XdrReader r(args);
    auto fh = [&](store::ObjectId& id, bool& ok) {
        auto resolved = view.resolve(r.opaque(kMaxHandleBytes));
        ok = resolved.ok();
        id = ok ? *resolved : 0;
    };
    auto name = [&](std::string& out) { out = std::string(read_name(r).name); };
    switch (h.proc) {
        case kNfs3GetAttr:
        case kNfs3Access:
        case kNfs3ReadLink:
        case kNfs3FsStat:
        case kNfs3FsInfo:
        case kNfs3PathConf:
        case kNfs3Commit:
            fh(c.obj, c.obj_ok);
            break;
        case kNfs3SetAttr: {
            fh(c.obj, c.obj_ok);
            store::SetAttrArgs a;
            if (!read_sattr3(r, a)) return std::nullopt;
            c.suffix = sattr_suffix(a);
            break;
        }
        case kNfs3Lookup:
        case kNfs3MkDir:
        case kNfs3Remove:
        case kNfs3RmDir:
            fh(c.obj, c.obj_ok);
            name(c.name);
            break;
        case kNfs3Read:
        case kNfs3Write: {
            fh(c.obj, c.obj_ok);
            uint64_t offset = r.u64();
            uint32_t count = r.u32();
            c.suffix = " " + std::to_string(offset) + " " + std::to_string(count);
            if (h.proc == kNfs3Write) {
                uint32_t stable = r.u32();
                if (stable == 1) c.suffix += " datasync";
                if (stable == 2) c.suffix += " filesync";
            }
            break;
        }
        case kNfs3Create: {
            fh(c.obj, c.obj_ok);
            name(c.name);
            uint32_t how = r.u32();
            if (how == 1) c.suffix = " guarded";
            if (how == 2) c.suffix = " exclusive";
            break;
        }
        case kNfs3SymLink: {
            fh(c.obj, c.obj_ok);
            name(c.name);
            store::SetAttrArgs a;
            if (!read_sattr3(r, a)) return std::nullopt;
            c.suffix = " " + trace_escape(r.string(kMaxPathBytes));
            break;
        }
        case kNfs3MkNod: {
            fh(c.obj, c.obj_ok);
            name(c.name);
            uint32_t type = r.u32();
            store::SetAttrArgs a;
            using T = store::FileType;
            if (type == static_cast<uint32_t>(T::kChar) ||
                type == static_cast<uint32_t>(T::kBlock)) {
                if (!read_sattr3(r, a)) return std::nullopt;
                uint32_t major = r.u32();
                uint32_t minor = r.u32();
                c.suffix =
                    std::string(type == static_cast<uint32_t>(T::kChar) ? " chr " : " blk ") +
                    std::to_string(major) + " " + std::to_string(minor);
            } else if (type == static_cast<uint32_t>(T::kSocket)) {
                c.suffix = " sock";
            } else if (type == static_cast<uint32_t>(T::kFifo)) {
                c.suffix = " fifo";
            } else {
                return std::nullopt;  // BADTYPE: no node a replay could ask for
            }
            break;
        }
        case kNfs3Rename:
            fh(c.obj, c.obj_ok);
            name(c.name);
            c.has_second = true;
            fh(c.obj2, c.obj2_ok);
            name(c.name2);
            break;
        case kNfs3Link:
            fh(c.obj, c.obj_ok);
            c.has_second = true;
            fh(c.obj2, c.obj2_ok);
            name(c.name2);
            break;
        case kNfs3ReadDir:
        case kNfs3ReadDirPlus:
            fh(c.obj, c.obj_ok);
            c.cookie = r.u64();
            if (c.cookie != 0) c.suffix = " more";
            break;
        default:
            return std::nullopt;
    }
    if (!r.ok()) return std::nullopt;
    return c;
}

}  // namespace

const char* nfs3_proc_name(uint32_t proc) {
    static constexpr const char* kNames[] = {
        "NULL",    "GETATTR",     "SETATTR", "LOOKUP", "ACCESS",   "READLINK", "READ",   "WRITE",
        "CREATE",  "MKDIR",       "SYMLINK", "MKNOD",  "REMOVE",   "RMDIR",    "RENAME", "LINK",
        "READDIR", "READDIRPLUS", "FSSTAT",  "FSINFO", "PATHCONF", "COMMIT",
    };
    return proc < kNfs3ProcCount ? kNames[proc] : "UNKNOWN";
}

std::string trace_status_name(uint32_t status) {
    for (const auto& s : kStatusNames) {
        if (s.status == status) return std::string(s.name);
    }
    return std::to_string(status);
}

bool trace_parse_status(std::string_view token, uint32_t& status) {
    for (const auto& s : kStatusNames) {
        if (s.name == token) {
            status = s.status;
            return true;
        }
    }
    auto [p, ec] = std::from_chars(token.data(), token.data() + token.size(), status);
    return ec == std::errc() && p == token.data() + token.size() && !token.empty();
}

std::string trace_escape(std::string_view raw) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(raw.size());
    for (char ch : raw) {
        auto b = static_cast<unsigned char>(ch);
        if (b == '%' || b == '=' || b <= ' ' || b > '~') {
            out += '%';
            out += kHex[b >> 4];
            out += kHex[b & 15];
        } else {
            out += ch;
        }
    }
    return out;
}

bool trace_unescape(std::string_view field, std::string& out) {
    out.clear();
    for (size_t i = 0; i < field.size(); ++i) {
        if (field[i] != '%') {
            out += field[i];
            continue;
        }
        unsigned v = 0;
        if (i + 2 >= field.size()) return false;
        auto [p, ec] = std::from_chars(field.data() + i + 1, field.data() + i + 3, v, 16);
        if (ec != std::errc() || p != field.data() + i + 3) return false;
        out += static_cast<char>(v);
        i += 2;
    }
    return true;
}

Result<std::unique_ptr<Tracer>> Tracer::open(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "a");
    if (!f) return errno_error(errno);
    return std::unique_ptr<Tracer>(new Tracer(f));
}

Tracer::~Tracer() {
    std::fclose(file_);
}

void Tracer::observe(const CallHeader& h, std::span<const uint8_t> args,
                     const std::shared_ptr<store::ClientView>& view, Responder& respond) {
    auto call = decode(h, args, *view);
    if (!call) return;
    respond = [this, call = std::move(*call), view, inner = std::move(respond)](Reply reply) {
        // An empty reply is a retransmit the DRC drops: nothing was answered.
        if (!reply.empty()) on_reply(call, *view, reply.bytes);
        inner(std::move(reply));
    };
}

std::string Tracer::path_of(const Client& c, store::ObjectId id) const {
    if (id == c.root) return "/";
    std::vector<const std::string*> parts;
    // A bound on the walk: a directory tree is acyclic, but a stale map must not loop.
    for (int depth = 0; depth < 4096; ++depth) {
        auto it = c.names.find(id);
        if (it == c.names.end() || it->second.empty()) return {};
        parts.push_back(&it->second.front().name);
        id = it->second.front().parent;
        if (id == c.root) {
            std::string path;
            for (auto p = parts.rbegin(); p != parts.rend(); ++p) path += "/" + trace_escape(**p);
            return path;
        }
    }
    return {};
}

void Tracer::add_name(Client& c, store::ObjectId id, store::ObjectId parent,
                      std::string_view name) {
    if (id == c.root || is_dot(name)) return;
    drop_name(c, parent, name);
    c.ids[{parent, std::string(name)}] = id;
    c.names[id].push_back({parent, std::string(name)});
}

void Tracer::drop_name(Client& c, store::ObjectId parent, std::string_view name) {
    auto it = c.ids.find({parent, std::string(name)});
    if (it == c.ids.end()) return;
    if (auto n = c.names.find(it->second); n != c.names.end()) {
        std::erase_if(n->second,
                      [&](const Name& x) { return x.parent == parent && x.name == name; });
        if (n->second.empty()) c.names.erase(n);
    }
    c.ids.erase(it);
}

// Updates the id -> name map after a successful call.
void Tracer::learn(Client& c, store::ClientView& view, const TracedCall& call) {
    auto named = [&](store::ObjectId dir, const std::string& name) REQUIRES(mu_) {
        if (is_dot(name)) return;
        if (auto id = view.lookup(dir, name); id.ok()) add_name(c, *id, dir, name);
    };
    switch (call.proc) {
        case kNfs3Lookup:
        case kNfs3Create:
        case kNfs3MkDir:
        case kNfs3SymLink:
        case kNfs3MkNod:
            named(call.obj, call.name);
            break;
        case kNfs3Link:
            add_name(c, call.obj, call.obj2, call.name2);
            break;
        case kNfs3Remove:
        case kNfs3RmDir:
            drop_name(c, call.obj, call.name);
            break;
        case kNfs3Rename:
            drop_name(c, call.obj, call.name);
            named(call.obj2, call.name2);
            break;
        case kNfs3ReadDirPlus: {
            auto page = view.readdir(call.obj, call.cookie, kListedEntries);
            if (!page.ok()) break;
            for (const auto& e : page->entries) {
                if (!c.names.contains(e.id)) add_name(c, e.id, call.obj, e.name);
            }
            break;
        }
        default:
            break;
    }
}

void Tracer::on_reply(const TracedCall& call, store::ClientView& view,
                      std::span<const uint8_t> reply) {
    auto status = reply_status(reply);
    if (!status) return;
    MutexLock lock(mu_);
    auto [it, fresh] = clients_.try_emplace(call.mac);
    Client& c = it->second;
    if (fresh) c.root = view.root();
    if (c.recent.contains(call.xid)) return;  // a retransmit answered again (DRC or idempotent)
    c.recent.insert(call.xid);
    c.recent_order.push_back(call.xid);
    if (c.recent_order.size() > kRecentXids) {
        c.recent.erase(c.recent_order.front());
        c.recent_order.pop_front();
    }
    if (call.mac != last_client_) {
        std::fprintf(file_, "# client %s\n", call.mac.c_str());
        last_client_ = call.mac;
    }

    std::string line = nfs3_proc_name(call.proc);
    std::string path = call.obj_ok ? path_of(c, call.obj) : "";
    bool resolved = !path.empty();
    if (call.proc == kNfs3Lookup && is_dot(call.name) && resolved) {
        // "." and ".." are no names in the bench's format: the same object by its own name.
        auto id = *status == 0 ? view.lookup(call.obj, call.name)
                               : Result<store::ObjectId>(std::errc::invalid_argument);
        auto named = id.ok() ? c.names.find(*id) : c.names.end();
        if (id.ok() && *id == c.root) {
            line = "GETATTR /";
        } else if (named != c.names.end() && !named->second.empty()) {
            const Name& n = named->second.front();
            std::string dir = path_of(c, n.parent);
            resolved = !dir.empty();
            line += " " + dir + " " + trace_escape(n.name);
        } else {
            resolved = false;
        }
    } else {
        line += " " + path;
        if (!call.name.empty()) line += " " + trace_escape(call.name);
        if (call.has_second) {
            std::string path2 = call.obj2_ok ? path_of(c, call.obj2) : "";
            resolved = resolved && !path2.empty();
            line += " " + path2 + " " + trace_escape(call.name2);
        }
        line += call.suffix;
    }
    if (resolved) {
        if (*status != 0) line += " =" + trace_status_name(*status);
        std::fprintf(file_, "%s\n", line.c_str());
    } else {
        std::fprintf(file_, "# unresolved %s (object %llu, reply %s)\n", nfs3_proc_name(call.proc),
                     static_cast<unsigned long long>(call.obj), trace_status_name(*status).c_str());
    }
    std::fflush(file_);
    if (*status == 0) learn(c, view, call);
}

}  // namespace rootfarm::nfsd
