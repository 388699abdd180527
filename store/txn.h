#pragma once

// Txn: the operations one mutation of a ClientViewImpl produces, built while the view's lock
// is held and then journaled and applied as one record (so a crash keeps all of it or none).

#include <map>
#include <vector>

#include "store/view.h"

namespace rootfarm::store {

class Txn {
  public:
    using Obj = ClientViewImpl::Obj;

    explicit Txn(const ClientViewImpl& view) : view_(view) {}

    // The object's new state, starting from its current one (an image object is copied into
    // the delta: an attribute override). It is no longer a generated file.
    DeltaObject& touch(const Obj& o);
    // A new client-made object.
    DeltaObject& add(ObjectId id, DeltaObject object);
    // dir/name -> child. An entry equal to the image's is dropped from the delta instead.
    void put_entry(const Obj& dir, std::string_view name, ObjectId child);
    // Removes dir/name: a whiteout if the image has that name there.
    void remove_entry(const Obj& dir, std::string_view name);
    // One name of `o` less: its link count drops, or it is gone (a directory always is).
    // Returns true if the object is gone.
    bool unlink(const Obj& o, Time now);
    // mtime and ctime of a directory whose entries changed; `subdirs` adjusts its link count.
    void dir_changed(const Obj& dir, Time now, int subdirs = 0);

    std::vector<Op> ops() const;

  private:
    const ClientViewImpl& view_;
    std::vector<Op> entry_ops_;
    std::map<ObjectId, DeltaObject> objects_;
    std::vector<ObjectId> drops_;
};

// Applies SETATTR-style arguments to `a` (RFC 1813 §2.5.1 sattr3); `now` is the server time.
void apply_setattr(Attr& a, const SetAttrArgs& args, Time now);

}  // namespace rootfarm::store
