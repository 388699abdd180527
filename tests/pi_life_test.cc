// A Pi's life against the real `rootfarm serve`, in a real Pi's order of requests: its boot
// files over TFTP (curl) before its kernel MNTs its root (libnfs). Roll-out a -> b -> a through
// `rootfarm reload`, a refused bad configuration, the cmdline.txt a Raspberry Pi OS image gets,
// and a live reset.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <signal.h>

#include "clients/clients.h"
#include "nfsd/libnfs_client.h"
#include "nfsd/testing.h"
#include "tests/support/serve_process.h"

namespace rootfarm {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nfsd::testing::StateDir;
using rootfarm::testing::read_text;
using rootfarm::testing::run_command;
using rootfarm::testing::write_text;

// What Raspberry Pi OS bookworm ships in its boot partition.
constexpr const char* kImageCmdline =
    "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 "
    "fsck.repair=yes rootwait quiet splash plymouth.ignore-serial-consoles "
    "cfg80211.ieee80211_regdom=GB init=/usr/lib/raspberrypi-sys-mods/firstboot\n";

class PiLife : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_.write("etc/hostname", "raspberrypi\n");
        dir_.write("etc/release", "image default\n");
        dir_.mkdir("tmp", 01777);
        const fs::path state = dir_.path();
        write_text(state / "images/default/boot/start4.elf", "start4 of default");
        write_text(state / "images/default/boot/cmdline.txt", kImageCmdline);
        write_text(state / "images/b/root/etc/hostname", "raspberrypi\n");
        write_text(state / "images/b/root/etc/release", "image b\n");
        fs::create_directories(state / "images/b/root/tmp");
        write_text(state / "images/b/boot/start4.elf", "start4 of b");
        write_text(state / "images/b/boot/cmdline.txt", kImageCmdline);
        config_ = nfsd::testing::test_config(state);
        tftp_port_ = nfsd::testing::free_port();
        config_path_ = state / "rootfarm.toml";
        write_config("default");
    }

    void write_config(const std::string& image) {
        std::ostringstream c;
        c << "state_dir = \"" << dir_.path().string() << "\"\n"
          << "server_ip = \"127.0.0.1\"\n"
          << "[nfs]\nlisten = \"127.0.0.1\"\nport = " << config_.nfs.port
          << "\nmount_port = " << config_.nfs.mount_port
          << "\nportmap_port = " << config_.nfs.portmap_port
          << "\nportmap = \"builtin\"\nthreads = 2\n"
          << "[tftp]\nlisten = \"127.0.0.1\"\nport = " << tftp_port_ << "\n"
          << "[defaults]\nidle_after = 3\n"
          << "[[client]]\nmac = \"dc:a6:32:00:00:01\"\nip = \"127.0.0.1\"\n"
          << "serial = \"1a2b3c4d\"\nhostname = \"kitchen\"\nimage = \"" << image << "\"\n";
        write_text(config_path_, c.str());
    }

    rootfarm::testing::CommandResult rootfarm(std::vector<std::string> args) {
        args.insert(args.begin(), {ROOTFARM_BINARY, "--config", config_path_.string()});
        return run_command(args, 60s);
    }

    // The Pi 4 boot ROM's first request: <serial>/start4.elf, over TFTP.
    std::optional<std::string> tftp(const std::string& file) {
        const fs::path out = dir_.path() / "fetched";
        fs::remove(out);
        auto r = run_command({"curl", "-sS", "--max-time", "10", "-o", out.string(),
                              "tftp://127.0.0.1:" + std::to_string(tftp_port_) + "/" + file},
                             20s);
        if (r.status != 0) return std::nullopt;
        return read_text(out);
    }

    // A reboot: the old system's last NFS call is seconds behind the new boot's first request.
    void reboot() { std::this_thread::sleep_for(kInUse + 1s); }

    StateDir dir_;
    Config config_;
    uint16_t tftp_port_ = 0;
    fs::path config_path_;
};

