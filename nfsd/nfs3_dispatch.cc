#include "nfsd/nfs3.h"

namespace rootfarm::nfsd {

bool nfs3_is_non_idempotent(uint32_t proc) {
    switch (proc) {
        // SETATTR is cached whether guarded or not: replaying the first answer to a
        // retransmit is always correct, and a guarded one must not run twice.
        case kNfs3SetAttr:
        case kNfs3Create:
        case kNfs3MkDir:
        case kNfs3SymLink:
        case kNfs3MkNod:
        case kNfs3Remove:
        case kNfs3RmDir:
        case kNfs3Rename:
        case kNfs3Link:
            return true;
        default:
            return false;
    }
}

}  // namespace rootfarm::nfsd
