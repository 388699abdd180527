#include "nfsd/trace.h"

#include <algorithm>
#include <cerrno>
#include <optional>

#include "core/trace_format.h"
#include "nfsd/rpc.h"

namespace rootfarm::nfsd {

namespace {

// READDIRPLUS hands out a handle per entry; this many entries from the call's cookie on are
// named from the view (the Linux client asks for far fewer per call: 32 KiB maxcount).
constexpr size_t kListedEntries = 4096;
// Retransmits are recognised among this many recent xids per client.
constexpr size_t kRecentXids = 1024;

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

// What a call's line needs, from the arguments its handler decoded.
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

// What the trace line of call `proc` needs, from the arguments its handler kept. Nothing for
// a MKNOD of a type no replay could ask for (BADTYPE).
std::optional<TracedCall> describe(uint32_t proc, uint32_t xid, const Nfs3Args& a,
                                   const store::ClientView& view) {
    TracedCall c;
    c.proc = proc;
    c.xid = xid;
    c.mac = view.mac().to_string();
    c.obj = a.fh.id;
    c.obj_ok = a.fh.status == 0;
    switch (proc) {
        case kNfs3GetAttr:
        case kNfs3Access:
        case kNfs3ReadLink:
        case kNfs3FsStat:
        case kNfs3FsInfo:
        case kNfs3PathConf:
        case kNfs3Commit:
            break;
        case kNfs3SetAttr:
            c.suffix = sattr_suffix(a.attrs);
            break;
        case kNfs3Lookup:
        case kNfs3MkDir:
        case kNfs3Remove:
        case kNfs3RmDir:
            c.name = a.name;
            break;
        case kNfs3Read:
        case kNfs3Write:
            c.suffix = " " + std::to_string(a.offset) + " " + std::to_string(a.count);
            if (proc == kNfs3Write && a.how == 1) c.suffix += " datasync";
            if (proc == kNfs3Write && a.how == 2) c.suffix += " filesync";
            break;
        case kNfs3Create:
            c.name = a.name;
            if (a.how == 1) c.suffix = " guarded";
            if (a.how == 2) c.suffix = " exclusive";
            break;
        case kNfs3SymLink:
            c.name = a.name;
            c.suffix = " " + trace_escape(a.target);
            break;
        case kNfs3MkNod: {
            c.name = a.name;
            auto is = [&](store::FileType t) { return a.how == static_cast<uint32_t>(t); };
            if (is(store::FileType::kChar) || is(store::FileType::kBlock)) {
                c.suffix = std::string(is(store::FileType::kChar) ? " chr " : " blk ") +
                           std::to_string(a.major) + " " + std::to_string(a.minor);
            } else if (is(store::FileType::kSocket)) {
                c.suffix = " sock";
            } else if (is(store::FileType::kFifo)) {
                c.suffix = " fifo";
            } else {
                return std::nullopt;  // BADTYPE: no node a replay could ask for
            }
            break;
        }
        case kNfs3Rename:
            c.name = a.name;
            [[fallthrough]];
        case kNfs3Link:
            c.has_second = true;
            c.obj2 = a.fh2.id;
            c.obj2_ok = a.fh2.status == 0;
            c.name2 = a.name2;
            break;
        case kNfs3ReadDir:
        case kNfs3ReadDirPlus:
            c.cookie = a.offset;
            if (c.cookie != 0) c.suffix = " more";
            break;
        default:
            return std::nullopt;
    }
    return c;
}

}  // namespace

Result<std::unique_ptr<Tracer>> Tracer::open(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "a");
    if (!f) return errno_error(errno);
    return std::unique_ptr<Tracer>(new Tracer(f));
}

Tracer::~Tracer() {
    std::fclose(file_);
}

std::optional<Nfs3Args>* Tracer::observe(const CallHeader& h,
                                         std::shared_ptr<const std::vector<uint8_t>> record,
                                         const std::shared_ptr<store::ClientView>& view,
                                         Responder& respond) {
    struct Observed {
        uint32_t proc;
        uint32_t xid;
        std::shared_ptr<const std::vector<uint8_t>> record;  // what the kept names point into
        std::optional<Nfs3Args> args;
    };
    auto seen = std::make_shared<Observed>(Observed{h.proc, h.xid, std::move(record), {}});
    respond = [this, seen, view, inner = std::move(respond)](Reply reply) {
        // An empty reply is a retransmit the DRC drops: nothing was answered.
        if (!reply.empty() && seen->args) {
            if (auto call = describe(seen->proc, seen->xid, *seen->args, *view)) {
                on_reply(*call, *view, reply.bytes);
            }
        }
        inner(std::move(reply));
    };
    return &seen->args;
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
