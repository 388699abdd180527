#include "bench/nfs_replay.h"

// libnfs's raw API: one rpc_context per connection, with one call in flight per simulated Pi.
// A call completes in libnfs's callback, so one thread can drive many Pis (the storm's event
// loop); the blocking entry points drive one client with poll(). libnfs.h must come first: it
// defines the EXTERN the raw headers use.
#include <nfsc/libnfs.h>

#include <nfsc/libnfs-raw-mount.h>
#include <nfsc/libnfs-raw-nfs.h>
#include <nfsc/libnfs-raw.h>

#include <poll.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <unordered_map>

#include "bench/source_bind.h"

namespace rootfarm::bench {

namespace {

using Clock = std::chrono::steady_clock;

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
    bool connected = false;

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

// One Pi's MOUNT and NFS connections. Every call completes through a callback (`Done`, with
// the NFS status or an error), one at a time; whoever drives the client polls fd() for events()
// and calls service() when it is ready or deadline() has passed.
class Client {
  public:
    using Done = std::function<void(Result<int>)>;

    Client(const NfsTarget& target, uint32_t index, Ipv4 source)
        : target_(target), index_(index), source_(source) {}
    ~Client() {
        // Destroying the contexts (declared last, so destroyed first) cancels what is in flight;
        // those callbacks must find nothing to call.
        pending_ = nullptr;
    }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // MOUNT v3 MNT over TCP, then the NFS connection; done(0) once both are up.
    void mount(NfsReplayResult& out, Done done);
    // One trace op (`op` must outlive the call); done gets its NFS status.
    void run(const TraceOp& op, NfsReplayResult& out, Done done);
    // LOOKUP one component; NFS3ERR_NOENT is a status, not an error.
    void lookup(const std::string& dir, const std::string& name, Done done);
    // A handle for `path`, walking from the nearest cached ancestor as the kernel would.
    void resolve(const std::string& path, std::function<void(Result<std::string>)> done);

    bool busy() const { return static_cast<bool>(pending_); }
    int fd() const { return busy() ? rpc_get_fd(active_->get()) : -1; }
    short events() const {
        return busy() ? static_cast<short>(rpc_which_events(active_->get())) : 0;
    }
    Clock::time_point deadline() const { return deadline_; }
    // The connection is ready (`revents` from poll or epoll), or the deadline has passed.
    void service(int revents);
    std::string error() const { return active_ ? active_->error() : "no call"; }

    uint64_t resolve_lookups_ = 0;

  private:
    using Reply = std::function<void(Result<void*>)>;  // the decoded reply, libnfs's memory
    struct Tag {
        Client* client;
        uint64_t seq;
    };
    static void on_rpc(rpc_context*, int status, void* data, void* priv);

    // Starts one RPC on `rpc`: `issue` hands libnfs the callback and its private data.
    void start(Rpc& rpc, const std::function<int(rpc_cb, void*)>& issue, Reply reply);
    void fail(std::error_code ec);
    void connect(Rpc& rpc, uint16_t port, Reply reply);
    // An NFS call: done(status), and on_ok sees the reply when it is NFS3_OK.
    template <class Args>
    void call(int (*fn)(rpc_context*, rpc_cb, Args*, void*), Args& args, Done done,
              std::function<void(void*)> on_ok = {});
    void issue(const TraceOp& op, const std::string& fh, const std::string& fh2,
               NfsReplayResult& out, Done done);
    void forget(const std::string& path);

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
            // libnfs carves entries out of its decode buffer at 4-byte alignment, short of
            // what the 64-bit cookie needs: each entry is copied out before it is read.
            for (const auto* at = ok.reply.entries; at;) {
                std::remove_cvref_t<decltype(*at)> e;
                std::memcpy(&e, at, sizeof e);
                cookie = e.cookie;
                at = e.nextentry;
            }
        }
    };

    const NfsTarget& target_;
    uint32_t index_;
    Ipv4 source_;
    std::unordered_map<std::string, std::string> fh_;
    std::unordered_map<std::string, Listing> listings_;
    Reply pending_;
    uint64_t seq_ = 0;  // of the call in flight: a late reply to one given up on is dropped
    Rpc* active_ = nullptr;
    Clock::time_point deadline_;
    bool in_service_ = false;  // inside rpc_service(): its callbacks run
    bool want_flush_ = false;  // a call was queued meanwhile
    Rpc mnt_, nfs_;
};

