// Cuts the power in the middle of a write-heavy workload, again and again (FaultEnv, after
// LevelDB's db/fault_injection_test.cc), and checks after each restart that:
//   - everything the store acknowledged is there, byte for byte: every namespace operation and
//     SETATTR, FILE_SYNC writes, and UNSTABLE writes once their COMMIT returned;
//   - the operation cut in flight is whole or absent (a rename is done or not); a WRITE in
//     flight, stable or not, may leave each byte of its range old or new, and the size old or
//     new (bytes past the old end reading as zeros): NFS promises nothing of a WRITE that got
//     no reply, and the client sends it again;
//   - the journal replays, and file handles issued before the cut resolve to the same objects.
// Then the same workload with one EIO or ENOSPC injected at each file operation in turn: the
// NFS call it belongs to fails (never a silent success), nothing acknowledged is lost, the log
// names the operation and file, and after a failed journal fdatasync nothing more is promised.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <unistd.h>

#include <map>
#include <random>
#include <sstream>

#include "core/log.h"
#include "store/fault_env_test_util.h"
#include "store/store.h"
#include "store/test_util.h"
#include "store/tree_model_test_util.h"

namespace rootfarm::store {
namespace {

using namespace testing;

constexpr int kRounds = 100;
constexpr int kClients = 3;
constexpr int kOpsPerRound = 40;
constexpr uint64_t kDefaultSeed = 20261207;

// The seed: ROOTFARM_POWERLOSS_SEED in the environment reproduces a failed run.
uint64_t seed() {
    const char* s = std::getenv("ROOTFARM_POWERLOSS_SEED");
    return s ? std::strtoull(s, nullptr, 10) : kDefaultSeed;
}

using Model = TreeModel;

// What a path shows: type, mode, owner and link count, and the data apart (a WRITE in flight
// is checked byte by byte).
struct Seen {
    std::string meta;
    std::string data;
    bool operator==(const Seen&) const = default;
};
using Tree = std::map<std::string, Seen>;

std::string meta_line(FileType type, uint32_t mode, uint32_t uid, uint32_t gid, uint32_t nlink) {
    return std::to_string(static_cast<int>(type)) + " " + std::to_string(mode) + " " +
           std::to_string(uid) + ":" + std::to_string(gid) + " " + std::to_string(nlink);
}

Tree render(const Model& m, const std::string& prefix) {
    std::map<int, uint32_t> links;
    for (const auto& [path, ino] : m.names) ++links[ino];
    Tree out;
    for (const auto& [path, ino] : m.names) {
        const Model::Inode& i = m.inodes.at(ino);
        uint32_t nlink = i.type == FileType::kDirectory ? 0 : links[ino];
        out[prefix + path] = {meta_line(i.type, i.mode, i.uid, i.gid, nlink), i.data};
    }
    return out;
}

struct Op {
    enum Kind {
        kMkdir,
        kCreate,
        kWrite,     // FILE_SYNC
        kUnstable,  // UNSTABLE writes, then COMMIT
        kRename,
        kRemove,
        kRmdir,
        kChmod,
        kChown,
        kTruncate,
        kLink,
        kSymlink,
    } kind;
    std::string a = {}, b = {};
    std::vector<std::pair<uint64_t, std::string>> writes = {};  // offset, bytes
    uint32_t mode = 0, uid = 0, gid = 0;
    uint64_t size = 0;
    std::string target = {};
};

template <class T>
T pick(std::mt19937_64& rng, const std::vector<T>& v) {
    return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng)];
}

uint64_t below(std::mt19937_64& rng, uint64_t n) {
    return std::uniform_int_distribution<uint64_t>(0, n)(rng);
}

std::string bytes(std::mt19937_64& rng, size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>('a' + below(rng, 25));
    return s;
}

