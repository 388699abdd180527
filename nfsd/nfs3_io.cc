// READ and WRITE (RFC 1813 §3.3.6, §3.3.7): READ data moves through io_uring (Loop::read_at)
// on the store's backing-file descriptors, WRITE runs on the blocking pool; replies may complete
// out of order.

#include <unistd.h>

#include <algorithm>

#include "nfsd/access.h"
#include "nfsd/nfs3.h"
#include "nfsd/nfs3_util.h"
#include "nfsd/nfs3_xdr.h"
#include "nfsd/record.h"

namespace rootfarm::nfsd {

namespace {

enum StableHow : uint32_t { kUnstable = 0, kDataSync = 1, kFileSync = 2 };

std::vector<uint8_t> status_reply(uint32_t xid, uint32_t status,
                                  const std::function<void(XdrWriter&)>& rest) {
    auto v = new_reply(128);
    XdrWriter w(v);
    write_accepted(w, xid, AcceptStat::kSuccess);
    w.u32(status);
    rest(w);
    return v;
}

}  // namespace

// A READ of at most this much is copied into its reply and sent whole. Spliced, its header and
// its data leave in two TCP sends and two splice calls, which cost more than copying a few
// pages: server CPU per call 17-19 µs copied against 22 µs spliced for 4 KiB, but 30-37 µs
// against 26 µs for 64 KiB (rootfarm-bench micro-nfs --op read4k / read64k).
constexpr uint64_t kSmallRead = 16 * 1024;

bool nfs3_read(Nfs3Call& c) {
    FhArg fh = read_fh(c);
    uint64_t offset = c.args.u64();
    uint32_t count = c.args.u32();
    if (!c.args.ok()) return false;
    c.keep({.fh = fh, .offset = offset, .count = count});
    const uint32_t xid = c.header.xid;
    auto fail = [&](uint32_t status, const std::optional<store::Attr>& a) {
        c.respond(status_reply(xid, status, [&](XdrWriter& w) { write_post_op_attr(w, a); }));
        return true;
    };
    if (fh.status) return fail(fh.status, std::nullopt);
    auto target = c.view.open_read(fh.id);
    if (!target) return fail(to_nfs3_status(target.error()), attr_of(c.view, fh.id));
    const store::Attr& attr = target->attr;
    if (attr.type == store::FileType::kDirectory) return fail(kNfs3ErrIsDir, attr);
    if (attr.type != store::FileType::kRegular) return fail(kNfs3ErrInval, attr);
    if (!may_read_data(attr, c.cred)) return fail(kNfs3ErrAcces, attr);

    // READ at or past EOF is OK with count 0 and eof (docs/pi-boot.md NFS 12).
    uint64_t n = offset >= attr.size ? 0 : std::min<uint64_t>(attr.size - offset, count);
    n = std::min<uint64_t>(n, c.max_io);
    const bool eof = offset + n >= attr.size;
    // The data is the last field of READ3resok (RFC 1813 §3.3.6): everything before it is known
    // now, whatever the read finds.
    auto header = [&](size_t reserve) {
        auto v = new_reply(reserve);
        XdrWriter w(v);
        write_accepted(w, xid, AcceptStat::kSuccess);
        w.u32(kNfs3Ok);
        write_post_op_attr(w, attr);
        w.u32(static_cast<uint32_t>(n));
        w.boolean(eof);
        w.u32(static_cast<uint32_t>(n));
        return v;
    };
    if (c.file_replies && n > kSmallRead && target->file) {
        // Over TCP the data goes from the page cache into the socket (Connection::send_file),
        // never through a buffer of ours: a 1 MiB READ cost a zero fill, a read copy and a send
        // copy of the data, most of its server CPU. The bytes past the backing file's end read
        // as zeros there too, so `n` and `eof` above hold whatever the file does meanwhile.
        Reply r(header(160));
        r.file = FileRange{target->file, target->file->fd(), offset, n};
        r.tail.assign(xdr_pad(n) - n, 0);
        c.respond(std::move(r));
        return true;
    }
    auto reply = std::make_shared<std::vector<uint8_t>>(header(n + 160));
    const size_t data_at = reply->size();
    // Zero-filled: bytes below attr.size but past the backing file's end read as zeros.
    reply->resize(data_at + xdr_pad(n), 0);
    if (n == 0 || !target->file) {
        c.respond(std::move(*reply));
        return true;
    }
    std::span<uint8_t> buf(reply->data() + data_at, n);
    c.loop->read_at(target->file->fd(), offset, buf,
                    [reply, file = target->file, respond = c.respond, xid, attr](int res) {
                        if (res < 0) {
                            respond(status_reply(xid, kNfs3ErrIo, [&](XdrWriter& w) {
                                write_post_op_attr(w, attr);
                            }));
                            return;
                        }
                        respond(std::move(*reply));
                    });
    return true;
}

bool nfs3_write(Nfs3Call& c) {
    FhArg fh = read_fh(c);
    uint64_t offset = c.args.u64();
    uint32_t count = c.args.u32();
    uint32_t stable = c.args.u32();
    auto data = c.args.opaque(static_cast<uint32_t>(kMaxRecordBytes));
    if (!c.args.ok() || stable > kFileSync || data.size() < count) return false;
    c.keep({.fh = fh, .offset = offset, .count = count, .how = stable});
    data = data.first(count);
    const uint32_t xid = c.header.xid;
    auto fail = [&](uint32_t status, const std::optional<store::Attr>& a) {
        c.respond(status_reply(xid, status, [&](XdrWriter& w) { write_unchanged_wcc(w, a); }));
        return true;
    };
    if (fh.status) return fail(fh.status, std::nullopt);
    auto before = attr_of(c.view, fh.id);
    if (!before) return fail(kNfs3ErrStale, std::nullopt);
    if (before->type == store::FileType::kDirectory) return fail(kNfs3ErrIsDir, before);
    if (before->type != store::FileType::kRegular) return fail(kNfs3ErrInval, before);
    if (!may_write_data(*before, c.cred)) return fail(kNfs3ErrAcces, before);
    // Past FSINFO's maxfilesize: FBIG before any byte moves, as knfsd does; an offset beyond
    // off_t would otherwise reach the kernel as a negative (or "current position") offset.
    if (offset > store::kMaxFileSize || count > store::kMaxFileSize - offset) {
        return fail(kNfs3ErrFBig, before);
    }
    if (count == 0) {
        // §3.3.7: a count of 0 succeeds and writes nothing: no copy-up, no size or time change.
        c.respond(status_reply(xid, kNfs3Ok, [&](XdrWriter& w) {
            write_unchanged_wcc(w, before);
            w.u32(0);
            w.u32(stable == kUnstable ? kUnstable : kFileSync);
            w.u64(c.write_verifier);
        }));
        return true;
    }

    // The rest may block: begin_write creates or copies up the backing file on a first write
    // (a storm profile had 40 % of the server in the file creation, on the worker), and a
    // stable write waits for fdatasync. It runs on the blocking pool (blocking.h), writing with
    // pwrite through the store (ClientView::write_data): ext4 buffered writes are punted to
    // io_uring's own worker threads anyway.
    auto work = [view = c.view_ref, id = fh.id, offset, data, stable, xid, verf = c.write_verifier,
                 cred = c.cred, record = c.record, before = *before]() -> std::vector<uint8_t> {
        auto wcc_failure = [&](uint32_t status, const std::optional<store::WccAttr>& pre) {
            return status_reply(xid, status, [&](XdrWriter& w) {
                if (pre) {
                    write_pre_op_attr(w, *pre);
                    write_post_op_attr(w, attr_of(*view, id));
                } else {
                    write_unchanged_wcc(w, before);
                }
            });
        };
        auto target = view->begin_write(id);
        if (!target) return wcc_failure(to_nfs3_status(target.error()), std::nullopt);
        // The data points into the call record, which this job keeps alive.
        const std::string_view bytes(reinterpret_cast<const char*>(data.data()), data.size());
        const size_t done = data.size();
        const bool sync = stable != kUnstable;
        auto after = view->write(id, *target, offset, bytes, sync);
        if (!after) return wcc_failure(to_nfs3_status(after.error()), target->before);
        store::Attr post = *after;
        // A write by anyone but the owner drops setuid/setgid (docs/pi-boot.md NFS 11), as the
        // kernel's file_remove_privs() does for a local write.
        if ((post.mode & 06000) && cred.uid != post.uid && cred.uid != 0) {
            store::SetAttrArgs clear;
            clear.mode = post.mode & ~06000u;
            if (auto wcc = view->setattr(id, clear); wcc && wcc->after) post = *wcc->after;
        }
        return status_reply(xid, kNfs3Ok, [&](XdrWriter& w) {
            write_pre_op_attr(w, target->before);
            write_post_op_attr(w, post);
            w.u32(static_cast<uint32_t>(done));
            // DATA_SYNC is answered as FILE_SYNC: end_write syncs data and metadata together.
            w.u32(sync ? kFileSync : kUnstable);
            w.u64(verf);
        });
    };
    if (c.offload) {
        c.offload(std::move(work));
    } else {
        c.respond(work());
    }
    return true;
}

}  // namespace rootfarm::nfsd
