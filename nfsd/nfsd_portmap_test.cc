// Integration: the builtin portmapper (RFC 1833) as libtirpc's client sees it. Separate from the
// libnfs tests: libtirpc's and libnfs's RPC headers cannot share a translation unit.

#include <gtest/gtest.h>
#include <rpc/rpc.h>  // first: pmap_prot.h needs its types

#include <rpc/pmap_prot.h>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <set>
#include <string>
#include <tuple>

#include "nfsd/testing.h"

namespace rootfarm::nfsd {
namespace {

using namespace testing;

TEST(NfsPortmap, PortmapDumpAndGetportThroughLibtirpc) {
    StateDir dir;
    Config config = test_config(dir.path());
    auto server = InProcessServer::start(config);
    ASSERT_NE(server, nullptr);
    sockaddr_in addr = make_sockaddr(Ipv4{INADDR_LOOPBACK}, config.nfs.portmap_port);
    int sock = RPC_ANYSOCK;
    CLIENT* clnt = clnttcp_create(&addr, PMAPPROG, PMAPVERS, &sock, 0, 0);
    ASSERT_NE(clnt, nullptr);
    pmaplist* list = nullptr;
    timeval tv{10, 0};
    auto void_proc = reinterpret_cast<xdrproc_t>(reinterpret_cast<void*>(xdr_void));
    ASSERT_EQ(
        clnt_call(clnt, PMAPPROC_DUMP, void_proc, nullptr,
                  reinterpret_cast<xdrproc_t>(xdr_pmaplist), reinterpret_cast<char*>(&list), tv),
        RPC_SUCCESS);
    std::set<std::tuple<unsigned long, unsigned long, unsigned long, unsigned long>> seen;
    for (pmaplist* p = list; p; p = p->pml_next) {
        seen.emplace(p->pml_map.pm_prog, p->pml_map.pm_vers, p->pml_map.pm_prot,
                     p->pml_map.pm_port);
    }
    EXPECT_TRUE(seen.count({100003, 3, IPPROTO_TCP, config.nfs.port}));
    EXPECT_TRUE(seen.count({100003, 3, IPPROTO_UDP, config.nfs.port}));
    EXPECT_TRUE(seen.count({100005, 3, IPPROTO_TCP, config.nfs.mount_port}));
    EXPECT_TRUE(seen.count({100005, 1, IPPROTO_TCP, config.nfs.mount_port}));
    clnt_freeres(clnt, reinterpret_cast<xdrproc_t>(xdr_pmaplist), reinterpret_cast<char*>(&list));

    pmap query{100005, 3, IPPROTO_TCP, 0};
    u_long got = 0;
    ASSERT_EQ(clnt_call(clnt, PMAPPROC_GETPORT, reinterpret_cast<xdrproc_t>(xdr_pmap),
                        reinterpret_cast<char*>(&query), reinterpret_cast<xdrproc_t>(xdr_u_long),
                        reinterpret_cast<char*>(&got), tv),
              RPC_SUCCESS);
    EXPECT_EQ(got, config.nfs.mount_port);
    query.pm_prog = 100227;  // NFSACL is not offered
    ASSERT_EQ(clnt_call(clnt, PMAPPROC_GETPORT, reinterpret_cast<xdrproc_t>(xdr_pmap),
                        reinterpret_cast<char*>(&query), reinterpret_cast<xdrproc_t>(xdr_u_long),
                        reinterpret_cast<char*>(&got), tv),
              RPC_SUCCESS);
    EXPECT_EQ(got, 0u);
    clnt_destroy(clnt);

    // GETPORT over UDP too, as some clients ask.
    std::vector<uint8_t> args;
    XdrWriter w(args);
    w.u32(100003);
    w.u32(3);
    w.u32(IPPROTO_TCP);
    w.u32(0);
    auto r = udp_call(config.nfs.portmap_port, build_call(3, 100000, 2, 3, args));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->results().u32(), config.nfs.port);
}

// Runs `body` in a child process with its own network namespace (a private loopback, nothing
// else) and mount namespace (a private /run, where rpcbind keeps its socket), so the server can
// take port 111 without touching the host. `rpcinfo -p` only ever asks port 111.
// Returns the child's exit status (77: no permission for namespaces) and everything it printed.
std::pair<int, std::string> in_namespaces(const std::function<int()>& body) {
    int out[2];
    if (::pipe(out) != 0) return {-1, "pipe failed"};
    pid_t pid = ::fork();
    if (pid < 0) return {-1, "fork failed"};
    if (pid == 0) {
        ::dup2(out[1], 1);
        ::dup2(out[1], 2);
        ::close(out[0]);
        ::close(out[1]);
        if (::unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) ::_exit(77);
        if (std::system("mount --make-rprivate / && mount -t tmpfs tmpfs /run && "
                        "mkdir -p /run/rpcbind && chown _rpc /run/rpcbind && "
                        "ip link set lo up") != 0) {
            ::_exit(78);
        }
        ::_exit(body());
    }
    ::close(out[1]);
    std::string text;
    char buf[4096];
    for (;;) {
        pollfd pfd{out[0], POLLIN, 0};
        if (::poll(&pfd, 1, 90000) <= 0) break;
        ssize_t n = ::read(out[0], buf, sizeof buf);
        if (n <= 0) break;
        text.append(buf, n);
    }
    ::close(out[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : 128, text};
}

// Runs rpcinfo -p 127.0.0.1 (bounded) in the child; its output goes to the test's pipe.
int rpcinfo_p() {
    std::fflush(stdout);
    int status = std::system("timeout 30 rpcinfo -p 127.0.0.1");
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

// Whether `rpcinfo -p` output lists prog/vers/proto at port.
bool listed(const std::string& text, unsigned prog, unsigned vers, const std::string& proto,
            unsigned port) {
    // rpcinfo -p prints "    100003    3   tcp   2049  nfs".
    size_t at = 0;
    while (at < text.size()) {
        size_t end = text.find('\n', at);
        if (end == std::string::npos) end = text.size();
        std::string line = text.substr(at, end - at);
        unsigned pr = 0, v = 0, po = 0;
        char p[16] = {};
        if (std::sscanf(line.c_str(), "%u %u %15s %u", &pr, &v, p, &po) == 4 && pr == prog &&
            v == vers && proto == p && po == port) {
            return true;
        }
        at = end + 1;
    }
    return false;
}

// "PORTS nfs N mount M" printed by the child, so the parent knows the ports it picked.
std::pair<unsigned, unsigned> printed_ports(const std::string& text) {
    unsigned nfs = 0, mount = 0;
    size_t at = text.find("PORTS ");
    if (at != std::string::npos) std::sscanf(text.c_str() + at, "PORTS %u %u", &nfs, &mount);
    return {nfs, mount};
}

// In the namespaces: a server in portmap `mode` with port 111; prints its ports and returns
// `while_serving()`, or 79 if it did not start.
int serve_with_portmap(NfsConfig::Portmap mode, const std::function<int()>& while_serving) {
    StateDir dir;
    Config config = test_config(dir.path());
    config.nfs.portmap_port = 111;
    config.nfs.portmap = mode;
    InProcessServer server(config);
    if (!server.ok()) return 79;
    std::printf("PORTS %u %u\n", config.nfs.port, config.nfs.mount_port);
    return while_serving();
}

TEST(NfsPortmap, AnswersRpcinfoOnPort111) {
    // "builtin", and "auto" with no rpcbind running: the server answers portmap itself so an
    // unmodified kernel nfsroot= finds MOUNT and NFS (docs/architecture.md, docs/pi-boot.md NFS 16).
    for (auto mode : {NfsConfig::Portmap::kBuiltin, NfsConfig::Portmap::kAuto}) {
        auto [status, text] = in_namespaces([mode] { return serve_with_portmap(mode, rpcinfo_p); });
        if (status == 77) GTEST_SKIP() << "no permission to create namespaces";
        ASSERT_EQ(status, 0) << text;
        auto [nfs_port, mount_port] = printed_ports(text);
        EXPECT_TRUE(listed(text, 100000, 2, "tcp", 111)) << text;
        EXPECT_TRUE(listed(text, 100003, 3, "tcp", nfs_port)) << text;
        EXPECT_TRUE(listed(text, 100003, 3, "udp", nfs_port)) << text;
        EXPECT_TRUE(listed(text, 100005, 3, "tcp", mount_port)) << text;
        EXPECT_TRUE(listed(text, 100005, 1, "udp", mount_port)) << text;
    }
}

TEST(NfsPortmap, OffMeansNoPortmapper) {
    StateDir dir;
    Config config = test_config(dir.path());
    config.nfs.portmap = NfsConfig::Portmap::kOff;
    auto server = InProcessServer::start(config);
    ASSERT_NE(server, nullptr);
    EXPECT_FALSE(RawRpc(config.nfs.portmap_port).connected());
    EXPECT_TRUE(RawRpc(config.nfs.port).connected());
}

TEST(NfsPortmap, RegistersWithARunningRpcbindAndUnregistersOnExit) {
    auto [status, text] = in_namespaces([] {
        pid_t rpcbind = ::fork();
        if (rpcbind == 0) {
            int null = ::open("/dev/null", O_RDWR);
            ::dup2(null, 0);
            ::dup2(null, 1);
            ::dup2(null, 2);
            ::execlp("rpcbind", "rpcbind", "-w", "-f", nullptr);
            ::_exit(127);
        }
        // Wait (bounded) until rpcbind answers.
        bool up = false;
        for (int i = 0; i < 100 && !up; ++i) {
            up = std::system("rpcinfo -p 127.0.0.1 >/dev/null 2>&1") == 0;
            if (!up) ::usleep(50000);
        }
        int rc = up ? serve_with_portmap(NfsConfig::Portmap::kAuto, rpcinfo_p) : 80;
        std::printf("AFTER EXIT\n");
        if (rc == 0) rc = rpcinfo_p();
        ::kill(rpcbind, SIGTERM);
        ::waitpid(rpcbind, nullptr, 0);
        return rc;
    });
    if (status == 77) GTEST_SKIP() << "no permission to create namespaces";
    ASSERT_EQ(status, 0) << text;
    auto [nfs_port, mount_port] = printed_ports(text);
    size_t split = text.find("AFTER EXIT");
    ASSERT_NE(split, std::string::npos) << text;
    std::string serving = text.substr(0, split), after = text.substr(split);
    EXPECT_TRUE(listed(serving, 100003, 3, "tcp", nfs_port)) << text;
    EXPECT_TRUE(listed(serving, 100005, 3, "tcp", mount_port)) << text;
    EXPECT_TRUE(listed(serving, 100005, 1, "udp", mount_port)) << text;
    EXPECT_FALSE(listed(after, 100003, 3, "tcp", nfs_port)) << text;
    EXPECT_TRUE(listed(after, 100000, 2, "tcp", 111)) << text;  // rpcbind itself remains
}

}  // namespace
}  // namespace rootfarm::nfsd
