#pragma once

// One NFSv3 or MOUNT call at a time through libnfs's RPC layer (its sockets, record marking and
// XDR), each waited for with a bound. What the kill -9 and isolation tests need that libnfs's
// path API hides: the exact nfsstat3 / mountstat3, the write verifier, the committed level, and
// a file handle sent as the bytes the server issued long before (never looked up again).
//
// The connections are made from the calling thread; a test that links bench/source_bind.cc
// chooses their source address with bench::set_thread_source() (the server tells Pis apart by
// it). An Nfs3 is used from one thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct rpc_context;

namespace rootfarm::testing {

using Fh = std::vector<uint8_t>;

// Not an nfsstat3: the call got no reply (connection lost, refused, or timed out).
constexpr uint32_t kNoReply = 0xffffffffu;
// nfsstat3 (RFC 1813 §2.6) and mountstat3 (§5.1.5) values the tests look for.
constexpr uint32_t kNfs3Ok = 0;
constexpr uint32_t kNfs3ErrNoEnt = 2;
constexpr uint32_t kNfs3ErrStale = 70;
constexpr uint32_t kNfs3ErrBadHandle = 10001;
constexpr uint32_t kMnt3ErrNoEnt = 2;
constexpr uint32_t kMnt3ErrAcces = 13;
constexpr uint32_t kMnt3ErrNotDir = 20;

struct Attr {
    uint32_t type = 0;  // ftype3: 1 regular, 2 directory, 5 symlink
    uint32_t mode = 0;
    uint32_t nlink = 0;
    uint64_t size = 0;
    uint64_t fileid = 0;
};

class Nfs3 {
  public:
    // Connects to MOUNT and NFS on 127.0.0.1 and MNTs `path`. `abort`, when given and set,
    // ends a call that has waited more than a second (the server was killed meanwhile).
    Nfs3(uint16_t nfs_port, uint16_t mount_port, const std::string& path = "/",
         const std::atomic<bool>* abort = nullptr);
    ~Nfs3();
    Nfs3(const Nfs3&) = delete;
    Nfs3& operator=(const Nfs3&) = delete;

    // The MNT reply's mountstat3 (0 = mounted), or kNoReply.
    uint32_t mount_status() const { return mount_status_; }
    bool mounted() const { return mount_status_ == 0 && nfs_ != nullptr; }
    const Fh& root() const { return root_; }
    // Set once a call got no reply; every later call returns kNoReply at once.
    bool broken() const { return broken_; }
    std::string error() const { return error_; }

    // Each returns the nfsstat3 of the reply, or kNoReply.
    uint32_t getattr(const Fh& fh, Attr* attr = nullptr);
    uint32_t lookup(const Fh& dir, const std::string& name, Fh* out = nullptr);
    uint32_t read(const Fh& fh, uint64_t offset, uint32_t count, std::string* data,
                  bool* eof = nullptr);
    // READs until EOF.
    uint32_t read_all(const Fh& fh, std::string* data);
    // stable: 0 UNSTABLE, 1 DATA_SYNC, 2 FILE_SYNC. `verf` and `committed` from the reply.
    uint32_t write(const Fh& fh, uint64_t offset, std::string_view data, int stable,
                   uint64_t* verf = nullptr, int* committed = nullptr);
    uint32_t commit(const Fh& fh, uint64_t* verf = nullptr);
    // UNCHECKED create (RFC 1813 §3.3.8) with `mode`.
    uint32_t create(const Fh& dir, const std::string& name, uint32_t mode, Fh* out = nullptr);
    uint32_t mkdir(const Fh& dir, const std::string& name, uint32_t mode, Fh* out = nullptr);
    uint32_t symlink(const Fh& dir, const std::string& name, const std::string& target,
                     Fh* out = nullptr);
    uint32_t readlink(const Fh& fh, std::string* target);
    uint32_t remove(const Fh& dir, const std::string& name);
    uint32_t rename(const Fh& from_dir, const std::string& from, const Fh& to_dir,
                    const std::string& to);
    uint32_t link(const Fh& fh, const Fh& dir, const std::string& name);
    uint32_t setattr(const Fh& fh, std::optional<uint32_t> mode, std::optional<uint64_t> size);
    // All names of a directory (READDIR until eof), "." and ".." included as the server sends
    // them.
    uint32_t readdir(const Fh& dir, std::vector<std::string>* names);

    struct Pending;

    // Starts one call with libnfs: (context, private_data for the callback) -> 0 if queued.
    using Start = std::function<int(rpc_context*, void*)>;
    // Reads what a caller wants from a decoded reply; returns its status.
    using Take = std::function<uint32_t(void*)>;

  private:
    // Queues a call with `start` and services the connection until its reply, an error or the
    // deadline; `take` sees the reply. False when there was no reply.
    bool run(rpc_context* rpc, const Start& start, const std::function<void(void*)>& take);
    // One NFS call: the status `take` returns, or kNoReply.
    uint32_t nfs_call(const Start& start, const Take& take);
    bool connect(rpc_context* rpc, uint16_t port, int program);

    const std::atomic<bool>* abort_;
    rpc_context* mount_ = nullptr;
    rpc_context* nfs_ = nullptr;
    // Calls a lost connection left queued inside libnfs keep their callback's target alive
    // until the contexts are destroyed (which cancels them).
    std::deque<std::unique_ptr<Pending>> pending_;
    uint32_t mount_status_ = kNoReply;
    Fh root_;
    bool broken_ = false;
    std::string error_;
};

}  // namespace rootfarm::testing
