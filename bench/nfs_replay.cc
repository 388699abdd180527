#include "bench/nfs_replay.h"

// libnfs's raw API: one rpc_context per connection, driven here by poll() until each call
// completes (one call in flight per simulated Pi). libnfs.h must come first: it defines the
// EXTERN the raw headers use.
#include <nfsc/libnfs.h>

#include <nfsc/libnfs-raw-mount.h>
#include <nfsc/libnfs-raw-nfs.h>
#include <nfsc/libnfs-raw.h>

#include <poll.h>

#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <unordered_map>

#include "bench/source_bind.h"

namespace rootfarm::bench {

namespace {

using Clock = std::chrono::steady_clock;

struct Call {
    bool done = false;
    int rpc_status = 0;
    std::function<void(void*)> on_reply;  // runs inside the callback: reply memory is libnfs's
};

void on_rpc(rpc_context*, int status, void* data, void* priv) {
    auto* c = static_cast<Call*>(priv);
    c->rpc_status = status;
    if (status == RPC_STATUS_SUCCESS && c->on_reply) c->on_reply(data);
    c->done = true;
}

class Rpc {
  public:
    Rpc() : rpc_(rpc_init_context()) {}
    ~Rpc() {
        if (rpc_) rpc_destroy_context(rpc_);
    }
    Rpc(const Rpc&) = delete;
    Rpc& operator=(const Rpc&) = delete;
    rpc_context* get() const { return rpc_; }
    std::string error() const {
        const char* e = rpc_ ? rpc_get_error(rpc_) : "no context";
        return e ? e : "no error text";  // libnfs has none when the call only timed out
    }

    // Waits (bounded) for `c` to complete, servicing the connection.
    Result<void> wait(Call& c, std::chrono::milliseconds timeout) {
        auto deadline = Clock::now() + timeout;
        while (!c.done) {
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0) return std::errc::timed_out;
            pollfd p{rpc_get_fd(rpc_), static_cast<short>(rpc_which_events(rpc_)), 0};
            int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 100)));
            if (r < 0 && errno != EINTR) return errno_error(errno);
            if (rpc_service(rpc_, r > 0 ? p.revents : 0) < 0) return std::errc::connection_reset;
        }
        if (c.rpc_status != RPC_STATUS_SUCCESS) return std::errc::connection_aborted;
        return {};
    }

    Result<void> connect(const std::string& server, uint16_t port,
                         std::chrono::milliseconds timeout) {
        Call c;
        if (rpc_connect_async(rpc_, server.c_str(), port, on_rpc, &c) != 0) {
            return std::errc::connection_refused;
        }
        return wait(c, timeout);
    }

  private:
    rpc_context* rpc_;
};

nfs_fh3 as_fh(const std::string& s) {
    nfs_fh3 fh{};
    fh.data.data_len = static_cast<u_int>(s.size());
    fh.data.data_val = const_cast<char*>(s.data());
    return fh;
}
std::string from_fh(const nfs_fh3& fh) {
    return {fh.data.data_val, fh.data.data_len};
}

diropargs3 dirop(const std::string& dir_fh, const std::string& name) {
    diropargs3 d{};
    d.dir = as_fh(dir_fh);
    d.name = const_cast<char*>(name.c_str());
    return d;
}

