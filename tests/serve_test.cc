// The `rootfarm` command as a user runs it: configuration errors, clean start and stop of
// `rootfarm serve`, and the offline client commands.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>

#include "tests/support/serve_process.h"

namespace rootfarm::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::vector<std::string> rootfarm(const fs::path& config, std::vector<std::string> args) {
    std::vector<std::string> argv = {rootfarm_binary().string(), "--config", config.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

// A state directory holding one small hand-made image named "golden".
void make_image(const fs::path& state) {
    rootfarm::testing::write_text(state / "images/golden/root/etc/hostname", "raspberrypi\n");
    rootfarm::testing::write_text(state / "images/golden/boot/config.txt", "arm_64bit=1\n");
}

size_t count_entries(const fs::path& dir) {
    size_t n = 0;
    std::error_code ec;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::end(it); it.increment(ec)) ++n;
    return n;
}

TEST(Serve, ConfigErrorIsOneLineAndExitStatus2) {
    TempDir dir;
    const auto config =
        rootfarm::testing::write_text(dir.path() / "farm.toml", "[nfs]\nport = 2049\nprot = 3\n");
    const auto r = run_command(rootfarm(config, {"serve"}));
    EXPECT_EQ(r.status, 2);
    EXPECT_EQ(r.err, "rootfarm: " + config.string() + ":3: nfs.prot = 3: unknown key\n");
}

TEST(Serve, MissingConfigFileIsNamed) {
    TempDir dir;
    const auto r = run_command(rootfarm(dir.path() / "nope.toml", {"serve"}));
    EXPECT_EQ(r.status, 2);
    EXPECT_THAT(r.err, HasSubstr((dir.path() / "nope.toml").string()));
}

TEST(Serve, NothingEnabledRunsAndStopsCleanlyOnSigtermAndSigint) {
    for (int sig : {SIGTERM, SIGINT}) {
        TempDir dir;
        const auto config = rootfarm::testing::write_text(
            dir.path() / "farm.toml", "state_dir = \"" + (dir.path() / "state").string() +
                                          "\"\n[nfs]\nenabled = false\n[tftp]\nenabled = false\n");
        ServeProcess server(config);
        ASSERT_TRUE(server.wait_ready()) << server.log();
        EXPECT_EQ(server.stop(sig), 0) << server.log();
        EXPECT_THAT(server.log(), HasSubstr("stopped"));
    }
}

TEST(Serve, RaisesItsSoftOpenFileLimitToTheHardOne) {
    // Started from a shell's usual soft limit, below the hard one: a room of Pis needs more.
    rlimit saved{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
    if (saved.rlim_max <= 256) GTEST_SKIP() << "hard limit of open files too low to tell";
    rlimit low = saved;
    low.rlim_cur = 256;
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
    TempDir dir;
    const auto config = rootfarm::testing::write_text(
        dir.path() / "farm.toml", "state_dir = \"" + (dir.path() / "state").string() +
                                      "\"\n[nfs]\nenabled = false\n[tftp]\nenabled = false\n");
    ServeProcess server(config);
    ::setrlimit(RLIMIT_NOFILE, &saved);
    ASSERT_TRUE(server.wait_ready()) << server.log();
    rlimit seen{};
    ASSERT_EQ(::prlimit(server.pid(), RLIMIT_NOFILE, nullptr, &seen), 0);
    EXPECT_EQ(seen.rlim_cur, saved.rlim_max);
    EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
}

TEST(Serve, AllServicesStartAndStopCleanly) {
    TempDir dir;
    const fs::path state = dir.path() / "state";
    make_image(state);
    const uint16_t nfs = free_port(), mnt = free_port(), pmap = free_port(), tftp = free_port();
    const auto config = rootfarm::testing::write_text(
        dir.path() / "farm.toml",
        "state_dir = \"" + state.string() + "\"\nserver_ip = \"127.0.0.1\"\n" +
            "[nfs]\nlisten = \"127.0.0.1\"\nport = " + std::to_string(nfs) +
            "\nmount_port = " + std::to_string(mnt) + "\nportmap_port = " + std::to_string(pmap) +
            "\nportmap = \"builtin\"\nthreads = 2\n[tftp]\nlisten = \"127.0.0.1\"\nport = " +
            std::to_string(tftp) + "\n[defaults]\nimage = \"golden\"\n");
    ServeProcess server(config);
    ASSERT_TRUE(server.wait_ready()) << server.log();
    // Two NFS workers plus the main thread; the store may add helper threads of its own but
    // nothing may multiply per request.
    const fs::path proc = "/proc/" + std::to_string(server.pid());
    EXPECT_GE(count_entries(proc / "task"), 3u);
    const size_t fds_idle = count_entries(proc / "fd");
    // Open and close a few connections; the server must not keep their descriptors.
    for (int i = 0; i < 20; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(nfs);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
        ::close(fd);
    }
    size_t fds_after = 0;
    for (int i = 0; i < 200; ++i) {
        fds_after = count_entries(proc / "fd");
        if (fds_after <= fds_idle) break;
        usleep(10000);
    }
    EXPECT_LE(fds_after, fds_idle);
    EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
}

TEST(Serve, PortInUseFailsWithAMessageNamingIt) {
    TempDir dir;
    const fs::path state = dir.path() / "state";
    make_image(state);
    // Hold the TFTP port so the server cannot bind it (no SO_REUSEPORT on ours).
    const uint16_t tftp = free_port();
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(tftp);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    const auto config = rootfarm::testing::write_text(
        dir.path() / "farm.toml",
        "state_dir = \"" + state.string() + "\"\n[nfs]\nenabled = false\n[tftp]\nlisten = " +
            "\"127.0.0.1\"\nport = " + std::to_string(tftp) + "\n[defaults]\nimage = \"golden\"\n");
    const auto r = run_command(rootfarm(config, {"serve"}), std::chrono::seconds(30));
    ::close(fd);
    EXPECT_EQ(r.status, 1);
    EXPECT_THAT(r.err, HasSubstr("127.0.0.1:" + std::to_string(tftp)));
}

TEST(Cli, EverySubcommandHasHelp) {
    for (const auto& args : std::vector<std::vector<std::string>>{{"--help"},
                                                                  {"serve", "--help"},
                                                                  {"image", "--help"},
                                                                  {"client", "--help"},
                                                                  {"status", "--help"},
                                                                  {"image", "import", "--help"},
                                                                  {"client", "reset", "--help"}}) {
        std::vector<std::string> argv = {rootfarm_binary().string()};
        argv.insert(argv.end(), args.begin(), args.end());
        const auto r = run_command(argv);
        EXPECT_EQ(r.status, 0) << args.back();
        EXPECT_THAT(r.out, HasSubstr("Usage")) << args.back();
    }
}

TEST(Cli, ClientAddAppendsACheckedClientTable) {
    TempDir dir;
    const std::string original =
        "# my farm\nstate_dir = \"" + (dir.path() / "state").string() +
        "\"\n\n[[client]]\nmac = \"dc:a6:32:00:00:01\"\nip = \"10.0.0.11\"\n";
    const auto config = rootfarm::testing::write_text(dir.path() / "farm.toml", original);
    const auto r = run_command(
        rootfarm(config, {"client", "add", "dc:a6:32:00:00:09", "--ip", "10.0.0.19", "--hostname",
                          "kitchen", "--serial", "1A2B3C4D", "--root-squash"}));
    EXPECT_EQ(r.status, 0) << r.err;
    const std::string added = rootfarm::testing::read_text(config);
    EXPECT_TRUE(added.starts_with(original)) << "the user's file (and comments) stay as they were";
    auto list = run_command(rootfarm(config, {"client", "list"}));
    EXPECT_EQ(list.status, 0);
    EXPECT_THAT(list.out, HasSubstr("dc:a6:32:00:00:09  10.0.0.19"));
    EXPECT_THAT(list.out, HasSubstr("kitchen"));

    // What `rootfarm serve` would refuse is never written: the file stays as it is.
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"client", "add", "dc:a6:32:00:00:09"},
             {"client", "add", "dc:a6:32:00:00:0a", "--ip", "10.0.0.11"},
             {"client", "add", "dc:a6:32:00:00:0b", "--hostname", "my pi"},
             {"client", "add", "dc:a6:32:00:00:0c", "--image", "x\"\nroot_squash = true"},
             {"client", "add", "not-a-mac"}}) {
        const auto bad = run_command(rootfarm(config, args));
        EXPECT_EQ(bad.status, 2) << args[2];
        EXPECT_THAT(bad.err, HasSubstr("client not added")) << args[2];
        EXPECT_EQ(rootfarm::testing::read_text(config), added) << args[2];
    }
}

