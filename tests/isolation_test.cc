// Isolation, end to end: the real `rootfarm serve` with Pis on their own 127.0.0.x addresses,
// NFS through libnfs's RPC layer (tests/support/nfs3_test_util.h) and TFTP through curl. One Pi
// must never reach another Pi's overlay or the server's own files: not with another Pi's or a
// forged, altered, reset or previous-secret file handle, not by MNT of a path, not with another
// Pi's TFTP serial prefix, and not through "..", absolute paths or symlinks. The in-process
// versions of some of these (nfsd/nfsd_hostile_test.cc, tftpd/tftpd_integration_test.cc) send
// exact bytes; these run the shipped binary with real clients.

#include <gtest/gtest.h>
#include <signal.h>

#include <optional>
#include <set>
#include <variant>

#include "bench/source_bind.h"
#include "tests/support/farm_test_util.h"
#include "tests/support/nfs3_test_util.h"
#include "tests/support/serve_process.h"

namespace rootfarm::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int kCurlTftpNotFound = 68;
constexpr int kCurlTftpAccessViolation = 69;
using Fetched = std::variant<std::string, int>;

// RFC 1813 §2.6: a handle the server did not issue to this client is NFS3ERR_BADHANDLE (it
// fails the server's consistency checks) or NFS3ERR_STALE; anything else (above all NFS3_OK)
// means it was resolved.
bool refused_handle(uint32_t status) {
    return status == kNfs3ErrBadHandle || status == kNfs3ErrStale;
}

// Sets the calling thread's source address for new sockets while it lives.
class From {
  public:
    explicit From(const std::string& ip) { bench::set_thread_source(*Ipv4::parse(ip)); }
    ~From() { bench::set_thread_source(Ipv4{}); }
};

class Isolation : public ::testing::Test {
  protected:
    void SetUp() override {
        state_ = dir_.path() / "state";
        make_farm_image(state_);
        // Boot-file links that leave the boot tree.
        fs::create_symlink("/etc/passwd", state_ / "images/default/boot/escape");
        fs::create_symlink("../../../../../../../../etc/passwd",
                           state_ / "images/default/boot/rel-escape");
        ports_ = FarmPorts::pick();
        // A and B have static addresses; C has none (its address is learnt).
        FarmPi c = farm_pi(3);
        c.ip.clear();
        config_ = farm_config(state_, ports_, {farm_pi(1), farm_pi(2), c});
        start();
    }

    void start() {
        serve_.reset();
        serve_ = std::make_unique<ServeProcess>(
            write_text(dir_.path() / ("rootfarm-" + std::to_string(starts_++) + ".toml"), config_));
        ASSERT_TRUE(serve_->wait_ready()) << serve_->log();
    }

    std::unique_ptr<Nfs3> mount(const std::string& ip, const std::string& path = "/") {
        From from(ip);
        return std::make_unique<Nfs3>(ports_.nfs, ports_.mount, path);
    }

    // A file written FILE_SYNC in `dir`; its handle.
    Fh put(Nfs3& nfs, const Fh& dir, const std::string& name, const std::string& content) {
        Fh fh;
        EXPECT_EQ(nfs.create(dir, name, 0644, &fh), kNfs3Ok) << name << ": " << nfs.error();
        EXPECT_EQ(nfs.setattr(fh, std::nullopt, 0), kNfs3Ok);
        EXPECT_EQ(nfs.write(fh, 0, content, 2), kNfs3Ok);
        return fh;
    }

    Fh lookup_path(Nfs3& nfs, const std::vector<std::string>& names) {
        Fh fh = nfs.root();
        for (const auto& n : names) {
            Fh next;
            EXPECT_EQ(nfs.lookup(fh, n, &next), kNfs3Ok) << n;
            fh = next;
        }
        return fh;
    }