std::pair<std::string, std::string> split(const std::string& path) {
    auto slash = path.rfind('/');
    return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

std::string join(const std::string& dir, const std::string& name) {
    return dir == "/" ? "/" + name : dir + "/" + name;
}

// A sattr3 field (RFC 1813 §2.5): set when the trace gives it.
template <class Opt, class SetIt, class Field>
void set_if(const Opt& value, SetIt& set_it, Field& field) {
    if (value) {
        set_it = 1;
        field = *value;
    }
}

// SETATTR time_how (RFC 1813 §2.5): SET_TO_SERVER_TIME = 1, SET_TO_CLIENT_TIME = 2.
template <class How>
void set_time(const SetTime& t, How& how, nfstime3& out) {
    if (t.how == SetTime::How::kServer) how = SET_TO_SERVER_TIME;
    if (t.how == SetTime::How::kClient) {
        how = SET_TO_CLIENT_TIME;
        out.seconds = static_cast<u_int>(t.sec);
        out.nseconds = t.nsec;
    }
}

const std::vector<char>& pattern() {
    static const std::vector<char> buf = [] {
        std::vector<char> b(1 << 20);
        for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<char>(i * 131 + 7);
        return b;
    }();
    return buf;
}

class Client {
  public:
    Client(const NfsTarget& target, uint32_t index) : target_(target), index_(index) {}

    Result<void> mount(NfsReplayResult& out) {
        auto t0 = Clock::now();
        if (auto r = mnt_.connect(target_.server, target_.mount_port, target_.call_timeout); !r) {
            out.first_error = "MOUNT connect: " + mnt_.error();
            return r;
        }
        std::string exp = target_.export_path;
        if (auto pos = exp.find("{i}"); pos != std::string::npos) {
            exp.replace(pos, 3, std::to_string(index_));
        }
        Call c;
        int mstatus = -1;
        std::string root;
        c.on_reply = [&](void* data) {
            auto* res = static_cast<mountres3*>(data);
            mstatus = res->fhs_status;
            if (mstatus == 0) {
                auto& fh = res->mountres3_u.mountinfo.fhandle;
                root.assign(fh.fhandle3_val, fh.fhandle3_len);
            }
        };
        if (rpc_mount3_mnt_async(mnt_.get(), on_rpc, exp.data(), &c) != 0) {
            return std::errc::io_error;
        }
        if (auto r = mnt_.wait(c, target_.call_timeout); !r) {
            out.first_error = "MNT " + exp + ": " + mnt_.error();
            return r;
        }
        if (mstatus != 0) {
            out.first_error = "MNT " + exp + ": status " + std::to_string(mstatus);
            return std::errc::permission_denied;
        }
        fh_["/"] = root;
        if (auto r = nfs_.connect(target_.server, target_.nfs_port, target_.call_timeout); !r) {
            out.first_error = "NFS connect: " + nfs_.error();
            return r;
        }
        out.mount_us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
        return {};
    }

    // Issues one call; `status` receives the NFS status (first member of every NFSv3 result,
    // RFC 1813 §3.3) and `on_ok` sees the reply when it is NFS3_OK.
    template <class Args>
    Result<int> call(int (*fn)(rpc_context*, rpc_cb, Args*, void*), Args& args,
                     std::function<void(void*)> on_ok = {}) {
        Call c;
        int status = -1;
        c.on_reply = [&](void* data) {
            std::memcpy(&status, data, sizeof status);
            if (status == NFS3_OK && on_ok) on_ok(data);
        };
        if (fn(nfs_.get(), on_rpc, &args, &c) != 0) return std::errc::io_error;
        if (auto r = nfs_.wait(c, target_.call_timeout); !r) return r.error();
        return status;
    }

    // LOOKUP one component; NFS3ERR_NOENT is returned as a status, not an error.
    Result<int> lookup(const std::string& dir, const std::string& name) {
        auto dfh = resolve(dir);
        if (!dfh) return dfh.error();
        LOOKUP3args a{};
        a.what = dirop(*dfh, name);
        std::string path = join(dir, name);
        return call(rpc_nfs3_lookup_async, a, [&](void* d) {
            fh_[path] = from_fh(static_cast<LOOKUP3res*>(d)->LOOKUP3res_u.resok.object);
        });
    }

    // A handle for `path`, walking from the nearest cached ancestor as the kernel would.
    Result<std::string> resolve(const std::string& path) {
        if (auto it = fh_.find(path); it != fh_.end()) return it->second;
        if (path == "/") return std::errc::not_connected;
        auto [dir, name] = split(path);
        ++resolve_lookups_;
        auto s = lookup(dir, name);
        if (!s) return s.error();
        if (*s != NFS3_OK) return std::errc::no_such_file_or_directory;
        return fh_[path];
    }

    void forget(const std::string& path) {
        for (auto it = fh_.begin(); it != fh_.end();) {
            const std::string& p = it->first;
            if (p == path ||
                (p.size() > path.size() && p.starts_with(path) && p[path.size()] == '/')) {
                it = fh_.erase(it);
            } else {
                ++it;
            }
        }
    }

    // Runs one trace op; returns its NFS status (or an error for the connection/resolution).
    Result<int> run(const TraceOp& op, NfsReplayResult& out);

    uint64_t resolve_lookups_ = 0;

    Result<int> micro(Proc proc, const std::string& path);

  private:
    // Name-creating calls return post_op_fh3; cache it when present.
    template <class Res>
    static std::function<void(void*)> keep_fh(std::unordered_map<std::string, std::string>& m,
                                              std::string path, post_op_fh3 Res::*field) {
        return [&m, path, field](void* d) {
            const post_op_fh3& f = static_cast<Res*>(d)->*field;
            if (f.handle_follows) m[path] = from_fh(f.post_op_fh3_u.handle);
        };
    }

    // Where the last listing of a directory stopped, for a trace's "more" (RFC 1813 §3.3.16:
    // the next call passes the last entry's cookie and the reply's verifier).
    struct Listing {
        uint64_t cookie = 0;
        char verifier[NFS3_COOKIEVERFSIZE] = {};

        template <class Args>
        void resume(Args& a) const {
            a.cookie = cookie;
            std::memcpy(a.cookieverf, verifier, NFS3_COOKIEVERFSIZE);
        }
        template <class Ok>
        void remember(const Ok& ok) {
            std::memcpy(verifier, ok.cookieverf, NFS3_COOKIEVERFSIZE);
            for (auto* e = ok.reply.entries; e; e = e->nextentry) cookie = e->cookie;
        }
    };

    const NfsTarget& target_;
    uint32_t index_;
    Rpc mnt_, nfs_;
    std::unordered_map<std::string, std::string> fh_;
    std::unordered_map<std::string, Listing> listings_;
};

Result<int> Client::run(const TraceOp& op, NfsReplayResult& out) {
    if (op.proc == Proc::kLookup) return lookup(op.path, op.name);
    auto fh = resolve(op.path);
    if (!fh) return fh.error();
    nfs_fh3 obj = as_fh(*fh);
    switch (op.proc) {
        case Proc::kGetattr: {
            GETATTR3args a{obj};
            return call(rpc_nfs3_getattr_async, a);
        }
        case Proc::kSetattr: {
            SETATTR3args a{};
            a.object = obj;
            sattr3& n = a.new_attributes;
            set_if(op.mode, n.mode.set_it, n.mode.set_mode3_u.mode);
            set_if(op.uid, n.uid.set_it, n.uid.set_uid3_u.uid);
            set_if(op.gid, n.gid.set_it, n.gid.set_gid3_u.gid);
            set_if(op.size, n.size.set_it, n.size.set_size3_u.size);
            set_time(op.atime, n.atime.set_it, n.atime.set_atime_u.atime);
            set_time(op.mtime, n.mtime.set_it, n.mtime.set_mtime_u.mtime);
            return call(rpc_nfs3_setattr_async, a);
        }
        case Proc::kAccess: {
            ACCESS3args a{obj, 0x1f};  // READ|LOOKUP|MODIFY|EXTEND|DELETE, as the kernel asks
            return call(rpc_nfs3_access_async, a);
        }
        case Proc::kReadlink: {
            READLINK3args a{obj};
            return call(rpc_nfs3_readlink_async, a);
        }
        case Proc::kRead: {
            READ3args a{obj, op.offset, static_cast<count3>(op.count)};
            return call(rpc_nfs3_read_async, a, [&](void* d) {
                out.bytes_read += static_cast<READ3res*>(d)->READ3res_u.resok.count;
            });
        }
        case Proc::kWrite: {
            WRITE3args a{};
            a.file = obj;
            a.offset = op.offset;
            a.count = static_cast<count3>(std::min<uint64_t>(op.count, pattern().size()));
            // The recorded stable_how; the kernel's default is UNSTABLE, then COMMIT.
            a.stable = static_cast<stable_how>(op.stable);
            a.data.data_len = a.count;
            a.data.data_val = const_cast<char*>(pattern().data());
            auto r = call(rpc_nfs3_write_async, a);
            if (r && *r == NFS3_OK) out.bytes_written += a.count;
            return r;
        }
        case Proc::kCommit: {
            COMMIT3args a{obj, 0, 0};
            return call(rpc_nfs3_commit_async, a);
        }
        case Proc::kCreate: {
            CREATE3args a{};
            a.where = dirop(*fh, op.name);
            if (op.create == CreateHow::kExclusive) {
                // RFC 1813 §3.3.8: the verifier names this create; one derived from the path
                // lets a second replay against the same client find its own file again.
                a.how.mode = EXCLUSIVE;
                uint64_t v = std::hash<std::string>{}(join(op.path, op.name));
                std::memcpy(a.how.createhow3_u.verf, &v, sizeof v);
            } else {
                a.how.mode = op.create == CreateHow::kGuarded ? GUARDED : UNCHECKED;
                a.how.createhow3_u.obj_attributes.mode.set_it = 1;
                a.how.createhow3_u.obj_attributes.mode.set_mode3_u.mode = 0644;
            }
            auto keep = keep_fh(fh_, join(op.path, op.name), &CREATE3resok::obj);
            return call(rpc_nfs3_create_async, a,
                        [&](void* d) { keep(&static_cast<CREATE3res*>(d)->CREATE3res_u.resok); });
        }
        case Proc::kMkdir: {
            MKDIR3args a{};
            a.where = dirop(*fh, op.name);
            a.attributes.mode.set_it = 1;
            a.attributes.mode.set_mode3_u.mode = 0755;
            auto keep = keep_fh(fh_, join(op.path, op.name), &MKDIR3resok::obj);
            return call(rpc_nfs3_mkdir_async, a,
                        [&](void* d) { keep(&static_cast<MKDIR3res*>(d)->MKDIR3res_u.resok); });
        }
        case Proc::kSymlink: {
            SYMLINK3args a{};
            a.where = dirop(*fh, op.name);
            a.symlink.symlink_data = const_cast<char*>(op.name2.c_str());
            auto keep = keep_fh(fh_, join(op.path, op.name), &SYMLINK3resok::obj);
            return call(rpc_nfs3_symlink_async, a,
                        [&](void* d) { keep(&static_cast<SYMLINK3res*>(d)->SYMLINK3res_u.resok); });
        }
        case Proc::kMknod: {
            MKNOD3args a{};
            a.where = dirop(*fh, op.name);
            if (op.node == NodeType::kChar || op.node == NodeType::kBlock) {
                a.what.type = op.node == NodeType::kChar ? NF3CHR : NF3BLK;
                devicedata3& d = op.node == NodeType::kChar ? a.what.mknoddata3_u.chr_device
                                                            : a.what.mknoddata3_u.blk_device;
                d.dev_attributes.mode.set_it = 1;
                d.dev_attributes.mode.set_mode3_u.mode = 0600;
                d.spec.specdata1 = op.major;
                d.spec.specdata2 = op.minor;
            } else {
                a.what.type = op.node == NodeType::kFifo ? NF3FIFO : NF3SOCK;
                sattr3& attrs = op.node == NodeType::kFifo ? a.what.mknoddata3_u.pipe_attributes
                                                           : a.what.mknoddata3_u.sock_attributes;
                attrs.mode.set_it = 1;
                attrs.mode.set_mode3_u.mode = 0600;
            }
            auto keep = keep_fh(fh_, join(op.path, op.name), &MKNOD3resok::obj);
            return call(rpc_nfs3_mknod_async, a,
                        [&](void* d) { keep(&static_cast<MKNOD3res*>(d)->MKNOD3res_u.resok); });
        }
        case Proc::kRemove: {
            REMOVE3args a{};
            a.object = dirop(*fh, op.name);
            forget(join(op.path, op.name));
            return call(rpc_nfs3_remove_async, a);
        }
        case Proc::kRmdir: {
            RMDIR3args a{};
            a.object = dirop(*fh, op.name);
            forget(join(op.path, op.name));
            return call(rpc_nfs3_rmdir_async, a);
        }
        case Proc::kRename: {
            auto to = resolve(op.path2);
            if (!to) return to.error();
            RENAME3args a{};
            a.from = dirop(*fh, op.name);
            a.to = dirop(*to, op.name2);
            std::string from_path = join(op.path, op.name), to_path = join(op.path2, op.name2);
            auto r = call(rpc_nfs3_rename_async, a);
            auto moved = fh_.find(from_path);
            std::string handle = moved != fh_.end() ? moved->second : "";
            forget(from_path);
            forget(to_path);
            if (r && *r == NFS3_OK && !handle.empty()) fh_[to_path] = handle;
            return r;
        }
        case Proc::kLink: {
            auto to = resolve(op.path2);
            if (!to) return to.error();
            LINK3args a{};
            a.file = obj;
            a.link = dirop(*to, op.name2);
            auto r = call(rpc_nfs3_link_async, a);
            if (r && *r == NFS3_OK) fh_[join(op.path2, op.name2)] = *fh;
            return r;
        }
        case Proc::kReaddirplus: {
            READDIRPLUS3args a{};
            a.dir = obj;
            Listing& l = listings_[op.path];
            if (op.more) l.resume(a);
            a.dircount = 4096;  // the Linux client's dtsize and maxcount for one reply
            a.maxcount = 32768;
            return call(rpc_nfs3_readdirplus_async, a, [&](void* d) {
                l.remember(static_cast<READDIRPLUS3res*>(d)->READDIRPLUS3res_u.resok);
            });
        }
        case Proc::kReaddir: {
            READDIR3args a{};
            a.dir = obj;
            Listing& l = listings_[op.path];
            if (op.more) l.resume(a);
            a.count = 32768;
            return call(rpc_nfs3_readdir_async, a, [&](void* d) {
                l.remember(static_cast<READDIR3res*>(d)->READDIR3res_u.resok);
            });
        }
        case Proc::kFsstat: {
            FSSTAT3args a{obj};
            return call(rpc_nfs3_fsstat_async, a);
        }
        case Proc::kFsinfo: {
            FSINFO3args a{obj};
            return call(rpc_nfs3_fsinfo_async, a);
        }
        case Proc::kPathconf: {
            PATHCONF3args a{obj};
            return call(rpc_nfs3_pathconf_async, a);
        }
        case Proc::kLookup:
            break;
    }
    return std::errc::invalid_argument;
}

Result<int> Client::micro(Proc proc, const std::string& path) {
    if (proc == Proc::kLookup) {
        auto [dir, name] = split(path);
        auto dfh = resolve(dir);
        if (!dfh) return dfh.error();
        LOOKUP3args a{};
        a.what = dirop(*dfh, name);
        return call(rpc_nfs3_lookup_async, a);
    }
    TraceOp op;
    op.proc = proc;
    op.path = path;
    op.count = 1 << 20;
    NfsReplayResult scratch;
    return run(op, scratch);
}

}  // namespace

