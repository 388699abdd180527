#include "bench/trace_close.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <map>

namespace rootfarm::bench {

namespace fs = std::filesystem;

namespace {

// What a name is, as far as the status of a later call can tell.
struct Node {
    bool exists = false;
    char kind = 0;  // f file, d directory, l symlink, p FIFO, s socket, c/b device
    std::string target;
    uint64_t size = 0;
    uint32_t mode = 0644;
    uint32_t major = 0, minor = 0;

    bool same_as(const Node& o) const {
        return exists == o.exists && (!exists || (kind == o.kind && target == o.target));
    }
};

std::string join(const std::string& dir, const std::string& name) {
    return dir == "/" ? "/" + name : dir + "/" + name;
}

std::pair<std::string, std::string> split(const std::string& path) {
    auto slash = path.rfind('/');
    return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

Node on_disk(const fs::path& root, const std::string& path) {
    std::string p = root.string() + path;
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) return {};
    Node n;
    n.exists = true;
    n.mode = st.st_mode & 07777;
    n.size = static_cast<uint64_t>(st.st_size);
    switch (st.st_mode & S_IFMT) {
        case S_IFDIR:
            n.kind = 'd';
            break;
        case S_IFLNK: {
            n.kind = 'l';
            std::error_code ec;
            n.target = fs::read_symlink(p, ec).string();
            break;
        }
        case S_IFIFO:
            n.kind = 'p';
            break;
        case S_IFSOCK:
            n.kind = 's';
            break;
        case S_IFCHR:
        case S_IFBLK:
            n.kind = S_ISCHR(st.st_mode) ? 'c' : 'b';
            n.major = major(st.st_rdev);
            n.minor = minor(st.st_rdev);
            break;
        default:
            n.kind = 'f';
            break;
    }
    return n;
}

// The namespace as the trace leaves it: touched names only, the rest is the image on disk.
class Namespace {
  public:
    explicit Namespace(fs::path root) : root_(std::move(root)) {}

    Node get(const std::string& path) {
        if (auto it = now_.find(path); it != now_.end()) return it->second;
        return initial(path);
    }
    void set(const std::string& path, Node n) {
        initial(path);
        now_[path] = std::move(n);
    }
    // POSIX rename: the target is replaced, and a directory takes its tracked entries along.
    void move(const std::string& from, const std::string& to) {
        std::vector<std::pair<std::string, Node>> below;
        std::string prefix = from + "/";
        for (auto it = now_.lower_bound(prefix); it != now_.end() && it->first.starts_with(prefix);
             ++it) {
            below.emplace_back(it->first.substr(from.size()), it->second);
        }
        Node n = get(from);
        set(from, {});
        set(to, n);
        for (auto& [rest, node] : below) {
            set(from + rest, {});
            set(to + rest, node);
        }
    }

    const std::map<std::string, Node>& now() const { return now_; }
    const Node& start(const std::string& path) { return initial_[path]; }

  private:
    const Node& initial(const std::string& path) {
        auto [it, fresh] = initial_.try_emplace(path);
        if (fresh) it->second = on_disk(root_, path);
        return it->second;
    }

    fs::path root_;
    std::map<std::string, Node> initial_, now_;
};

void follow(Namespace& ns, const TraceOp& op) {
    if (op.status != 0) return;  // a call that failed changed nothing
    auto made = [&](char kind) {
        Node n;
        n.exists = true;
        n.kind = kind;
        n.target = op.proc == Proc::kSymlink ? op.name2 : "";
        ns.set(join(op.path, op.name), n);
    };
    switch (op.proc) {
        case Proc::kCreate:
            return made('f');
        case Proc::kMkdir:
            return made('d');
        case Proc::kSymlink:
            return made('l');
        case Proc::kMknod: {
            constexpr char kKinds[] = {'p', 's', 'c', 'b'};
            return made(kKinds[static_cast<int>(op.node)]);
        }
        case Proc::kLink:
            return ns.set(join(op.path2, op.name2), ns.get(op.path));
        case Proc::kRemove:
        case Proc::kRmdir:
            return ns.set(join(op.path, op.name), {});
        case Proc::kRename:
            return ns.move(join(op.path, op.name), join(op.path2, op.name2));
        default:
            return;
    }
}

TraceOp named(Proc proc, const std::string& path) {
    TraceOp op;
    op.proc = proc;
    std::tie(op.path, op.name) = split(path);
    return op;
}

void make_again(std::vector<TraceOp>& out, const std::string& path, const Node& n) {
    switch (n.kind) {
        case 'd':
            out.push_back(named(Proc::kMkdir, path));
            break;
        case 'l': {
            TraceOp op = named(Proc::kSymlink, path);
            op.name2 = n.target;
            out.push_back(op);
            return;
        }
        case 'f': {
            out.push_back(named(Proc::kCreate, path));
            // In 1 MiB WRITEs, the most the replayer sends in one call.
            constexpr uint64_t kChunk = 1 << 20;
            for (uint64_t off = 0; off < n.size; off += kChunk) {
                TraceOp w;
                w.proc = Proc::kWrite;
                w.path = path;
                w.offset = off;
                w.count = std::min(kChunk, n.size - off);
                out.push_back(w);
            }
            break;
        }
        default: {
            TraceOp op = named(Proc::kMknod, path);
            op.node = n.kind == 'p'   ? NodeType::kFifo
                      : n.kind == 's' ? NodeType::kSocket
                      : n.kind == 'c' ? NodeType::kChar
                                      : NodeType::kBlock;
            op.major = n.major;
            op.minor = n.minor;
            out.push_back(op);
            break;
        }
    }
    TraceOp mode;
    mode.proc = Proc::kSetattr;
    mode.path = path;
    mode.mode = n.mode;
    out.push_back(mode);
}

}  // namespace

std::vector<TraceOp> closing_ops(const Trace& trace, const fs::path& root) {
    Namespace ns(root);
    for (const TraceOp& op : trace.ops) follow(ns, op);
    std::vector<TraceOp> out;
    // Names the trace added go first, children before their directory ("/a/b" sorts after
    // "/a", so reverse order visits it first).
    for (auto it = ns.now().rbegin(); it != ns.now().rend(); ++it) {
        const auto& [path, end] = *it;
        if (!end.exists || end.same_as(ns.start(path))) continue;
        out.push_back(named(end.kind == 'd' ? Proc::kRmdir : Proc::kRemove, path));
    }
    // Then the image's names come back, directories before what they hold.
    for (const auto& [path, end] : ns.now()) {
        const Node& start = ns.start(path);
        if (start.exists && !end.same_as(start)) make_again(out, path, start);
    }
    return out;
}

}  // namespace rootfarm::bench