void Client::on_rpc(rpc_context*, int status, void* data, void* priv) {
    auto* tag = static_cast<Tag*>(priv);
    Client* c = tag->client;
    const uint64_t seq = tag->seq;
    delete tag;
    if (seq != c->seq_ || !c->pending_) return;
    Reply reply = std::move(c->pending_);
    c->pending_ = nullptr;
    if (status == RPC_STATUS_SUCCESS) {
        reply(data);
    } else {
        reply(std::errc::connection_aborted);
    }
}

void Client::start(Rpc& rpc, const std::function<int(rpc_cb, void*)>& issue, Reply reply) {
    auto* tag = new Tag{this, ++seq_};
    active_ = &rpc;
    deadline_ = Clock::now() + target_.call_timeout;
    pending_ = std::move(reply);
    // source_bind.h: a new socket (the connect) goes out from this Pi's address.
    set_thread_source(source_);
    const int r = issue(on_rpc, tag);
    set_thread_source(Ipv4{});
    if (r != 0) {
        delete tag;  // libnfs calls back only for what it queued
        fail(std::make_error_code(std::errc::io_error));
        return;
    }
    // Write the call at once rather than after a wait for POLLOUT: on a connected socket it
    // is all but always writable (libnfs keeps what the socket does not take). From inside a
    // callback, libnfs is still in rpc_service(): service() writes it when that returns.
    if (!rpc.connected) return;
    if (in_service_) {
        want_flush_ = true;
    } else {
        service(POLLOUT);
    }
}

void Client::fail(std::error_code ec) {
    if (!pending_) return;
    Reply reply = std::move(pending_);
    pending_ = nullptr;
    reply(ec);
}

void Client::service(int revents) {
    if (!busy()) return;
    in_service_ = true;
    int r = rpc_service(active_->get(), revents);
    while (r >= 0 && want_flush_ && busy()) {
        want_flush_ = false;
        r = rpc_service(active_->get(), POLLOUT);
    }
    want_flush_ = false;
    in_service_ = false;
    if (r < 0) {
        fail(std::make_error_code(std::errc::connection_reset));
        return;
    }
    if (busy() && Clock::now() >= deadline_) fail(std::make_error_code(std::errc::timed_out));
}

void Client::connect(Rpc& rpc, uint16_t port, Reply reply) {
    start(
        rpc,
        [&](rpc_cb cb, void* tag) {
            return rpc_connect_async(rpc.get(), target_.server.c_str(), port, cb, tag);
        },
        [&rpc, reply = std::move(reply)](Result<void*> r) {
            if (r) rpc.connected = true;
            reply(r);
        });
}

void Client::mount(NfsReplayResult& out, Done done) {
    const auto t0 = Clock::now();
    connect(mnt_, target_.mount_port, [this, &out, t0, done](Result<void*> r) {
        if (!r) {
            out.first_error = "MOUNT connect: " + mnt_.error();
            return done(r.error());
        }
        std::string exp = target_.export_path;
        if (auto pos = exp.find("{i}"); pos != std::string::npos) {
            exp.replace(pos, 3, std::to_string(index_));
        }
        auto on_mnt = [this, &out, exp, t0, done](Result<void*> r) {
            if (!r) {
                out.first_error = "MNT " + exp + ": " + mnt_.error();
                return done(r.error());
            }
            auto* res = static_cast<mountres3*>(*r);
            if (res->fhs_status != 0) {
                out.first_error = "MNT " + exp + ": status " + std::to_string(res->fhs_status);
                return done(std::errc::permission_denied);
            }
            auto& fh = res->mountres3_u.mountinfo.fhandle;
            fh_["/"].assign(fh.fhandle3_val, fh.fhandle3_len);
            connect(nfs_, target_.nfs_port, [this, &out, t0, done](Result<void*> r) {
                if (!r) {
                    out.first_error = "NFS connect: " + nfs_.error();
                    return done(r.error());
                }
                out.mount_us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
                done(0);
            });
        };
        start(
            mnt_,
            [&](rpc_cb cb, void* tag) {
                return rpc_mount3_mnt_async(mnt_.get(), cb, exp.data(), tag);
            },
            std::move(on_mnt));
    });
}

