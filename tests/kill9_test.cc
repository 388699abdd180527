// kill -9 under load: four Pis (each from its own 127.0.0.x address, through libnfs's RPC
// layer) create, write (FILE_SYNC, and UNSTABLE + COMMIT), rename, remove, chmod, truncate and
// hard-link files in their own views while the real `rootfarm serve` is SIGKILLed at a random
// moment and restarted. After each restart every Pi checks its view against what the server
// acknowledged:
//   - every reply that promised stability (a FILE_SYNC write, a COMMIT whose verifier matches
//     the writes', a namespace operation, a SETATTR) is there, byte for byte (RFC 1813 §3.3.7,
//     §3.3.21: the server must have the data on stable storage before it replies);
//   - the one call per Pi whose reply was lost in the kill happened entirely or not at all
//     (a rename leaves exactly one of its two names; a lost write leaves each byte old or new);
//   - the handles the Pi held before the kill still work, sent as the old bytes without a new
//     LOOKUP (GETATTR and READ), and the handles of removed files are NFS3ERR_STALE.
// The seed is printed; ROOTFARM_KILL9_SEED=<seed> repeats a run.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "bench/source_bind.h"
#include "tests/support/farm_test_util.h"
#include "tests/support/nfs3_test_util.h"
#include "tests/support/serve_process.h"

// The soak build (tests/CMakeLists.txt) sets more rounds and its own suite name, so ctest
// tells the two apart.
#ifndef KILL9_ROUNDS
#define KILL9_ROUNDS 100
#endif
#ifndef KILL9_SUITE
#define KILL9_SUITE Kill9
#endif

namespace rootfarm::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int kPis = 4;
constexpr int kFileSync = 2;
constexpr size_t kMaxNames = 14;

// One file object of a Pi's model; it may have several names (hard links).
struct Obj {
    Fh fh;  // empty: created by a call whose reply was lost, handle not known yet
    std::string data;
    uint32_t mode = 0644;
};

// What a Pi's work directory must hold: names -> object keys.
struct Model {
    std::map<std::string, int> names;
    std::map<int, Obj> objs;
};

struct Chunk {
    uint64_t offset = 0;
    std::string data;
    bool stable = false;  // acknowledged as on stable storage
};

// One call (or one batch of writes and its COMMIT) of the workload.
struct Op {
    enum Kind { kCreate, kWrite, kRename, kRemove, kChmod, kTruncate, kLink } kind = kCreate;
    std::string name, to;
    int key = 0;
    uint32_t mode = 0;
    uint64_t size = 0;
    std::vector<Chunk> chunks;
    Fh fh;
};

std::string apply_chunks(std::string data, const std::vector<Chunk>& chunks) {
    for (const auto& c : chunks) {
        if (data.size() < c.offset + c.data.size()) data.resize(c.offset + c.data.size(), '\0');
        data.replace(c.offset, c.data.size(), c.data);
    }
    return data;
}

void drop_name(Model& m, const std::string& name) {
    const int key = m.names.at(name);
    m.names.erase(name);
    for (const auto& [n, k] : m.names) {
        if (k == key) return;
    }
    m.objs.erase(key);
}

// The model after `op` succeeded. `next_key` names a created object.
Model apply(Model m, const Op& op, int next_key) {
    switch (op.kind) {
        case Op::kCreate:
            m.names[op.name] = next_key;
            m.objs[next_key] = Obj{op.fh, "", op.mode};
            break;
        case Op::kWrite:
            m.objs.at(op.key).data = apply_chunks(m.objs.at(op.key).data, op.chunks);
            break;
        case Op::kRename: {
            const int key = m.names.at(op.name);
            m.names.erase(op.name);
            if (m.names.contains(op.to)) drop_name(m, op.to);
            m.names[op.to] = key;
            break;
        }
        case Op::kRemove:
            drop_name(m, op.name);
            break;
        case Op::kChmod:
            m.objs.at(op.key).mode = op.mode;
            break;
        case Op::kTruncate:
            m.objs.at(op.key).data.resize(op.size, '\0');
            break;
        case Op::kLink:
            m.names[op.to] = op.key;
            break;
    }
    return m;
}

