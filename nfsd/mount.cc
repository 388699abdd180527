#include "nfsd/mount.h"

#include "core/log.h"
#include "nfsd/nfs3_xdr.h"
#include "store/identity.h"

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

MountService::MountService(const Config& config, ClientRegistry& clients, store::Store& store)
    : config_(config.nfs),
      keep_delta_(config.defaults.on_image_change == DefaultsConfig::OnImageChange::kKeep),
      clients_(clients),
      store_(store) {}

MountService::MountService(const NfsConfig& config, ClientRegistry& clients, store::Store& store)
    : config_(config), keep_delta_(false), clients_(clients), store_(store) {}

Result<std::shared_ptr<store::ClientView>> MountService::view_for(const ClientInfo& client) {
    auto view = store_.view(client.mac, client.image);
    if (view || view.error().value() != EXDEV) return view;
    // MNT is the client (re)booting: the one moment its image may change under it (issue 7,
    // "roll-out on next boot"). Handles it held before answer STALE if its delta was reset;
    // with a kept delta they name the same paths, whose ids the new image carries over.
    auto old_image = store_.delta_image(client.mac);
    auto switched = store_.switch_image(client.mac, client.image, keep_delta_);
    if (!switched) return switched.error();
    nfs_log().info("client {}: image {} -> {} at mount, delta {}", client.mac.to_string(),
                   old_image ? *old_image : std::string("?"), client.image,
                   keep_delta_ ? "kept" : "reset");
    return store_.view(client.mac, client.image);
}

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
    std::lock_guard lock(mu_);
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
    auto view = view_for(*client);
    if (!view) {
        nfs_log().error("MNT {} from {} ({}): image {}: {}", path, peer.to_string(),
                        client->mac.to_string(), client->image, view.error().message());
        w.u32(kMnt3ErrServerFault);
        return reply;
    }
    // MNT is the client booting: the moment its name may have changed (issue 7, per-client
    // identity). A failure here costs the client its name, not its boot.
    if (auto written = (*view)->generate(store::identity_files(client->hostname)); !written) {
        nfs_log().warn("MNT from {} ({}): hostname {} not written: {}", peer.to_string(),
                       client->mac.to_string(), client->hostname, written.error().message());
    } else if (*written > 0) {
        nfs_log().info("client {}: /etc/hostname and /etc/hosts name it {}",
                       client->mac.to_string(), client->hostname);
    }
    auto id = resolve_path(**view, path);
    if (!id) {
        nfs_log().info("MNT {} from {} ({}): {}", path, peer.to_string(), client->mac.to_string(),
                       id.error().message());
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
        // NFS-NOTES 15: list AUTH_SYS, the flavour every client then uses.
        w.u32(1);
        w.u32(kAuthSys);
    }
    remember(peer.to_string(), path);
    if (client->phase != BootPhase::kNfsMounted && client->phase != BootPhase::kUp) {
        clients_.set_phase(client->mac, BootPhase::kNfsMounted);
    }
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
            std::lock_guard lock(mu_);
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
            std::lock_guard lock(mu_);
            mounts_.erase({peer.to_string(), std::string(path)});
            return accepted_reply(h.xid, AcceptStat::kSuccess);
        }
        case kMountUmntAll: {
            std::lock_guard lock(mu_);
            std::erase_if(mounts_, [&](const auto& m) { return m.first == peer.to_string(); });
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
