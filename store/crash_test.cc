// Kills a process in the middle of a burst of operations, again and again, and checks that
// every operation it reported as done survived, and nothing half-done is visible.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <random>
#include <thread>

#include "store/store.h"
#include "store/test_util.h"
#include "store/tree_model_test_util.h"

namespace rootfarm::store {
namespace {

using namespace testing;

constexpr int kRounds = 50;
constexpr int kMaxOps = 400;

using Model = TreeModel;

// "type mode data nlink" per path.
std::map<std::string, std::string> render(const Model& m) {
    std::map<int, int> links;
    for (const auto& [path, ino] : m.names) ++links[ino];
    std::map<std::string, std::string> out;
    for (const auto& [path, ino] : m.names) {
        const Model::Inode& i = m.inodes.at(ino);
        int nlink = i.type == FileType::kDirectory ? 0 : links[ino];
        out[path] = std::to_string(static_cast<int>(i.type)) + " " + std::to_string(i.mode) + " " +
                    i.data + " " + std::to_string(nlink);
    }
    return out;
}

struct Op {
    enum Kind {
        kMkdir,
        kCreate,
        kWrite,
        kUnstableWrite,
        kRename,
        kRemove,
        kChmod,
        kSymlink,
        kLink,
        kRmdir
    } kind;
    std::string a = {}, b = {};  // paths relative to the round directory ("" = the round one)
    std::string data = {};
    uint32_t mode = 0;
};

std::string pick(std::mt19937& rng, const std::vector<std::string>& v) {
    return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng)];
}

// The i-th operation of a round, chosen from the model's current state.
Op next_op(const Model& m, std::mt19937& rng, int i) {
    std::vector<std::string> dirs = m.of_type(FileType::kDirectory);
    dirs.push_back("");
    std::vector<std::string> files = m.of_type(FileType::kRegular);
    std::string name = std::to_string(i);
    for (;;) {
        int k = std::uniform_int_distribution<int>(0, 9)(rng);
        switch (k) {
            case 0:
                return {Op::kMkdir, pick(rng, dirs) + "/d" + name};
            case 1:
            case 2:
                return {Op::kCreate, pick(rng, dirs) + "/f" + name};
            case 3:
                if (files.empty()) continue;
                return {Op::kWrite, pick(rng, files), "", "w" + name};
            case 4:
                if (files.empty()) continue;
                return {Op::kUnstableWrite, pick(rng, files), "", "u" + name};
            case 5:
                if (files.empty()) continue;
                return {Op::kRename, pick(rng, files), pick(rng, dirs) + "/r" + name};
            case 6:
                if (files.empty()) continue;
                return {Op::kRemove, pick(rng, files)};
            case 7:
                if (files.empty()) continue;
                return {Op::kChmod, pick(rng, files), "", "",
                        std::uniform_int_distribution<uint32_t>(0, 07777)(rng)};
            case 8:
                return {Op::kSymlink, pick(rng, dirs) + "/s" + name, "", "target" + name};
            case 9: {
                if (files.empty()) continue;
                std::vector<std::string> empty;
                for (const std::string& d : m.of_type(FileType::kDirectory)) {
                    if (m.empty_dir(d)) empty.push_back(d);
                }
                if (!empty.empty() && std::uniform_int_distribution<int>(0, 1)(rng) == 0) {
                    return {Op::kRmdir, pick(rng, empty)};
                }
                return {Op::kLink, pick(rng, files), pick(rng, dirs) + "/l" + name};
            }
        }
    }
}

void apply(Model& m, const Op& op) {
    switch (op.kind) {
        case Op::kMkdir:
            m.names[op.a] = m.next_inode;
            m.inodes[m.next_inode++] = {FileType::kDirectory, "", 0755};
            break;
        case Op::kCreate:
            m.names[op.a] = m.next_inode;
            m.inodes[m.next_inode++] = {FileType::kRegular, "", 0644};
            break;
        case Op::kWrite:
        case Op::kUnstableWrite:
            m.inodes[m.names[op.a]].data += op.data;
            break;
        case Op::kRename:
            m.names[op.b] = m.names[op.a];
            m.names.erase(op.a);
            break;
        case Op::kRemove:
        case Op::kRmdir:
            m.names.erase(op.a);
            break;
        case Op::kChmod:
            m.inodes[m.names[op.a]].mode = op.mode;
            break;
        case Op::kSymlink:
            m.names[op.a] = m.next_inode;
            m.inodes[m.next_inode++] = {FileType::kSymlink, op.data, 0777};
            break;
        case Op::kLink:
            m.names[op.b] = m.names[op.a];
            break;
    }
}

