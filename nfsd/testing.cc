#include "nfsd/testing.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <random>

#include "nfsd/nfs3.h"
#include "nfsd/nfs3_xdr.h"

namespace rootfarm::nfsd::testing {

namespace fs = std::filesystem;

uint16_t free_port() {
    static std::mt19937 rng(std::random_device{}());
    for (int attempt = 0; attempt < 1000; ++attempt) {
        uint16_t port = static_cast<uint16_t>(20000 + rng() % 12000);
        bool ok = true;
        for (int type : {SOCK_STREAM, SOCK_DGRAM}) {
            int fd = ::socket(AF_INET, type, 0);
            sockaddr_in sa = make_sockaddr(Ipv4{INADDR_LOOPBACK}, port);
            ok = ok && ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
            ::close(fd);
        }
        if (ok) return port;
    }
    return 0;
}

StateDir::StateDir() {
    std::string tmpl = (fs::temp_directory_path() / "rootfarm-nfsd-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
    fs::create_directories(root());
    fs::create_directories(path_ / "images/default/boot");
    std::ofstream(path_ / "images/default/boot/config.txt") << "arm_64bit=1\n";
}

StateDir::~StateDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

void StateDir::write(const std::string& rel, const std::string& content, unsigned mode,
                     unsigned uid, unsigned gid) {
    fs::path p = root() / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    // chown(2) clears setuid/setgid, so it goes first.
    if (::chown(p.c_str(), uid, gid) != 0) throw std::runtime_error("chown failed");
    ::chmod(p.c_str(), mode);
}

void StateDir::mkdir(const std::string& rel, unsigned mode, unsigned uid, unsigned gid) {
    fs::path p = root() / rel;
    fs::create_directories(p);
    if (::chown(p.c_str(), uid, gid) != 0) throw std::runtime_error("chown failed");
    ::chmod(p.c_str(), mode);
}

void pick_ports(Config& c) {
    c.nfs.port = free_port();
    do {
        c.nfs.mount_port = free_port();
    } while (c.nfs.mount_port == c.nfs.port);
    do {
        c.nfs.portmap_port = free_port();
    } while (c.nfs.portmap_port == c.nfs.port || c.nfs.portmap_port == c.nfs.mount_port);
}

void add_second_client(Config& config, const char* ip) {
    ClientConfig other;
    other.mac = *MacAddr::parse("b8:27:eb:00:00:02");
    other.ip = *Ipv4::parse(ip);
    other.image = "default";
    other.hostname = "pi-other";
    config.clients.push_back(other);
}

Config test_config(const fs::path& state_dir) {
    Config c;
    c.state_dir = state_dir;
    c.server_ip = Ipv4{INADDR_LOOPBACK};
    c.nfs.listen = Ipv4{INADDR_LOOPBACK};
    pick_ports(c);
    c.nfs.portmap = NfsConfig::Portmap::kBuiltin;
    c.nfs.udp = true;
    c.nfs.threads = 2;
    c.tftp.enabled = false;
    ClientConfig client;
    client.mac = *MacAddr::parse("b8:27:eb:00:00:01");
    client.ip = Ipv4{INADDR_LOOPBACK};
    client.image = "default";
    client.hostname = "pi-test";
    c.clients.push_back(client);
    return c;
}

InProcessServer::InProcessServer(const Config& config, int threads) : config_(config) {
    store::StoreOptions options;
    options.state_dir = config_.state_dir;
    options.client_quota = config_.store.client_quota;  // as `rootfarm serve` does
    auto store = store::Store::open(options);
    if (!store) return;
    store_ = std::move(*store);
    clients_ = std::make_unique<Clients>(config_, store_.get());
    auto nfs = NfsServer::create(config_, *clients_);
    if (!nfs) return;
    nfs_ = std::move(*nfs);
    loops_.assign(threads, nullptr);
    bool all = true;
    // Workers start one after another so each sees the ports worker 0 bound.
    for (int i = 0; i < threads; ++i) {
        std::promise<bool> started;
        auto fut = started.get_future();
        threads_.emplace_back([this, i, &started] {
            auto loop = Loop::create();
            if (!loop) {
                started.set_value(false);
                return;
            }
            bool ok = nfs_->start(**loop, i).ok();
            if (ok) loops_[i] = loop->get();
            started.set_value(ok);
            if (ok) (*loop)->run();
        });
        all = fut.get() && all;
    }
    ok_ = all;
}

std::unique_ptr<InProcessServer> InProcessServer::start(Config& config, int threads) {
    for (int attempt = 0; attempt < 5; ++attempt) {
        auto server = std::make_unique<InProcessServer>(config, threads);
        if (server->ok()) return server;
        server.reset();
        pick_ports(config);
    }
    return nullptr;
}

InProcessServer::~InProcessServer() {
    for (Loop* l : loops_)
        if (l) l->stop();
    for (auto& t : threads_) t.join();
    nfs_.reset();
    clients_.reset();
    store_.reset();
}

std::vector<uint8_t> build_call(uint32_t xid, uint32_t prog, uint32_t vers, uint32_t proc,
                                const std::vector<uint8_t>& args, uint32_t uid, uint32_t gid) {
    std::vector<uint8_t> v;
    XdrWriter w(v);
    w.u32(xid);
    w.u32(0);
    w.u32(2);
    w.u32(prog);
    w.u32(vers);
    w.u32(proc);
    w.u32(1);  // AUTH_SYS
    std::vector<uint8_t> cred;
    XdrWriter c(cred);
    c.u32(0);
    c.string("test");
    c.u32(uid);
    c.u32(gid);
    c.u32(0);
    w.opaque(cred);
    w.u32(0);
    w.u32(0);
    v.insert(v.end(), args.begin(), args.end());
    return v;
}

std::optional<RpcReply> parse_reply(std::vector<uint8_t> bytes) {
    RpcReply r;
    XdrReader x(bytes);
    r.xid = x.u32();
    if (x.u32() != 1) return std::nullopt;
    r.reply_stat = x.u32();
    if (r.reply_stat == 0) {
        x.u32();
        x.opaque(400);
    }
    r.accept_stat = x.u32();
    if (!x.ok()) return std::nullopt;
    r.results_offset = x.position();
    r.body = std::move(bytes);
    return r;
}

RawRpc::RawRpc(uint16_t port, const char* source) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    ::inet_pton(AF_INET, source, &src.sin_addr);
    sockaddr_in dst = make_sockaddr(Ipv4{INADDR_LOOPBACK}, port);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
        ::connect(fd_, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

RawRpc::~RawRpc() {
    if (fd_ >= 0) ::close(fd_);
}

bool RawRpc::send_raw(const std::vector<uint8_t>& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
        ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
        if (n <= 0) return false;
        off += n;
    }
    return true;
}

bool RawRpc::send_record(const std::vector<uint8_t>& msg, size_t fragment) {
    std::vector<uint8_t> out;
    size_t off = 0;
    do {
        size_t len = std::min(fragment, msg.size() - off);
        uint32_t mark = static_cast<uint32_t>(len) | (off + len == msg.size() ? 0x80000000u : 0);
        XdrWriter(out).u32(mark);
        out.insert(out.end(), msg.begin() + off, msg.begin() + off + len);
        off += len;
    } while (off < msg.size());
    return send_raw(out);
}

bool RawRpc::read_exact(uint8_t* p, size_t n, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (n > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd pfd{fd_, POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) return false;
        ssize_t got = ::recv(fd_, p, n, 0);
        if (got <= 0) return false;
        p += got;
        n -= got;
    }
    return true;
}

std::optional<RpcReply> RawRpc::receive(std::chrono::milliseconds timeout) {
    std::vector<uint8_t> body;
    for (;;) {
        uint8_t mark[4];
        if (!read_exact(mark, 4, timeout)) return std::nullopt;
        uint32_t m =
            uint32_t{mark[0]} << 24 | uint32_t{mark[1]} << 16 | uint32_t{mark[2]} << 8 | mark[3];
        size_t len = m & 0x7fffffff;
        size_t at = body.size();
        body.resize(at + len);
        if (!read_exact(body.data() + at, len, timeout)) return std::nullopt;
        if (m & 0x80000000u) break;
    }
    return parse_reply(std::move(body));
}

std::optional<RpcReply> RawRpc::call(const std::vector<uint8_t>& msg) {
    if (!send_record(msg)) return std::nullopt;
    return receive();
}

bool RawRpc::closed_by_peer(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    uint8_t buf[4096];
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd pfd{fd_, POLLIN, 0};
        if (::poll(&pfd, 1, 100) < 0) return true;
        if (pfd.revents == 0) continue;
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) return true;
    }
    return false;
}

