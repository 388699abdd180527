// The Pis' owner: roll-out at the start of a boot and never under a running Pi, reset, reload,
// boot phases and leases.

#include "clients/clients.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>

#include "core/log.h"
#include "store/test_util.h"

namespace rootfarm {
namespace {

namespace st = store::testing;
using st::exists;
using st::read_all;
using st::walk;
using st::write_file;
using namespace std::chrono_literals;

const MacAddr kPi = *MacAddr::parse("dc:a6:32:00:00:01");

std::string config_text(std::string_view image, std::string_view extra = "") {
    return "[defaults]\nidle_after = 60\n" + std::string(extra) +
           "[[client]]\nmac = \"dc:a6:32:00:00:01\"\nip = \"10.0.0.11\"\nimage = \"" +
           std::string(image) + "\"\n";
}

class ClientsTest : public ::testing::Test {
  protected:
    void SetUp() override {
        for (std::string_view image : {"a", "b"}) {
            const auto root = dir_.path() / "images" / std::string(image) / "root";
            write_file(root / "etc/hostname", "raspberrypi\n");
            write_file(root / "etc/version", std::string(image) + "\n");
            write_file(dir_.path() / "images" / std::string(image) / "boot/start4.elf", "elf");
        }
        store::StoreOptions o;
        o.state_dir = dir_.path();
        auto s = store::Store::open(o);
        ASSERT_TRUE(s.ok());
        store_ = std::move(*s);
        load(config_text("a"));
    }
    void load(const std::string& text) {
        config_ = parse_config(text, "t.toml");
        config_.state_dir = dir_.path();
        if (!clients_) {
            clients_ = std::make_unique<Clients>(config_, store_.get());
            clients_->set_clock([this] { return now_; });
        } else {
            clients_->reconfigure(config_);
        }
    }
    ClientInfo pi() { return *clients_->by_mac(kPi); }
    std::shared_ptr<store::ClientView> boot_view() {
        auto v = clients_->view(pi(), Clients::Ask::kBootStart);
        EXPECT_TRUE(v.ok()) << v.error().message();
        return v.ok() ? *v : nullptr;
    }
    std::string version(const store::ClientView& v) { return read_all(v, walk(v, "/etc/version")); }
    // The running system's calls: the root is in use.
    void nfs_call() { clients_->record(kPi, BootEvent::kNfsCall); }