bool execute(ClientView& v, const std::string& round, const Op& op) {
    auto [dir, name] = split(round + op.a);
    ObjectId d = walk(v, dir);
    switch (op.kind) {
        case Op::kMkdir:
            return v.mkdir(d, name, {}, {}).ok();
        case Op::kCreate:
            return v.create(d, name, {}).ok();
        case Op::kWrite:
        case Op::kUnstableWrite: {
            ObjectId f = walk(v, round + op.a);
            uint64_t size = v.getattr(f)->size;
            bool stable = op.kind == Op::kWrite;
            if (!write_at(v, f, size, op.data, stable).ok()) return false;
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
        case Op::kChmod: {
            SetAttrArgs s;
            s.mode = op.mode;
            return v.setattr(walk(v, round + op.a), s).ok();
        }
        case Op::kSymlink:
            return v.symlink(d, name, op.data, {}, {}).ok();
        case Op::kLink: {
            auto [to_dir, to_name] = split(round + op.b);
            return v.link(walk(v, round + op.a), walk(v, to_dir), to_name).ok();
        }
    }
    return false;
}

void render(const ClientView& v, ObjectId dir, const std::string& path,
            std::map<std::string, std::string>& out) {
    uint64_t cookie = 0;
    for (;;) {
        auto page = v.readdir(dir, cookie, 50);
        ASSERT_TRUE(page.ok());
        for (const DirEntry& e : page->entries) {
            cookie = e.cookie;
            Attr a = *v.getattr(e.id);
            std::string data;
            if (a.type == FileType::kRegular) data = read_all(v, e.id);
            if (a.type == FileType::kSymlink) data = *v.readlink(e.id);
            int nlink = a.type == FileType::kDirectory ? 0 : static_cast<int>(a.nlink);
            std::string child = path + "/" + e.name;
            out[child] = std::to_string(static_cast<int>(a.type)) + " " + std::to_string(a.mode) +
                         " " + data + " " + std::to_string(nlink);
            if (a.type == FileType::kDirectory) render(v, e.id, child, out);
        }
        if (page->eof) return;
    }
}

StoreOptions options(const std::filesystem::path& dir) {
    StoreOptions o;
    o.state_dir = dir;
    return o;
}

[[noreturn]] void child(const std::filesystem::path& state, int round, int fd) {
    auto store = Store::open(options(state));
    if (!store.ok()) ::_exit(2);
    auto view = (*store)->view(mac(1), "pi");
    if (!view.ok()) ::_exit(3);
    ClientView& v = **view;
    std::string dir = "/r" + std::to_string(round);
    if (!v.mkdir(v.root(), dir.substr(1), {}, {}).ok()) ::_exit(4);
    Model m;
    std::mt19937 rng(round);
    for (int i = 0; i < kMaxOps; ++i) {
        Op op = next_op(m, rng, i);
        if (!execute(v, dir, op)) ::_exit(5);
        apply(m, op);
        int32_t done = i + 1;
        if (::write(fd, &done, sizeof done) != sizeof done) ::_exit(6);
    }
    ::_exit(0);
}

TEST(Crash, EveryReportedOperationSurvivesSigkill) {
    TempDir dir;
    write_file(dir.path() / "images/pi/root/etc/hostname", "pi\n");
    write_file(dir.path() / "images/pi/boot/config.txt", "");
    std::mt19937 rng(12345);
    std::map<std::string, std::string> expected_all;  // every round's final state
    int total_reported = 0;
    for (int round = 0; round < kRounds; ++round) {
        int fds[2];
        ASSERT_EQ(::pipe(fds), 0);
        int kill_after = std::uniform_int_distribution<int>(0, 40)(rng);
        int delay_us = std::uniform_int_distribution<int>(0, 3000)(rng);
        pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            ::close(fds[0]);
            child(dir.path(), round, fds[1]);
        }
        ::close(fds[1]);
        int reported = 0;
        int32_t value;
        while (reported < kill_after && ::read(fds[0], &value, sizeof value) == sizeof value) {
            reported = value;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
        ::kill(pid, SIGKILL);
        int status = 0;
        ::waitpid(pid, &status, 0);
        while (::read(fds[0], &value, sizeof value) == sizeof value) reported = value;
        ::close(fds[0]);
        if (!WIFSIGNALED(status)) {
            ASSERT_TRUE(WIFEXITED(status));
            ASSERT_EQ(WEXITSTATUS(status), 0) << "child failed an operation";
        }
        total_reported += reported;

        // The state is the model after the reported operations, or after one more (the one
        // in flight may have become durable before the kill).
        auto store = Store::open(options(dir.path()));
        ASSERT_TRUE(store.ok());
        auto view = (*store)->view(mac(1), "pi");
        ASSERT_TRUE(view.ok());
        std::string rdir = "/r" + std::to_string(round);
        std::map<std::string, std::string> actual;
        bool has_dir = exists(**view, rdir);
        if (has_dir) render(**view, walk(**view, rdir), rdir, actual);
        Model m;
        std::mt19937 op_rng(round);
        std::map<std::string, std::string> before, after;
        for (int i = 0; i <= reported; ++i) {
            Op op = next_op(m, op_rng, i);
            if (i == reported) {
                before = render(m);
                apply(m, op);
                after = render(m);
            } else {
                apply(m, op);
            }
        }
        auto prefixed = [&](const std::map<std::string, std::string>& s) {
            std::map<std::string, std::string> out;
            for (const auto& [p, line] : s) out[rdir + p] = line;
            return out;
        };
        if (reported == 0 && !has_dir) continue;  // killed before even the round's mkdir
        ASSERT_TRUE(has_dir) << "round " << round;
        bool match_before = actual == prefixed(before);
        bool match_after = actual == prefixed(after);
        ASSERT_TRUE(match_before || match_after)
            << "round " << round << ": state after " << reported << " reported ops matches "
            << "neither the model before nor after the op in flight";
        for (const auto& [p, line] : actual) expected_all[p] = line;
        expected_all[rdir] = "";
    }
    // Every round's result is still there after all the later crashes and replays.
    auto store = Store::open(options(dir.path()));
    ASSERT_TRUE(store.ok());
    auto view = (*store)->view(mac(1), "pi");
    ASSERT_TRUE(view.ok());
    std::map<std::string, std::string> actual;
    render(**view, (*view)->root(), "", actual);
    for (const auto& [p, line] : expected_all) {
        ASSERT_TRUE(actual.count(p)) << p;
        if (!line.empty()) {
            EXPECT_EQ(actual[p], line) << p;
        }
    }
    EXPECT_GT(total_reported, kRounds);  // the rounds did real work before being killed
}

}  // namespace
}  // namespace rootfarm::store