// Writes into the middle and past the end of a file of `size` bytes.
std::vector<std::pair<uint64_t, std::string>> some_writes(std::mt19937_64& rng, uint64_t size,
                                                          int count) {
    std::vector<std::pair<uint64_t, std::string>> out;
    for (int i = 0; i < count; ++i) {
        uint64_t offset = below(rng, size + 8);
        out.emplace_back(offset, bytes(rng, 1 + below(rng, 300)));
        size = std::max(size, offset + out.back().second.size());
    }
    return out;
}

// The i-th operation of a round, chosen from the model's current state.
Op next_op(const Model& m, std::mt19937_64& rng, int i) {
    std::vector<std::string> dirs = m.of_type(FileType::kDirectory);
    std::vector<std::string> subdirs = dirs;
    dirs.push_back("");
    std::vector<std::string> files = m.of_type(FileType::kRegular);
    std::vector<std::string> removable = files;
    for (const std::string& s : m.of_type(FileType::kSymlink)) removable.push_back(s);
    std::string name = std::to_string(i);
    auto size_of = [&](const std::string& f) { return m.inodes.at(m.names.at(f)).data.size(); };
    for (;;) {
        switch (below(rng, 15)) {
            case 0:
                return {Op::kMkdir, pick(rng, dirs) + "/d" + name};
            case 1:
            case 2:
                return {Op::kCreate, pick(rng, dirs) + "/f" + name};
            case 3:
            case 4: {
                if (files.empty()) continue;
                std::string f = pick(rng, files);
                return {Op::kWrite, f, "", some_writes(rng, size_of(f), 1)};
            }
            case 5:
            case 6: {
                if (files.empty()) continue;
                std::string f = pick(rng, files);
                return {Op::kUnstable, f, "", some_writes(rng, size_of(f), 1 + below(rng, 2))};
            }
            case 7: {
                if (files.empty()) continue;
                std::string from = pick(rng, files);
                // Over an existing file of another inode now and then.
                std::string over = pick(rng, files);
                if (below(rng, 2) == 0 && m.names.at(over) != m.names.at(from)) {
                    return {Op::kRename, from, over};
                }
                return {Op::kRename, from, pick(rng, dirs) + "/r" + name};
            }
            case 8: {
                if (subdirs.empty()) continue;
                std::string from = pick(rng, subdirs);
                std::string to = pick(rng, dirs);
                if (to == from || to.starts_with(from + "/")) continue;
                return {Op::kRename, from, to + "/m" + name};
            }
            case 9:
                if (removable.empty()) continue;
                return {Op::kRemove, pick(rng, removable)};
            case 10: {
                std::vector<std::string> empty;
                for (const std::string& d : subdirs) {
                    if (m.empty_dir(d)) empty.push_back(d);
                }
                if (empty.empty()) continue;
                return {Op::kRmdir, pick(rng, empty)};
            }
            case 11: {
                if (files.empty()) continue;
                Op op{Op::kChmod, pick(rng, files)};
                op.mode = static_cast<uint32_t>(below(rng, 07777));
                if (below(rng, 2) == 0) {
                    op.kind = Op::kChown;
                    op.uid = static_cast<uint32_t>(below(rng, 2000));
                    op.gid = static_cast<uint32_t>(below(rng, 2000));
                }
                return op;
            }
            case 12: {
                if (files.empty()) continue;
                Op op{Op::kTruncate, pick(rng, files)};
                op.size = below(rng, size_of(op.a) + 100);
                return op;
            }
            case 13:
                if (files.empty()) continue;
                return {Op::kLink, pick(rng, files), pick(rng, dirs) + "/l" + name};
            case 14: {
                Op op{Op::kSymlink, pick(rng, dirs) + "/s" + name};
                op.target = "target" + name;
                return op;
            }
        }
    }
}

