#include "nfsd/mount.h"

#include "core/log.h"
#include "nfsd/nfs3_xdr.h"

namespace rootfarm::nfsd {

namespace {

enum : uint32_t {
    kMountNull = 0,
    kMountMnt = 1,
    kMountDump = 2,
    kMountUmnt = 3,
    kMountUmntAll = 4,
    kMountExport = 5,
};

// RFC 1813 appendix I mountstat3.
enum : uint32_t {
    kMnt3Ok = 0,
    kMnt3ErrNoEnt = 2,
    kMnt3ErrAcces = 13,
    kMnt3ErrNotDir = 20,
    kMnt3ErrInval = 22,
    kMnt3ErrNameTooLong = 63,
    kMnt3ErrServerFault = 10006,
};

constexpr uint32_t kMountPathMax = 1024;  // MNTPATHLEN
constexpr size_t kFhSizeV1 = 32;          // RFC 1094 fhandle: fixed 32 bytes
// DUMP entries kept per client address. A Pi mounts one or two paths; every spelling of a path
// ("//", "/./") is a valid MNT, so without a bound one client could grow the list forever.
constexpr size_t kMaxMountsPerClient = 8;

std::string_view trim_slashes(std::string_view p) {
    while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
    return p;
}

}  // namespace

MountService::MountService(const NfsConfig& config, Clients& clients)
    : config_(config), clients_(clients) {}

Result<store::ObjectId> MountService::resolve_path(const store::ClientView& view,
                                                   std::string_view path) const {
    path = trim_slashes(path);
    if (path.empty() || path.front() != '/') return std::errc::permission_denied;
    std::string_view rest = path;
    // Longest configured export that is a prefix of the path: the Pi's cmdline may name
    // e.g. /srv/rootfarm, and a subdirectory of it maps into the view (knfsd allows that).
    size_t best = 0;
    for (const auto& e : config_.exports) {
        std::string_view ex = trim_slashes(e);
        if (ex == "/") continue;
        if (path == ex || (path.starts_with(ex) && path[ex.size()] == '/')) {
            if (ex.size() > best) best = ex.size();
        }
    }
    rest = path.substr(best);
    store::ObjectId id = view.root();
    while (!rest.empty()) {
        while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
        size_t slash = rest.find('/');
        std::string_view name = rest.substr(0, slash);
        rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
        if (name.empty() || name == ".") continue;
        auto next = view.lookup(id, name);
        if (!next) return next.error();
        id = *next;
    }
    auto a = view.getattr(id);
    if (!a) return a.error();
    if (a->type != store::FileType::kDirectory) return std::errc::not_a_directory;
    return id;
}

void MountService::remember(const std::string& host, std::string_view path) {
    MutexLock lock(mu_);
    auto first = mounts_.lower_bound({host, std::string()});
    size_t n = 0;
    for (auto it = first; it != mounts_.end() && it->first == host; ++it) ++n;
    if (n >= kMaxMountsPerClient && !mounts_.contains({host, std::string(path)})) {
        mounts_.erase(first);  // make room: forget one of this client's other entries
    }
    mounts_.emplace(host, std::string(path));
}

std::vector<uint8_t> MountService::mnt(const CallHeader& h, std::string_view path, Ipv4 peer) {
    auto reply = new_reply(128);
    XdrWriter w(reply);
    write_accepted(w, h.xid, AcceptStat::kSuccess);
    auto client = clients_.by_ip(peer);
    if (!client) {
        nfs_log().warn("MNT {} from {}: unknown client, refused", path, peer.to_string());
        w.u32(kMnt3ErrAcces);
        return reply;
    }
    // MNT is the client's kernel (or initramfs) mounting its root: a boot, if nothing before it
    // said so. The owner moves it to its configured image and writes its identity files.
    auto view = clients_.view(*client, Clients::Ask::kBootStart);
    if (!view) {
        nfs_log().error("MNT {} from {} ({}): image {}: {}", path, peer.to_string(),
                        client->mac.to_string(), client->image, view.error().message());
        clients_.note(client->mac, Trouble::kMountRefused,
                      "image " + client->image + ": " + view.error().message());
        w.u32(kMnt3ErrServerFault);
        return reply;
    }
    auto id = resolve_path(**view, path);
    if (!id) {
        nfs_log().info("MNT {} from {} ({}): {}", path, peer.to_string(), client->mac.to_string(),
                       id.error().message());
        clients_.note(client->mac, Trouble::kMountRefused,
                      std::string(path) + ": " + id.error().message());
        int e = id.error().value();
        w.u32(e == ENOENT         ? kMnt3ErrNoEnt
              : e == ENOTDIR      ? kMnt3ErrNotDir
              : e == EACCES       ? kMnt3ErrAcces
              : e == ENAMETOOLONG ? kMnt3ErrNameTooLong
              : e == EINVAL       ? kMnt3ErrInval
                                  : kMnt3ErrServerFault);
        return reply;
    }
    store::Handle fh = (*view)->handle(*id);
    if (h.vers != 3) {
        // MOUNT v1/v2 return a fixed 32-byte NFSv2 handle; ours may be longer.
        if (fh.size > kFhSizeV1) {
            w.u32(kMnt3ErrServerFault);
            return reply;
        }
        w.u32(kMnt3Ok);
        std::array<uint8_t, kFhSizeV1> fixed{};
        std::copy(fh.bytes.begin(), fh.bytes.begin() + fh.size, fixed.begin());
        w.fixed(fixed);
    } else {
        w.u32(kMnt3Ok);
        w.opaque(fh.span());
        // docs/pi-boot.md NFS 15: list AUTH_SYS, the flavour every client then uses.
        w.u32(1);
        w.u32(kAuthSys);
    }
    remember(peer.to_string(), path);
    clients_.record(client->mac, BootEvent::kMount);
    nfs_log().info("MNT {} from {} ({}): mounted", path, peer.to_string(), client->mac.to_string());
    return reply;
}

std::vector<uint8_t> MountService::handle(const CallHeader& h, XdrReader args, Ipv4 peer) {
    // v2 (RFC 1094's dirpath rules, plus PATHCONF, which we do not offer) answers like v1.
    if (h.vers < 1 || h.vers > 3) return prog_mismatch_reply(h.xid, 1, 3);
    switch (h.proc) {
        case kMountNull:
            return accepted_reply(h.xid, AcceptStat::kSuccess);
        case kMountMnt: {
            std::string_view path = args.string(kMountPathMax);
            if (!args.ok()) return accepted_reply(h.xid, AcceptStat::kGarbageArgs);
            return mnt(h, path, peer);
        }
        case kMountDump: {
            auto reply = new_reply(256);
            XdrWriter w(reply);
            write_accepted(w, h.xid, AcceptStat::kSuccess);
            MutexLock lock(mu_);
            for (const auto& [host, dir] : mounts_) {
                w.boolean(true);
                w.string(host);
                w.string(dir);
            }
            w.boolean(false);
            return reply;
        }
        case kMountUmnt: {
            std::string_view path = args.string(kMountPathMax);
            if (!args.ok()) return accepted_reply(h.xid, AcceptStat::kGarbageArgs);
            MutexLock lock(mu_);
            mounts_.erase({peer.to_string(), std::string(path)});
            // RFC 1813 appendix I: the client no longer uses the mount; with none left, it
            // has let go of its root (a clean shutdown that unmounts it).
            const std::string host = peer.to_string();
            auto left = mounts_.lower_bound({host, std::string()});
            if (left == mounts_.end() || left->first != host) {
                if (auto client = clients_.by_ip(peer)) {
                    clients_.record(client->mac, BootEvent::kUnmount);
                }
            }
            return accepted_reply(h.xid, AcceptStat::kSuccess);
        }
        case kMountUmntAll: {
            MutexLock lock(mu_);
            std::erase_if(mounts_, [&](const auto& m) { return m.first == peer.to_string(); });
            if (auto client = clients_.by_ip(peer))
                clients_.record(client->mac, BootEvent::kUnmount);
            return accepted_reply(h.xid, AcceptStat::kSuccess);
        }
        case kMountExport: {
            auto reply = new_reply(128);
            XdrWriter w(reply);
            write_accepted(w, h.xid, AcceptStat::kSuccess);
            for (const auto& e : config_.exports) {
                w.boolean(true);
                w.string(e);
                w.boolean(false);  // no group list: every known client may mount it
            }
            w.boolean(false);
            return reply;
        }
        default:
            return accepted_reply(h.xid, AcceptStat::kProcUnavail);
    }
}

}  // namespace rootfarm::nfsd