// Issues one call; the NFS status is the first member of every NFSv3 result (RFC 1813 §3.3).
template <class Args>
void Client::call(int (*fn)(rpc_context*, rpc_cb, Args*, void*), Args& args, Done done,
                  std::function<void(void*)> on_ok) {
    // libnfs encodes `args` before the *_async call returns.
    start(
        nfs_, [&](rpc_cb cb, void* tag) { return fn(nfs_.get(), cb, &args, tag); },
        [done = std::move(done), on_ok = std::move(on_ok)](Result<void*> r) {
            if (!r) return done(r.error());
            int status = -1;
            std::memcpy(&status, *r, sizeof status);
            if (status == NFS3_OK && on_ok) on_ok(*r);
            done(status);
        });
}

void Client::lookup(const std::string& dir, const std::string& name, Done done) {
    resolve(dir, [this, dir, name, done = std::move(done)](Result<std::string> dfh) mutable {
        if (!dfh) return done(dfh.error());
        LOOKUP3args a{};
        a.what = dirop(*dfh, name);
        call(rpc_nfs3_lookup_async, a, std::move(done), [this, path = join(dir, name)](void* d) {
            fh_[path] = from_fh(static_cast<LOOKUP3res*>(d)->LOOKUP3res_u.resok.object);
        });
    });
}

void Client::resolve(const std::string& path, std::function<void(Result<std::string>)> done) {
    if (auto it = fh_.find(path); it != fh_.end()) return done(it->second);
    if (path == "/") return done(std::errc::not_connected);
    // Named copies, not a structured binding: a lambda may not capture those before clang 16.
    const auto split_path = split(path);
    const std::string dir = split_path.first, name = split_path.second;
    ++resolve_lookups_;
    lookup(dir, name, [this, path, done = std::move(done)](Result<int> s) {
        if (!s) return done(s.error());
        if (*s != NFS3_OK) return done(std::errc::no_such_file_or_directory);
        done(fh_[path]);
    });
}

void Client::forget(const std::string& path) {
    for (auto it = fh_.begin(); it != fh_.end();) {
        const std::string& p = it->first;
        if (p == path || (p.size() > path.size() && p.starts_with(path) && p[path.size()] == '/')) {
            it = fh_.erase(it);
        } else {
            ++it;
        }
    }
}

// Name-creating calls return post_op_fh3; cache it when present.
template <class Res>
std::function<void(void*)> keep_fh(std::unordered_map<std::string, std::string>& m,
                                   std::string path, post_op_fh3 Res::*field) {
    return [&m, path, field](void* d) {
        const post_op_fh3& f = static_cast<Res*>(d)->*field;
        if (f.handle_follows) m[path] = from_fh(f.post_op_fh3_u.handle);
    };
}

void Client::run(const TraceOp& op, NfsReplayResult& out, Done done) {
    if (op.proc == Proc::kLookup) return lookup(op.path, op.name, std::move(done));
    resolve(op.path, [this, &op, &out, done = std::move(done)](Result<std::string> fh) mutable {
        if (!fh) return done(fh.error());
        if (op.proc != Proc::kRename && op.proc != Proc::kLink) {
            return issue(op, *fh, {}, out, std::move(done));
        }
        resolve(op.path2, [this, &op, &out, fh = *fh,
                           done = std::move(done)](Result<std::string> to) mutable {
            if (!to) return done(to.error());
            issue(op, fh, *to, out, std::move(done));
        });
    });
}

