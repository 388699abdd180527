#pragma once

// Small helpers shared by the NFSv3 procedure files.

#include <optional>

#include "nfsd/nfs3.h"
#include "nfsd/nfs3_xdr.h"
#include "store/store.h"

namespace rootfarm::nfsd {

// The object's attributes, or nothing when it vanished meanwhile (post_op_attr is optional).
std::optional<store::Attr> attr_of(const store::ClientView& view, store::ObjectId id);

// For procedures whose failure result is a lone post_op_attr: the object's attributes, or
// nothing after writing the failure status (STALE, BADHANDLE...) with no attributes.
std::optional<store::Attr> attr_or_fail(Nfs3Call& c, XdrWriter& out, const FhArg& fh);

// wcc_data for a call that failed without changing the object: before and after are the same.
inline void write_unchanged_wcc(XdrWriter& w, const store::Attr& a) {
    write_pre_op_attr(w, wcc_attr_of(a));
    write_post_op_attr(w, a);
}
inline void write_unchanged_wcc(XdrWriter& w, const std::optional<store::Attr>& a) {
    if (a) {
        write_unchanged_wcc(w, *a);
    } else {
        write_empty_wcc(w);
    }
}

}  // namespace rootfarm::nfsd
