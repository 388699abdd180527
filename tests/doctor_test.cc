// `rootfarm doctor` as a user runs it: a good configuration passes, and each problem it looks
// for, made real on this machine (a port someone holds, a broken image, a read-only state
// directory, another DHCP server on the segment), is reported with what to fix.

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "cli/doctor.h"
#include "tests/support/serve_process.h"

namespace rootfarm::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;
namespace checks = cli::doctor;

// A Pi 4 image as Raspberry Pi OS ships it: firmware, kernel, its own SD-card cmdline.txt (which
// rootfarm replaces) and an fstab with only /proc.
void make_image(const fs::path& state, const std::string& name = "golden") {
    const fs::path image = state / "images" / name;
    rootfarm::testing::write_text(image / "boot/start4.elf", "firmware");
    rootfarm::testing::write_text(image / "boot/kernel8.img", "kernel");
    rootfarm::testing::write_text(image / "boot/config.txt", "arm_64bit=1\n");
    rootfarm::testing::write_text(
        image / "boot/cmdline.txt",
        "console=serial0,115200 root=PARTUUID=1234abcd-02 rootfstype=ext4 rootwait\n");
    rootfarm::testing::write_text(image / "root/etc/fstab", "proc /proc proc defaults 0 0\n");
}

// Where a `rootfarm` system user exists, doctor checks the state directory for it: give the
// test's directory to it, as an installation would.
void give_to_service_user(const fs::path& top, const fs::path& state) {
    const auto user = checks::service_user();
    if (!user || ::geteuid() != 0) return;
    ::chmod(top.c_str(), 0755);
    ASSERT_EQ(::lchown(state.c_str(), user->uid, user->gid), 0);
    for (const auto& e : fs::recursive_directory_iterator(state)) {
        ASSERT_EQ(::lchown(e.path().c_str(), user->uid, user->gid), 0);
    }
}

// A state directory with a complete image, and the configuration of a farm serving it on
// 127.0.0.1 with high ports.
class Doctor : public ::testing::Test {
  protected:
    void SetUp() override {
        state_ = dir_.path() / "state";
        make_image(state_);
        give_to_service_user(dir_.path(), state_);
        nfs_ = free_port();
        mount_ = free_port();
        portmap_ = free_port();
        tftp_ = free_port();
    }

    // `extra` is appended (more sections, [[client]] tables).
    fs::path config(const std::string& extra = "", const std::string& image = "golden") {
        return rootfarm::testing::write_text(
            dir_.path() / "farm.toml",
            "state_dir = \"" + state_.string() + "\"\nserver_ip = \"127.0.0.1\"\n" +
                "[nfs]\nlisten = \"127.0.0.1\"\nport = " + std::to_string(nfs_) +
                "\nmount_port = " + std::to_string(mount_) +
                "\nportmap_port = " + std::to_string(portmap_) +
                "\nportmap = \"builtin\"\nthreads = 1\n[tftp]\nlisten = \"127.0.0.1\"\nport = " +
                std::to_string(tftp_) + "\n[defaults]\nimage = \"" + image + "\"\n" + extra);
    }

    CommandResult doctor(const fs::path& config_file, std::vector<std::string> prefix = {}) {
        std::vector<std::string> argv = std::move(prefix);
        for (std::string a : {rootfarm_binary().string(), std::string("--config"),
                              config_file.string(), std::string("doctor")}) {
            argv.push_back(a);
        }
        return run_command(argv, 60s);
    }

    TempDir dir_;
    fs::path state_;
    uint16_t nfs_ = 0, mount_ = 0, portmap_ = 0, tftp_ = 0;
};

TEST_F(Doctor, GoodConfigurationExitsZero) {
    const auto r = doctor(config());
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_THAT(r.out, Not(HasSubstr("problem ")));
    EXPECT_THAT(r.out, HasSubstr("ok       ports: TCP port " + std::to_string(nfs_) +
                                 " (NFS) on 127.0.0.1 is free"));
    EXPECT_THAT(r.out, HasSubstr("ok       ports: UDP port " + std::to_string(tftp_) +
                                 " (TFTP) on 127.0.0.1 is free"));
    EXPECT_THAT(r.out, HasSubstr("image golden can boot Pi 4"));
    // The image's SD-card line is replaced by the one TFTP serves.
    EXPECT_THAT(r.out, HasSubstr("served with root=/dev/nfs nfsroot=127.0.0.1:/"));
    EXPECT_THAT(r.out, HasSubstr("0 problems"));
}