Result<NfsReplayResult> nfs_replay(Ipv4 source, const NfsTarget& target, const Trace& trace,
                                   uint32_t index) {
    set_thread_source(source);
    NfsReplayResult out;
    Result<NfsReplayResult> result = std::errc::io_error;
    {
        Client client(target, index);
        if (auto r = client.mount(out); !r) {
            set_thread_source(Ipv4{});
            return r.error();
        }
        out.op_us.reserve(trace.ops.size());
        for (const TraceOp& op : trace.ops) {
            auto t0 = Clock::now();
            auto r = client.run(op, out);
            double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
            if (!r &&
                (r.error() == std::errc::timed_out || r.error() == std::errc::connection_reset ||
                 r.error() == std::errc::connection_aborted)) {
                out.first_error =
                    std::string(proc_name(op.proc)) + " " + op.path + ": " + r.error().message();
                set_thread_source(Ipv4{});
                return r.error();
            }
            auto p = static_cast<size_t>(op.proc);
            ++out.calls[p];
            out.proc_us[p] += us;
            out.op_us.push_back(us);
            // The status the trace expects (a recorded boot's negative LOOKUPs answer NOENT).
            bool ok = r && static_cast<uint32_t>(*r) == op.status;
            if (!ok) {
                ++out.failed_ops;
                if (out.first_error.empty()) {
                    out.first_error =
                        format_trace_op(op) + ": " +
                        (r ? "NFS status " + std::to_string(*r) : r.error().message());
                }
            }
        }
        out.resolve_lookups = client.resolve_lookups_;
    }
    set_thread_source(Ipv4{});
    return out;
}