void Client::issue(const TraceOp& op, const std::string& fh, const std::string& fh2,
                   NfsReplayResult& out, Done done) {
    nfs_fh3 obj = as_fh(fh);
    switch (op.proc) {
        case Proc::kGetattr: {
            GETATTR3args a{obj};
            return call(rpc_nfs3_getattr_async, a, std::move(done));
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
            return call(rpc_nfs3_setattr_async, a, std::move(done));
        }
        case Proc::kAccess: {
            ACCESS3args a{obj, 0x1f};  // READ|LOOKUP|MODIFY|EXTEND|DELETE, as the kernel asks
            return call(rpc_nfs3_access_async, a, std::move(done));
        }
        case Proc::kReadlink: {
            READLINK3args a{obj};
            return call(rpc_nfs3_readlink_async, a, std::move(done));
        }
        case Proc::kRead: {
            READ3args a{obj, op.offset, static_cast<count3>(op.count)};
            return call(rpc_nfs3_read_async, a, std::move(done), [&out](void* d) {
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
            return call(rpc_nfs3_write_async, a, std::move(done),
                        [&out, n = a.count](void*) { out.bytes_written += n; });
        }
        case Proc::kCommit: {
            COMMIT3args a{obj, 0, 0};
            return call(rpc_nfs3_commit_async, a, std::move(done));
        }
        case Proc::kCreate: {
            CREATE3args a{};
            a.where = dirop(fh, op.name);
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
            return call(rpc_nfs3_create_async, a, std::move(done), [keep](void* d) {
                keep(&static_cast<CREATE3res*>(d)->CREATE3res_u.resok);
            });
        }
        case Proc::kMkdir: {
            MKDIR3args a{};
            a.where = dirop(fh, op.name);
            a.attributes.mode.set_it = 1;
            a.attributes.mode.set_mode3_u.mode = 0755;
            auto keep = keep_fh(fh_, join(op.path, op.name), &MKDIR3resok::obj);
            return call(rpc_nfs3_mkdir_async, a, std::move(done),
                        [keep](void* d) { keep(&static_cast<MKDIR3res*>(d)->MKDIR3res_u.resok); });
        }
        case Proc::kSymlink: {
            SYMLINK3args a{};
            a.where = dirop(fh, op.name);
            a.symlink.symlink_data = const_cast<char*>(op.name2.c_str());
            auto keep = keep_fh(fh_, join(op.path, op.name), &SYMLINK3resok::obj);
            return call(rpc_nfs3_symlink_async, a, std::move(done), [keep](void* d) {
                keep(&static_cast<SYMLINK3res*>(d)->SYMLINK3res_u.resok);
            });
        }
        case Proc::kMknod: {
            MKNOD3args a{};
            a.where = dirop(fh, op.name);
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
            return call(rpc_nfs3_mknod_async, a, std::move(done),
                        [keep](void* d) { keep(&static_cast<MKNOD3res*>(d)->MKNOD3res_u.resok); });
        }
        case Proc::kRemove: {
            REMOVE3args a{};
            a.object = dirop(fh, op.name);
            forget(join(op.path, op.name));
            return call(rpc_nfs3_remove_async, a, std::move(done));
        }
        case Proc::kRmdir: {
            RMDIR3args a{};
            a.object = dirop(fh, op.name);
            forget(join(op.path, op.name));
            return call(rpc_nfs3_rmdir_async, a, std::move(done));
        }
        case Proc::kRename: {
            RENAME3args a{};
            a.from = dirop(fh, op.name);
            a.to = dirop(fh2, op.name2);
            std::string from_path = join(op.path, op.name), to_path = join(op.path2, op.name2);
            return call(rpc_nfs3_rename_async, a,
                        [this, from_path, to_path, done = std::move(done)](Result<int> r) {
                            auto moved = fh_.find(from_path);
                            std::string handle = moved != fh_.end() ? moved->second : "";
                            forget(from_path);
                            forget(to_path);
                            if (r && *r == NFS3_OK && !handle.empty()) fh_[to_path] = handle;
                            done(r);
                        });
        }
        case Proc::kLink: {
            LINK3args a{};
            a.file = obj;
            a.link = dirop(fh2, op.name2);
            return call(rpc_nfs3_link_async, a, std::move(done),
                        [this, path = join(op.path2, op.name2), fh](void*) { fh_[path] = fh; });
        }
        case Proc::kReaddirplus: {
            READDIRPLUS3args a{};
            a.dir = obj;
            Listing& l = listings_[op.path];  // a node of the map: stays put
            if (op.more) l.resume(a);
            a.dircount = 4096;  // the Linux client's dtsize and maxcount for one reply
            a.maxcount = 32768;
            return call(rpc_nfs3_readdirplus_async, a, std::move(done), [&l](void* d) {
                l.remember(static_cast<READDIRPLUS3res*>(d)->READDIRPLUS3res_u.resok);
            });
        }
        case Proc::kReaddir: {
            READDIR3args a{};
            a.dir = obj;
            Listing& l = listings_[op.path];
            if (op.more) l.resume(a);
            a.count = 32768;
            return call(rpc_nfs3_readdir_async, a, std::move(done), [&l](void* d) {
                l.remember(static_cast<READDIR3res*>(d)->READDIR3res_u.resok);
            });
        }
        case Proc::kFsstat: {
            FSSTAT3args a{obj};
            return call(rpc_nfs3_fsstat_async, a, std::move(done));
        }
        case Proc::kFsinfo: {
            FSINFO3args a{obj};
            return call(rpc_nfs3_fsinfo_async, a, std::move(done));
        }
        case Proc::kPathconf: {
            PATHCONF3args a{obj};
            return call(rpc_nfs3_pathconf_async, a, std::move(done));
        }
        case Proc::kLookup:
            break;
    }
    done(std::errc::invalid_argument);
}

// Services `c` from this thread until the call `begin` starts on it completes.
Result<int> wait_for(Client& c, const std::function<void(Client::Done)>& begin) {
    std::optional<Result<int>> r;
    begin([&r](Result<int> v) { r.emplace(std::move(v)); });
    while (!r) {
        pollfd p{c.fd(), c.events(), 0};
        auto left = std::chrono::ceil<std::chrono::milliseconds>(c.deadline() - Clock::now());
        int n = ::poll(&p, 1, static_cast<int>(std::clamp<int64_t>(left.count(), 0, 100)));
        if (n < 0 && errno != EINTR) return errno_error(errno);
        c.service(n > 0 ? p.revents : 0);
    }
    return *r;
}

bool connection_lost(std::error_code ec) {
    return ec == std::errc::timed_out || ec == std::errc::connection_reset ||
           ec == std::errc::connection_aborted;
}

}  // namespace

struct NfsReplay::Impl {
    Impl(Ipv4 source, const NfsTarget& target, const Trace& trace, uint32_t index,
         std::chrono::microseconds think)
        : client(target, index, source), trace(trace), think(think) {}

    // Issues calls while none is in flight and no pause runs (a call may fail at once).
    void advance() {
        while (!done && !client.busy() && !thinking) {
            if (next == trace.ops.size()) {
                out.resolve_lookups = client.resolve_lookups_;
                done = true;
                return;
            }
            const size_t i = next;
            op_t0 = Clock::now();
            client.run(trace.ops[i], out, [this, i](Result<int> r) { on_op(i, r); });
        }
    }

    void on_op(size_t i, const Result<int>& r) {
        const TraceOp& op = trace.ops[i];
        const double us = std::chrono::duration<double, std::micro>(Clock::now() - op_t0).count();
        if (!r && connection_lost(r.error())) {
            out.first_error =
                std::string(proc_name(op.proc)) + " " + op.path + ": " + r.error().message();
            error = r.error();
            done = true;
            return;
        }
        auto p = static_cast<size_t>(op.proc);
        ++out.calls[p];
        out.proc_us[p] += us;
        out.op_us.push_back(us);
        // The status the trace expects (a recorded boot's negative LOOKUPs answer NOENT).
        if (!(r && static_cast<uint32_t>(*r) == op.status)) {
            ++out.failed_ops;
            if (out.first_error.empty()) {
                out.first_error = format_trace_op(op) + ": " +
                                  (r ? "NFS status " + std::to_string(*r) : r.error().message());
            }
        }
        next = i + 1;
        if (think.count() > 0) {
            thinking = true;
            think_until = Clock::now() + think;
        }
    }

    Client client;
    const Trace& trace;
    std::chrono::microseconds think;
    NfsReplayResult out;
    std::error_code error;
    bool done = false;
    bool mounted = false;
    bool thinking = false;
    Clock::time_point think_until, op_t0;
    size_t next = 0;
};

NfsReplay::NfsReplay(Ipv4 source, const NfsTarget& target, const Trace& trace, uint32_t index,
                     std::chrono::microseconds think)
    : impl_(std::make_unique<Impl>(source, target, trace, index, think)) {}

NfsReplay::~NfsReplay() = default;

void NfsReplay::start() {
    Impl& m = *impl_;
    m.out.op_us.reserve(m.trace.ops.size());
    m.client.mount(m.out, [&m](Result<int> r) {
        if (!r) {
            m.error = r.error();
            m.done = true;
            return;
        }
        m.mounted = true;
    });
    if (m.mounted) m.advance();
}

bool NfsReplay::finished() const {
    return impl_->done;
}

Result<NfsReplayResult> NfsReplay::result() {
    if (impl_->error) return impl_->error;
    return std::move(impl_->out);
}

std::string NfsReplay::first_error() const {
    return impl_->out.first_error;
}

int NfsReplay::fd() const {
    return impl_->client.fd();
}

short NfsReplay::events() const {
    return impl_->client.events();
}

Clock::time_point NfsReplay::deadline() const {
    return impl_->thinking ? impl_->think_until : impl_->client.deadline();
}

void NfsReplay::service(int revents) {
    Impl& m = *impl_;
    if (m.done) return;
    m.client.service(revents);
    if (m.thinking && Clock::now() >= m.think_until) m.thinking = false;
    if (m.mounted && !m.done) m.advance();
}

Result<NfsReplayResult> nfs_replay(Ipv4 source, const NfsTarget& target, const Trace& trace,
                                   uint32_t index, std::chrono::microseconds think) {
    NfsReplay r(source, target, trace, index, think);
    r.start();
    while (!r.finished()) {
        pollfd p{r.fd(), r.events(), 0};
        auto left = std::chrono::ceil<std::chrono::microseconds>(r.deadline() - Clock::now());
        timespec ts{0, static_cast<long>(std::clamp<int64_t>(left.count(), 0, 100'000) * 1000)};
        int n = ::ppoll(&p, 1, &ts, nullptr);
        if (n < 0 && errno != EINTR) return errno_error(errno);
        r.service(n > 0 ? p.revents : 0);
    }
    return r.result();
}

Result<uint64_t> nfs_micro(Ipv4 source, const NfsTarget& target, Proc proc, const std::string& path,
                           double seconds, uint32_t index, uint32_t read_count) {
    Client client(target, index, source);
    NfsReplayResult scratch;
    auto m = wait_for(client, [&](Client::Done d) { client.mount(scratch, std::move(d)); });
    if (!m) return m.error();
    TraceOp op;
    op.proc = proc;
    op.path = path;
    op.count = read_count;
    // Named copies, not a structured binding: a lambda may not capture those before clang 16.
    const auto split_path = split(path);
    const std::string dir = split_path.first, name = split_path.second;
    uint64_t done = 0;
    auto end = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < end) {
        // LOOKUP of the path's last component in its parent (resolved once, then cached).
        auto r = wait_for(client, [&](Client::Done d) {
            if (proc == Proc::kLookup) return client.lookup(dir, name, std::move(d));
            client.run(op, scratch, std::move(d));
        });
        if (!r) return r.error();
        if (*r != NFS3_OK) return std::errc::io_error;
        ++done;
    }
    return done;
}

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
    // Named copies, not a structured binding: a lambda may not capture those before clang 16.
    const auto split_path = split(path);
    const std::string dir = split_path.first, name = split_path.second;
    for (uint64_t n = 0; !stop.load(std::memory_order_relaxed); ++n) {
        if (!client) {
            client = std::make_unique<Client>(target, index, source);
            NfsReplayResult scratch;
            auto m =
                wait_for(*client, [&](Client::Done d) { client->mount(scratch, std::move(d)); });
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
        NfsReplayResult scratch;
        auto start = Clock::now();
        auto r = wait_for(*client, [&](Client::Done d) {
            if (proc == Proc::kLookup) return client->lookup(dir, name, std::move(d));
            client->run(op, scratch, std::move(d));
        });
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
    Client client(target, 0, source);
    NfsReplayResult scratch;
    auto m = wait_for(client, [&](Client::Done d) { client.mount(scratch, std::move(d)); });
    if (!m) return m.error();
    std::optional<Result<std::string>> fh;
    auto r = wait_for(client, [&](Client::Done d) {
        client.resolve(path, [&fh, d = std::move(d)](Result<std::string> v) {
            fh.emplace(v);
            d(v ? 0 : -1);
        });
    });
    if (!fh) return r.error();
    return *fh;
}

}  // namespace rootfarm::bench