    // A file over TFTP with curl from `ip`: the file, or curl's exit status (68: the server
    // answered File not found, 69: Access violation; RFC 1350 §5 error codes 1 and 2).
    std::variant<std::string, int> tftp(const std::string& ip, const std::string& file) {
        const fs::path out = dir_.path() / "fetched";
        fs::remove(out);
        auto r =
            run_command({"curl", "-sS", "--max-time", "10", "--interface", ip, "-o", out.string(),
                         "tftp://127.0.0.1:" + std::to_string(ports_.tftp) + "/" + file},
                        20s);
        if (r.status != 0) return r.status;
        return read_text(out);
    }

    TempDir dir_;
    fs::path state_;
    FarmPorts ports_;
    std::string config_;
    int starts_ = 0;
    std::unique_ptr<ServeProcess> serve_;
    const std::string a_ = farm_pi(1).ip, b_ = farm_pi(2).ip;
};

TEST_F(Isolation, AnotherPisAndForgedHandlesNeverReachItsOverlay) {
    auto b = mount(b_);
    ASSERT_TRUE(b->mounted()) << b->error();
    const Fh b_tmp = lookup_path(*b, {"tmp"});
    const Fh b_file = put(*b, b_tmp, "secret-b", "B's secret\n");
    auto a = mount(a_);
    ASSERT_TRUE(a->mounted()) << a->error();
    ASSERT_NE(a->root(), b->root());
    const Fh a_tmp = lookup_path(*a, {"tmp"});
    const Fh a_file = put(*a, a_tmp, "mine", "A's own\n");
    // Positive control: each Pi reads its own file by handle.
    std::string data;
    ASSERT_EQ(b->read_all(b_file, &data), kNfs3Ok);
    ASSERT_EQ(data, "B's secret\n");
    ASSERT_EQ(a->read_all(a_file, &data), kNfs3Ok);
    ASSERT_EQ(data, "A's own\n");

    // B's handle bytes sent by A: every kind of call is refused, nothing is read or changed.
    data.clear();
    EXPECT_PRED1(refused_handle, a->getattr(b_file));
    EXPECT_PRED1(refused_handle, a->read(b_file, 0, 100, &data));
    EXPECT_EQ(data, "");
    EXPECT_PRED1(refused_handle, a->write(b_file, 0, "A was here", 2));
    EXPECT_PRED1(refused_handle, a->setattr(b_file, 0777, 0));
    EXPECT_PRED1(refused_handle, a->lookup(b_tmp, "secret-b"));
    EXPECT_PRED1(refused_handle, a->create(b_tmp, "planted", 0644));
    EXPECT_PRED1(refused_handle, a->remove(b_tmp, "secret-b"));
    EXPECT_PRED1(refused_handle, a->rename(b_tmp, "secret-b", a_tmp, "stolen"));
    EXPECT_PRED1(refused_handle, a->link(b_file, a_tmp, "stolen-link"));
    EXPECT_PRED1(refused_handle, a->link(a_file, b_tmp, "pushed-link"));
    std::vector<std::string> names;
    EXPECT_PRED1(refused_handle, a->readdir(b_tmp, &names));
    EXPECT_PRED1(refused_handle, a->getattr(b->root()));

    // A's own handle altered: each byte with one bit flipped, cut short, made longer, and the
    // object id of A's /tmp spliced into its file's handle (bytes 6..13 of store/handle.h's
    // layout; object ids are per Pi, so B's file may well have the same id as A's).
    for (size_t i = 0; i < a_file.size(); ++i) {
        Fh f = a_file;
        f[i] ^= static_cast<uint8_t>(1u << (i % 8));
        EXPECT_PRED1(refused_handle, a->getattr(f)) << "bit flipped in byte " << i;
    }
    EXPECT_PRED1(refused_handle, a->getattr(Fh(a_file.begin(), a_file.end() - 1)));
    Fh longer = a_file;
    longer.push_back(0);
    EXPECT_PRED1(refused_handle, a->getattr(longer));
    ASSERT_EQ(a_file.size(), a_tmp.size());
    Fh spliced = a_file;
    std::copy(a_tmp.begin() + 6, a_tmp.begin() + 14, spliced.begin() + 6);
    ASSERT_NE(spliced, a_file);
    ASSERT_NE(spliced, a_tmp);
    EXPECT_PRED1(refused_handle, a->getattr(spliced));
    EXPECT_FALSE(a->broken()) << a->error();

    // B's view is as B left it.
    Attr attr;
    ASSERT_EQ(b->getattr(b_file, &attr), kNfs3Ok);
    EXPECT_EQ(attr.mode & 07777, 0644u);
    ASSERT_EQ(b->read_all(b_file, &data), kNfs3Ok);
    EXPECT_EQ(data, "B's secret\n");
    ASSERT_EQ(b->readdir(b_tmp, &names), kNfs3Ok);
    EXPECT_EQ(std::set<std::string>(names.begin(), names.end()),
              (std::set<std::string>{".", "..", "secret-b"}));
    ASSERT_EQ(a->readdir(a_tmp, &names), kNfs3Ok);
    EXPECT_EQ(std::set<std::string>(names.begin(), names.end()),
              (std::set<std::string>{".", "..", "mine"}));
}