void apply(Model& m, const Op& op) {
    auto add = [&](FileType type, uint32_t mode, std::string data) {
        m.names[op.a] = m.next_inode;
        m.inodes[m.next_inode++] = {type, std::move(data), mode};
    };
    switch (op.kind) {
        case Op::kMkdir:
            return add(FileType::kDirectory, 0755, "");
        case Op::kCreate:
            return add(FileType::kRegular, 0644, "");
        case Op::kSymlink:
            return add(FileType::kSymlink, 0777, op.target);
        case Op::kWrite:
        case Op::kUnstable: {
            std::string& data = m.inodes[m.names[op.a]].data;
            for (const auto& [offset, bytes] : op.writes) {
                if (data.size() < offset + bytes.size()) data.resize(offset + bytes.size(), '\0');
                data.replace(offset, bytes.size(), bytes);
            }
            return;
        }
        case Op::kRename: {
            std::map<std::string, int> moved;
            for (auto it = m.names.begin(); it != m.names.end();) {
                if (it->first == op.a || it->first.starts_with(op.a + "/")) {
                    moved[op.b + it->first.substr(op.a.size())] = it->second;
                    it = m.names.erase(it);
                } else {
                    ++it;
                }
            }
            for (auto& [path, ino] : moved) m.names[path] = ino;
            return;
        }
        case Op::kRemove:
        case Op::kRmdir:
            m.names.erase(op.a);
            return;
        case Op::kChmod:
            m.inodes[m.names[op.a]].mode = op.mode;
            return;
        case Op::kChown:
            m.inodes[m.names[op.a]].mode = op.mode;
            m.inodes[m.names[op.a]].uid = op.uid;
            m.inodes[m.names[op.a]].gid = op.gid;
            return;
        case Op::kTruncate:
            m.inodes[m.names[op.a]].data.resize(op.size, '\0');
            return;
        case Op::kLink:
            m.names[op.b] = m.names[op.a];
            return;
    }
}

// One client's view, the Env, and where its data files are (for messages only).
struct Client {
    ClientView& v;
    Env& env;
    std::filesystem::path objects;
};

// One NFS WRITE the way nfsd does it: begin_write, then write (the data, its record and, for a
// small stable write, the bytes in the commit log).
bool write_one(const Client& c, ObjectId f, uint64_t offset, const std::string& data, bool stable) {
    Result<WriteTarget> t = c.v.begin_write(f);
    if (!t.ok()) return false;
    return c.v.write(f, *t, offset, data, stable).ok();
}

// Runs `op` below directory `round`; true if the store acknowledged it.
bool execute(const Client& c, const std::string& round, const Op& op) {
    ClientView& v = c.v;
    auto [dir, name] = split(round + op.a);
    ObjectId d = walk(v, dir);
    switch (op.kind) {
        case Op::kMkdir:
            return v.mkdir(d, name, {}, {}).ok();
        case Op::kCreate:
            return v.create(d, name, {}).ok();
        case Op::kSymlink:
            return v.symlink(d, name, op.target, {}, {}).ok();
        case Op::kWrite:
        case Op::kUnstable: {
            ObjectId f = walk(v, round + op.a);
            bool stable = op.kind == Op::kWrite;
            for (const auto& [offset, bytes] : op.writes) {
                if (!write_one(c, f, offset, bytes, stable)) return false;
            }
            return stable || v.commit(f).ok();
        }
        case Op::kRename: {
            auto [to_dir, to_name] = split(round + op.b);
            return v.rename(d, name, walk(v, to_dir), to_name).ok();
        }
        case Op::kRemove:
            return v.remove(d, name).ok();
        case Op::kRmdir:
            return v.rmdir(d, name).ok();
        case Op::kChmod:
        case Op::kChown:
        case Op::kTruncate: {
            SetAttrArgs s;
            if (op.kind != Op::kTruncate) s.mode = op.mode;
            if (op.kind == Op::kChown) {
                s.uid = op.uid;
                s.gid = op.gid;
            }
            if (op.kind == Op::kTruncate) s.size = op.size;
            return v.setattr(walk(v, round + op.a), s).ok();
        }
        case Op::kLink: {
            auto [to_dir, to_name] = split(round + op.b);
            return v.link(walk(v, round + op.a), walk(v, to_dir), to_name).ok();
        }
    }
    return false;
}