Result<uint64_t> nfs_micro(Ipv4 source, const NfsTarget& target, Proc proc, const std::string& path,
                           double seconds, uint32_t index) {
    set_thread_source(source);
    Client client(target, index);
    NfsReplayResult scratch;
    auto m = client.mount(scratch);
    set_thread_source(Ipv4{});
    if (!m) return m.error();
    uint64_t done = 0;
    auto end = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < end) {
        auto r = client.micro(proc, path);
        if (!r) return r.error();
        if (*r != NFS3_OK) return std::errc::io_error;
        ++done;
    }
    return done;
}

}  // namespace rootfarm::bench

namespace rootfarm::bench {

NfsProbeResult nfs_probe(Ipv4 source, const NfsTarget& target, const std::string& path,
                         Clock::time_point t0, const std::atomic<bool>& stop, uint32_t index) {
    NfsProbeResult out;
    auto failed = [&](std::string why) {
        ++out.errors;
        out.error_s.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
        if (out.first_error.empty()) out.first_error = std::move(why);
    };
    std::unique_ptr<Client> client;
    const Proc mix[] = {Proc::kLookup, Proc::kGetattr, Proc::kRead};
    for (uint64_t n = 0; !stop.load(std::memory_order_relaxed); ++n) {
        if (!client) {
            set_thread_source(source);
            client = std::make_unique<Client>(target, index);
            NfsReplayResult scratch;
            auto m = client->mount(scratch);
            set_thread_source(Ipv4{});
            if (!m) {
                failed("mount: " + scratch.first_error);
                client.reset();
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
                continue;
            }
        }
        const Proc proc = mix[n % 3];
        TraceOp op;
        op.proc = proc;
        op.path = path;
        op.count = 4096;
        auto start = Clock::now();
        Result<int> r = std::errc::invalid_argument;
        if (proc == Proc::kLookup) {
            r = client->micro(proc, path);
        } else {
            NfsReplayResult scratch;
            r = client->run(op, scratch);
        }
        double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
        if (!r) {
            failed(std::string(proc_name(proc)) + " " + path + ": " + r.error().message());
            client.reset();
            continue;
        }
        if (*r != NFS3_OK) {
            failed(std::string(proc_name(proc)) + " " + path + ": NFS status " +
                   std::to_string(*r));
            continue;
        }
        out.calls.push_back({std::chrono::duration<double>(start - t0).count(), us});
    }
    return out;
}

Result<std::string> nfs_file_handle(Ipv4 source, const NfsTarget& target, const std::string& path) {
    set_thread_source(source);
    Client client(target, 0);
    NfsReplayResult scratch;
    auto m = client.mount(scratch);
    set_thread_source(Ipv4{});
    if (!m) return m.error();
    return client.resolve(path);
}

}  // namespace rootfarm::bench