TEST_F(Doctor, PortHeldByAnotherSocketNamesTheProcess) {
    const int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const int tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(tftp_);
    ASSERT_EQ(::bind(udp, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    sa.sin_port = htons(nfs_);
    ASSERT_EQ(::bind(tcp, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    ASSERT_EQ(::listen(tcp, 1), 0);

    const auto r = doctor(config());
    ::close(udp);
    ::close(tcp);
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    const std::string me = "pid " + std::to_string(::getpid()) + " (doctor_test)";
    EXPECT_THAT(r.out, HasSubstr("problem  ports: UDP port " + std::to_string(tftp_) +
                                 " (TFTP) on 127.0.0.1 is in use by " + me));
    EXPECT_THAT(r.out, HasSubstr("problem  ports: TCP port " + std::to_string(nfs_) +
                                 " (NFS) on 127.0.0.1 is in use by " + me));
    EXPECT_THAT(r.out, HasSubstr("set [tftp] port to a free port"));
}

TEST_F(Doctor, MissingImage) {
    const auto r = doctor(config("", "bookworm"));
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("problem  image: image bookworm is not in the store (images: "
                                 "golden) -> fix: rootfarm image import SOURCE bookworm"));
}

TEST_F(Doctor, ImageWithoutFirmwareOrKernel) {
    fs::remove(state_ / "images/golden/boot/start4.elf");
    fs::remove(state_ / "images/golden/boot/kernel8.img");
    {
        const auto r = doctor(config());
        EXPECT_EQ(r.status, 1) << r.out << r.err;
        EXPECT_THAT(r.out, HasSubstr("problem  image: image golden has no kernel"));
        // Clients of unknown models: no model's set is complete.
        EXPECT_THAT(r.out, HasSubstr("image golden has the complete boot files of no Pi model"));
    }
    {
        // A Pi 4 by its MAC prefix: its own file is named.
        const auto r = doctor(config("[[client]]\nmac = \"dc:a6:32:01:02:03\"\n"));
        EXPECT_EQ(r.status, 1) << r.out << r.err;
        EXPECT_THAT(r.out, HasSubstr("image golden cannot boot dc:a6:32:01:02:03 (a Pi 4 by its "
                                     "MAC prefix): missing start4.elf"));
    }
    // A Pi 3's set makes the image good again for a client of unknown model.
    rootfarm::testing::write_text(state_ / "images/golden/boot/bootcode.bin", "x");
    rootfarm::testing::write_text(state_ / "images/golden/boot/start.elf", "x");
    rootfarm::testing::write_text(state_ / "images/golden/boot/kernel7.img", "x");
    const auto r = doctor(config());
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("image golden can boot Pi 3"));
}

TEST_F(Doctor, CmdlineMountingAnotherServersRoot) {
    rootfarm::testing::write_text(
        state_ / "images/golden/boot/cmdline.txt",
        "console=tty1 root=/dev/nfs nfsroot=10.1.2.3:/srv/pi,vers=3 rw ip=dhcp rootwait\n");
    auto r = doctor(config());
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("problem  cmdline: image golden: its cmdline.txt mounts the root "
                                 "from 10.1.2.3, not from this server (127.0.0.1)"));
    EXPECT_THAT(r.out, HasSubstr("rewrite_cmdline = true"));

    // With rewrite_cmdline the Pis get our line: only a warning about the image's own.
    const fs::path rewriting = config();
    std::string text = rootfarm::testing::read_text(rewriting);
    text.replace(text.find("[tftp]\n"), 7, "[tftp]\nrewrite_cmdline = true\n");
    rootfarm::testing::write_text(rewriting, text);
    r = doctor(rewriting);
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("warning  cmdline: image golden: its own cmdline.txt mounts the "
                                 "root from 10.1.2.3"));

    // Naming us is fine and served as it is.
    rootfarm::testing::write_text(state_ / "images/golden/boot/cmdline.txt",
                                  "root=/dev/nfs nfsroot=127.0.0.1:/,vers=3,tcp rw ip=dhcp\n");
    r = doctor(config());
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("mounts the root from 127.0.0.1 (this server)"));
}

