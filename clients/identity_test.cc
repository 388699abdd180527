// A Pi's identity in its own view: host name, machine-id and SSH host keys, each its own, the
// image untouched.

#include "clients/identity.h"

#include <gtest/gtest.h>

#include <set>

#include "store/test_util.h"

namespace rootfarm {
namespace {

namespace st = store::testing;
using st::exists;
using st::read_all;
using st::walk;
using st::write_file;

constexpr std::string_view kImageHosts =
    "127.0.0.1\tlocalhost\n"
    "::1\t\tlocalhost ip6-localhost ip6-loopback\n"
    "\n"
    "127.0.1.1\t\traspberrypi\n";

TEST(HostsWithHostname, ReplacesTheLoopbackNameLineOnly) {
    EXPECT_EQ(hosts_with_hostname(kImageHosts, "pi-1234abcd"),
              "127.0.0.1\tlocalhost\n"
              "::1\t\tlocalhost ip6-localhost ip6-loopback\n"
              "\n"
              "127.0.1.1\tpi-1234abcd\n");
}

TEST(HostsWithHostname, AppendsTheLineWhenTheImageHasNone) {
    EXPECT_EQ(hosts_with_hostname("127.0.0.1 localhost", "kitchen"),
              "127.0.0.1 localhost\n127.0.1.1\tkitchen\n");
    EXPECT_EQ(hosts_with_hostname("", "kitchen"), "127.0.1.1\tkitchen\n");
}

TEST(HostsWithHostname, KeepsOneLineWhenTheImageRepeatsIt) {
    EXPECT_EQ(hosts_with_hostname("127.0.1.1 a\n  127.0.1.1\tb c\n", "kitchen"),
              "127.0.1.1\tkitchen\n");
}

TEST(MachineId, ThirtyTwoHexDigitsOfAVersion4Uuid) {
    std::array<uint8_t, 16> bytes;
    bytes.fill(0xff);
    EXPECT_EQ(machine_id_text(bytes), "ffffffffffff4fffbfffffffffffffff\n");
    bytes.fill(0);
    EXPECT_EQ(machine_id_text(bytes), "00000000000040008000000000000000\n");
}

TEST(SshHostKey, MakesAMatchingPairOfEachType) {
    for (std::string_view type : {"ed25519", "ecdsa", "rsa"}) {
        auto pair = make_ssh_host_key(type, "root@kitchen");
        ASSERT_TRUE(pair.ok()) << type;
        EXPECT_NE(pair->private_key.find("BEGIN OPENSSH PRIVATE KEY"), std::string::npos);
        EXPECT_TRUE(pair->public_key.ends_with(" root@kitchen\n")) << pair->public_key;
        const std::string prefix = type == "rsa"     ? "ssh-rsa "
                                   : type == "ecdsa" ? "ecdsa-sha2-nistp256 "
                                                     : "ssh-ed25519 ";
        EXPECT_TRUE(pair->public_key.starts_with(prefix)) << pair->public_key;
    }
    EXPECT_FALSE(make_ssh_host_key("no-such-type", "x").ok());
}

// Two Pis on one image with the identity files a shared image would otherwise share.
class IdentityTest : public ::testing::Test {
  protected:
    void SetUp() override {
        const auto root = dir_.path() / "images/pi/root";
        write_file(root / "etc/hostname", "raspberrypi\n");
        write_file(root / "etc/hosts", kImageHosts);
        write_file(root / "etc/machine-id", "0123456789abcdef0123456789abcdef\n");
        write_file(root / "etc/ssh/ssh_host_ed25519_key", "IMAGE PRIVATE KEY\n", 0600);
        write_file(root / "etc/ssh/ssh_host_ed25519_key.pub", "ssh-ed25519 IMAGE root@image\n");
        write_file(root / "etc/ssh/ssh_host_rsa_key", "IMAGE RSA KEY\n", 0600);
        write_file(root / "etc/ssh/ssh_host_rsa_key.pub", "ssh-rsa IMAGE root@image\n");
        write_file(dir_.path() / "images/pi/boot/config.txt", "\n");
        reopen();
    }
    void reopen() {
        store_.reset();
        store::StoreOptions o;
        o.state_dir = dir_.path();
        auto s = store::Store::open(o);
        ASSERT_TRUE(s.ok());
        store_ = std::move(*s);
    }
    // What MNT does at a boot (Clients::start_boot).
    std::shared_ptr<store::ClientView> boot(uint8_t n, std::string hostname) {
        auto v = store_->view(st::mac(n), "pi");
        EXPECT_TRUE(v.ok());
        Identity id{std::move(hostname), store_->client_secret(st::mac(n), "machine-id")};
        EXPECT_TRUE((*v)->generate(identity_files(id)).ok());
        return *v;
    }
    static std::string read(const store::ClientView& v, std::string_view path) {
        return read_all(v, walk(v, path));
    }