TEST_F(Isolation, HandlesOfAResetPiOrAnOldSecretAreRefused) {
    Fh root, file;
    {
        auto a = mount(a_);
        ASSERT_TRUE(a->mounted()) << a->error();
        root = a->root();
        file = put(*a, lookup_path(*a, {"tmp"}), "before-reset", "x");
    }
    auto reset = run_command({rootfarm_binary().string(), "--config",
                              (dir_.path() / "rootfarm-0.toml").string(), "client", "reset",
                              "--force", farm_pi(1).mac});
    ASSERT_EQ(reset.status, 0) << reset.out << reset.err;
    auto a = mount(a_);
    ASSERT_TRUE(a->mounted()) << a->error();
    // Replayed after the reset: stale (the delta they named is gone), not the new view's.
    EXPECT_PRED1(refused_handle, a->getattr(file));
    EXPECT_PRED1(refused_handle, a->getattr(root));
    EXPECT_PRED1(refused_handle, a->lookup(root, "tmp"));
    Fh tmp = lookup_path(*a, {"tmp"});
    EXPECT_EQ(a->lookup(tmp, "before-reset"), kNfs3ErrNoEnt);  // the reset view is clean

    // The same Pi's current handles after the server's secret changed (a new state directory
    // secret, as after reinstalling): they fail the tag, never resolve.
    const Fh current = put(*a, tmp, "after-reset", "y");
    ASSERT_EQ(a->getattr(current), kNfs3Ok);
    const Fh current_root = a->root();
    a.reset();
    ASSERT_EQ(serve_->stop(SIGTERM), 0) << serve_->log();
    fs::remove(state_ / "secret");
    start();
    auto again = mount(a_);
    ASSERT_TRUE(again->mounted()) << again->error();
    EXPECT_NE(again->root(), current_root);
    EXPECT_PRED1(refused_handle, again->getattr(current));
    EXPECT_PRED1(refused_handle, again->getattr(current_root));
    std::string data;
    EXPECT_PRED1(refused_handle, again->read(current, 0, 10, &data));
    // Still the Pi's own data, by name.
    Fh fresh;
    ASSERT_EQ(again->lookup(lookup_path(*again, {"tmp"}), "after-reset", &fresh), kNfs3Ok);
    ASSERT_EQ(again->read_all(fresh, &data), kNfs3Ok);
    EXPECT_EQ(data, "y");
}