std::optional<RpcReply> udp_call(uint16_t port, const std::vector<uint8_t>& msg) {
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in dst = make_sockaddr(Ipv4{INADDR_LOOPBACK}, port);
    std::optional<RpcReply> out;
    for (int attempt = 0; attempt < 5 && !out; ++attempt) {
        ::sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst);
        pollfd pfd{fd, POLLIN, 0};
        if (::poll(&pfd, 1, 2000) <= 0) continue;
        std::vector<uint8_t> buf(65536);
        ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n > 0) {
            buf.resize(n);
            out = parse_reply(std::move(buf));
        }
    }
    ::close(fd);
    return out;
}

void put_fh(XdrWriter& w, std::span<const uint8_t> fh) {
    w.opaque(fh);
}

std::vector<uint8_t> fh_args(std::span<const uint8_t> fh) {
    std::vector<uint8_t> v;
    XdrWriter w(v);
    w.opaque(fh);
    return v;
}

std::vector<uint8_t> io_args(std::span<const uint8_t> fh, uint64_t offset, uint32_t count) {
    std::vector<uint8_t> v;
    XdrWriter w(v);
    w.opaque(fh);
    w.u64(offset);
    w.u32(count);
    return v;
}

std::optional<std::string> read_data(const RpcReply& reply) {
    XdrReader x = reply.results();
    if (x.u32() != kNfs3Ok) return std::nullopt;
    if (x.boolean()) x.skip(kFattr3Bytes);
    x.u32();      // count
    x.boolean();  // eof
    auto data = x.opaque(1u << 20);
    if (!x.ok()) return std::nullopt;
    return std::string(data.begin(), data.end());
}