TEST_F(PiLife, RollOutAToBToAInARealPisOrderOfRequests) {
    rootfarm::testing::ServeProcess serve(config_path_);
    ASSERT_TRUE(serve.wait_ready()) << serve.log();

    EXPECT_EQ(tftp("1a2b3c4d/start4.elf"), "start4 of default");
    {
        nfsd::testing::LibNfs pi(config_);
        ASSERT_TRUE(pi.mounted()) << pi.error();
        EXPECT_EQ(pi.read_file("/etc/release"), "image default\n");
        ASSERT_TRUE(pi.write_file("/tmp/mine", "made on default\n"));
    }

    write_config("b");
    auto reloaded = rootfarm({"reload"});
    ASSERT_EQ(reloaded.status, 0) << (reloaded.out + reloaded.err) << serve.log();
    reboot();
    // The first request of its next boot is TFTP: it moves the Pi (before, this answered
    // "Server error" and the Pi never reached the MNT that would have moved it).
    EXPECT_EQ(tftp("1a2b3c4d/start4.elf"), "start4 of b") << serve.log();
    {
        nfsd::testing::LibNfs pi(config_);
        ASSERT_TRUE(pi.mounted()) << pi.error();
        EXPECT_EQ(pi.read_file("/etc/release"), "image b\n");
        EXPECT_FALSE(pi.read_file("/tmp/mine"));  // on_image_change = "reset"
        EXPECT_EQ(pi.read_file("/etc/hostname"), "kitchen\n");
    }

    // Going back is one config change.
    write_config("default");
    ASSERT_EQ(rootfarm({"reload"}).status, 0);
    reboot();
    EXPECT_EQ(tftp("1a2b3c4d/start4.elf"), "start4 of default");
    nfsd::testing::LibNfs pi(config_);
    ASSERT_TRUE(pi.mounted()) << pi.error();
    EXPECT_EQ(pi.read_file("/etc/release"), "image default\n");
}

TEST_F(PiLife, ABadConfigurationIsRefusedAndTheRunningOneStays) {
    rootfarm::testing::ServeProcess serve(config_path_);
    ASSERT_TRUE(serve.wait_ready()) << serve.log();
    write_text(config_path_, read_text(config_path_) + "[defaults]\nenroll = \"everyone\"\n");
    auto r = rootfarm({"reload"});
    EXPECT_EQ(r.status, 2) << (r.out + r.err);
    EXPECT_NE((r.out + r.err).find("rootfarm.toml:"), std::string::npos) << (r.out + r.err);
    // Still served, by the configuration it had.
    EXPECT_EQ(tftp("1a2b3c4d/start4.elf"), "start4 of default");
    nfsd::testing::LibNfs pi(config_);
    EXPECT_TRUE(pi.mounted()) << pi.error();
    // SIGHUP does the same, and the server keeps running.
    ::kill(serve.pid(), SIGHUP);
    std::this_thread::sleep_for(300ms);
    EXPECT_TRUE(serve.running());
    EXPECT_NE(serve.log().find("reload refused"), std::string::npos) << serve.log();
}

TEST_F(PiLife, TheImagesCmdlineMountsTheRootFromUsUnlessThePiWroteItsOwn) {
    rootfarm::testing::ServeProcess serve(config_path_);
    ASSERT_TRUE(serve.wait_ready()) << serve.log();
    auto line = tftp("1a2b3c4d/cmdline.txt");
    ASSERT_TRUE(line);
    EXPECT_EQ(line->find("PARTUUID"), std::string::npos) << *line;
    EXPECT_EQ(line->find("rootfstype="), std::string::npos) << *line;
    EXPECT_EQ(line->find("firstboot"), std::string::npos) << *line;
    EXPECT_TRUE(line->starts_with("root=/dev/nfs nfsroot=127.0.0.1:/,vers=3,tcp,")) << *line;
    EXPECT_NE(line->find(" console=tty1 "), std::string::npos) << *line;
    EXPECT_NE(line->find(" quiet splash "), std::string::npos) << *line;
    // A Pi that writes its own NFS cmdline (in its view) keeps it.
    nfsd::testing::LibNfs pi(config_);
    ASSERT_TRUE(pi.mounted()) << pi.error();
    const std::string own = "root=/dev/nfs nfsroot=127.0.0.1:/,vers=3 rw ip=dhcp mine=1\n";
    ASSERT_TRUE(pi.write_file("/boot/firmware/cmdline.txt", own)) << pi.error();
    EXPECT_EQ(tftp("1a2b3c4d/cmdline.txt"), own);
}