void render(const ClientView& v, ObjectId dir, const std::string& path, Tree& out,
            std::map<std::string, ObjectId>* ids = nullptr) {
    uint64_t cookie = 0;
    for (;;) {
        Result<DirPage> page = v.readdir(dir, cookie, 50);
        ASSERT_TRUE(page.ok()) << page.message();
        for (const DirEntry& e : page->entries) {
            cookie = e.cookie;
            Result<Attr> a = v.getattr(e.id);
            ASSERT_TRUE(a.ok()) << path << "/" << e.name;
            std::string data;
            if (a->type == FileType::kRegular) data = read_all(v, e.id);
            if (a->type == FileType::kSymlink) data = *v.readlink(e.id);
            uint32_t nlink = a->type == FileType::kDirectory ? 0 : a->nlink;
            std::string child = path + "/" + e.name;
            out[child] = {meta_line(a->type, a->mode, a->uid, a->gid, nlink), data};
            if (ids) (*ids)[child] = e.id;
            if (a->type == FileType::kDirectory) render(v, e.id, child, out, ids);
        }
        if (page->eof) return;
    }
}

// Whether `seen` is what a WRITE in flight may leave of a file that held `before` and would
// hold `after`: the size of either, and each byte old, new, or zero past the old end.
bool torn_write_ok(const std::string& seen, const std::string& before, const std::string& after,
                   const Op& op) {
    if (seen.size() != before.size() && seen.size() != after.size()) return false;
    for (size_t p = 0; p < seen.size(); ++p) {
        char old = p < before.size() ? before[p] : '\0';
        if (seen[p] == old || (p < after.size() && seen[p] == after[p])) continue;
        bool written = false;  // by an earlier WRITE of the same operation
        for (const auto& [offset, bytes] : op.writes) {
            if (p >= offset && p < offset + bytes.size() && seen[p] == bytes[p - offset]) {
                written = true;
            }
        }
        if (!written) return false;
    }
    return true;
}

// Whether `actual` is the tree `acked` with the operation in flight not applied, or applied
// (`after`); an empty description if so, else what differs.
std::string compare(const Tree& actual, const Tree& acked, const Tree& after,
                    const std::optional<Op>& in_flight) {
    if (actual == acked || actual == after) return {};
    if (in_flight && (in_flight->kind == Op::kWrite || in_flight->kind == Op::kUnstable) &&
        actual.size() == acked.size()) {
        bool ok = true;
        for (const auto& [path, seen] : actual) {
            auto a = acked.find(path);
            auto b = after.find(path);
            if (a == acked.end() || b == after.end() || a->second.meta != seen.meta) {
                ok = false;
                break;
            }
            if (seen.data != a->second.data &&
                !torn_write_ok(seen.data, a->second.data, b->second.data, *in_flight)) {
                ok = false;
                break;
            }
        }
        if (ok) return {};
    }
    std::ostringstream why;
    for (const auto& [path, seen] : actual) {
        auto a = acked.find(path);
        if (a == acked.end()) {
            why << "  unexpected " << path << " [" << seen.meta << "]\n";
        } else if (a->second != seen) {
            why << "  " << path << ": [" << seen.meta << "] " << seen.data.size()
                << " bytes, acknowledged [" << a->second.meta << "] " << a->second.data.size()
                << " bytes";
            const std::string& want = a->second.data;
            for (size_t p = 0; p < std::min(want.size(), seen.data.size()); ++p) {
                if (want[p] != seen.data[p]) {
                    why << ", from byte " << p << " \"" << seen.data.substr(p, 8)
                        << "\" instead of \"" << want.substr(p, 8) << "\"";
                    break;
                }
            }
            why << "\n";
        }
    }
    for (const auto& [path, seen] : acked) {
        if (!actual.contains(path)) why << "  missing " << path << " [" << seen.meta << "]\n";
    }
    return why.str();
}

// Sends the store's log to a string while it lives.
class LogCapture {
  public:
    LogCapture() : sinks_(store_log().sinks()) {
        store_log().sinks() = {std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)};
    }
    ~LogCapture() { store_log().sinks() = sinks_; }
    std::string text() const { return out_.str(); }
    void clear() { out_.str({}); }

  private:
    std::ostringstream out_;
    std::vector<spdlog::sink_ptr> sinks_;
};