TEST_F(Doctor, FstabWithThePartuuidRoot) {
    rootfarm::testing::write_text(state_ / "images/golden/root/etc/fstab",
                                  "proc /proc proc defaults 0 0\n"
                                  "PARTUUID=1234abcd-02  /  ext4  defaults,noatime  0  1\n"
                                  "# PARTUUID=1234abcd-01 /boot/firmware vfat defaults 0 2\n");
    auto r = doctor(config());
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("problem  fstab: image golden: /etc/fstab line 2 mounts / from "
                                 "the SD card (PARTUUID=1234abcd-02)"));
    EXPECT_THAT(r.out, Not(HasSubstr("line 3")));

    // The image's fix-up layer (what `image import` writes) hides the line: read through the
    // store, the image is fine.
    rootfarm::testing::write_text(state_ / "images/golden/layers", "golden-fixups\n");
    rootfarm::testing::write_text(state_ / "layers/golden-fixups/root/etc/fstab",
                                  "proc /proc proc defaults 0 0\n");
    r = doctor(config());
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("ok       fstab: image golden: /etc/fstab names no SD-card"));
}

TEST_F(Doctor, ReadOnlyStateDirectory) {
    if (checks::service_user()) GTEST_SKIP() << "a `rootfarm` user exists: the check asks it";
    const fs::path file = config();
    CommandResult r;
    if (::geteuid() == 0) {
        // Root writes through any mode bits: make the file system read-only instead, in a mount
        // namespace of its own so nothing outside sees it.
        r = doctor(file, {"unshare", "--mount", "--propagation", "private", "sh", "-c",
                          "mount --bind \"$0\" \"$0\" && mount -o remount,bind,ro \"$0\" && "
                          "exec \"$@\"",
                          state_.string()});
    } else {
        fs::permissions(state_, fs::perms::owner_read | fs::perms::owner_exec);
        r = doctor(file);
        fs::permissions(state_, fs::perms::owner_all);
    }
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("problem  state-dir: " + state_.string() +
                                 " is not writable by "
                                 "the current user"));
    if (::geteuid() == 0) {
        EXPECT_THAT(r.out, HasSubstr("mount that file system read-write"));
    }
}

TEST_F(Doctor, PrivilegedPortWithoutTheCapability) {
    if (::geteuid() != 0) GTEST_SKIP() << "dropping to an unprivileged user needs root";
    // A privileged UDP port nothing holds, for TFTP.
    uint16_t low = 0;
    for (uint16_t p = 1000; p > 900 && low == 0; --p) {
        const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(p);
        if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) low = p;
        ::close(fd);
    }
    ASSERT_NE(low, 0);
    tftp_ = low;
    const fs::path file = config();
    ::chmod(dir_.path().c_str(), 0755);  // nobody reads the configuration
    const auto r = doctor(file, {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"});
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("problem  ports: UDP port " + std::to_string(low) +
                                 " (TFTP) on 127.0.0.1 is privileged and this user is neither "
                                 "root nor has CAP_NET_BIND_SERVICE"));
    EXPECT_THAT(r.out, HasSubstr("ok       ports: TCP port " + std::to_string(nfs_) +
                                 " (NFS) on 127.0.0.1 is free"));
}

TEST(DoctorStateDir, ServiceUserMustBeAbleToWrite) {
    TempDir dir;
    const fs::path state = dir.path() / "state";
    fs::create_directories(state);
    ::chmod(dir.path().c_str(), 0755);
    ::chmod(state.c_str(), 0755);
    // A user that owns nothing here: the owner's write bit does not help it.
    const checks::ServiceUser user{"rootfarm-doctor-test", 64999, 64999};
    auto findings = checks::check_state_dir(state, user);
    ASSERT_EQ(findings.size(), 1u);
    EXPECT_EQ(findings[0].severity, checks::Severity::kProblem);
    EXPECT_THAT(findings[0].message, HasSubstr("is not writable by user rootfarm-doctor-test"));
    EXPECT_THAT(findings[0].fix, HasSubstr("chown -R rootfarm-doctor-test"));

    if (::geteuid() != 0) GTEST_SKIP() << "giving the directory to another user needs root";
    ASSERT_EQ(::chown(state.c_str(), user.uid, user.gid), 0);
    findings = checks::check_state_dir(state, user);
    ASSERT_EQ(findings.size(), 1u);
    EXPECT_EQ(findings[0].severity, checks::Severity::kOk) << findings[0].message;

    // Not yet there: the parent decides whether serve can create it.
    findings = checks::check_state_dir(state / "sub", user);
    EXPECT_EQ(findings[0].severity, checks::Severity::kOk) << findings[0].message;
    findings = checks::check_state_dir(dir.path() / "other", user);
    EXPECT_EQ(findings[0].severity, checks::Severity::kProblem) << findings[0].message;
}

