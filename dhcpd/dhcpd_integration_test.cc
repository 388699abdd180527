// The real `rootfarm serve` answering real DHCP clients (busybox udhcpc, ISC dhclient) and a
// Pi 4 EEPROM DISCOVER over a veth pair between two network namespaces this test creates and
// always deletes. Needs root for `ip netns add`; skipped with the reason otherwise.

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "dhcpd/packet.h"
#include "dhcpd/pxe.h"
#include "dhcpd/test_packets.h"
#include "tests/support/serve_process.h"

namespace rootfarm::dhcpd {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using rootfarm::testing::run_command;
using rootfarm::testing::TempDir;

constexpr std::string_view kMacA = "52:54:00:aa:bb:01";  // static 10.77.0.40
constexpr std::string_view kMacB = "52:54:00:aa:bb:02";  // from the range
constexpr std::string_view kMacC = "52:54:00:aa:bb:03";  // from the range
constexpr std::string_view kStranger = "52:54:00:ee:ee:ee";

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// "KEY=VALUE" lines, as `env` prints them.
std::map<std::string, std::string> parse_env(const std::string& text) {
    std::map<std::string, std::string> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        auto eq = line.find('=');
        if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return out;
}

bool ok(const std::vector<std::string>& argv) {
    return run_command(argv, 20s).status == 0;
}

class DhcpNetns : public ::testing::Test {
  protected:
    void SetUp() override {
        static std::atomic<int> counter{0};
        std::string id = std::to_string(::getpid() % 100000) + "x" + std::to_string(counter++);
        srv_ns_ = "rfdhcp-s" + id;
        cli_ns_ = "rfdhcp-c" + id;
        srv_if_ = "rfs" + id;
        cli_if_ = "rfc" + id;
        auto add = run_command({"ip", "netns", "add", srv_ns_}, 20s);
        if (add.status != 0) {
            GTEST_SKIP() << "cannot create a network namespace (`ip netns add` needs root): "
                         << add.err;
        }
        srv_created_ = true;
        ASSERT_TRUE(ok({"ip", "netns", "add", cli_ns_}));
        cli_created_ = true;
        // Both ends are created inside the namespaces: nothing appears on the host.
        ASSERT_TRUE(ok({"ip", "link", "add", srv_if_, "netns", srv_ns_, "type", "veth", "peer",
                        "name", cli_if_, "netns", cli_ns_}));
        ASSERT_TRUE(ok({"ip", "-n", srv_ns_, "addr", "add", "10.77.0.1/24", "dev", srv_if_}));
        ASSERT_TRUE(ok({"ip", "-n", srv_ns_, "link", "set", "lo", "up"}));
        ASSERT_TRUE(ok({"ip", "-n", srv_ns_, "link", "set", srv_if_, "up"}));
        ASSERT_TRUE(ok({"ip", "-n", cli_ns_, "link", "set", "lo", "up"}));
        set_client_mac(kMacA);
    }

    void TearDown() override {
        stop_server();
        if (srv_created_) run_command({"ip", "netns", "del", srv_ns_}, 20s);
        if (cli_created_) run_command({"ip", "netns", "del", cli_ns_}, 20s);
    }

    void set_client_mac(std::string_view mac) {
        ASSERT_TRUE(ok({"ip", "-n", cli_ns_, "link", "set", cli_if_, "down"}));
        ASSERT_TRUE(ok({"ip", "-n", cli_ns_, "link", "set", cli_if_, "address", std::string(mac)}));
        ASSERT_TRUE(ok({"ip", "-n", cli_ns_, "link", "set", cli_if_, "up"}));
    }