class PowerLoss : public ::testing::Test {
  protected:
    void SetUp() override {
        write_file(dir_.path() / "state/images/pi/root/etc/hostname", "pi\n");
        write_file(dir_.path() / "state/images/pi/boot/config.txt", "");
    }

    std::filesystem::path state() const { return dir_.path() / "state"; }

    // Opens the store through env_ (ASSERT_* inside: call through ASSERT_NO_FATAL_FAILURE).
    void open_store() {
        StoreOptions o;
        o.state_dir = state();
        o.env = &env_;
        // Every other start checkpoints its commit log every few kilobytes, so that cuts land
        // in checkpoints too.
        if (checkpoint_often_ && ++starts_ % 2 == 1) o.commit_log_checkpoint_bytes = 4096;
        Result<std::unique_ptr<Store>> s = Store::open(o);
        ASSERT_TRUE(s.ok()) << s.message();
        store_ = std::move(*s);
    }
    bool checkpoint_often_ = false;
    int starts_ = 0;
    // The store shut down (descriptors closed), the power lost, the store started again.
    void power_cycle() {
        store_.reset();
        env_.simulate_power_loss();
        ASSERT_NO_FATAL_FAILURE(open_store());
    }
    // nullptr if it cannot be opened.
    std::shared_ptr<ClientView> view(int client) {
        Result<std::shared_ptr<ClientView>> v = store_->view(mac(client), "pi");
        return v.ok() ? *v : nullptr;
    }
    std::filesystem::path objects(int client) const {
        return state() / "clients" / mac(client).dashed() / "objects";
    }

    TempDir dir_;
    FaultEnv env_{dir_.path() / "state"};
    std::unique_ptr<Store> store_;
};

// What one round did: the model of everything acknowledged, the operation that failed (cut in
// flight), and the handle of each object the store created.
struct Round {
    Model acked;
    std::optional<Op> in_flight;
    bool dir_acked = false;  // the round's own directory
    int ops_acked = 0;
};

// Whether `op`, run in round directory `dir`, may have changed what `path` names.
bool touches(const Op& op, const std::string& dir, const std::string& path) {
    for (const std::string& p : {op.a, op.b}) {
        if (!p.empty() && (path == dir + p || path.starts_with(dir + p + "/"))) return true;
    }
    return false;
}

// Runs up to `max_ops` operations of round `r` (seeded) in `dir`, stopping at the first one
// the store fails.
Round run_round(const Client& c, const std::string& dir, uint64_t seed, int max_ops) {
    Round out;
    if (!c.v.mkdir(c.v.root(), dir.substr(1), {}, {}).ok()) return out;
    out.dir_acked = true;
    std::mt19937_64 rng(seed);
    for (int i = 0; i < max_ops; ++i) {
        Op op = next_op(out.acked, rng, i);
        if (!execute(c, dir, op)) {
            out.in_flight = op;
            return out;
        }
        apply(out.acked, op);
        ++out.ops_acked;
    }
    return out;
}

// Checks round `r`'s directory `dir` in `v` after a restart; `actual` gets what is there.
void check_round(const ClientView& v, const std::string& dir, const Round& round, Tree& actual,
                 std::map<std::string, ObjectId>& ids) {
    bool has_dir = exists(v, dir);
    if (!round.dir_acked) {
        if (!has_dir) return;  // cut before the round's mkdir was acknowledged
    }
    ASSERT_TRUE(has_dir) << dir << " was acknowledged and is gone";
    ASSERT_NO_FATAL_FAILURE(render(v, walk(v, dir), dir, actual, &ids));
    Tree acked = render(round.acked, dir);
    Tree after = acked;
    if (round.in_flight) {
        Model m = round.acked;
        apply(m, *round.in_flight);
        after = render(m, dir);
    }
    std::string why = compare(actual, acked, after, round.in_flight);
    ASSERT_TRUE(why.empty()) << dir << " after " << round.ops_acked
                             << " acknowledged operations matches neither the acknowledged "
                                "state nor that plus the operation in flight (kind "
                             << (round.in_flight ? round.in_flight->kind : -1) << " "
                             << (round.in_flight ? round.in_flight->a : "") << "):\n"
                             << why;
}