TEST_F(Doctor, InterfaceThatDoesNotExist) {
    const std::string dhcp = "[dhcp]\nenabled = true\ninterface = \"rfnoexist0\"\nport = " +
                             std::to_string(free_port()) + "\n";
    auto r = doctor(config(dhcp));
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("problem  network: [dhcp] interface rfnoexist0 does not exist on "
                                 "this machine -> fix: set [dhcp] interface to one of: "));
    EXPECT_THAT(r.out, HasSubstr("lo"));

    // The loopback interface carries 127.0.0.1.
    std::string text = rootfarm::testing::read_text(dir_.path() / "farm.toml");
    // Proxy mode: no DISCOVER is sent on the host's loopback.
    text.replace(text.find("\"rfnoexist0\""), 12, "\"lo\"\nmode = \"proxy\"");
    rootfarm::testing::write_text(dir_.path() / "farm.toml", text);
    r = doctor(dir_.path() / "farm.toml");
    EXPECT_THAT(r.out, HasSubstr("ok       network: server_ip 127.0.0.1 is on interface lo"));
}

TEST_F(Doctor, ServerIpAnyWithDhcpIsAProblem) {
    std::string text = rootfarm::testing::read_text(
        config("[dhcp]\nenabled = true\nport = " + std::to_string(free_port()) + "\n"));
    text.replace(text.find("127.0.0.1"), 9, "0.0.0.0");
    rootfarm::testing::write_text(dir_.path() / "farm.toml", text);
    const auto r = doctor(dir_.path() / "farm.toml");
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("problem  network: server_ip is 0.0.0.0 but DHCP is enabled"));
    EXPECT_THAT(r.out, HasSubstr("warning  cmdline: image golden: served with root=/dev/nfs and "
                                 "an nfsroot= address taken from the address each Pi asked on"));
}

TEST_F(Doctor, PortsOfARunningServeOnTheSameStateAreOurs) {
    const fs::path file = config();
    ServeProcess server(file);
    ASSERT_TRUE(server.wait_ready()) << server.log();
    const auto r = doctor(file);
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("ok       serve: a rootfarm serve is running on"));
    EXPECT_THAT(r.out, HasSubstr("ok       ports: TCP port " + std::to_string(nfs_) +
                                 " (NFS) on 127.0.0.1 is in use by the rootfarm serve running on " +
                                 state_.string()));
    EXPECT_THAT(r.out, HasSubstr("UDP port " + std::to_string(tftp_) +
                                 " (TFTP) on 127.0.0.1 is in use by the rootfarm serve"));
    EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
}

bool ok(const std::vector<std::string>& argv) {
    return run_command(argv, 20s).status == 0;
}

// Two network namespaces joined by a veth pair, both made and always deleted by the test: the
// farm's side (10.78.0.2) where doctor runs, and the peer's (10.78.0.1) where dnsmasq plays the
// segment's own DHCP server.
class DoctorDhcp : public ::testing::Test {
  protected:
    void SetUp() override {
        static std::atomic<int> counter{0};
        const std::string id =
            std::to_string(::getpid() % 100000) + "x" + std::to_string(counter++);
        farm_ns_ = "rfdoc-f" + id;
        peer_ns_ = "rfdoc-p" + id;
        farm_if_ = "rdf" + id;
        peer_if_ = "rdp" + id;
        auto add = run_command({"ip", "netns", "add", farm_ns_}, 20s);
        if (add.status != 0) {
            GTEST_SKIP() << "cannot create a network namespace (`ip netns add` needs root): "
                         << add.err;
        }
        farm_created_ = true;
        ASSERT_TRUE(ok({"ip", "netns", "add", peer_ns_}));
        peer_created_ = true;
        ASSERT_TRUE(ok({"ip", "link", "add", farm_if_, "netns", farm_ns_, "type", "veth", "peer",
                        "name", peer_if_, "netns", peer_ns_}));
        ASSERT_TRUE(ok({"ip", "-n", farm_ns_, "addr", "add", "10.78.0.2/24", "dev", farm_if_}));
        ASSERT_TRUE(ok({"ip", "-n", peer_ns_, "addr", "add", "10.78.0.1/24", "dev", peer_if_}));
        for (const auto& [ns, ifname] : {std::pair{farm_ns_, farm_if_}, {peer_ns_, peer_if_}}) {
            ASSERT_TRUE(ok({"ip", "-n", ns, "link", "set", "lo", "up"}));
            ASSERT_TRUE(ok({"ip", "-n", ns, "link", "set", ifname, "up"}));
        }
        make_image(dir_.path() / "state");
        give_to_service_user(dir_.path(), dir_.path() / "state");
    }