TEST_F(Isolation, MntOfAnotherPisPathOrOutsideTheViewIsRefused) {
    auto b = mount(b_);
    ASSERT_TRUE(b->mounted());
    ASSERT_EQ(b->mkdir(lookup_path(*b, {"tmp"}), "only-b", 0755), kNfs3Ok);
    // Positive control: B mounts its own directory.
    EXPECT_EQ(mount(b_, "/tmp/only-b")->mount_status(), 0u);
    auto a = mount(a_);
    ASSERT_TRUE(a->mounted());
    // RFC 1813 §5.2.1: a path the server will not export is MNT3ERR_ACCES / NOENT; a MNT
    // path is resolved only inside the asking Pi's own view.
    EXPECT_EQ(mount(a_, "/tmp/only-b")->mount_status(), kMnt3ErrNoEnt);
    EXPECT_EQ(mount(a_, (state_ / "clients" / farm_pi(2).mac).string())->mount_status(),
              kMnt3ErrNoEnt);
    EXPECT_EQ(mount(a_, state_.string())->mount_status(), kMnt3ErrNoEnt);
    EXPECT_EQ(mount(a_, "tmp")->mount_status(), kMnt3ErrAcces);
    // ".." at the top stays at the Pi's own root (knfsd: the export root is its own parent).
    for (const char* path : {"/..", "/../..", "/tmp/../../.."}) {
        auto m = mount(a_, path);
        if (m->mount_status() == 0) {
            EXPECT_EQ(m->root(), a->root()) << path;
        } else {
            EXPECT_NE(m->mount_status(), kNoReply) << path;
        }
    }
    // An address that is no Pi's.
    EXPECT_EQ(mount("127.0.0.9")->mount_status(), kMnt3ErrAcces);
}

TEST_F(Isolation, TftpWithAnotherPisSerialIsRefused) {
    const std::string serial_a = farm_pi(1).serial, serial_b = farm_pi(2).serial,
                      serial_c = farm_pi(3).serial;
    {
        auto b = mount(b_);
        ASSERT_TRUE(b->mounted());
        put(*b, lookup_path(*b, {"boot", "firmware"}), "only-b.txt", "B's boot file\n");
        auto a = mount(a_);
        ASSERT_TRUE(a->mounted());
        put(*a, lookup_path(*a, {"tmp"}), "a-marker", "A\n");
    }
    // Positive control: B gets its own file, with or without its prefix.
    EXPECT_EQ(tftp(b_, serial_b + "/only-b.txt"), Fetched("B's boot file\n"));
    EXPECT_EQ(tftp(b_, "only-b.txt"), Fetched("B's boot file\n"));
    EXPECT_EQ(tftp(a_, serial_a + "/start4.elf"), Fetched("start4 of the image\n"));
    // A asking with B's serial (B has a static address, so the request is not B's).
    EXPECT_EQ(tftp(a_, serial_b + "/only-b.txt"), Fetched(kCurlTftpAccessViolation));
    EXPECT_EQ(tftp(a_, "only-b.txt"), Fetched(kCurlTftpNotFound));
    EXPECT_EQ(tftp("127.0.0.9", serial_b + "/only-b.txt"), Fetched(kCurlTftpAccessViolation));
    // A asking, from its configured address, with the serial of C (whose address is learnt
    // from such requests): refused, and A's address still serves A's own root.
    EXPECT_EQ(tftp(a_, serial_c + "/start4.elf"), Fetched(kCurlTftpAccessViolation));
    auto a = mount(a_);
    ASSERT_TRUE(a->mounted());
    Fh marker;
    EXPECT_EQ(a->lookup(lookup_path(*a, {"tmp"}), "a-marker", &marker), kNfs3Ok);
    // C itself, from a new address, is served (and learnt there).
    EXPECT_EQ(tftp("127.0.0.33", serial_c + "/start4.elf"), Fetched("start4 of the image\n"));
}

