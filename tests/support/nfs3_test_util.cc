#include "tests/support/nfs3_test_util.h"

#include <poll.h>

#include <cstring>
#include <functional>

// libnfs.h first: it defines rpc_cb, which libnfs-raw.h uses.
#include <nfsc/libnfs.h>
// clang-format off
#include <nfsc/libnfs-raw.h>
#include <nfsc/libnfs-raw-mount.h>
#include <nfsc/libnfs-raw-nfs.h>
// clang-format on

namespace rootfarm::testing {

using namespace std::chrono_literals;

struct Nfs3::Pending {
    bool done = false;
    int rpc_status = RPC_STATUS_ERROR;
    std::string error;
    // Copies what the caller wants out of the decoded reply (freed after the callback).
    std::function<void(void*)> take;
};

namespace {

constexpr auto kCallTimeout = 20s;
constexpr auto kAfterAbort = 1s;

void on_reply(rpc_context*, int status, void* data, void* private_data) {
    auto* p = static_cast<Nfs3::Pending*>(private_data);
    p->done = true;
    p->rpc_status = status;
    if (status == RPC_STATUS_SUCCESS) {
        if (p->take) p->take(data);
    } else if (status == RPC_STATUS_ERROR && data) {
        p->error = static_cast<const char*>(data);
    }
}

nfs_fh3 to_fh3(const Fh& fh) {
    nfs_fh3 f{};
    f.data.data_len = static_cast<u_int>(fh.size());
    f.data.data_val = reinterpret_cast<char*>(const_cast<uint8_t*>(fh.data()));
    return f;
}

Fh from_fh3(const nfs_fh3& f) {
    const auto* p = reinterpret_cast<const uint8_t*>(f.data.data_val);
    return Fh(p, p + f.data.data_len);
}

Attr from_fattr(const fattr3& a) {
    return Attr{static_cast<uint32_t>(a.type), a.mode, a.nlink, a.size, a.fileid};
}

std::string error_of(rpc_context* rpc) {
    const char* e = rpc_get_error(rpc);
    return e ? e : "unknown RPC error";
}

uint64_t verf_of(const char* v) {
    uint64_t out = 0;
    std::memcpy(&out, v, sizeof out);
    return out;
}

sattr3 no_change() {
    sattr3 s{};
    s.atime.set_it = DONT_CHANGE;
    s.mtime.set_it = DONT_CHANGE;
    return s;
}

// A call of one of libnfs's rpc_nfs3_*_async with `args`.
template <typename Args>
Nfs3::Start start(int (*async)(rpc_context*, rpc_cb, Args*, void*), Args& args) {
    return [async, &args](rpc_context* rpc, void* p) { return async(rpc, on_reply, &args, p); };
}

// The status word every NFSv3 result starts with, for calls whose results the tests ignore.
template <typename Res>
uint32_t status_of(void* d) {
    return static_cast<Res*>(d)->status;
}

}  // namespace

Nfs3::Nfs3(uint16_t nfs_port, uint16_t mount_port, const std::string& path,
           const std::atomic<bool>* abort)
    : abort_(abort) {
    mount_ = rpc_init_context();
    if (!mount_ || !connect(mount_, mount_port, MOUNT_PROGRAM)) return;
    uint32_t status = kNoReply;
    std::string export_path = path;
    const bool replied = run(
        mount_,
        [&](rpc_context* rpc, void* p) {
            return rpc_mount3_mnt_async(rpc, on_reply, export_path.data(), p);
        },
        [&](void* d) {
            auto* r = static_cast<mountres3*>(d);
            status = r->fhs_status;
            if (status != MNT3_OK) return;
            const auto& fh = r->mountres3_u.mountinfo.fhandle;
            const auto* b = reinterpret_cast<const uint8_t*>(fh.fhandle3_val);
            root_.assign(b, b + fh.fhandle3_len);
        });
    if (!replied || status != MNT3_OK) {
        mount_status_ = status;
        return;
    }
    nfs_ = rpc_init_context();
    if (nfs_ && connect(nfs_, nfs_port, NFS_PROGRAM)) mount_status_ = status;
}

Nfs3::~Nfs3() {
    // Destroying a context calls the callbacks of what is still queued (RPC_STATUS_CANCEL);
    // pending_ outlives both.
    if (nfs_) rpc_destroy_context(nfs_);
    if (mount_) rpc_destroy_context(mount_);
}

bool Nfs3::connect(rpc_context* rpc, uint16_t port, int program) {
    return run(
        rpc,
        [&](rpc_context* rpc, void* p) {
            return rpc_connect_port_async(rpc, "127.0.0.1", port, program, 3, on_reply, p);
        },
        nullptr);
}

bool Nfs3::run(rpc_context* rpc, const Start& start, const std::function<void(void*)>& take) {
    if (broken_) return false;
    // Finished entries are dropped; unfinished ones stay for libnfs to call back.
    while (!pending_.empty() && pending_.front()->done) pending_.pop_front();
    pending_.push_back(std::make_unique<Pending>());
    Pending& p = *pending_.back();
    p.take = take;
    if (start(rpc, &p) != 0) {
        p.done = true;  // libnfs will not call back
        error_ = error_of(rpc);
        broken_ = true;
        return false;
    }
    const auto deadline = std::chrono::steady_clock::now() + kCallTimeout;
    std::optional<std::chrono::steady_clock::time_point> aborted_at;
    while (!p.done) {
        const auto now = std::chrono::steady_clock::now();
        if (abort_ && *abort_ && !aborted_at) aborted_at = now;
        if (now > deadline || (aborted_at && now - *aborted_at > kAfterAbort)) {
            error_ = "no reply in time";
            break;
        }
        pollfd pfd{rpc_get_fd(rpc), static_cast<short>(rpc_which_events(rpc)), 0};
        const int n = ::poll(&pfd, 1, 20);
        if (rpc_service(rpc, n < 0 ? -1 : n == 0 ? 0 : pfd.revents) < 0) {
            error_ = error_of(rpc);
            break;
        }
    }
    if (!p.done || p.rpc_status != RPC_STATUS_SUCCESS) {
        if (p.done) {
            error_ = p.error.empty() ? "rpc status " + std::to_string(p.rpc_status) : p.error;
        }
        broken_ = true;
        return false;
    }
    // What the reply said is read in the callback: the decoded reply is freed after it.
    return true;
}

uint32_t Nfs3::nfs_call(const Start& start, const Take& take) {
    if (!nfs_) return kNoReply;
    uint32_t status = kNoReply;
    if (!run(nfs_, start, [&](void* d) { status = take(d); })) return kNoReply;
    return status;
}

uint32_t Nfs3::getattr(const Fh& fh, Attr* attr) {
    GETATTR3args a{to_fh3(fh)};
    return nfs_call(start(rpc_nfs3_getattr_async, a), [&](void* d) {
        auto* r = static_cast<GETATTR3res*>(d);
        if (r->status == NFS3_OK && attr) *attr = from_fattr(r->GETATTR3res_u.resok.obj_attributes);
        return r->status;
    });
}

uint32_t Nfs3::lookup(const Fh& dir, const std::string& name, Fh* out) {
    std::string n = name;
    LOOKUP3args a{{to_fh3(dir), n.data()}};
    return nfs_call(start(rpc_nfs3_lookup_async, a), [&](void* d) {
        auto* r = static_cast<LOOKUP3res*>(d);
        if (r->status == NFS3_OK && out) *out = from_fh3(r->LOOKUP3res_u.resok.object);
        return r->status;
    });
}

uint32_t Nfs3::read(const Fh& fh, uint64_t offset, uint32_t count, std::string* data, bool* eof) {
    READ3args a{to_fh3(fh), offset, count};
    return nfs_call(start(rpc_nfs3_read_async, a), [&](void* d) {
        auto* r = static_cast<READ3res*>(d);
        if (r->status != NFS3_OK) return r->status;
        const auto& ok = r->READ3res_u.resok;
        if (data) data->assign(ok.data.data_val, ok.data.data_len);
        if (eof) *eof = ok.eof;
        return r->status;
    });
}

uint32_t Nfs3::read_all(const Fh& fh, std::string* data) {
    data->clear();
    for (int i = 0; i < 4096; ++i) {
        std::string chunk;
        bool eof = false;
        const uint32_t s = read(fh, data->size(), 65536, &chunk, &eof);
        if (s != NFS3_OK) return s;
        data->append(chunk);
        if (eof || chunk.empty()) return NFS3_OK;
    }
    return NFS3ERR_IO;
}

uint32_t Nfs3::write(const Fh& fh, uint64_t offset, std::string_view data, int stable,
                     uint64_t* verf, int* committed) {
    WRITE3args a{};
    a.file = to_fh3(fh);
    a.offset = offset;
    a.count = static_cast<count3>(data.size());
    a.stable = static_cast<stable_how>(stable);
    a.data.data_len = static_cast<u_int>(data.size());
    a.data.data_val = const_cast<char*>(data.data());
    return nfs_call(start(rpc_nfs3_write_async, a), [&](void* d) -> uint32_t {
        auto* r = static_cast<WRITE3res*>(d);
        if (r->status != NFS3_OK) return r->status;
        const auto& ok = r->WRITE3res_u.resok;
        if (verf) *verf = verf_of(ok.verf);
        if (committed) *committed = ok.committed;
        return ok.count == data.size() ? NFS3_OK : NFS3ERR_IO;  // a short write is not ours
    });
}

uint32_t Nfs3::commit(const Fh& fh, uint64_t* verf) {
    COMMIT3args a{to_fh3(fh), 0, 0};
    return nfs_call(start(rpc_nfs3_commit_async, a), [&](void* d) {
        auto* r = static_cast<COMMIT3res*>(d);
        if (r->status == NFS3_OK && verf) *verf = verf_of(r->COMMIT3res_u.resok.verf);
        return r->status;
    });
}

namespace {

// The handle a CREATE, MKDIR or SYMLINK reply carries, if any.
void take_new_handle(const post_op_fh3& obj, Fh* out) {
    if (out && obj.handle_follows) *out = from_fh3(obj.post_op_fh3_u.handle);
}

sattr3 with_mode(uint32_t mode) {
    sattr3 s = no_change();
    s.mode.set_it = 1;
    s.mode.set_mode3_u.mode = mode;
    return s;
}

}  // namespace

uint32_t Nfs3::create(const Fh& dir, const std::string& name, uint32_t mode, Fh* out) {
    std::string n = name;
    CREATE3args a{};
    a.where = {to_fh3(dir), n.data()};
    a.how.mode = UNCHECKED;
    a.how.createhow3_u.obj_attributes = with_mode(mode);
    return nfs_call(start(rpc_nfs3_create_async, a), [&](void* d) {
        auto* r = static_cast<CREATE3res*>(d);
        if (r->status == NFS3_OK) take_new_handle(r->CREATE3res_u.resok.obj, out);
        return r->status;
    });
}

uint32_t Nfs3::mkdir(const Fh& dir, const std::string& name, uint32_t mode, Fh* out) {
    std::string n = name;
    MKDIR3args a{{to_fh3(dir), n.data()}, with_mode(mode)};
    return nfs_call(start(rpc_nfs3_mkdir_async, a), [&](void* d) {
        auto* r = static_cast<MKDIR3res*>(d);
        if (r->status == NFS3_OK) take_new_handle(r->MKDIR3res_u.resok.obj, out);
        return r->status;
    });
}

uint32_t Nfs3::symlink(const Fh& dir, const std::string& name, const std::string& target, Fh* out) {
    std::string n = name, t = target;
    SYMLINK3args a{{to_fh3(dir), n.data()}, {no_change(), t.data()}};
    return nfs_call(start(rpc_nfs3_symlink_async, a), [&](void* d) {
        auto* r = static_cast<SYMLINK3res*>(d);
        if (r->status == NFS3_OK) take_new_handle(r->SYMLINK3res_u.resok.obj, out);
        return r->status;
    });
}

uint32_t Nfs3::readlink(const Fh& fh, std::string* target) {
    READLINK3args a{to_fh3(fh)};
    return nfs_call(start(rpc_nfs3_readlink_async, a), [&](void* d) {
        auto* r = static_cast<READLINK3res*>(d);
        if (r->status == NFS3_OK && target) *target = r->READLINK3res_u.resok.data;
        return r->status;
    });
}

uint32_t Nfs3::remove(const Fh& dir, const std::string& name) {
    std::string n = name;
    REMOVE3args a{{to_fh3(dir), n.data()}};
    return nfs_call(start(rpc_nfs3_remove_async, a), status_of<REMOVE3res>);
}

uint32_t Nfs3::rename(const Fh& from_dir, const std::string& from, const Fh& to_dir,
                      const std::string& to) {
    std::string f = from, t = to;
    RENAME3args a{{to_fh3(from_dir), f.data()}, {to_fh3(to_dir), t.data()}};
    return nfs_call(start(rpc_nfs3_rename_async, a), status_of<RENAME3res>);
}

uint32_t Nfs3::link(const Fh& fh, const Fh& dir, const std::string& name) {
    std::string n = name;
    LINK3args a{to_fh3(fh), {to_fh3(dir), n.data()}};
    return nfs_call(start(rpc_nfs3_link_async, a), status_of<LINK3res>);
}

uint32_t Nfs3::setattr(const Fh& fh, std::optional<uint32_t> mode, std::optional<uint64_t> size) {
    SETATTR3args a{};
    a.object = to_fh3(fh);
    a.new_attributes = mode ? with_mode(*mode) : no_change();
    if (size) {
        a.new_attributes.size.set_it = 1;
        a.new_attributes.size.set_size3_u.size = *size;
    }
    return nfs_call(start(rpc_nfs3_setattr_async, a), status_of<SETATTR3res>);
}

uint32_t Nfs3::readdir(const Fh& dir, std::vector<std::string>* names) {
    names->clear();
    READDIR3args a{};
    a.dir = to_fh3(dir);
    a.count = 8192;
    for (int page = 0; page < 10000; ++page) {
        bool eof = false;
        const uint32_t status = nfs_call(start(rpc_nfs3_readdir_async, a), [&](void* d) {
            auto* r = static_cast<READDIR3res*>(d);
            if (r->status != NFS3_OK) return r->status;
            const auto& ok = r->READDIR3res_u.resok;
            std::memcpy(a.cookieverf, ok.cookieverf, sizeof a.cookieverf);
            // libnfs carves entries out of its decode buffer at 4-byte alignment, short of
            // what entry3's 64-bit cookie needs: each entry is copied out before it is read.
            for (const entry3* at = ok.reply.entries; at;) {
                entry3 e;
                std::memcpy(&e, at, sizeof e);
                names->push_back(e.name);
                a.cookie = e.cookie;
                at = e.nextentry;
            }
            eof = ok.reply.eof;
            return r->status;
        });
        if (status != NFS3_OK || eof) return status;
    }
    return NFS3ERR_IO;
}

}  // namespace rootfarm::testing
