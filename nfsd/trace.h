#pragma once

// `[nfs] trace = PATH`: every NFS call a client makes, written in the trace format
// rootfarm-bench replays (bench/trace.h), so a recorded boot is a benchmark as it is:
//   LOOKUP /etc nsswitch.conf          GETATTR /etc/nsswitch.conf
//   READ /usr/lib/x86_64-linux-gnu/libc.so.6 0 131072
//   REMOVE /run/x y =NOENT             (the status the reply carried, when not OK)
//
// Object ids become paths per client: the root is the view's root, and every id the client can
// name afterwards was handed out by a reply — LOOKUP, CREATE, MKDIR, SYMLINK, MKNOD, LINK,
// RENAME (looked up in the view once the reply is ready, so objects the call created exist) or
// READDIRPLUS (the directory's entries, listed from the view). REMOVE, RMDIR and RENAME update
// the map. A line is written when the reply is sent, before the client sees it, so the file is
// in reply order: a call that used a handle comes after the reply that gave it out.
//
// Limits (each written as a "# unresolved" comment line instead of a call):
//   - an id no reply named since tracing started (e.g. handles a client kept across a server
//     restart, or an entry past the first 4096 a READDIRPLUS listed);
//   - a call on an object whose every name was removed (an unlinked file still open that the
//     kernel did not silly-rename).
// Recorded, not replayed exactly: the caller's uid (replays run as one user), ACCESS masks,
// READDIR cookies (a continued listing is written "more"), COMMIT ranges, SETATTR guards.
// Several clients at once interleave in one file (a "# client MAC" line marks each switch);
// record one client for a replayable trace. Retransmits (same client and xid) are written once.

#include <cstdint>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/mutex.h"
#include "core/net.h"
#include "core/result.h"
#include "nfsd/nfs3.h"
#include "nfsd/rpc.h"
#include "store/store.h"

namespace rootfarm::nfsd {

struct TracedCall;

class Tracer {
  public:
    static Result<std::unique_ptr<Tracer>> open(const std::string& path);
    ~Tracer();
    Tracer(const Tracer&) = delete;
    Tracer& operator=(const Tracer&) = delete;

    // Wraps `respond` of call `h` (the whole call `record`, from the client whose view is
    // `view`) so that the call is written, with its reply's status, when the reply is sent.
    // Returns where the handler keeps the arguments it decoded (Nfs3Call::decoded); it stays
    // valid while a copy of the wrapped `respond` lives. The reply bytes are passed on
    // unchanged. Not written: a call whose handler kept no arguments (they did not decode, or
    // the duplicate request cache answered for it), or whose reply is no accepted NFS result.
    std::optional<Nfs3Args>* observe(const CallHeader& h,
                                     std::shared_ptr<const std::vector<uint8_t>> record,
                                     const std::shared_ptr<store::ClientView>& view,
                                     Responder& respond);

  private:
    struct Name {
        store::ObjectId parent = 0;
        std::string name;
    };
    struct Client {
        store::ObjectId root = 0;
        std::unordered_map<store::ObjectId, std::vector<Name>> names;  // first = preferred
        std::map<std::pair<store::ObjectId, std::string>, store::ObjectId> ids;
        std::deque<uint32_t> recent_order;  // xids written, oldest first (bounded)
        std::unordered_set<uint32_t> recent;
    };

    explicit Tracer(FILE* f) : file_(f) {}
    void on_reply(const TracedCall& call, store::ClientView& view, std::span<const uint8_t> reply)
        EXCLUDES(mu_);
    // The Client& of these lives in clients_.
    std::string path_of(const Client& c, store::ObjectId id) const REQUIRES(mu_);
    void add_name(Client& c, store::ObjectId id, store::ObjectId parent, std::string_view name)
        REQUIRES(mu_);
    void drop_name(Client& c, store::ObjectId parent, std::string_view name) REQUIRES(mu_);
    void learn(Client& c, store::ClientView& view, const TracedCall& call) REQUIRES(mu_);

    Mutex mu_;
    FILE* file_;                                                       // written under mu_
    std::unordered_map<std::string, Client> clients_ GUARDED_BY(mu_);  // by MAC
    std::string last_client_ GUARDED_BY(mu_);
};

}  // namespace rootfarm::nfsd