    fs::path write_config() {
        fs::path path = dir_.path() / "rootfarm.toml";
        std::ofstream out(path);
        out << "state_dir = \"" << (dir_.path() / "state").string() << "\"\n"
            << "server_ip = \"10.77.0.1\"\n"
            << "[log]\nlevel = \"debug\"\n"
            << (boot_services_ ? "[nfs]\nportmap = \"builtin\"\nthreads = 1\n"
                               : "[nfs]\nenabled = false\n")
            << (boot_services_ ? "[tftp]\n" : "[tftp]\nenabled = false\n")
            << "[dhcp]\nenabled = true\nmode = \"" << mode_ << "\"\n"
            << "interface = \"" << srv_if_ << "\"\n"
            << "range_start = \"10.77.0.100\"\nrange_end = \"10.77.0.120\"\n"
            << "router = \"10.77.0.1\"\ndns = [\"10.77.0.53\"]\ndomain = \"farm.test\"\n"
            << "lease_time = 600\n"
            << "[[client]]\nmac = \"" << kMacA << "\"\nip = \"10.77.0.40\"\n"
            << "hostname = \"node-a\"\nimage = \"" << image_a_ << "\"\n"
            << "[[client]]\nmac = \"" << kMacB << "\"\nhostname = \"node-b\"\n"
            << "[[client]]\nmac = \"" << kMacC << "\"\nhostname = \"node-c\"\n"
            << "[[client]]\nmac = \"" << testing::pi4_mac().to_string() << "\"\n"
            << "ip = \"10.77.0.44\"\n"
            << "[[client]]\nmac = \"" << testing::pi3_mac().to_string() << "\"\n";
        return path;
    }

    // Starts `rootfarm serve` inside the server namespace.
    void start_server() {
        fs::path config = write_config();
        log_path_ = dir_.path() / ("serve-" + std::to_string(starts_++) + ".log");
        std::string ns_path = "/var/run/netns/" + srv_ns_;
        std::string binary = rootfarm::testing::rootfarm_binary().string();
        std::string config_s = config.string();
        int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ASSERT_GE(log_fd, 0);
        server_ = ::fork();
        ASSERT_GE(server_, 0);
        if (server_ == 0) {
            int ns = ::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
            if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0) ::_exit(126);
            ::dup2(log_fd, 1);
            ::dup2(log_fd, 2);
            ::execl(binary.c_str(), "rootfarm", "serve", "--config", config_s.c_str(),
                    static_cast<char*>(nullptr));
            ::_exit(127);
        }
        ::close(log_fd);
        auto deadline = std::chrono::steady_clock::now() + 20s;
        while (slurp(log_path_).find("rootfarm serving") == std::string::npos) {
            int status = 0;
            ASSERT_EQ(::waitpid(server_, &status, WNOHANG), 0) << "rootfarm serve exited:\n"
                                                               << slurp(log_path_);
            ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "rootfarm serve not ready:\n"
                                                                  << slurp(log_path_);
            std::this_thread::sleep_for(20ms);
        }
    }

    // SIGTERM, as an operator stops it; the leases are flushed on the way out.
    void stop_server() {
        if (server_ <= 0) return;
        ::kill(server_, SIGTERM);
        auto deadline = std::chrono::steady_clock::now() + 15s;
        int status = 0;
        while (::waitpid(server_, &status, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > deadline) {
                ::kill(server_, SIGKILL);
                ::waitpid(server_, &status, 0);
                break;
            }
            std::this_thread::sleep_for(20ms);
        }
        server_ = -1;
    }

    // busybox udhcpc on the client end; the environment its script saw at "bound", or empty.
    // `vendor_class`: option 60, e.g. what a PXE boot ROM sends.
    std::map<std::string, std::string> udhcpc(int attempts = 3,
                                              const std::string& vendor_class = "") {
        fs::path out = dir_.path() / ("udhcpc-" + std::to_string(runs_++) + ".env");
        fs::path script = dir_.path() / "udhcpc.sh";
        {
            std::ofstream s(script);
            s << "#!/bin/sh\n[ \"$1\" = bound ] && env > \"$OUT\"\nexit 0\n";
        }
        fs::permissions(script, fs::perms::owner_all);
        std::vector<std::string> argv = {"ip",
                                         "netns",
                                         "exec",
                                         cli_ns_,
                                         "env",
                                         "OUT=" + out.string(),
                                         "busybox",
                                         "udhcpc",
                                         "-f",
                                         "-q",
                                         "-n",
                                         "-i",
                                         cli_if_,
                                         "-s",
                                         script.string(),
                                         "-t",
                                         std::to_string(attempts),
                                         "-T",
                                         "1",
                                         "-A",
                                         "1"};
        if (!vendor_class.empty()) {
            argv.push_back("-V");
            argv.push_back(vendor_class);
        }
        auto r = run_command(argv, 30s);
        last_status_ = r.status;
        return parse_env(slurp(out));
    }