TEST(Cli, ImageImportListAndRemove) {
    TempDir dir;
    const fs::path state = dir.path() / "state";
    const fs::path source = dir.path() / "tree";
    rootfarm::testing::write_text(
        source / "root/etc/fstab",
        "proc /proc proc defaults 0 0\nPARTUUID=abcd-02 / ext4 defaults 0 1\n");
    rootfarm::testing::write_text(source / "root/home/pi/notes", "hello\n");
    rootfarm::testing::write_text(source / "boot/config.txt", "arm_64bit=1\n");
    const auto config = rootfarm::testing::write_text(
        dir.path() / "farm.toml",
        "state_dir = \"" + state.string() + "\"\n" + "[defaults]\nimage = \"golden\"\n");

    const auto imported =
        run_command(rootfarm(config, {"image", "import", source.string(), "golden"}));
    ASSERT_EQ(imported.status, 0) << imported.err;
    EXPECT_THAT(imported.out, HasSubstr("imported"));
    EXPECT_THAT(imported.out, HasSubstr("fix-up"));
    EXPECT_TRUE(fs::exists(state / "images/golden/root/home/pi/notes"));
    const auto spare = run_command(rootfarm(config, {"image", "import", source.string(), "spare"}));
    ASSERT_EQ(spare.status, 0) << spare.err;

    const auto again =
        run_command(rootfarm(config, {"image", "import", source.string(), "golden"}));
    EXPECT_EQ(again.status, 1);
    const auto bad = run_command(
        rootfarm(config, {"image", "import", (dir.path() / "farm.toml").string(), "junk"}));
    EXPECT_EQ(bad.status, 1);
    EXPECT_THAT(bad.err, HasSubstr("rootfarm: image import"));
    EXPECT_FALSE(fs::exists(state / "images/junk"));

    const auto list = run_command(rootfarm(config, {"image", "list"}));
    EXPECT_EQ(list.status, 0);
    EXPECT_THAT(list.out, HasSubstr("golden"));
    EXPECT_THAT(list.out, HasSubstr("(default)"));
    EXPECT_THAT(list.out, HasSubstr("spare"));

    // The default image is in use; the spare one is not.
    EXPECT_EQ(run_command(rootfarm(config, {"image", "rm", "golden"})).status, 1);
    EXPECT_TRUE(fs::exists(state / "images/golden"));
    EXPECT_EQ(run_command(rootfarm(config, {"image", "rm", "spare"})).status, 0);
    EXPECT_FALSE(fs::exists(state / "images/spare"));
}