    st::TempDir dir_;
    std::unique_ptr<store::Store> store_;
    Config config_;
    std::unique_ptr<Clients> clients_;
    Clients::Clock::time_point now_ = Clients::Clock::time_point() + 1000h;
};

TEST_F(ClientsTest, RollOutAToBToAAtTheFirstRequestOfABoot) {
    auto v = boot_view();
    clients_->record(kPi, BootEvent::kMount);
    nfs_call();
    EXPECT_EQ(version(*v), "a\n");
    ASSERT_TRUE(st::write_at(*v, walk(*v, "/etc/version"), 0, "mine\n").ok());

    load(config_text("b"));
    // While it runs, it stays on a: its calls are served from the view it has.
    auto same = clients_->view(pi(), Clients::Ask::kCall);
    ASSERT_TRUE(same.ok());
    EXPECT_EQ(version(**same), "mine\n");
    // A boot signal while the root is in use (a TFTP from user space) moves nothing.
    now_ += 1s;
    EXPECT_EQ(version(*boot_view()), "mine\n");
    // The boot ROM's DISCOVER: the Pi rebooted, the next first request moves it.
    now_ += 1s;
    clients_->record(kPi, BootEvent::kDhcpRomDiscover);
    EXPECT_EQ(version(*boot_view()), "b\n");
    EXPECT_EQ(*store_->delta_image(kPi), "b");
    // on_image_change = "reset": its overlay was dropped, its identity written again.
    EXPECT_EQ(read_all(*v, walk(*v, "/etc/hostname")), "pi-00-00-01\n");
    clients_->record(kPi, BootEvent::kMount);
    nfs_call();

    // Going back is one config change; with no DHCP of ours the boot starts at TFTP or MNT,
    // seconds after the old system's last call.
    load(config_text("a"));
    now_ += 30s;
    EXPECT_EQ(version(*boot_view()), "a\n");
}

TEST_F(ClientsTest, AKeptOverlayMovesWithThePi) {
    load(config_text("a", "on_image_change = \"keep\"\n"));
    auto v = boot_view();
    ASSERT_TRUE(st::write_at(*v, walk(*v, "/etc/version"), 0, "mine\n").ok());
    nfs_call();
    load(config_text("b", "on_image_change = \"keep\"\n"));
    now_ += 10s;
    v = boot_view();
    EXPECT_EQ(*store_->delta_image(kPi), "b");
    EXPECT_EQ(version(*v), "mine\n");
    EXPECT_EQ(read_all(*v, walk(*v, "/etc/hostname")), "pi-00-00-01\n");
}

TEST_F(ClientsTest, AMissingImageIsAnErrorAndThePiStaysWhereItWas) {
    boot_view();
    load(config_text("nonexistent"));
    now_ += 10s;
    auto v = clients_->view(pi(), Clients::Ask::kBootStart);
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(*store_->delta_image(kPi), "a");
    // Its ordinary calls still work.
    EXPECT_TRUE(clients_->view(pi(), Clients::Ask::kCall).ok());
}

TEST_F(ClientsTest, ResetIsRefusedWhileMountedAndActiveDoneWhenIdleOrForced) {
    auto v = boot_view();
    ASSERT_TRUE(st::write_at(*v, walk(*v, "/etc/version"), 0, "mine\n").ok());
    clients_->record(kPi, BootEvent::kMount);
    nfs_call();
    auto busy = clients_->reset(kPi, false);
    ASSERT_FALSE(busy.ok());
    EXPECT_EQ(busy.error(), std::errc::device_or_resource_busy);
    EXPECT_EQ(version(*v), "mine\n");
    // Idle: no call for idle_after.
    now_ += 61s;
    EXPECT_EQ(clients_->status(kPi).phase, BootPhase::kIdle);
    ASSERT_TRUE(clients_->reset(kPi, false).ok());
    EXPECT_EQ(version(*v), "a\n");
    // Forced while in use: done, its old handles go stale.
    ASSERT_TRUE(st::write_at(*v, walk(*v, "/etc/version"), 0, "again\n").ok());
    const store::Handle h = v->handle(walk(*v, "/etc/version"));
    nfs_call();
    ASSERT_FALSE(clients_->reset(kPi, false).ok());
    ASSERT_TRUE(clients_->reset(kPi, true).ok());
    EXPECT_EQ(v->resolve(h.span()).error().value(), ESTALE);
}

TEST_F(ClientsTest, ResetBetweenBootsIsAllowed) {
    boot_view();
    clients_->record(kPi, BootEvent::kMount);
    nfs_call();
    now_ += 1s;
    clients_->record(kPi, BootEvent::kDhcpRomDiscover);
    EXPECT_TRUE(clients_->reset(kPi, false).ok());
}

TEST_F(ClientsTest, PhasesFollowABootAndCountBoots) {
    clients_->record(kPi, BootEvent::kDhcpRomDiscover);
    EXPECT_EQ(clients_->status(kPi).phase, BootPhase::kDhcpDiscover);
    clients_->record(kPi, BootEvent::kDhcpOffer);
    clients_->record(kPi, BootEvent::kDhcpAck);
    EXPECT_EQ(clients_->status(kPi).phase, BootPhase::kDhcpAcked);
    clients_->record(kPi, BootEvent::kTftpFirstFile);
    EXPECT_EQ(clients_->status(kPi).phase, BootPhase::kTftpFirmware);
    clients_->record(kPi, BootEvent::kTftpKernel);
    clients_->record(kPi, BootEvent::kTftpFile);  // a dtb after the kernel
    EXPECT_EQ(clients_->status(kPi).phase, BootPhase::kKernelFetched);
    clients_->record(kPi, BootEvent::kMount);
    EXPECT_EQ(clients_->status(kPi).phase, BootPhase::kNfsMounted);
    nfs_call();
    EXPECT_EQ(clients_->status(kPi).phase, BootPhase::kUp);
    // The running system's own DHCP client is not a boot.
    clients_->record(kPi, BootEvent::kDhcpDiscover);
    EXPECT_EQ(clients_->status(kPi).phase, BootPhase::kUp);
    EXPECT_EQ(clients_->status(kPi).boots, 1u);
    now_ += 10s;
    clients_->record(kPi, BootEvent::kTftpFirstFile);
    EXPECT_EQ(clients_->status(kPi).boots, 2u);
    clients_->record(kPi, BootEvent::kUnmount);
    EXPECT_EQ(clients_->status(kPi).phase, BootPhase::kOff);
}

TEST_F(ClientsTest, ReloadServesNewClientsRefusesRemovedOnesAndRenames) {
    auto v = boot_view();
    load(
        "[defaults]\n[[client]]\nmac = \"dc:a6:32:00:00:01\"\nimage = \"a\"\nhostname = "
        "\"kitchen\"\n[[client]]\nmac = \"dc:a6:32:00:00:02\"\nimage = \"b\"\n");
    EXPECT_EQ(read_all(*v, walk(*v, "/etc/hostname")), "kitchen\n");
    EXPECT_TRUE(clients_->by_mac(*MacAddr::parse("dc:a6:32:00:00:02")));
    load("[defaults]\n[[client]]\nmac = \"dc:a6:32:00:00:02\"\nimage = \"b\"\n");
    EXPECT_FALSE(clients_->by_mac(kPi));
}

TEST_F(ClientsTest, AHealthyBootHasATimelineADurationAndNoHint) {
    int completed = 0;
    clients_->on_boot_complete([&](const MacAddr& mac, std::chrono::milliseconds took) {
        EXPECT_EQ(mac, kPi);
        EXPECT_EQ(took, 7s);
        ++completed;
    });
    clients_->record(kPi, BootEvent::kDhcpRomDiscover);
    now_ += 1s;
    clients_->record(kPi, BootEvent::kDhcpOffer);
    now_ += 1s;
    clients_->record(kPi, BootEvent::kTftpFirstFile);
    now_ += 3s;
    clients_->record(kPi, BootEvent::kTftpKernel);
    now_ += 2s;
    clients_->record(kPi, BootEvent::kMount);
    nfs_call();
    PiStatus s = clients_->status(kPi);
    EXPECT_EQ(s.hint, "");
    EXPECT_EQ(completed, 1);
    ASSERT_TRUE(s.last_boot_duration);
    EXPECT_EQ(*s.last_boot_duration, 7s);
    ASSERT_EQ(s.timeline.size(), 6u);
    EXPECT_EQ(s.timeline[0].phase, BootPhase::kDhcpDiscover);
    EXPECT_EQ(s.timeline[2].phase, BootPhase::kTftpFirmware);
    EXPECT_EQ(s.timeline[2].duration, 3s);
    EXPECT_EQ(s.timeline[5].phase, BootPhase::kUp);
}

TEST_F(ClientsTest, OfferedButNoTftpIsAHint) {
    clients_->record(kPi, BootEvent::kDhcpRomDiscover);
    clients_->record(kPi, BootEvent::kDhcpOffer);
    now_ += 10s;
    EXPECT_EQ(clients_->status(kPi).hint, "");
    now_ += 25s;
    EXPECT_NE(clients_->status(kPi).hint.find("asked for no boot file"), std::string::npos)
        << clients_->status(kPi).hint;
}

TEST_F(ClientsTest, AHintIsLoggedOnceWhenItComesNotAtEveryTick) {
    std::ostringstream lines;
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(lines);
    clients_log().sinks().push_back(sink);
    clients_->record(kPi, BootEvent::kTftpFirstFile);
    clients_->record(kPi, BootEvent::kTftpKernel);
    // Its text says how long ago the kernel went out, and the boot-loop hint counts boots:
    // neither change is a new line.
    for (int s = 0; s < 120; ++s) {
        now_ += 1s;
        clients_->tick();
    }
    clients_log().sinks().pop_back();
    const std::string text = lines.str();
    size_t count = 0;
    for (size_t at = text.find("no MNT"); at != std::string::npos; at = text.find("no MNT", at + 1))
        ++count;
    EXPECT_EQ(count, 1u) << text;
}

TEST_F(ClientsTest, KernelButNoMountQuotesTheCmdline) {
    clients_->record(kPi, BootEvent::kTftpFirstFile);
    clients_->note(kPi, Trouble::kCmdlineServed, "console=tty1 root=/dev/mmcblk0p2");
    clients_->record(kPi, BootEvent::kTftpKernel);
    now_ += 61s;
    const std::string hint = clients_->status(kPi).hint;
    EXPECT_NE(hint.find("no MNT"), std::string::npos) << hint;
    EXPECT_NE(hint.find("console=tty1 root=/dev/mmcblk0p2"), std::string::npos) << hint;
    clients_->record(kPi, BootEvent::kMount);
    EXPECT_EQ(clients_->status(kPi).hint, "");
}

TEST_F(ClientsTest, WrongSerialRefusedMountAndTftpTimeoutsAreHintsUntilItIsUp) {
    clients_->record(kPi, BootEvent::kTftpFirstFile);
    clients_->note(kPi, Trouble::kUnknownSerial, "deadbeef/start4.elf");
    EXPECT_NE(clients_->status(kPi).hint.find("deadbeef/start4.elf"), std::string::npos);
    for (int i = 0; i < 3; ++i) clients_->note(kPi, Trouble::kTftpTimeout, "kernel8.img");
    EXPECT_NE(clients_->status(kPi).hint.find("3 TFTP transfers timed out"), std::string::npos)
        << clients_->status(kPi).hint;
    clients_->note(kPi, Trouble::kMountRefused, "/srv: No such file or directory");
    EXPECT_NE(clients_->status(kPi).hint.find("MNT refused: /srv"), std::string::npos);
    clients_->record(kPi, BootEvent::kMount);
    nfs_call();
    EXPECT_EQ(clients_->status(kPi).hint, "");
}

TEST_F(ClientsTest, ABootLoopIsAHint) {
    for (int i = 0; i < 3; ++i) {
        clients_->record(kPi, BootEvent::kTftpFirstFile);
        clients_->record(kPi, BootEvent::kTftpKernel);
        now_ += 40s;
    }
    EXPECT_EQ(clients_->status(kPi).boots, 3u);
    EXPECT_NE(clients_->status(kPi).hint.find("3 boots in 5 min"), std::string::npos)
        << clients_->status(kPi).hint;
}

TEST_F(ClientsTest, AnOverlayAtItsQuotaIsAHint) {
    clients_.reset();
    config_.store.client_quota = 4096;
    clients_ = std::make_unique<Clients>(config_, store_.get());
    clients_->set_clock([this] { return now_; });
    auto v = boot_view();
    std::string big(64 * 1024, 'x');
    (void)st::write_at(*v, walk(*v, "/etc/version"), 0, big);
    const std::string hint = clients_->status(kPi).hint;
    EXPECT_NE(hint.find("overlay at its quota"), std::string::npos) << hint;
}

TEST_F(ClientsTest, LeasesAreWrittenByTheOwner) {
    {
        auto leases = clients_->leases();
        leases.table.put(Lease{kPi, *Ipv4::parse("10.0.0.50"), 4000000000, Lease::State::kBound});
    }
    clients_->leases_changed();
    for (int i = 0; i < 100 && clients_->lease_writes() == 0; ++i) {
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_EQ(clients_->lease_writes(), 1u);
    auto back = load_leases(dir_.path() / "leases");
    ASSERT_TRUE(back.ok());
    ASSERT_NE(back->by_mac(kPi), nullptr);
}

}  // namespace
}  // namespace rootfarm