    void TearDown() override {
        stop_dnsmasq();
        if (farm_created_) run_command({"ip", "netns", "del", farm_ns_}, 20s);
        if (peer_created_) run_command({"ip", "netns", "del", peer_ns_}, 20s);
    }

    // dnsmasq as a plain DHCP server in the peer namespace (no DNS: --port=0).
    void start_dnsmasq() {
        const fs::path log = dir_.path() / "dnsmasq.log";
        const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ASSERT_GE(log_fd, 0);
        const std::vector<std::string> args = {
            "ip",
            "netns",
            "exec",
            peer_ns_,
            "dnsmasq",
            "--no-daemon",
            "--port=0",
            "--conf-file=/dev/null",
            "--interface=" + peer_if_,
            "--bind-interfaces",
            "--dhcp-range=10.78.0.100,10.78.0.150,255.255.255.0,10m",
            "--dhcp-leasefile=" + (dir_.path() / "dnsmasq.leases").string(),
            "--pid-file",
            "--user=root",
            "--no-ping",
            "--log-dhcp",
            "--log-facility=-"};
        dnsmasq_ = ::fork();
        ASSERT_GE(dnsmasq_, 0);
        if (dnsmasq_ == 0) {
            ::dup2(log_fd, 1);
            ::dup2(log_fd, 2);
            std::vector<char*> argv;
            for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
            argv.push_back(nullptr);
            ::execvp(argv[0], argv.data());
            ::_exit(127);
        }
        ::close(log_fd);
        const auto deadline = std::chrono::steady_clock::now() + 15s;
        while (rootfarm::testing::read_text(log).find("DHCP, IP range") == std::string::npos) {
            int status = 0;
            ASSERT_EQ(::waitpid(dnsmasq_, &status, WNOHANG), 0)
                << "dnsmasq exited:\n"
                << rootfarm::testing::read_text(log);
            ASSERT_LT(std::chrono::steady_clock::now(), deadline)
                << "dnsmasq not ready:\n"
                << rootfarm::testing::read_text(log);
            std::this_thread::sleep_for(20ms);
        }
    }

    void stop_dnsmasq() {
        if (dnsmasq_ <= 0) return;
        ::kill(dnsmasq_, SIGTERM);
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        int status = 0;
        while (::waitpid(dnsmasq_, &status, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > deadline) {
                ::kill(dnsmasq_, SIGKILL);
                ::waitpid(dnsmasq_, &status, 0);
                break;
            }
            std::this_thread::sleep_for(20ms);
        }
        dnsmasq_ = -1;
    }

    // `rootfarm doctor` in the farm's namespace, configured to serve DHCP on its veth end.
    CommandResult doctor() {
        const fs::path config = rootfarm::testing::write_text(
            dir_.path() / "farm.toml",
            "state_dir = \"" + (dir_.path() / "state").string() +
                "\"\nserver_ip = \"10.78.0.2\"\n[nfs]\nenabled = false\n[tftp]\nenabled = false\n"
                "[defaults]\nimage = \"golden\"\n[dhcp]\nenabled = true\ninterface = \"" +
                farm_if_ +
                "\"\nrange_start = \"10.78.0.200\"\nrange_end = \"10.78.0.210\"\n"
                "netmask = \"255.255.255.0\"\n");
        return run_command({"ip", "netns", "exec", farm_ns_, rootfarm_binary().string(), "--config",
                            config.string(), "doctor", "--dhcp-wait", "3"},
                           60s);
    }

    TempDir dir_;
    std::string farm_ns_, peer_ns_, farm_if_, peer_if_;
    bool farm_created_ = false, peer_created_ = false;
    pid_t dnsmasq_ = -1;
};

TEST_F(DoctorDhcp, ReportsAnotherServerAndItsOffer) {
    start_dnsmasq();
    const auto r = doctor();
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_THAT(r.out, ContainsRegex("problem  dhcp: another DHCP server answers on " + farm_if_ +
                                     ": server 10\\.78\\.0\\.1 offered 10\\.78\\.0\\.1[0-5][0-9]"))
        << r.out;
    EXPECT_THAT(rootfarm::testing::read_text(dir_.path() / "dnsmasq.log"),
                HasSubstr("DHCPDISCOVER(" + peer_if_));
}

TEST_F(DoctorDhcp, NoOtherServerNoFinding) {
    const auto r = doctor();
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("ok       dhcp: no other DHCP server answered a DISCOVER on " +
                                 farm_if_ + " within 3 s"));
    EXPECT_THAT(r.out,
                HasSubstr("ok       network: server_ip 10.78.0.2 is on interface " + farm_if_));
}

}  // namespace
}  // namespace rootfarm::testing