// A write batch whose acknowledgement was lost: each byte it covers is old or new, except bytes
// of chunks acknowledged as stable, which are new; the size is between the old one (or the end
// of the last stable chunk) and the new one.
std::string check_lost_write(const std::string& old, const std::vector<Chunk>& chunks,
                             const std::string& seen) {
    const std::string full = apply_chunks(old, chunks);
    size_t must = old.size();
    for (const auto& c : chunks) {
        if (c.stable) must = std::max<size_t>(must, c.offset + c.data.size());
    }
    if (seen.size() < must || seen.size() > full.size()) {
        return "size " + std::to_string(seen.size()) + " outside [" + std::to_string(must) + ", " +
               std::to_string(full.size()) + "]";
    }
    for (size_t i = 0; i < seen.size(); ++i) {
        bool covered = false, stable = false;
        for (const auto& c : chunks) {
            if (i >= c.offset && i < c.offset + c.data.size()) {
                covered = true;
                stable = stable || c.stable;
            }
        }
        const char before = i < old.size() ? old[i] : '\0';
        const bool ok = stable    ? seen[i] == full[i]
                        : covered ? seen[i] == full[i] || seen[i] == before
                                  : seen[i] == before;
        if (!ok) return "byte " + std::to_string(i) + " is neither old nor new";
    }
    return "";
}

struct Seen {
    Fh fh;
    Attr attr;
    std::string data;
};

// Empty when `seen` is what `m` says; `lost_write` relaxes one object's data.
std::string compare(const Model& m, const std::map<std::string, Seen>& seen, const Op* lost_write,
                    const Model* before) {
    for (const auto& [name, s] : seen) {
        if (!m.names.contains(name)) return "unexpected name " + name;
    }
    for (const auto& [name, key] : m.names) {
        if (!seen.contains(name)) return "missing name " + name;
    }
    for (const auto& [name, key] : m.names) {
        auto it = seen.find(name);
        const Obj& o = m.objs.at(key);
        const Seen& s = it->second;
        if (!o.fh.empty() && o.fh != s.fh) return name + ": another handle";
        if (s.attr.type != 1) return name + ": not a regular file";
        if ((s.attr.mode & 07777) != o.mode) {
            return name + ": mode " + std::to_string(s.attr.mode & 07777) +
                   " != " + std::to_string(o.mode);
        }
        if (lost_write && lost_write->key == key) {
            auto why = check_lost_write(before->objs.at(key).data, lost_write->chunks, s.data);
            if (!why.empty()) return name + ": lost write: " + why;
        } else if (s.data != o.data) {
            const auto diff =
                std::mismatch(s.data.begin(), s.data.end(), o.data.begin(), o.data.end());
            const bool zeros = std::all_of(diff.first, s.data.end(), [](char c) { return !c; });
            return name + ": data differs from byte " +
                   std::to_string(diff.first - s.data.begin()) + " (" +
                   std::to_string(s.data.size()) + " bytes" + (zeros ? ", zeros from there" : "") +
                   "; " + std::to_string(o.data.size()) + " acknowledged)";
        }
        size_t links = 0;
        for (const auto& [n, k] : m.names) {
            if (k != key) continue;
            ++links;
            if (seen.at(n).attr.fileid != s.attr.fileid) return name + ", " + n + ": fileids";
        }
        if (s.attr.nlink != links) {
            return name + ": nlink " + std::to_string(s.attr.nlink) +
                   " != " + std::to_string(links);
        }
    }
    return "";
}

struct Totals {
    std::atomic<uint64_t> acked{0};         // calls whose acknowledgement was then verified
    std::atomic<uint64_t> lost{0};          // calls whose reply the kill took
    std::atomic<uint64_t> lost_applied{0};  // of them, found done after the restart
    std::atomic<uint64_t> handles{0};       // old handles sent again after a restart
    std::atomic<uint64_t> stale_checks{0};  // of them, handles of removed files
    std::atomic<uint64_t> reconnects{0};    // connections retried before any reply
};

