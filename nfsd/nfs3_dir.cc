// READDIR and READDIRPLUS (RFC 1813 §3.3.16, §3.3.17).

#include <algorithm>

#include "nfsd/access.h"
#include "nfsd/nfs3.h"
#include "nfsd/nfs3_util.h"
#include "nfsd/nfs3_xdr.h"

namespace rootfarm::nfsd {

namespace {

// "." and ".." are synthesized with cookies 1 and 2; the store's cookies are above them and
// below 2^63, since the Linux client turns cookies into signed directory offsets (names.h).
constexpr uint64_t kDotCookie = 1;
constexpr uint64_t kDotDotCookie = 2;
constexpr size_t kBatch = 128;

struct Listing {
    uint64_t cookie = 0;
    uint32_t count = 0;     // READDIR count / READDIRPLUS maxcount: whole reply body
    uint32_t dircount = 0;  // READDIRPLUS only: entry bytes without attributes and handles
    bool plus = false;
};

// knfsd and ganesha count an entry's directory bytes as fileid + name + cookie + the flag.
size_t dir_bytes(std::string_view name) {
    return 8 + 4 + xdr_pad(name.size()) + 8 + 4;
}

bool list(Nfs3Call& c, XdrWriter& out, bool plus) {
    const size_t body_start = out.size();
    FhArg fh = read_fh(c);
    Listing l;
    l.plus = plus;
    l.cookie = c.args.u64();
    // cookieverf: never checked. A cookie stays valid across changes and restarts (names.h), so
    // there is nothing for a verifier to catch (§3.3.16); knfsd ignores it too.
    c.args.skip(8);
    if (plus) l.dircount = c.args.u32();
    l.count = c.args.u32();
    if (!c.args.ok()) return false;
    c.keep({.fh = fh, .offset = l.cookie});
    auto dattr = attr_or_fail(c, out, fh);
    if (!dattr) return true;
    uint32_t status = kNfs3Ok;
    if (dattr->type != store::FileType::kDirectory) {
        status = kNfs3ErrNotDir;
    } else if (!may_read(*dattr, c.cred)) {
        status = kNfs3ErrAcces;
    }
    if (status != kNfs3Ok) {
        out.u32(status);
        write_post_op_attr(out, dattr);
        return true;
    }
    const size_t limit = std::min<size_t>(l.count, c.max_io);
    out.u32(kNfs3Ok);
    write_post_op_attr(out, dattr);
    static constexpr uint8_t kZeroVerf[8] = {};
    out.fixed(kZeroVerf);

    size_t dir_used = 0;
    size_t emitted = 0;
    bool full = false;
    // Appends one entry; false (and nothing written) when it does not fit.
    auto emit = [&](store::ObjectId id, std::string_view name, uint64_t cookie) {
        size_t mark = out.size();
        std::optional<store::Attr> attr;
        if (plus) attr = attr_of(c.view, id);
        out.boolean(true);
        out.u64(attr ? attr->fileid : id);
        out.string(name);
        out.u64(cookie);
        if (plus) {
            write_post_op_attr(out, attr);
            write_post_op_fh(out, attr ? std::optional(c.view.handle(id)) : std::nullopt);
        }
        size_t dbytes = dir_bytes(name);
        bool fits = out.size() - body_start + 8 <= limit &&
                    (!plus || dir_used + dbytes <= std::max<size_t>(l.dircount, 1));
        // Always fit at least one entry's dircount so a tiny dircount still makes progress;
        // maxcount is a hard limit (TOOSMALL below).
        if (!fits && !(plus && emitted == 0 && out.size() - body_start + 8 <= limit)) {
            out.buffer().resize(mark);
            full = true;
            return false;
        }
        dir_used += dbytes;
        ++emitted;
        return true;
    };

    uint64_t cookie = l.cookie;
    if (cookie == 0 && !emit(fh.id, ".", kDotCookie)) cookie = UINT64_MAX;
    if (!full && cookie <= kDotCookie) {
        auto parent = c.view.lookup(fh.id, "..");
        if (!emit(parent ? *parent : fh.id, "..", kDotDotCookie)) cookie = UINT64_MAX;
    }
    if (cookie <= kDotDotCookie) cookie = 0;
    bool eof = false;
    while (!full) {
        auto page = c.view.readdir(fh.id, cookie, kBatch);
        if (!page) {
            out.buffer().resize(body_start);
            out.u32(to_nfs3_status(page.error()));
            write_post_op_attr(out, dattr);
            return true;
        }
        for (const auto& e : page->entries) {
            if (!emit(e.id, e.name, e.cookie)) break;
            cookie = e.cookie;
        }
        if (!full && (page->eof || page->entries.empty())) {
            eof = true;
            break;
        }
    }
    if (emitted == 0 && !eof) {
        // Not even one entry fits in maxcount/count (§3.3.16).
        out.buffer().resize(body_start);
        out.u32(kNfs3ErrTooSmall);
        write_post_op_attr(out, dattr);
        return true;
    }
    out.boolean(false);  // no more entries in this reply
    out.boolean(eof);
    return true;
}

}  // namespace

bool nfs3_readdir(Nfs3Call& c, XdrWriter& out) {
    return list(c, out, false);
}
bool nfs3_readdirplus(Nfs3Call& c, XdrWriter& out) {
    return list(c, out, true);
}

}  // namespace rootfarm::nfsd
