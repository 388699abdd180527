// ClientViewImpl::generate: files the server writes into a client's view (store.h
// GeneratedFile), kept in the delta with the kGenerated flag until the client changes them.

#include <unistd.h>

#include "core/log.h"
#include "store/fs_util.h"
#include "store/txn.h"
#include "store/view.h"

namespace rootfarm::store {

namespace {

// Identity files are a line or a few; anything larger at such a path is not ours to rewrite.
constexpr uint64_t kMaxGeneratedBytes = 1 << 20;

}  // namespace

std::optional<ClientViewImpl::Obj> ClientViewImpl::find_path(std::string_view path) const {
    std::optional<Obj> o = find(image_->root());
    while (o && !path.empty()) {
        while (!path.empty() && path.front() == '/') path.remove_prefix(1);
        size_t slash = path.find('/');
        std::string_view name = path.substr(0, slash);
        path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash);
        if (name.empty()) continue;
        if (o->type() != FileType::kDirectory) return std::nullopt;
        ObjectId id = entry(*o, name);
        o = id == 0 ? std::nullopt : find(id);
    }
    return o;
}

Result<std::string> ClientViewImpl::read_small(const Obj& o) const {
    if (o.delta && o.delta->has(DeltaObject::kData)) return env_.read_file(data_path(o.id));
    Result<std::shared_ptr<BackingFile>> f = image_->open_file(*o.lower);
    if (!f.ok()) return f.error();
    std::string out(o.lower->size, '\0');
    size_t done = 0;
    while (done < out.size()) {
        ssize_t n =
            ::pread((*f)->fd(), out.data() + done, out.size() - done, static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return last_error();
        if (n == 0) break;  // sparse tail past the backing file: zeros, as a read would give
        done += static_cast<size_t>(n);
    }
    return out;
}

Result<void> ClientViewImpl::write_data_file(ObjectId id, std::string_view content) {
    // Atomic: a crash before the journal record leaves the old data (or none) behind an object
    // that still says "generated", and the next generate() writes it again.
    Result<void> r = env_.write_file_atomic(data_path(id), content);
    if (!r.ok()) return r;
    MutexLock lock(files_mu_);
    files_.erase(id);  // a cached descriptor would still read the replaced file
    return {};
}

Result<size_t> ClientViewImpl::generate(std::span<const GeneratedFile> files) {
    // Copy-ups, data syncs: never under a Deferred (store.h).
    if (Deferred* d = deferring()) return would_block(*d);
    size_t written = 0;
    Result<void> r = mutate<void>([&](uint64_t& position) -> Result<void> {
        Txn txn(*this);
        const Time t = now();
        for (const GeneratedFile& file : files) {
            std::optional<Obj> o = find_path(file.path);
            // Only over a regular file the image has: the client removing it, or replacing it
            // with a file, link or symlink of its own, is its choice and stays.
            if (!o || !o->lower || o->type() != FileType::kRegular) continue;
            if (o->delta && !o->delta->has(DeltaObject::kGenerated)) continue;
            if (file.keep && o->delta) continue;  // made once, at an earlier mount
            if (o->lower->size > kMaxGeneratedBytes) continue;
            Obj image_version{o->id, nullptr, o->lower};
            Result<std::string> base = read_small(image_version);
            if (!base.ok()) return base.error();
            std::optional<std::string> made = file.content(*base);
            if (!made) continue;
            const std::string& want = *made;
            Result<std::string> have = o->delta ? read_small(*o) : base;
            if (have.ok() && *have == want) continue;
            if (Result<void> w = write_data_file(o->id, want); !w.ok()) {
                store_log().error("client {}: cannot write generated {}: {}", mac_.to_string(),
                                  file.path, w.message());
                return errno_error(w.error().value() == ENOSPC ? ENOSPC : EIO);
            }
            DeltaObject& d = txn.touch(*o);
            d.flags |= DeltaObject::kData | DeltaObject::kGenerated;
            d.attr.size = want.size();
            d.attr.mtime = d.attr.ctime = t;
            ++written;
        }
        std::vector<Op> ops = txn.ops();
        if (ops.empty()) return {};
        Result<uint64_t> p = commit_ops(ops);
        if (!p.ok()) return p.error();
        position = *p;
        return {};
    });
    if (!r.ok()) return r.error();
    return written;
}

}  // namespace rootfarm::store