TEST_F(Isolation, TraversalAndSymlinksNeverLeaveTheView) {
    const std::string serial_a = farm_pi(1).serial;
    auto a = mount(a_);
    ASSERT_TRUE(a->mounted());
    const Fh boot = lookup_path(*a, {"boot", "firmware"});
    // Links a Pi makes in its own boot files.
    ASSERT_EQ(a->symlink(boot, "pi-escape", "/etc/passwd"), kNfs3Ok);
    ASSERT_EQ(a->symlink(boot, "pi-rel-escape", "../../../../../../etc/passwd"), kNfs3Ok);
    for (const std::string& name :
         std::vector<std::string>{"../../etc/passwd", "/etc/passwd", "../root/etc/hostname",
                                  serial_a + "/../../etc/passwd", "escape", "rel-escape",
                                  "pi-escape", "pi-rel-escape", serial_a + "/pi-escape"}) {
        const Fetched got = tftp(a_, name);
        EXPECT_TRUE(got == Fetched(kCurlTftpAccessViolation) || got == Fetched(kCurlTftpNotFound))
            << name << ": " << (got.index() ? std::to_string(std::get<int>(got)) : "served");
    }
    EXPECT_EQ(tftp(a_, "config.txt"), Fetched("arm_64bit=1\n"));  // positive control

    // NFS: ".." of the root is the root.
    Attr root_attr, attr;
    ASSERT_EQ(a->getattr(a->root(), &root_attr), kNfs3Ok);
    Fh up;
    const uint32_t dotdot = a->lookup(a->root(), "..", &up);
    if (dotdot == kNfs3Ok) {
        ASSERT_EQ(a->getattr(up, &attr), kNfs3Ok);
        EXPECT_EQ(attr.fileid, root_attr.fileid);
    }
    // A client's symlinks are text: READLINK returns it, LOOKUP returns the link itself, and
    // the server never walks through one (not for LOOKUP, not for MNT).
    const Fh tmp = lookup_path(*a, {"tmp"});
    for (const std::string target : std::vector<std::string>{"/", "../..", "/etc"}) {
        const std::string name = "link" + std::to_string(target.size());
        Fh link;
        ASSERT_EQ(a->symlink(tmp, name, target, &link), kNfs3Ok) << target;
        std::string text;
        ASSERT_EQ(a->readlink(link, &text), kNfs3Ok);
        EXPECT_EQ(text, target);
        Fh looked;
        ASSERT_EQ(a->lookup(tmp, name, &looked), kNfs3Ok);
        ASSERT_EQ(a->getattr(looked, &attr), kNfs3Ok);
        EXPECT_EQ(attr.type, 5u) << target;  // NF3LNK
        EXPECT_NE(a->lookup(looked, "passwd"), kNfs3Ok) << target;
        EXPECT_NE(a->lookup(looked, "hostname"), kNfs3Ok) << target;
        EXPECT_EQ(mount(a_, "/tmp/" + name)->mount_status(), kMnt3ErrNotDir) << target;
        const uint32_t through = mount(a_, "/tmp/" + name + "/etc")->mount_status();
        EXPECT_TRUE(through == kMnt3ErrNotDir || through == kMnt3ErrNoEnt) << target << through;
    }
    // Names with "/" are no names (RFC 1813 §3.2: a component, never a path).
    EXPECT_NE(a->lookup(a->root(), "etc/hostname"), kNfs3Ok);
    EXPECT_NE(a->lookup(tmp, "../etc"), kNfs3Ok);
    EXPECT_NE(a->create(tmp, "x/y", 0644), kNfs3Ok);
    EXPECT_NE(a->create(tmp, "../escaped", 0644), kNfs3Ok);
    EXPECT_NE(a->mkdir(tmp, "a/b", 0755), kNfs3Ok);
    EXPECT_NE(a->rename(tmp, "link1", tmp, "../../moved"), kNfs3Ok);
    std::vector<std::string> names;
    ASSERT_EQ(a->readdir(tmp, &names), kNfs3Ok);
    for (const auto& n : names) EXPECT_EQ(n.find('/'), std::string::npos) << n;
    ASSERT_EQ(a->readdir(a->root(), &names), kNfs3Ok);
    EXPECT_EQ(std::count(names.begin(), names.end(), "escaped"), 0);
    EXPECT_EQ(std::count(names.begin(), names.end(), "moved"), 0);
    EXPECT_FALSE(fs::exists(state_ / "escaped"));
    EXPECT_FALSE(a->broken()) << a->error();
}

}  // namespace
}  // namespace rootfarm::testing