TEST_F(PiLife, ResetIsRefusedWhileTheRootIsInUseAndDoneWhenIdleOrForced) {
    rootfarm::testing::ServeProcess serve(config_path_);
    ASSERT_TRUE(serve.wait_ready()) << serve.log();
    nfsd::testing::LibNfs pi(config_);
    ASSERT_TRUE(pi.mounted()) << pi.error();
    ASSERT_TRUE(pi.write_file("/tmp/mine", "x"));
    auto busy = rootfarm({"client", "reset", "dc:a6:32:00:00:01"});
    EXPECT_EQ(busy.status, 1) << (busy.out + busy.err);
    EXPECT_NE((busy.out + busy.err).find("in use"), std::string::npos) << (busy.out + busy.err);
    EXPECT_EQ(pi.read_file("/tmp/mine"), "x");
    // idle_after = 3: a Pi that stopped talking is idle.
    std::this_thread::sleep_for(4s);
    auto idle = rootfarm({"client", "reset", "dc:a6:32:00:00:01"});
    EXPECT_EQ(idle.status, 0) << (idle.out + idle.err);
    nfsd::testing::LibNfs again(config_);
    ASSERT_TRUE(again.mounted());
    EXPECT_FALSE(again.read_file("/tmp/mine"));
    ASSERT_TRUE(again.write_file("/tmp/mine", "y"));
    EXPECT_EQ(rootfarm({"client", "reset", "dc:a6:32:00:00:01"}).status, 1);
    auto forced = rootfarm({"client", "reset", "--force", "dc:a6:32:00:00:01"});
    EXPECT_EQ(forced.status, 0) << (forced.out + forced.err);
    nfsd::testing::LibNfs third(config_);
    ASSERT_TRUE(third.mounted());
    EXPECT_FALSE(third.read_file("/tmp/mine"));
}

TEST_F(PiLife, ClientSetAndRmEditTheFileAndReachTheRunningServer) {
    rootfarm::testing::ServeProcess serve(config_path_);
    ASSERT_TRUE(serve.wait_ready()) << serve.log();
    auto set = rootfarm({"client", "set", "dc:a6:32:00:00:01", "--hostname", "pantry"});
    EXPECT_EQ(set.status, 0) << (set.out + set.err);
    EXPECT_NE(read_text(config_path_).find("pantry"), std::string::npos);
    EXPECT_EQ(read_text(config_path_).find("kitchen"), std::string::npos);
    nfsd::testing::LibNfs pi(config_);
    ASSERT_TRUE(pi.mounted());
    EXPECT_EQ(pi.read_file("/etc/hostname"), "pantry\n");
    auto bad = rootfarm({"client", "set", "dc:a6:32:00:00:01", "--image", "../x"});
    EXPECT_EQ(bad.status, 2) << (bad.out + bad.err);
    auto rm = rootfarm({"client", "rm", "dc:a6:32:00:00:01"});
    EXPECT_EQ(rm.status, 0) << (rm.out + rm.err);
    EXPECT_EQ(read_text(config_path_).find("[[client]]"), std::string::npos)
        << read_text(config_path_);
    // Refused from now on.
    nfsd::testing::LibNfs gone(config_);
    EXPECT_FALSE(gone.mounted());
}

TEST_F(PiLife, ItsMachineIdAndHostKeysAreItsOwnAndSurviveARestart) {
    dir_.write("etc/machine-id", "0123456789abcdef0123456789abcdef\n");
    dir_.write("etc/ssh/ssh_host_ed25519_key", "IMAGE KEY\n", 0600);
    dir_.write("etc/ssh/ssh_host_ed25519_key.pub", "ssh-ed25519 IMAGE root@image\n");
    std::optional<std::string> id, key;
    {
        rootfarm::testing::ServeProcess serve(config_path_);
        ASSERT_TRUE(serve.wait_ready()) << serve.log();
        nfsd::testing::LibNfs pi(config_);
        ASSERT_TRUE(pi.mounted()) << pi.error();
        id = pi.read_file("/etc/machine-id");
        key = pi.read_file("/etc/ssh/ssh_host_ed25519_key");
        ASSERT_TRUE(id && key);
        EXPECT_EQ(id->size(), 33u);
        EXPECT_NE(*id, "0123456789abcdef0123456789abcdef\n");
        EXPECT_NE(key->find("OPENSSH PRIVATE KEY"), std::string::npos) << *key;
        EXPECT_NE(pi.read_file("/etc/ssh/ssh_host_ed25519_key.pub")->find("root@kitchen"),
                  std::string::npos);
        serve.kill9();
    }
    // Its own config file, so the new process has its own log to say it is ready in.
    const fs::path again = dir_.path() / "rootfarm-again.toml";
    fs::copy_file(config_path_, again);
    rootfarm::testing::ServeProcess serve(again);
    ASSERT_TRUE(serve.wait_ready()) << serve.log();
    nfsd::testing::LibNfs pi(config_);
    ASSERT_TRUE(pi.mounted()) << pi.error();
    EXPECT_EQ(pi.read_file("/etc/machine-id"), id);
    EXPECT_EQ(pi.read_file("/etc/ssh/ssh_host_ed25519_key"), key);
    // The image is as it was.
    EXPECT_EQ(read_text(dir_.root() / "etc/ssh/ssh_host_ed25519_key"), "IMAGE KEY\n");
}