// One simulated Pi: its model, the handles it keeps, and its random workload.
class Pi {
  public:
    Pi(int index, uint64_t seed, const FarmPorts& ports, Totals& totals)
        : index_(index),
          source_(*Ipv4::parse(farm_pi(index).ip)),
          rng_(seed),
          ports_(ports),
          totals_(totals) {}

    // Runs in the Pi's own thread: checks its view, then works until the connection dies.
    // Returns a description of the first violation, or "".
    // `verify_only`: check, then stop (the last check after the last kill, with no kill to
    // come: its calls get the full timeout, not the short one after a kill).
    std::string round(bool verify, std::atomic<int>& working, const std::atomic<bool>& killed,
                      bool verify_only = false) {
        bench::set_thread_source(source_);
        auto nfs = std::make_unique<Nfs3>(ports_.nfs, ports_.mount, "/", &killed);
        // A connection refused or reset before any reply is retried, as a kernel client
        // retries its connect: on loopback a new connection from a port whose earlier one is
        // in TIME_WAIT on the server side may be reset. Counted, and only before a reply.
        for (int i = 0; i < 3 && !killed && nfs->mount_status() == kNoReply; ++i) {
            ++totals_.reconnects;
            std::this_thread::sleep_for(100ms);
            nfs = std::make_unique<Nfs3>(ports_.nfs, ports_.mount, "/", &killed);
        }
        std::string why;
        if (!nfs->mounted()) {
            why = "MNT failed: " + nfs->error();
        } else if (verify) {
            why = check(*nfs);
        } else {
            why = setup(*nfs);
        }
        ++working;
        if (why.empty() && !verify_only) why = work(*nfs, killed);
        bench::set_thread_source(Ipv4{});
        return why.empty() ? "" : "pi" + std::to_string(index_) + ": " + why;
    }

  private:
    std::string setup(Nfs3& nfs) {
        root_ = nfs.root();
        Fh tmp;
        if (nfs.lookup(root_, "tmp", &tmp) != kNfs3Ok) return "no /tmp";
        if (nfs.mkdir(tmp, "w", 0755, &dir_) != kNfs3Ok) return "mkdir /tmp/w: " + nfs.error();
        return "";
    }

    // The view after a restart against the model (and the one lost call), then the handles.
    std::string check(Nfs3& nfs) {
        if (nfs.root() != root_) return "MNT gave another root handle after the restart";
        Fh tmp, dir;
        if (nfs.lookup(root_, "tmp", &tmp) != kNfs3Ok || nfs.lookup(tmp, "w", &dir) != kNfs3Ok) {
            return "/tmp/w gone: " + nfs.error();
        }
        if (dir != dir_) return "/tmp/w has another handle after the restart";
        std::vector<std::string> names;
        if (nfs.readdir(dir_, &names) != kNfs3Ok) return "READDIR: " + nfs.error();
        std::map<std::string, Seen> seen;
        for (const auto& n : names) {
            if (n == "." || n == "..") continue;
            Seen s;
            if (nfs.lookup(dir_, n, &s.fh) != kNfs3Ok || nfs.getattr(s.fh, &s.attr) != kNfs3Ok ||
                nfs.read_all(s.fh, &s.data) != kNfs3Ok) {
                return "listed " + n + " but cannot read it";
            }
            if (!seen.emplace(n, std::move(s)).second) return "listed twice: " + n;
        }
        std::string why;
        if (!lost_) {
            why = compare(model_, seen, nullptr, nullptr);
        } else {
            Model after = apply(model_, *lost_, next_key_);
            if (lost_->kind == Op::kWrite) {
                why = compare(after, seen, &*lost_, &model_);
                if (why.empty()) {
                    const std::string& data = seen.at(name_of(lost_->key)).data;
                    if (data != model_.objs.at(lost_->key).data) ++totals_.lost_applied;
                    after.objs.at(lost_->key).data = data;
                    adopt(std::move(after));
                }
            } else {
                const std::string done = compare(after, seen, nullptr, nullptr);
                const std::string not_done = compare(model_, seen, nullptr, nullptr);
                if (done.empty()) {
                    if (!not_done.empty()) ++totals_.lost_applied;
                    adopt(std::move(after));
                } else if (!not_done.empty()) {
                    why = "neither before nor after the lost " + describe(*lost_) +
                          ": after: " + done + "; before: " + not_done;
                }
            }
            lost_.reset();
        }
        if (!why.empty()) return why;
        // Objects created by a call whose reply was lost: their handle is the one LOOKUP gave.
        for (auto& [name, key] : model_.names) {
            if (model_.objs.at(key).fh.empty()) model_.objs.at(key).fh = seen.at(name).fh;
        }
        // The handles held before the kill, as the old bytes.
        for (const auto& fh : {root_, dir_}) {
            Attr a;
            if (nfs.getattr(fh, &a) != kNfs3Ok || a.type != 2) return "old directory handle";
            ++totals_.handles;
        }
        for (const auto& [key, o] : model_.objs) {
            Attr a;
            std::string data;
            if (nfs.getattr(o.fh, &a) != kNfs3Ok || a.size != o.data.size()) {
                return "GETATTR by an old handle of " + name_of(key);
            }
            if (nfs.read_all(o.fh, &data) != kNfs3Ok || data != o.data) {
                return "READ by an old handle of " + name_of(key);
            }
            ++totals_.handles;
        }
        // RFC 1813 §2.3.3 / knfsd: a removed file's handle is stale, across a restart too.
        for (const auto& fh : gone_) {
            const uint32_t s = nfs.getattr(fh);
            if (s != kNfs3ErrStale) return "removed file's handle answers " + std::to_string(s);
            ++totals_.handles;
            ++totals_.stale_checks;
        }
        return "";
    }

