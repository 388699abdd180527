// The HTTP endpoint of the real `rootfarm serve` ([http] listen), read by real clients: headless
// Chromium runs the status page's script, promtool checks /metrics after real TFTP and NFS
// traffic, the page, /metrics and /api/clients agree on the Pis, and a Pi booted by busybox
// udhcpc, curl and libnfs in network namespaces shows each phase of its boot in order.

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "nfsd/libnfs_client.h"
#include "nfsd/testing.h"
#include "tests/support/serve_process.h"

#ifndef HTTP_TEST_SCREENSHOT
#error "HTTP_TEST_SCREENSHOT must name where the status page's screenshot is kept"
#endif

namespace rootfarm {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using rootfarm::testing::run_command;
using rootfarm::testing::TempDir;
using rootfarm::testing::write_text;
using ::testing::HasSubstr;

constexpr const char* kKitchen = "dc:a6:32:00:00:01";  // boots in the tests
constexpr const char* kGarage = "dc:a6:32:00:00:02";   // configured, never seen

// The body of GET `url` (curl, bounded), or nullopt; `prefix` runs curl elsewhere (a netns).
std::optional<std::string> http_get(const std::string& url, std::vector<std::string> prefix = {}) {
    prefix.insert(prefix.end(), {"curl", "-sS", "--fail", "--max-time", "5", url});
    auto r = run_command(prefix, 15s);
    if (r.status != 0) return std::nullopt;
    return r.out;
}

// --- Reading what the three views say about the Pis -------------------------------------

struct PiSeen {
    std::string phase;
    std::vector<std::string> timeline;  // the phases of its last boot, in order
};

// /api/clients (clients/report.h): {"server": {...}, "pis": [{"mac": ..., "phase": ...,
// "timeline": [{"phase": ...}, ...]}, ...]}, by MAC. A scanner of just enough JSON: strings
// with escapes, nesting; a Pi's own keys are at depth 3, its timeline's at depth 5.
std::map<std::string, PiSeen> pis_of(const std::string& json) {
    std::map<std::string, PiSeen> out;
    std::string mac, key;
    PiSeen pi;
    int depth = 0;
    bool want_value = false;
    for (size_t i = 0; i < json.size(); ++i) {
        const char c = json[i];
        if (c == '"') {
            std::string s;
            for (++i; i < json.size() && json[i] != '"'; ++i) {
                if (json[i] == '\\') ++i;
                if (i < json.size()) s += json[i];
            }
            if (!want_value) {
                key = s;
            } else if (depth == 3 && key == "mac") {
                mac = s;
            } else if (depth == 3 && key == "phase") {
                pi.phase = s;
            } else if (depth == 5 && key == "phase") {
                pi.timeline.push_back(s);
            }
            want_value = false;
        } else if (c == ':') {
            want_value = true;
        } else if (c == ',') {
            want_value = false;
        } else if (c == '{' || c == '[') {
            ++depth;
            want_value = false;
        } else if (c == '}' || c == ']') {
            if (c == '}' && depth == 3) {
                out[mac] = pi;
                pi = {};
            }
            --depth;
        }
    }
    return out;
}

// The status page's table after its script ran: each row carries data-mac and data-phase.
std::map<std::string, std::string> page_phases(const std::string& dom) {
    std::map<std::string, std::string> out;
    static const std::regex row(R"re(<tr data-mac="([^"]+)" data-phase="([^"]+)")re");
    for (auto it = std::sregex_iterator(dom.begin(), dom.end(), row); it != std::sregex_iterator();
         ++it) {
        out[(*it)[1]] = (*it)[2];
    }
    return out;
}

// The phase of each Pi in /metrics: its rootfarm_pi_phase series that is 1.
std::map<std::string, std::string> metrics_phases(const std::string& text) {
    std::map<std::string, std::string> out;
    static const std::regex line(
        R"re(rootfarm_pi_phase\{mac="([^"]+)",hostname="[^"]*",phase="([^"]+)"\} 1\n)re");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), line);
         it != std::sregex_iterator(); ++it) {
        out[(*it)[1]] = (*it)[2];
    }
    return out;
}

// The value of one series, written exactly as `series` (name and labels), or -1.
double metric(const std::string& text, const std::string& series) {
    const std::string at = "\n" + series + " ";
    const size_t pos = text.find(at);
    if (pos == std::string::npos) return -1;
    return std::stod(text.substr(pos + at.size()));
}

// --- Headless Chromium ------------------------------------------------------------------

// Runs Chromium headless on `url` with `what` (--dump-dom, --screenshot=...), in a profile of
// its own, after the page's script ran for 5 s of virtual time.
rootfarm::testing::CommandResult chromium(const std::string& url, const std::string& what) {
    TempDir profile;
    return run_command(
        {"chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--user-data-dir=" + profile.path().string(), "--window-size=1280,800",
         "--virtual-time-budget=5000", what, url},
        90s);
}

bool have(const char* program) {
    return run_command({"sh", "-c", std::string("command -v ") + program}, 10s).status == 0;
}

// --- On 127.0.0.1: a Pi boots over TFTP (curl) and NFS (libnfs) ---------------------------

class Http : public ::testing::Test {
  protected:
    void SetUp() override {
        const fs::path state = dir_.path();
        dir_.write("etc/release", "image default\n");
        write_text(state / "images/default/boot/start4.elf", "start4");
        config_ = nfsd::testing::test_config(state);
        tftp_port_ = nfsd::testing::free_port();
        http_ = "http://127.0.0.1:" + std::to_string(rootfarm::testing::free_port());
        std::ostringstream c;
        c << "state_dir = \"" << state.string() << "\"\nserver_ip = \"127.0.0.1\"\n"
          << "[nfs]\nlisten = \"127.0.0.1\"\nport = " << config_.nfs.port
          << "\nmount_port = " << config_.nfs.mount_port
          << "\nportmap_port = " << config_.nfs.portmap_port << "\nportmap = \"builtin\"\n"
          << "[tftp]\nlisten = \"127.0.0.1\"\nport = " << tftp_port_ << "\n"
          << "[http]\nlisten = \"" << http_.substr(7) << "\"\n"
          << "[[client]]\nmac = \"" << kKitchen << "\"\nip = \"127.0.0.1\"\n"
          << "serial = \"1a2b3c4d\"\nhostname = \"kitchen\"\n"
          << "[[client]]\nmac = \"" << kGarage << "\"\nip = \"127.0.0.2\"\n"
          << "hostname = \"garage\"\n";
        config_path_ = state / "rootfarm.toml";
        write_text(config_path_, c.str());
        serve_ = std::make_unique<rootfarm::testing::ServeProcess>(config_path_);
        ASSERT_TRUE(serve_->wait_ready()) << serve_->log();
    }

    bool tftp(const std::string& file) {
        return run_command({"curl", "-sS", "--max-time", "10", "-o", "/dev/null",
                            "tftp://127.0.0.1:" + std::to_string(tftp_port_) + "/" + file},
                           20s)
                   .status == 0;
    }

    // The kitchen Pi's boot as a Pi 4 makes it: its firmware over TFTP, then its kernel MNTs
    // the root and uses it (one missing file on the way, as a boot has).
    void boot_kitchen() {
        ASSERT_TRUE(tftp("1a2b3c4d/start4.elf"));
        EXPECT_FALSE(tftp("1a2b3c4d/no-such-file.dat"));
        nfsd::testing::LibNfs pi(config_);
        ASSERT_TRUE(pi.mounted()) << pi.error();
        EXPECT_EQ(pi.read_file("/etc/release"), "image default\n");
        EXPECT_FALSE(pi.read_file("/etc/missing"));
        ASSERT_TRUE(pi.write_file("/etc/mine", "written by the kitchen Pi\n"));
        // The calls after the mount made it "up"; wait (bounded) for the owner to say so.
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (pis()[kKitchen].phase != "up") {
            ASSERT_LT(std::chrono::steady_clock::now(), deadline) << api().value_or("");
            std::this_thread::sleep_for(100ms);
        }
    }

    // The garage Pi's boot ROM asks from its address with a serial no Pi has (its [[client]]
    // lacks one): it starts booting, and the owner gives it a hint.
    void garage_asks_with_a_wrong_serial() {
        auto r = run_command(
            {"curl", "-sS", "--max-time", "10", "--interface", "127.0.0.2", "-o", "/dev/null",
             "tftp://127.0.0.1:" + std::to_string(tftp_port_) + "/deadbeef/start4.elf"},
            20s);
        ASSERT_EQ(r.status, 0) << r.err;
        ASSERT_EQ(pis_of(api().value_or(""))[kGarage].phase, "tftp-firmware");
    }

    std::optional<std::string> api() { return http_get(http_ + "/api/clients"); }
    std::map<std::string, PiSeen> pis() { return pis_of(api().value_or("")); }

    nfsd::testing::StateDir dir_;
    Config config_;
    uint16_t tftp_port_ = 0;
    std::string http_;
    fs::path config_path_;
    std::unique_ptr<rootfarm::testing::ServeProcess> serve_;
};

TEST_F(Http, TheStatusPageShowsTheBootedPiInHeadlessChromium) {
    if (!have("chromium")) GTEST_SKIP() << "no chromium (Debian package 'chromium')";
    boot_kitchen();
    garage_asks_with_a_wrong_serial();
    // No asset from anywhere else: the page works on a lab network without Internet.
    auto html = http_get(http_ + "/");
    ASSERT_TRUE(html);
    EXPECT_THAT(*html, HasSubstr("/api/clients"));
    EXPECT_EQ(html->find("http://"), std::string::npos);
    EXPECT_EQ(html->find("https://"), std::string::npos);

    auto dom = chromium(http_ + "/", "--dump-dom");
    ASSERT_EQ(dom.status, 0) << dom.err;
    const auto rows = page_phases(dom.out);
    EXPECT_EQ(rows.size(), 2u) << dom.out;
    EXPECT_EQ(rows.count(kKitchen) ? rows.at(kKitchen) : "", "up") << dom.out;
    EXPECT_EQ(rows.count(kGarage) ? rows.at(kGarage) : "", "tftp-firmware") << dom.out;
    // The garage Pi's hint stands out: its row is marked and says what is wrong.
    EXPECT_THAT(dom.out, ::testing::ContainsRegex("<tr data-mac=\"" + std::string(kGarage) +
                                                  "\" data-phase=\"[a-z-]+\" class=\"has-hint\""));
    EXPECT_THAT(dom.out, HasSubstr("asked TFTP for deadbeef/start4.elf"));
    // Its last boot's timeline: one segment per phase, the last one "up".
    EXPECT_THAT(dom.out, HasSubstr("data-phase=\"tftp-firmware\"")) << dom.out;
    EXPECT_THAT(dom.out, HasSubstr("kitchen"));

    const fs::path shot = HTTP_TEST_SCREENSHOT;
    fs::remove(shot);
    auto r = chromium(http_ + "/", "--screenshot=" + shot.string());
    ASSERT_EQ(r.status, 0) << r.err;
    ASSERT_TRUE(fs::exists(shot));
    EXPECT_GT(fs::file_size(shot), 8000u) << "an empty page?";
    char magic[4] = {};
    std::ifstream(shot, std::ios::binary).read(magic, sizeof magic);
    EXPECT_EQ(std::string(magic + 1, 3), "PNG");
}

TEST_F(Http, MetricsPassPromtoolAfterRealTraffic) {
    if (!have("promtool")) GTEST_SKIP() << "no promtool (Debian package 'prometheus')";
    boot_kitchen();
    auto text = http_get(http_ + "/metrics");
    ASSERT_TRUE(text);
    TempDir tmp;
    write_text(tmp.path() / "metrics", *text);
    // promtool reads the exposition from stdin; it prints the problems it finds, lint included.
    auto check = run_command(
        {"sh", "-c", "promtool check metrics < '" + (tmp.path() / "metrics").string() + "'"}, 30s);
    EXPECT_EQ(check.status, 0) << check.out << check.err;
    EXPECT_EQ(check.out + check.err, "");

    const std::string& m = *text;
    EXPECT_GE(metric(m, R"(rootfarm_requests_total{service="tftp",op="RRQ"})"), 2);
    EXPECT_GE(metric(m, R"(rootfarm_errors_total{service="tftp",status="FILE_NOT_FOUND"})"), 1);
    EXPECT_GE(metric(m, R"(rootfarm_sent_bytes_total{service="tftp"})"), 6);  // "start4"
    EXPECT_GE(metric(m, R"(rootfarm_requests_total{service="mount",op="MNT"})"), 1);
    EXPECT_GE(metric(m, R"(rootfarm_requests_total{service="nfs",op="LOOKUP"})"), 2);
    EXPECT_GE(metric(m, R"(rootfarm_requests_total{service="nfs",op="WRITE"})"), 1);
    EXPECT_GE(metric(m, R"(rootfarm_errors_total{service="nfs",status="NFS3ERR_NOENT"})"), 1);
    EXPECT_EQ(metric(m, R"(rootfarm_errors_total{service="nfs",status="NFS3ERR_STALE"})"), 0);
    EXPECT_GE(metric(m, R"(rootfarm_request_duration_seconds_count{service="nfs",op="LOOKUP"})"),
              2);
    EXPECT_GT(metric(m, R"(rootfarm_received_bytes_total{service="nfs"})"), 0);
    EXPECT_GT(metric(m, R"(rootfarm_sent_bytes_total{service="nfs"})"), 0);
    EXPECT_EQ(metric(m, "rootfarm_boot_duration_seconds_count"), 1);
    // Every phase is there, at 0 when no Pi is in it.
    EXPECT_EQ(metric(m, R"(rootfarm_pis{phase="up"})"), 1);
    EXPECT_EQ(metric(m, R"(rootfarm_pis{phase="unknown"})"), 1);
    for (const char* phase : {"dhcp-discover", "dhcp-offered", "dhcp-acked", "tftp-firmware",
                              "kernel-fetched", "nfs-mounted", "idle", "off"}) {
        EXPECT_EQ(metric(m, std::string("rootfarm_pis{phase=\"") + phase + "\"}"), 0) << phase;
    }
    // The kitchen Pi wrote a file: its overlay holds bytes; the garage Pi has none.
    EXPECT_GT(metric(m, std::string("rootfarm_overlay_bytes{mac=\"") + kKitchen +
                            "\",hostname=\"kitchen\"}"),
              0);
    EXPECT_EQ(metric(m, std::string("rootfarm_overlay_bytes{mac=\"") + kGarage +
                            "\",hostname=\"garage\"}"),
              0);
    static const std::regex build_info(
        R"re(\nrootfarm_build_info\{version="0\.2\.0",commit="(g[0-9a-f]{7})?"\} 1\n)re");
    EXPECT_TRUE(std::regex_search(m, build_info));
}

TEST_F(Http, ThePageMetricsAndApiAgreeOnThePis) {
    if (!have("chromium")) GTEST_SKIP() << "no chromium (Debian package 'chromium')";
    boot_kitchen();
    garage_asks_with_a_wrong_serial();
    const auto api = pis();
    auto metrics_text = http_get(http_ + "/metrics");
    ASSERT_TRUE(metrics_text);
    auto dom = chromium(http_ + "/", "--dump-dom");
    ASSERT_EQ(dom.status, 0) << dom.err;

    std::map<std::string, std::string> from_api;
    for (const auto& [mac, pi] : api) from_api[mac] = pi.phase;
    EXPECT_EQ(from_api,
              (std::map<std::string, std::string>{{kKitchen, "up"}, {kGarage, "tftp-firmware"}}));
    EXPECT_EQ(metrics_phases(*metrics_text), from_api) << *metrics_text;
    EXPECT_EQ(page_phases(dom.out), from_api) << dom.out;
    // And the per-phase counts are the API's.
    std::map<std::string, int> per_phase;
    for (const auto& [mac, phase] : from_api) ++per_phase[phase];
    for (const auto& [phase, n] : per_phase) {
        EXPECT_EQ(metric(*metrics_text, "rootfarm_pis{phase=\"" + phase + "\"}"), n) << phase;
    }
}

TEST_F(Http, ServeStopsWhenItsHttpAddressIsTakenOrMalformed) {
    // A second server whose [http] listen is the first one's: it says so and exits 1.
    TempDir other;
    write_text(other.path() / "images/default/boot/start4.elf", "start4");
    const fs::path taken = other.path() / "taken.toml";
    write_text(taken,
               "state_dir = \"" + other.path().string() +
                   "\"\n[nfs]\nenabled = false\n[tftp]\nenabled = false\n[http]\nlisten = \"" +
                   http_.substr(7) + "\"\n");
    rootfarm::testing::ServeProcess second(taken);
    EXPECT_FALSE(second.wait_ready(20s));
    EXPECT_EQ(second.stop(SIGTERM), 1) << second.log();
    EXPECT_THAT(second.log(), HasSubstr("http: cannot listen on " + http_.substr(7)));
    // The first one still serves.
    EXPECT_TRUE(api());

    const fs::path bad = other.path() / "bad.toml";
    write_text(bad, "[http]\nlisten = \"localhost\"\n");
    auto r = run_command({ROOTFARM_BINARY, "--config", bad.string(), "serve"}, 30s);
    EXPECT_EQ(r.status, 2);
    EXPECT_THAT(r.out + r.err, HasSubstr("bad.toml:2: http.listen = \"localhost\": expected "
                                         "ADDR:PORT"));
}

// --- In network namespaces: DHCP (udhcpc), TFTP (curl), MNT (libnfs), phase by phase -------

// A server namespace and a client namespace joined by a veth pair, both deleted at the end.
// Needs root (`ip netns add`).
class HttpNetns : public ::testing::Test {
  protected:
    void SetUp() override {
        static std::atomic<int> n{0};
        const std::string id = std::to_string(::getpid() % 100000) + "h" + std::to_string(n++);
        srv_ = "rfhttp-s" + id;
        cli_ = "rfhttp-c" + id;
        cli_if_ = "rhc" + id;
        if (run_command({"ip", "netns", "add", srv_}, 20s).status != 0) {
            GTEST_SKIP() << "cannot create a network namespace (`ip netns add` needs root)";
        }
        made_.push_back(srv_);
        ASSERT_EQ(run_command({"ip", "netns", "add", cli_}, 20s).status, 0);
        made_.push_back(cli_);
        const std::string srv_if = "rhs" + id;
        for (std::vector<std::string> cmd : std::vector<std::vector<std::string>>{
                 {"ip", "link", "add", srv_if, "netns", srv_, "type", "veth", "peer", "name",
                  cli_if_, "netns", cli_},
                 {"ip", "-n", srv_, "addr", "add", "10.78.0.1/24", "dev", srv_if},
                 {"ip", "-n", srv_, "link", "set", "lo", "up"},
                 {"ip", "-n", srv_, "link", "set", srv_if, "up"},
                 {"ip", "-n", cli_, "link", "set", "lo", "up"},
                 {"ip", "-n", cli_, "link", "set", cli_if_, "address", kKitchen},
                 {"ip", "-n", cli_, "link", "set", cli_if_, "up"}}) {
            auto r = run_command(cmd, 20s);
            ASSERT_EQ(r.status, 0) << cmd[2] << " " << cmd[3] << ": " << r.err;
        }
        srv_if_ = srv_if;
    }

    void TearDown() override {
        serve_.reset();
        for (const std::string& ns : made_) run_command({"ip", "netns", "del", ns}, 20s);
    }

    // `rootfarm serve` in the server namespace: DHCP on the veth, TFTP and NFS on their
    // standard ports, HTTP on the namespace's own 127.0.0.1.
    void start_server() {
        const fs::path state = dir_.path() / "state";
        write_text(state / "images/default/root/etc/release", "image default\n");
        write_text(state / "images/default/boot/start4.elf", "start4");
        write_text(state / "images/default/boot/kernel8.img", std::string(200000, 'k'));
        const fs::path config = dir_.path() / "rootfarm.toml";
        write_text(config, "state_dir = \"" + state.string() +
                               "\"\nserver_ip = \"10.78.0.1\"\n"
                               "[nfs]\nportmap = \"builtin\"\nthreads = 1\n"
                               "[dhcp]\nenabled = true\ninterface = \"" +
                               srv_if_ +
                               "\"\nrange_start = \"10.78.0.100\"\nrange_end = \"10.78.0.120\"\n"
                               "[http]\nlisten = \"127.0.0.1:9180\"\n"
                               "[[client]]\nmac = \"" +
                               kKitchen + "\"\nip = \"10.78.0.40\"\nhostname = \"kitchen\"\n");
        // The child inherits the network namespace of the thread that forks it.
        std::thread([&] {
            const int ns = ::open(("/var/run/netns/" + srv_).c_str(), O_RDONLY | O_CLOEXEC);
            if (ns >= 0 && ::setns(ns, CLONE_NEWNET) == 0) {
                serve_ = std::make_unique<rootfarm::testing::ServeProcess>(config);
            }
            if (ns >= 0) ::close(ns);
        }).join();
        ASSERT_TRUE(serve_);
        ASSERT_TRUE(serve_->wait_ready()) << serve_->log();
    }

    rootfarm::testing::CommandResult in_client(std::vector<std::string> argv) {
        argv.insert(argv.begin(), {"ip", "netns", "exec", cli_});
        return run_command(argv, 30s);
    }

    std::optional<std::string> api() {
        return http_get("http://127.0.0.1:9180/api/clients", {"ip", "netns", "exec", srv_});
    }

    // Polls /api/clients (bounded) until the kitchen Pi is in one of `phases`; every phase
    // seen on the way is added to seen_.
    void wait_for(std::initializer_list<std::string_view> phases) {
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        for (;;) {
            const std::string phase = pis_of(api().value_or(""))[kKitchen].phase;
            if (!phase.empty() && (seen_.empty() || seen_.back() != phase)) seen_.push_back(phase);
            for (std::string_view want : phases) {
                if (phase == want) return;
            }
            ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "still " << phase << "\n"
                                                                  << serve_->log();
            std::this_thread::sleep_for(100ms);
        }
    }

    TempDir dir_;
    std::string srv_, cli_, srv_if_, cli_if_;
    std::vector<std::string> made_;
    std::unique_ptr<rootfarm::testing::ServeProcess> serve_;
    std::vector<std::string> seen_;
};

TEST_F(HttpNetns, APiShowsEachPhaseOfItsBootInOrder) {
    start_server();
    wait_for({"unknown"});

    // Its boot ROM: DHCP with the PXE vendor class.
    const fs::path script = dir_.path() / "udhcpc.sh";
    write_text(script, "#!/bin/sh\nexit 0\n");
    fs::permissions(script, fs::perms::owner_all);
    auto dhcp =
        in_client({"busybox", "udhcpc", "-f", "-q", "-n", "-i", cli_if_, "-s", script.string(),
                   "-t", "3", "-T", "1", "-A", "1", "-V", "PXEClient:Arch:00000:UNDI:002001"});
    ASSERT_EQ(dhcp.status, 0) << dhcp.err << serve_->log();
    wait_for({"dhcp-acked"});
    ASSERT_EQ(in_client({"ip", "addr", "add", "10.78.0.40/24", "dev", cli_if_}).status, 0);

    // Its firmware, then its kernel, over TFTP.
    auto fw = in_client(
        {"curl", "-sS", "--max-time", "10", "-o", "/dev/null", "tftp://10.78.0.1/start4.elf"});
    ASSERT_EQ(fw.status, 0) << fw.err << serve_->log();
    wait_for({"tftp-firmware"});
    auto kernel = in_client(
        {"curl", "-sS", "--max-time", "10", "-o", "/dev/null", "tftp://10.78.0.1/kernel8.img"});
    ASSERT_EQ(kernel.status, 0) << kernel.err << serve_->log();
    wait_for({"kernel-fetched"});

    // Its kernel mounts the root and reads it.
    auto ls = in_client({"nfs-ls", "nfs://10.78.0.1/etc"});
    ASSERT_EQ(ls.status, 0) << ls.err << serve_->log();
    EXPECT_THAT(ls.out, HasSubstr("release"));
    wait_for({"nfs-mounted", "up"});
    wait_for({"up"});

    const std::vector<std::string> boot_order = {
        "unknown",       "dhcp-discover",  "dhcp-offered", "dhcp-acked",
        "tftp-firmware", "kernel-fetched", "nfs-mounted",  "up"};
    auto rank = [&](const std::string& phase) {
        return std::find(boot_order.begin(), boot_order.end(), phase) - boot_order.begin();
    };
    // Seen in boot order, never backwards.
    for (size_t i = 1; i < seen_.size(); ++i) {
        EXPECT_LT(rank(seen_[i - 1]), rank(seen_[i])) << ::testing::PrintToString(seen_);
    }
    // The last boot's timeline tells the whole story, the phases too short to poll included.
    const auto timeline = pis_of(api().value_or(""))[kKitchen].timeline;
    EXPECT_EQ(timeline, std::vector<std::string>(boot_order.begin() + 1, boot_order.end()));
    // /metrics saw the same messages.
    auto m = http_get("http://127.0.0.1:9180/metrics", {"ip", "netns", "exec", srv_});
    ASSERT_TRUE(m);
    EXPECT_GE(metric(*m, R"(rootfarm_requests_total{service="dhcp",op="DISCOVER"})"), 1);
    EXPECT_GE(metric(*m, R"(rootfarm_requests_total{service="dhcp",op="REQUEST"})"), 1);
    EXPECT_GE(metric(*m, R"(rootfarm_replies_total{service="dhcp",op="OFFER"})"), 1);
    EXPECT_GE(metric(*m, R"(rootfarm_replies_total{service="dhcp",op="ACK"})"), 1);
    EXPECT_GE(metric(*m, R"(rootfarm_sent_bytes_total{service="tftp"})"), 200000);
    EXPECT_EQ(metric(*m, R"(rootfarm_pis{phase="up"})"), 1);
}

}  // namespace
}  // namespace rootfarm
