// ClientViewImpl::diff: what a client changed, as paths, for `rootfarm client diff`.

#include <algorithm>

#include "store/view.h"

namespace rootfarm::store {

class DiffWalker {
  public:
    explicit DiffWalker(const ClientViewImpl& view) : v_(view) {}

    std::vector<DeltaChange> run() {
        if (std::optional<ClientViewImpl::Obj> root = v_.find(v_.image_->root())) {
            if (modified(*root)) out_.push_back({'M', "/"});
            walk(*root, "");
        }
        std::sort(out_.begin(), out_.end(),
                  [](const DeltaChange& a, const DeltaChange& b) { return a.path < b.path; });
        return std::move(out_);
    }

  private:
    using Obj = ClientViewImpl::Obj;

    // Attributes or data differ from the image's. A directory's times change with every entry
    // change, which its entries already report, so for directories only owner and mode count.
    bool modified(const Obj& o) const {
        if (!o.delta || !o.lower) return false;
        // What the server generated (its identity) is not a change the client made.
        if (o.delta->has(DeltaObject::kGenerated)) return false;
        if (o.delta->has(DeltaObject::kData)) return true;
        const Attr& a = o.delta->attr;
        const ImageNode& n = *o.lower;
        if (a.mode != n.mode || a.uid != n.uid || a.gid != n.gid) return true;
        return a.type != FileType::kDirectory && (a.size != n.size || a.mtime != n.mtime);
    }

    void walk(const Obj& dir, const std::string& path) {
        // Names the image has here that the client removed (or moved away).
        if (auto d = v_.state_.dirs.find(dir.id); d != v_.state_.dirs.end()) {
            for (const auto& [key, id] : d->second) {
                if (id == 0) out_.push_back({'D', path + "/" + key.name});
            }
        }
        v_.for_each_entry(dir, 0, [&](std::string_view name, uint64_t, ObjectId id) {
            std::optional<Obj> o = v_.find(id);
            if (!o) return true;
            std::string child = path + "/" + std::string(name);
            const ImageNode* lower = dir.lower ? v_.image_->lookup(*dir.lower, name) : nullptr;
            if (!lower) {
                out_.push_back({'A', child});
            } else if (lower->id != id || modified(*o)) {
                out_.push_back({'M', child});
            }
            if (o->type() == FileType::kDirectory) walk(*o, child);
            return true;
        });
    }

    const ClientViewImpl& v_;
    std::vector<DeltaChange> out_;
};

Result<std::vector<DeltaChange>> ClientViewImpl::diff() const {
    std::shared_lock lock(mu_);
    return DiffWalker(*this).run();
}

}  // namespace rootfarm::store