std::optional<uint64_t> commit_verifier(const RpcReply& reply) {
    XdrReader x = reply.results();
    if (x.u32() != kNfs3Ok) return std::nullopt;
    if (x.boolean()) x.skip(24);  // pre-op wcc_attr
    if (x.boolean()) x.skip(kFattr3Bytes);
    uint64_t v = x.u64();
    if (!x.ok()) return std::nullopt;
    return v;
}

std::optional<std::vector<uint8_t>> mount_root(uint16_t mount_port, const std::string& path,
                                               const char* source) {
    RawRpc rpc(mount_port, source);
    std::vector<uint8_t> args;
    XdrWriter(args).string(path);
    auto r = rpc.call(build_call(1, 100005, 3, 1, args));
    if (!r || r->accept_stat != 0) return std::nullopt;
    XdrReader x = r->results();
    if (x.u32() != 0) return std::nullopt;
    auto fh = x.opaque(64);
    if (!x.ok()) return std::nullopt;
    return std::vector<uint8_t>(fh.begin(), fh.end());
}

std::optional<std::vector<uint8_t>> lookup(RawRpc& rpc, const std::vector<uint8_t>& dir,
                                           const std::string& name, uint32_t* status) {
    static uint32_t xid = 0x10000;
    std::vector<uint8_t> args;
    XdrWriter w(args);
    w.opaque(dir);
    w.string(name);
    auto r = rpc.call(build_call(++xid, kNfsProgram, 3, kNfs3Lookup, args));
    if (!r || r->accept_stat != 0) return std::nullopt;
    XdrReader x = r->results();
    uint32_t st = x.u32();
    if (status) *status = st;
    if (st != 0) return std::nullopt;
    auto fh = x.opaque(64);
    return std::vector<uint8_t>(fh.begin(), fh.end());
}

}  // namespace rootfarm::nfsd::testing

namespace rootfarm::nfsd::testing {

std::string big_content() {
    std::string s((3u << 20) + 123, '\0');
    uint32_t x = 12345;
    for (char& c : s) {
        x = x * 1103515245 + 12345;
        c = static_cast<char>(x >> 16);
    }
    return s;
}

void make_standard_image(StateDir& dir) {
    dir.write("etc/hostname", "golden\n");
    dir.write("etc/secret", "s3cret", 0600);
    dir.write("bin/tool", "#!/bin/sh\necho tool\n", 0755);
    dir.write("sbin/su", "setuid binary", 04755);
    fs::create_directories(dir.root() / "lib");
    fs::create_symlink("../etc/hostname", dir.root() / "lib/hostname-link");
    dir.write("big.bin", big_content());
    dir.mkdir("many");
    for (int i = 0; i < 5000; ++i) {
        char name[16];
        std::snprintf(name, sizeof name, "f%04d", i);
        std::ofstream(dir.root() / "many" / name) << i;
    }
    dir.mkdir("home/pi", 0755, 1000, 1000);
    dir.write("data/a", "linked data");
    fs::create_hard_link(dir.root() / "data/a", dir.root() / "data/b");
    dir.mkdir("tmp", 01777);
}

}  // namespace rootfarm::nfsd::testing
