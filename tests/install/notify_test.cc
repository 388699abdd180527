// `rootfarm serve` tells systemd what it is doing (Type=notify in rootfarm.service): READY=1
// once every listener is open, STATUS= with the number of configured Pis, RELOADING=1 then
// READY=1 around a SIGHUP reload, a new STATUS= after `rootfarm reload`, STOPPING=1 on SIGTERM.
// The test plays systemd's part: NOTIFY_SOCKET names a datagram socket it reads.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>
#include <optional>

#include "tests/support/serve_process.h"

namespace rootfarm::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The receiving end of NOTIFY_SOCKET, as systemd binds it.
class NotifySocket {
  public:
    explicit NotifySocket(const fs::path& path) : path_(path) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        path.string().copy(addr.sun_path, sizeof addr.sun_path - 1);
        bound_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    }
    ~NotifySocket() {
        if (fd_ >= 0) ::close(fd_);
    }
    bool bound() const { return bound_; }

    // The next message, or nothing within `timeout`.
    std::optional<std::string> next(std::chrono::milliseconds timeout = 20s) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
        char buf[4096];
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n < 0) return std::nullopt;
        return std::string(buf, static_cast<size_t>(n));
    }

  private:
    fs::path path_;
    int fd_ = -1;
    bool bound_ = false;
};

// NOTIFY_SOCKET for the servers this test starts (ServeProcess forks and inherits it).
class ScopedNotifyEnv {
  public:
    explicit ScopedNotifyEnv(const fs::path& path) { ::setenv("NOTIFY_SOCKET", path.c_str(), 1); }
    ~ScopedNotifyEnv() { ::unsetenv("NOTIFY_SOCKET"); }
};

bool tcp_connects(uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

std::string client(int i) {
    return "[[client]]\nmac = \"52:54:00:00:00:0" + std::to_string(i) + "\"\n";
}

TEST(Notify, ReadyStatusReloadingAndStoppingAsSystemdExpects) {
    TempDir dir;
    const fs::path state = dir.path() / "state";
    fs::create_directories(state / "images/golden/root/etc");
    fs::create_directories(state / "images/golden/boot");
    const uint16_t nfs = free_port();
    const std::string head = "state_dir = \"" + state.string() + "\"\nserver_ip = \"127.0.0.1\"\n" +
                             "[nfs]\nlisten = \"127.0.0.1\"\nport = " + std::to_string(nfs) +
                             "\nmount_port = " + std::to_string(free_port()) +
                             "\nportmap_port = " + std::to_string(free_port()) +
                             "\nportmap = \"builtin\"\nthreads = 1\n[tftp]\nlisten = " +
                             "\"127.0.0.1\"\nport = " + std::to_string(free_port()) +
                             "\n[defaults]\nimage = \"golden\"\n";
    const fs::path config = dir.path() / "farm.toml";
    std::ofstream(config) << head << client(1) << client(2);

    NotifySocket notify(dir.path() / "notify");
    ASSERT_TRUE(notify.bound());
    ScopedNotifyEnv env(dir.path() / "notify");
    ServeProcess server(config);

    auto ready = notify.next();
    ASSERT_TRUE(ready) << "no READY=1 within 20 s:\n" << server.log();
    EXPECT_EQ(*ready, "READY=1\nSTATUS=serving 2 Pis") << server.log();
    // systemd starts what is ordered after rootfarm at READY=1: it must already be serving.
    EXPECT_TRUE(tcp_connects(nfs)) << server.log();

    std::ofstream(config) << head << client(1) << client(2) << client(3);
    ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
    EXPECT_EQ(notify.next().value_or("(none)"), "RELOADING=1") << server.log();
    EXPECT_EQ(notify.next().value_or("(none)"), "READY=1\nSTATUS=serving 3 Pis") << server.log();

    // `rootfarm reload` (and `client add`/`rm`, which use it) changes the count as well.
    std::ofstream(config) << head << client(1);
    const auto reload =
        run_command({rootfarm_binary().string(), "--config", config.string(), "reload"}, 30s);
    ASSERT_EQ(reload.status, 0) << reload.out << reload.err;
    EXPECT_EQ(notify.next().value_or("(none)"), "STATUS=serving 1 Pi") << server.log();

    ASSERT_EQ(::kill(server.pid(), SIGTERM), 0);
    EXPECT_EQ(notify.next().value_or("(none)"), "STOPPING=1") << server.log();
    EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
}

}  // namespace
}  // namespace rootfarm::testing