    // The model becomes `m`; objects it no longer has are gone (their handles must be stale).
    void adopt(Model m) {
        for (const auto& [key, o] : model_.objs) {
            if (!m.objs.contains(key) && !o.fh.empty()) gone_.push_back(o.fh);
        }
        while (gone_.size() > 8) gone_.erase(gone_.begin());
        model_ = std::move(m);
        next_key_ += 1;
    }

    std::string name_of(int key) const {
        for (const auto& [n, k] : model_.names) {
            if (k == key) return n;
        }
        return "?";
    }

    static std::string describe(const Op& op) {
        static const char* kinds[] = {"create", "write",    "rename", "remove",
                                      "chmod",  "truncate", "link"};
        return std::string(kinds[op.kind]) + " " + op.name + (op.to.empty() ? "" : " " + op.to);
    }

    std::string random_data(size_t n) {
        std::string s(n, '\0');
        for (auto& c : s) c = static_cast<char>(rng_());
        return s;
    }
    template <typename T>
    T pick(T lo, T hi) {
        return std::uniform_int_distribution<T>(lo, hi)(rng_);
    }
    std::string some_name() {
        auto it = model_.names.begin();
        std::advance(it, pick<size_t>(0, model_.names.size() - 1));
        return it->first;
    }
    std::string fresh_name() { return "f" + std::to_string(++counter_); }