    // Sends `request` from UDP port 68 in the client namespace to 255.255.255.255:67 (up to 5
    // times) and returns the first reply with `xid`.
    std::optional<Packet> exchange(const std::vector<uint8_t>& request, uint32_t xid,
                                   sockaddr_in* from) {
        int sock = -1;
        std::thread([&] {
            int ns = ::open(("/var/run/netns/" + cli_ns_).c_str(), O_RDONLY | O_CLOEXEC);
            if (ns < 0) return;
            // Only this thread enters the namespace; the socket stays in it afterwards.
            if (::setns(ns, CLONE_NEWNET) == 0)
                sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            ::close(ns);
        }).join();
        if (sock < 0) return std::nullopt;
        int one = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
        ::setsockopt(sock, SOL_SOCKET, SO_BINDTODEVICE, cli_if_.c_str(), socklen_t(cli_if_.size()));
        sockaddr_in local = make_sockaddr(Ipv4{}, 68);
        std::optional<Packet> reply;
        if (::bind(sock, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
            ::close(sock);
            return reply;
        }
        sockaddr_in to = make_sockaddr(Ipv4{0xffffffff}, 67);
        for (int attempt = 0; attempt < 5 && !reply; ++attempt) {
            ::sendto(sock, request.data(), request.size(), 0, reinterpret_cast<sockaddr*>(&to),
                     sizeof to);
            pollfd p{sock, POLLIN, 0};
            while (!reply && ::poll(&p, 1, 3000) == 1) {
                uint8_t buf[1500];
                socklen_t len = sizeof *from;
                ssize_t n =
                    ::recvfrom(sock, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(from), &len);
                if (n <= 0) break;
                auto decoded = decode({buf, size_t(n)});
                if (decoded.ok() && decoded->op == kBootReply && decoded->xid == xid) {
                    reply = *decoded;
                }
            }
        }
        ::close(sock);
        return reply;
    }

    // Runs a command in the client's namespace.
    rootfarm::testing::CommandResult in_client(std::vector<std::string> argv) {
        argv.insert(argv.begin(), {"ip", "netns", "exec", cli_ns_});
        return run_command(argv, 30s);
    }

    std::string mode_ = "server";
    bool boot_services_ = false;  // TFTP and NFS too, with images a and b in the state
    std::string image_a_ = "default";
    std::string srv_ns_, cli_ns_, srv_if_, cli_if_;
    bool srv_created_ = false, cli_created_ = false;
    TempDir dir_;
    fs::path log_path_;
    pid_t server_ = -1;
    int starts_ = 0, runs_ = 0, last_status_ = -1;
};

TEST_F(DhcpNetns, UdhcpcGetsItsStaticAddressAndOptions) {
    start_server();
    auto env = udhcpc();
    EXPECT_EQ(last_status_, 0) << slurp(log_path_);
    EXPECT_EQ(env["ip"], "10.77.0.40");
    EXPECT_EQ(env["subnet"], "255.255.255.0");  // from the server interface's /24
    EXPECT_EQ(env["router"], "10.77.0.1");
    EXPECT_EQ(env["dns"], "10.77.0.53");
    EXPECT_EQ(env["hostname"], "node-a");
    EXPECT_EQ(env["domain"], "farm.test");
    EXPECT_EQ(env["serverid"], "10.77.0.1");
    EXPECT_EQ(env["lease"], "600");
    EXPECT_EQ(env["broadcast"], "10.77.0.255");
}

// A Pi's boot ROM DISCOVER ends the system that had its root: the roll-out to a new image happens
// at the first request of the new boot even seconds after the old system's last NFS call, which
// alone would keep the Pi where it is. Real clients in a real Pi's order: busybox udhcpc with
// the PXE vendor class, curl over TFTP, libnfs's nfs-ls.
TEST_F(DhcpNetns, RollOutStartsAtTheBootRomsDiscover) {
    boot_services_ = true;
    for (std::string image : {"a", "b"}) {
        const fs::path dir = dir_.path() / "state/images" / image;
        fs::create_directories(dir / "root/etc");
        fs::create_directories(dir / "boot");
        std::ofstream(dir / "root/etc/release") << "image " << image << "\n";
        std::ofstream(dir / "boot/start4.elf") << "start4 of " << image;
    }
    const std::string pxe = "PXEClient:Arch:00000:UNDI:002001";
    image_a_ = "a";
    start_server();
    auto boot = [&](const std::string& want) {
        auto env = udhcpc(3, pxe);
        ASSERT_EQ(env["ip"], "10.77.0.40") << slurp(log_path_);
        in_client({"ip", "addr", "replace", "10.77.0.40/24", "dev", cli_if_});
        const fs::path out = dir_.path() / "start4";
        fs::remove(out);
        auto got = in_client(
            {"curl", "-sS", "--max-time", "10", "-o", out.string(), "tftp://10.77.0.1/start4.elf"});
        ASSERT_EQ(got.status, 0) << got.err << slurp(log_path_);
        EXPECT_EQ(slurp(out), "start4 of " + want) << slurp(log_path_);
        // Its kernel mounts the root and the system runs: NFS calls from its address.
        auto ls = in_client({"nfs-ls", "nfs://10.77.0.1/etc"});
        ASSERT_EQ(ls.status, 0) << ls.err << slurp(log_path_);
        EXPECT_NE(ls.out.find("release"), std::string::npos) << ls.out;
    };
    boot("a");
    for (std::string next : {"b", "a"}) {
        image_a_ = next;
        write_config();
        auto reload = run_command({rootfarm::testing::rootfarm_binary().string(), "--config",
                                   (dir_.path() / "rootfarm.toml").string(), "reload"},
                                  30s);
        ASSERT_EQ(reload.status, 0) << reload.out << reload.err;
        // Rebooted at once: its last NFS call was well within the in-use window.
        boot(next);
    }
    EXPECT_NE(slurp(log_path_).find("dhcp-discover"), std::string::npos);
}

TEST_F(DhcpNetns, UnknownMacGetsNothingInKnownMode) {
    set_client_mac(kStranger);
    start_server();
    auto env = udhcpc(2);
    EXPECT_NE(last_status_, 0);
    EXPECT_TRUE(env.empty());
    // The DISCOVERs did arrive: the server saw them and chose silence.
    std::string log = slurp(log_path_);
    EXPECT_NE(log.find(std::string(kStranger) + " DISCOVER from unknown client ignored"),
              std::string::npos)
        << log;
    EXPECT_EQ(log.find("OFFER"), std::string::npos) << log;
}

TEST_F(DhcpNetns, RangeLeaseSurvivesRestart) {
    set_client_mac(kMacB);
    start_server();
    std::map<std::string, std::string> first;
    if (::access("/usr/sbin/dhclient", X_OK) == 0) {
        // ISC dhclient: one try, its own lease and pid files, a script that records BOUND.
        fs::path out = dir_.path() / "dhclient.env";
        fs::path script = dir_.path() / "dhclient.sh";
        fs::path conf = dir_.path() / "dhclient.conf";
        fs::path pidfile = dir_.path() / "dhclient.pid";
        {
            std::ofstream s(script);
            s << "#!/bin/sh\n[ \"$reason\" = BOUND ] && env > \"" << out.string() << "\"\nexit 0\n";
            std::ofstream c(conf);
            c << "timeout 20;\nretry 1;\ninitial-interval 1;\n";
        }
        fs::permissions(script, fs::perms::owner_all);
        auto r =
            run_command({"ip", "netns", "exec", cli_ns_, "dhclient", "-1", "-cf", conf.string(),
                         "-sf", script.string(), "-lf", (dir_.path() / "dhclient.leases").string(),
                         "-pf", pidfile.string(), cli_if_},
                        40s);
        // dhclient daemonizes once bound; stop the daemon we started, by its pid.
        if (pid_t pid = std::atoi(slurp(pidfile).c_str()); pid > 0) ::kill(pid, SIGTERM);
        EXPECT_EQ(r.status, 0) << r.err;
        auto env = parse_env(slurp(out));
        EXPECT_EQ(env["new_ip_address"], "10.77.0.100");
        EXPECT_EQ(env["new_subnet_mask"], "255.255.255.0");
        EXPECT_EQ(env["new_routers"], "10.77.0.1");
        EXPECT_EQ(env["new_domain_name_servers"], "10.77.0.53");
        EXPECT_EQ(env["new_host_name"], "node-b");
        EXPECT_EQ(env["new_domain_name"], "farm.test");
        EXPECT_EQ(env["new_dhcp_server_identifier"], "10.77.0.1");
        first["ip"] = env["new_ip_address"];
    } else {
        first = udhcpc();
    }
    ASSERT_EQ(first["ip"], "10.77.0.100") << slurp(log_path_);
    stop_server();

    std::string leases = slurp(dir_.path() / "state" / "leases");
    EXPECT_NE(leases.find(std::string(kMacB) + " 10.77.0.100 "), std::string::npos) << leases;

    // After the restart another client asks first; B's address stays B's.
    start_server();
    set_client_mac(kMacC);
    EXPECT_EQ(udhcpc()["ip"], "10.77.0.101") << slurp(log_path_);
    set_client_mac(kMacB);
    EXPECT_EQ(udhcpc()["ip"], "10.77.0.100") << slurp(log_path_);
}

TEST_F(DhcpNetns, Pi4EepromDiscoverGetsBootReplyFromServerAddress) {
    start_server();
    // Broadcast flag set: the client has no address for a unicast reply to reach this socket.
    auto discover = testing::eeprom_discover(0x5eed, testing::pi4_mac(), testing::pi4_guid());
    discover[10] = 0x80;
    sockaddr_in from{};
    auto reply = exchange(discover, 0x5eed, &from);
    ASSERT_TRUE(reply) << slurp(log_path_);
    EXPECT_EQ(rootfarm::to_string(from), "10.77.0.1:67");  // the TFTP server's address
    EXPECT_EQ(reply->message_type(), MessageType::kOffer);
    EXPECT_EQ(reply->yiaddr, *Ipv4::parse("10.77.0.44"));
    EXPECT_EQ(reply->siaddr, *Ipv4::parse("10.77.0.1"));
    ASSERT_NE(reply->find(opt::kVendorSpecific), nullptr);
    EXPECT_EQ(*reply->find(opt::kVendorSpecific), pi_vendor_options(false));
    EXPECT_EQ(reply->find_string(opt::kVendorClass), "PXEClient");
    EXPECT_EQ(reply->find_string(opt::kTftpServer), "10.77.0.1");
    EXPECT_EQ(*reply->find(opt::kClientGuid), testing::pi4_guid());
}

TEST_F(DhcpNetns, ProxyModeBroadcastsBootInformationToPi3Rom) {
    mode_ = "proxy";
    start_server();
    // The ROM's DISCOVER has the broadcast flag clear; the proxy reply is broadcast anyway
    // (yiaddr 0), a second later (dnsmasq's dhcp-reply-delay for the Pi 3B).
    sockaddr_in from{};
    auto reply = exchange(testing::pi3_discover(), testing::kPi3Xid, &from);
    ASSERT_TRUE(reply) << slurp(log_path_);
    EXPECT_EQ(rootfarm::to_string(from), "10.77.0.1:67");
    EXPECT_EQ(reply->message_type(), MessageType::kOffer);
    EXPECT_TRUE(reply->yiaddr.is_any());
    EXPECT_TRUE(reply->broadcast_flag());
    EXPECT_EQ(*reply->find(opt::kVendorSpecific), pi_vendor_options(true));
    EXPECT_EQ(*reply->find(opt::kClientGuid), testing::pi3_guid());
    EXPECT_EQ(reply->find(opt::kLeaseTime), nullptr);
    // Proxy mode hands out no address, so it records no lease.
    EXPECT_EQ(slurp(dir_.path() / "state" / "leases").find("b8:27:eb"), std::string::npos);
}

}  // namespace
}  // namespace rootfarm::dhcpd