TEST_F(PowerLoss, AcknowledgedStateSurvivesEveryCut) {
    const uint64_t base_seed = seed();
    SCOPED_TRACE("seed " + std::to_string(base_seed) +
                 " (ROOTFARM_POWERLOSS_SEED=" + std::to_string(base_seed) + " reproduces it)");
    LogCapture log;  // the cut makes every later operation fail, each logged
    checkpoint_often_ = true;
    ASSERT_NO_FATAL_FAILURE(open_store());
    std::mt19937_64 rng(base_seed);
    // Per client: every path and its rendering once its round was checked, and the handle
    // issued for each.
    std::map<int, Tree> expected;
    std::map<int, std::map<std::string, Handle>> handles;
    int acked_total = 0, cuts_in_flight = 0;
    for (int r = 0; r < kRounds; ++r) {
        SCOPED_TRACE("round " + std::to_string(r));
        int client = 1 + r % kClients;
        // Anywhere in the round, including while a new delta is made (the first rounds) and
        // past the end of the round (every operation acknowledged, then the cut).
        env_.power_off_after(below(rng, 6 * kOpsPerRound));
        std::string dir = "/r" + std::to_string(r);
        Round round;
        std::map<std::string, Handle> issued;
        if (std::shared_ptr<ClientView> v = view(client)) {
            Client c{*v, env_, objects(client)};
            round = run_round(c, dir, base_seed + r, kOpsPerRound);
            if (round.dir_acked) {
                Tree now;
                std::map<std::string, ObjectId> ids;
                ASSERT_NO_FATAL_FAILURE(render(*v, walk(*v, dir), dir, now, &ids));
                Tree acked = render(round.acked, dir);
                for (const auto& [path, id] : ids) {
                    bool touched = round.in_flight && touches(*round.in_flight, dir, path);
                    if (acked.contains(path) && !touched) issued[path] = v->handle(id);
                }
            }
        }
        // else the power went while the view was being opened: a new delta, or a replay.
        acked_total += round.ops_acked;
        cuts_in_flight += round.in_flight ? 1 : 0;
        ASSERT_NO_FATAL_FAILURE(power_cycle());

        std::shared_ptr<ClientView> v = view(client);
        ASSERT_TRUE(v) << "the journal did not replay";
        Tree actual;
        std::map<std::string, ObjectId> ids;
        ASSERT_NO_FATAL_FAILURE(check_round(*v, dir, round, actual, ids));
        // Handles from before the cut name the same objects now.
        for (const auto& [path, h] : issued) {
            if (!ids.contains(path)) continue;  // the operation in flight removed it
            Result<ObjectId> id = v->resolve(h.span());
            ASSERT_TRUE(id.ok()) << path << ": " << id.message();
            EXPECT_EQ(*id, ids[path]) << path;
            handles[client][path] = h;
        }
        for (auto& [path, seen] : actual) expected[client][path] = seen;
        // Earlier rounds of this client are untouched by this one and its cut.
        Tree all;
        std::map<std::string, ObjectId> all_ids;
        ASSERT_NO_FATAL_FAILURE(render(*v, v->root(), "", all, &all_ids));
        for (const auto& [path, seen] : expected[client]) {
            auto it = all.find(path);
            ASSERT_TRUE(it != all.end()) << path << " is gone";
            ASSERT_EQ(it->second, seen) << path;
        }
        for (const auto& [path, h] : handles[client]) {
            Result<ObjectId> id = v->resolve(h.span());
            ASSERT_TRUE(id.ok()) << path << ": " << id.message();
            ASSERT_EQ(*id, all_ids[path]) << path;
        }
    }
    // The cuts landed all over the workload: most rounds did real work, and many were cut in
    // the middle of an operation rather than between two.
    EXPECT_GT(acked_total, kRounds * 3);
    EXPECT_GT(cuts_in_flight, kRounds / 4);
    std::printf("power-loss: %d rounds, %d operations acknowledged, %d cut in flight\n", kRounds,
                acked_total, cuts_in_flight);
}