    Op next_op() {
        Op op;
        const int r = pick(0, 99);
        if (model_.names.size() < 3 || (r < 12 && model_.names.size() < kMaxNames)) {
            op.kind = Op::kCreate;
            op.name = fresh_name();
            op.mode = 0600 | pick(0, 077);
            return op;
        }
        op.name = some_name();
        op.key = model_.names.at(op.name);
        const std::string& data = model_.objs.at(op.key).data;
        if (r < 50 || model_.names.size() >= kMaxNames) {
            if (model_.names.size() >= kMaxNames) {
                op.kind = Op::kRemove;
                return op;
            }
            // 1 to 3 adjacent chunks from a random offset up to the end (extending the file).
            op.kind = Op::kWrite;
            uint64_t off = pick<uint64_t>(0, data.size());
            const int n = pick(1, 3);
            for (int i = 0; i < n; ++i) {
                const size_t len = pick<size_t>(1, 9000);
                op.chunks.push_back(Chunk{off, random_data(len), false});
                off += len;
            }
            op.mode = r < 30 ? kFileSync : 0;  // stability asked of each WRITE
            return op;
        }
        if (r < 62) {
            op.kind = Op::kRename;
            // Onto a fresh name, or over another object's name (an atomic replace).
            std::string other = some_name();
            op.to = model_.names.at(other) != op.key && pick(0, 1) ? other : fresh_name();
            return op;
        }
        if (r < 72) {
            op.kind = Op::kRemove;
            return op;
        }
        if (r < 80) {
            op.kind = Op::kChmod;
            op.mode = 0600 | pick(0, 077);
            return op;
        }
        if (r < 90) {
            op.kind = Op::kTruncate;
            op.size = pick<uint64_t>(0, data.size() + 4096);
            return op;
        }
        op.kind = Op::kLink;
        op.to = fresh_name();
        return op;
    }

    // Runs `op`; false when its reply was lost (op is then the Pi's lost call), or sets `why`.
    bool execute(Nfs3& nfs, Op& op, std::string* why) {
        auto done = [&](uint32_t s) {
            if (s == kNoReply) return false;
            if (s != kNfs3Ok) *why = describe(op) + " answered " + std::to_string(s);
            return true;
        };
        const Fh* fh = op.kind == Op::kCreate ? nullptr : &model_.objs.at(op.key).fh;
        switch (op.kind) {
            case Op::kCreate:
                return done(nfs.create(dir_, op.name, op.mode, &op.fh));
            case Op::kRename:
                return done(nfs.rename(dir_, op.name, dir_, op.to));
            case Op::kRemove:
                return done(nfs.remove(dir_, op.name));
            case Op::kChmod:
                return done(nfs.setattr(*fh, op.mode, std::nullopt));
            case Op::kTruncate:
                return done(nfs.setattr(*fh, std::nullopt, op.size));
            case Op::kLink:
                return done(nfs.link(*fh, dir_, op.to));
            case Op::kWrite:
                break;
        }
        const int stable = static_cast<int>(op.mode);
        std::vector<uint64_t> verfs;
        for (auto& c : op.chunks) {
            uint64_t verf = 0;
            int committed = 0;
            const uint32_t s = nfs.write(*fh, c.offset, c.data, stable, &verf, &committed);
            if (!done(s) || !why->empty()) return s != kNoReply;
            // RFC 1813 §3.3.7: committed is at least what was asked for.
            if (committed < stable) {
                *why = "WRITE FILE_SYNC answered committed=" + std::to_string(committed);
                return true;
            }
            c.stable = committed == kFileSync;
            verfs.push_back(verf);
        }
        if (stable == kFileSync) return true;
        uint64_t verf = 0;
        const uint32_t s = nfs.commit(*fh, &verf);
        if (!done(s) || !why->empty()) return s != kNoReply;
        // RFC 1813 §3.3.21: only a COMMIT verifier equal to the WRITEs' makes them stable; the
        // server never restarted while this connection lived, so it must be equal.
        for (uint64_t v : verfs) {
            if (v != verf) {
                *why = "COMMIT verifier differs from its WRITEs' without a restart";
                return true;
            }
        }
        for (auto& c : op.chunks) c.stable = true;
        return true;
    }

    std::string work(Nfs3& nfs, const std::atomic<bool>& killed) {
        while (!killed) {
            Op op = next_op();
            std::string why;
            if (!execute(nfs, op, &why)) {
                lost_ = std::move(op);
                ++totals_.lost;
                return "";
            }
            if (!why.empty()) return why;
            adopt(apply(model_, op, next_key_));
            ++totals_.acked;
        }
        return "";
    }

    const int index_;
    const Ipv4 source_;
    std::mt19937_64 rng_;
    const FarmPorts ports_;
    Totals& totals_;
    Fh root_, dir_;
    Model model_;
    std::optional<Op> lost_;
    std::vector<Fh> gone_;
    int next_key_ = 1;
    int counter_ = 0;
};