    st::TempDir dir_;
    std::unique_ptr<store::Store> store_;
};

TEST_F(IdentityTest, TwoPisGetTheirOwnMachineIdAndHostKeysAndTheImageIsUntouched) {
    auto a = boot(1, "pi-a");
    auto b = boot(2, "pi-b");
    EXPECT_EQ(read(*a, "/etc/hostname"), "pi-a\n");
    EXPECT_EQ(read(*b, "/etc/hostname"), "pi-b\n");
    const std::string id_a = read(*a, "/etc/machine-id");
    const std::string id_b = read(*b, "/etc/machine-id");
    EXPECT_EQ(id_a.size(), 33u);
    EXPECT_NE(id_a, id_b);
    EXPECT_NE(id_a, "0123456789abcdef0123456789abcdef\n");
    for (std::string_view key : {"/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_rsa_key"}) {
        const std::string ka = read(*a, key), kb = read(*b, key);
        EXPECT_NE(ka.find("OPENSSH PRIVATE KEY"), std::string::npos) << key;
        EXPECT_NE(ka, kb) << key;
        const std::string pub = std::string(key) + ".pub";
        EXPECT_NE(read(*a, pub), read(*b, pub));
        EXPECT_TRUE(read(*a, pub).ends_with(" root@pi-a\n")) << read(*a, pub);
    }
    // Only the types the image carries: the Pi's own first-boot service makes the others.
    EXPECT_FALSE(exists(*a, "/etc/ssh/ssh_host_ecdsa_key"));
    // Mode and owner stay the image's: a private key stays 0600.
    auto attr = a->getattr(walk(*a, "/etc/ssh/ssh_host_ed25519_key"));
    ASSERT_TRUE(attr.ok());
    EXPECT_EQ(attr->mode, 0600u);
    // The image itself is as it was.
    auto pristine = store_->image_view("pi");
    ASSERT_TRUE(pristine.ok());
    EXPECT_EQ(read(**pristine, "/etc/machine-id"), "0123456789abcdef0123456789abcdef\n");
    EXPECT_EQ(read(**pristine, "/etc/ssh/ssh_host_ed25519_key"), "IMAGE PRIVATE KEY\n");
    // None of it is a change the Pi made.
    auto diff = store_->diff(st::mac(1));
    ASSERT_TRUE(diff.ok());
    EXPECT_TRUE(diff->empty());
}

TEST_F(IdentityTest, KeysAndMachineIdSurviveABootAndARestartAndKeysAreNewAfterAReset) {
    auto a = boot(1, "pi-a");
    const std::string id = read(*a, "/etc/machine-id");
    const std::string key = read(*a, "/etc/ssh/ssh_host_ed25519_key");
    const std::string pub = read(*a, "/etc/ssh/ssh_host_ed25519_key.pub");
    a = boot(1, "pi-a");
    EXPECT_EQ(read(*a, "/etc/ssh/ssh_host_ed25519_key"), key);
    a.reset();
    reopen();
    a = boot(1, "renamed");
    EXPECT_EQ(read(*a, "/etc/machine-id"), id);
    EXPECT_EQ(read(*a, "/etc/ssh/ssh_host_ed25519_key"), key);
    EXPECT_EQ(read(*a, "/etc/ssh/ssh_host_ed25519_key.pub"), pub);
    EXPECT_EQ(read(*a, "/etc/hostname"), "renamed\n");
    ASSERT_TRUE(store_->reset(st::mac(1)).ok());
    a = boot(1, "renamed");
    EXPECT_NE(read(*a, "/etc/ssh/ssh_host_ed25519_key"), key);
    // The machine-id belongs to the Pi, not to its overlay.
    EXPECT_EQ(read(*a, "/etc/machine-id"), id);
}

TEST_F(IdentityTest, APiThatWritesItsOwnKeyKeepsIt) {
    auto a = boot(1, "pi-a");
    auto key = walk(*a, "/etc/ssh/ssh_host_ed25519_key");
    ASSERT_TRUE(st::write_at(*a, key, 0, "MINE").ok());
    a = boot(1, "pi-a");
    EXPECT_TRUE(read(*a, "/etc/ssh/ssh_host_ed25519_key").starts_with("MINE"));
}

}  // namespace
}  // namespace rootfarm