// The workload of the error test: short, so that every file operation of it gets its turn.
constexpr int kErrorOps = 25;
constexpr uint64_t kErrorSeed = 7;

TEST_F(PowerLoss, EveryInjectedErrorFailsItsOperationAndLosesNothing) {
    // How many file operations the workload makes, without faults.
    uint64_t total = 0;
    {
        ASSERT_NO_FATAL_FAILURE(open_store());
        std::shared_ptr<ClientView> v = view(1);
        ASSERT_TRUE(v);
        uint64_t before = env_.operations();
        Round round = run_round(Client{*v, env_, objects(1)}, "/dry", kErrorSeed, kErrorOps);
        ASSERT_EQ(round.ops_acked, kErrorOps);
        total = env_.operations() - before;
        store_.reset();
    }
    LogCapture log;
    int failed = 0, tolerated = 0, stopped = 0;
    for (int err : {EIO, ENOSPC}) {
        for (uint64_t k = 1; k <= total; ++k) {
            SCOPED_TRACE(std::string(err == EIO ? "EIO" : "ENOSPC") + " at file operation " +
                         std::to_string(k) + " of " + std::to_string(total));
            std::string dir = "/e" + std::to_string(err) + "-" + std::to_string(k);
            ASSERT_NO_FATAL_FAILURE(open_store());
            std::shared_ptr<ClientView> v = view(1);
            ASSERT_TRUE(v);
            Client c{*v, env_, objects(1)};
            log.clear();
            env_.fail_operation(k, err);
            uint64_t injected = env_.injected();
            Round round = run_round(c, dir, kErrorSeed, kErrorOps);
            ASSERT_EQ(env_.injected(), injected + 1) << "the fault never fired";
            std::string message = env_.last_injected();
            if (round.in_flight || !round.dir_acked) {
                ++failed;
                // Logged once with the operation and the file, wherever the store turned it
                // into an NFS error.
                EXPECT_NE(log.text().find(message), std::string::npos)
                    << "the log does not say \"" << message << "\":\n"
                    << log.text();
            } else {
                // Every operation succeeded: only the removal of a data file nothing refers
                // to any more may fail unnoticed by the client (it is logged, and the next
                // start removes the orphan).
                ++tolerated;
                EXPECT_TRUE(message.starts_with("unlink ") &&
                            message.find("/objects/") != std::string::npos)
                    << "silent success despite: " << message;
                EXPECT_NE(log.text().find(message), std::string::npos) << log.text();
            }
            if (message.starts_with("fdatasync ") &&
                (message.ends_with("/journal: " + errno_error(err).message()) ||
                 message.find("/commit-log/") != std::string::npos)) {
                // The commit log (or a journal) stopped: nothing is promised any more, not
                // even a new mkdir.
                ++stopped;
                EXPECT_FALSE(v->mkdir(v->root(), dir.substr(1) + "-later", {}, {}).ok());
            }
            v.reset();
            ASSERT_NO_FATAL_FAILURE(power_cycle());
            v = view(1);
            ASSERT_TRUE(v) << "the journal did not replay";
            Tree actual;
            std::map<std::string, ObjectId> ids;
            ASSERT_NO_FATAL_FAILURE(check_round(*v, dir, round, actual, ids));
            EXPECT_FALSE(exists(*v, dir + "-later"));
            store_.reset();
        }
    }
    EXPECT_GT(failed, 0);
    EXPECT_GT(stopped, 0);
    std::printf(
        "errors: %llu file operations x EIO/ENOSPC: %d failed their call, %d tolerated, "
        "%d stopped the commit log\n",
        static_cast<unsigned long long>(total), failed, tolerated, stopped);
}

}  // namespace
}  // namespace rootfarm::store