uint64_t seed_from_env() {
    if (const char* s = std::getenv("ROOTFARM_KILL9_SEED")) return std::strtoull(s, nullptr, 0);
    return std::random_device{}();
}

TEST(KILL9_SUITE, AcknowledgedWorkSurvivesSigkillUnderLoad) {
    const uint64_t seed = seed_from_env();
    constexpr int kRounds = KILL9_ROUNDS;
    std::printf("kill9: seed %" PRIu64 " (ROOTFARM_KILL9_SEED), %d rounds\n", seed, kRounds);
    std::fflush(stdout);
    std::mt19937_64 rng(seed);

    TempDir dir;
    const fs::path state = dir.path() / "state";
    make_farm_image(state);
    const FarmPorts ports = FarmPorts::pick();
    std::vector<FarmPi> farm;
    for (int i = 1; i <= kPis; ++i) farm.push_back(farm_pi(i));
    const std::string config = farm_config(state, ports, farm);

    Totals totals;
    std::vector<std::unique_ptr<Pi>> pis;
    for (int i = 1; i <= kPis; ++i) pis.push_back(std::make_unique<Pi>(i, seed + i, ports, totals));

    const auto start = std::chrono::steady_clock::now();
    for (int round = 0; round < kRounds; ++round) {
        // Each start has its own config file and so its own log (ServeProcess::wait_ready reads
        // it from the start).
        const fs::path path =
            write_text(dir.path() / ("rootfarm-" + std::to_string(round) + ".toml"), config);
        ServeProcess serve(path);
        ASSERT_TRUE(serve.wait_ready()) << "round " << round << ", seed " << seed << "\n"
                                        << serve.log();
        std::atomic<int> working{0};
        std::atomic<bool> killed{false};
        std::vector<std::string> errors(kPis);
        std::vector<std::thread> threads;
        for (int i = 0; i < kPis; ++i) {
            threads.emplace_back([&, i] { errors[i] = pis[i]->round(round > 0, working, killed); });
        }
        const auto bound = std::chrono::steady_clock::now() + 60s;
        while (working < kPis && std::chrono::steady_clock::now() < bound) {
            std::this_thread::sleep_for(1ms);
        }
        std::this_thread::sleep_for(
            std::chrono::milliseconds(std::uniform_int_distribution<int>(5, 250)(rng)));
        serve.kill9();
        killed = true;
        for (auto& t : threads) t.join();
        for (const auto& e : errors) {
            ASSERT_TRUE(e.empty()) << "round " << round << ", seed " << seed << ": " << e << "\n"
                                   << serve.log();
        }
        if (::testing::Test::HasFatalFailure()) return;
    }
    // The last kill is checked too.
    {
        const fs::path path = write_text(dir.path() / "rootfarm-last.toml", config);
        ServeProcess serve(path);
        ASSERT_TRUE(serve.wait_ready()) << serve.log();
        std::atomic<int> working{0};
        std::atomic<bool> killed{false};
        std::vector<std::string> errors(kPis);
        std::vector<std::thread> threads;
        for (int i = 0; i < kPis; ++i) {
            threads.emplace_back(
                [&, i] { errors[i] = pis[i]->round(true, working, killed, /*verify_only=*/true); });
        }
        for (auto& t : threads) t.join();
        for (const auto& e : errors)
            EXPECT_TRUE(e.empty()) << "last check, seed " << seed << ": " << e;
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("kill9: seed %" PRIu64 ": %d rounds, %" PRIu64
                " acknowledged calls checked, %" PRIu64 " calls lost in a kill (%" PRIu64
                " of them done), %" PRIu64 " old handles reused (%" PRIu64
                " of removed files, stale), %" PRIu64 " connects retried, %.1f s\n",
                seed, kRounds, totals.acked.load(), totals.lost.load(), totals.lost_applied.load(),
                totals.handles.load(), totals.stale_checks.load(), totals.reconnects.load(), secs);
    EXPECT_GT(totals.acked.load(), static_cast<uint64_t>(kRounds));
}

}  // namespace
}  // namespace rootfarm::testing