TEST(Cli, ClientResetDeletesOnlyThatOverlay) {
    TempDir dir;
    const fs::path state = dir.path() / "state";
    make_image(state);
    rootfarm::testing::write_text(state / "clients/dc-a6-32-00-00-01/journal", "x");
    rootfarm::testing::write_text(state / "clients/dc-a6-32-00-00-02/journal", "y");
    const auto config = rootfarm::testing::write_text(
        dir.path() / "farm.toml", "state_dir = \"" + state.string() + "\"\n[[client]]\n" +
                                      "mac = \"dc:a6:32:00:00:01\"\nip = \"10.0.0.11\"\n");
    auto list = run_command(rootfarm(config, {"client", "list"}));
    EXPECT_EQ(list.status, 0);
    EXPECT_THAT(list.out, HasSubstr("dc:a6:32:00:00:01  10.0.0.11"));
    EXPECT_THAT(list.out, HasSubstr("dc:a6:32:00:00:02"));
    EXPECT_THAT(list.out, HasSubstr("(not in config)"));

    const auto reset = run_command(rootfarm(config, {"client", "reset", "DC-A6-32-00-00-01"}));
    EXPECT_EQ(reset.status, 0) << reset.err;
    EXPECT_FALSE(fs::exists(state / "clients/dc-a6-32-00-00-01"));
    EXPECT_TRUE(fs::exists(state / "clients/dc-a6-32-00-00-02/journal"));

    const auto bad = run_command(rootfarm(config, {"client", "reset", "not-a-mac"}));
    EXPECT_EQ(bad.status, 2);
    EXPECT_THAT(bad.err, HasSubstr("'not-a-mac' is not a MAC address"));
}

}  // namespace
}  // namespace rootfarm::testing