// Slow (a minute): what an operator sees when a Pi loads its kernel and never mounts its root.
TEST_F(PiLife, AKernelThatNeverMountsIsAHintQuotingTheCmdlineServed) {
    write_text(dir_.path() / "images/default/boot/kernel8.img", std::string(3000, 'k'));
    rootfarm::testing::ServeProcess serve(config_path_);
    ASSERT_TRUE(serve.wait_ready()) << serve.log();
    ASSERT_TRUE(tftp("1a2b3c4d/start4.elf"));
    ASSERT_TRUE(tftp("1a2b3c4d/cmdline.txt"));
    ASSERT_TRUE(tftp("1a2b3c4d/kernel8.img"));
    std::string json;
    const auto deadline = std::chrono::steady_clock::now() + kNoMountAfter + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
        json = rootfarm({"status", "--json"}).out;
        if (json.find("but no MNT") != std::string::npos) break;
        std::this_thread::sleep_for(2s);
    }
    EXPECT_NE(json.find("\"phase\" : \"kernel-fetched\""), std::string::npos) << json;
    EXPECT_NE(json.find("but no MNT"), std::string::npos) << json;
    EXPECT_NE(json.find("cmdline served: root=/dev/nfs nfsroot=127.0.0.1:/"), std::string::npos)
        << json;
    // Logged as a warning by the owner's once-a-second pass, at most a second after status
    // shows it.
    const auto logged_by = std::chrono::steady_clock::now() + 5s;
    while (serve.log().find("but no MNT") == std::string::npos &&
           std::chrono::steady_clock::now() < logged_by) {
        std::this_thread::sleep_for(100ms);
    }
    EXPECT_NE(serve.log().find("but no MNT"), std::string::npos) << serve.log();
}

TEST_F(PiLife, StatusShowsPhasesAndHintsFromTheRunningServerAndSaysWhenOffline) {
    {
        rootfarm::testing::ServeProcess serve(config_path_);
        ASSERT_TRUE(serve.wait_ready()) << serve.log();
        // A wrong serial in the Pi's EEPROM: it asks for files under a prefix no Pi has.
        EXPECT_EQ(tftp("deadbeef/start4.elf"), "start4 of default");
        auto json = rootfarm({"status", "--json"});
        ASSERT_EQ(json.status, 0) << json.err;
        EXPECT_NE(json.out.find("\"running\" : true"), std::string::npos) << json.out;
        EXPECT_NE(json.out.find("\"phase\" : \"tftp-firmware\""), std::string::npos) << json.out;
        EXPECT_NE(json.out.find("deadbeef/start4.elf, but no Pi has that serial"),
                  std::string::npos)
            << json.out;
        // The same Pi boots as it should: mounted, up, and the hint is gone.
        EXPECT_EQ(tftp("1a2b3c4d/start4.elf"), "start4 of default");
        nfsd::testing::LibNfs pi(config_);
        ASSERT_TRUE(pi.mounted()) << pi.error();
        ASSERT_TRUE(pi.read_file("/etc/release"));
        auto table = rootfarm({"status"});
        ASSERT_EQ(table.status, 0) << table.err;
        EXPECT_NE(table.out.find("rootfarm serve is running"), std::string::npos) << table.out;
        EXPECT_NE(table.out.find("dc:a6:32:00:00:01"), std::string::npos) << table.out;
        EXPECT_NE(table.out.find(" up "), std::string::npos) << table.out;
        EXPECT_EQ(table.out.find("hint:"), std::string::npos) << table.out;
    }
    auto offline = rootfarm({"status"});
    EXPECT_EQ(offline.status, 0) << offline.err;
    EXPECT_NE(offline.out.find("offline"), std::string::npos) << offline.out;
    EXPECT_NE(offline.out.find("dc:a6:32:00:00:01"), std::string::npos) << offline.out;
    auto offline_json = rootfarm({"status", "--json"});
    EXPECT_NE(offline_json.out.find("\"running\" : false"), std::string::npos) << offline_json.out;
}

}  // namespace
}  // namespace rootfarm
