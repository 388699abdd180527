#include "core/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

namespace rootfarm {
namespace {

using ::testing::HasSubstr;

// The one-line message of the ConfigError that parsing `text` throws.
std::string error_of(std::string_view text) {
    try {
        parse_config(text, "farm.toml");
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(Config, DefaultsWhenEmpty) {
    const Config c = parse_config("", "farm.toml");
    EXPECT_EQ(c.nfs.port, 2049);
    EXPECT_EQ(c.nfs.portmap_port, 111);
    EXPECT_EQ(c.nfs.portmap, NfsConfig::Portmap::kAuto);
    EXPECT_EQ(c.tftp.port, 69);
    EXPECT_EQ(c.dhcp.port, 67);
    EXPECT_EQ(c.dhcp.client_port, 68);
    EXPECT_EQ(c.dhcp.mode, DhcpConfig::Mode::kServer);
    EXPECT_EQ(c.store.boot_mount, "/boot/firmware");
    EXPECT_EQ(c.defaults.image, "default");
    EXPECT_TRUE(c.clients.empty());
}

TEST(Config, ReadsEveryDocumentedKey) {
    const Config c = parse_config(R"(
state_dir = "/srv/farm"
server_ip = "10.0.0.1"
[log]
level = "debug"
[store]
client_quota = 1000000
boot_mount = "/boot"
[nfs]
enabled = true
listen = "127.0.0.1"
port = 12049
mount_port = 12050
portmap_port = 12111
portmap = "builtin"
threads = 2
[tftp]
enabled = false
listen = "127.0.0.1"
port = 1069
rewrite_cmdline = true
[dhcp]
enabled = true
interface = "eth1"
listen = "0.0.0.0"
port = 1067
client_port = 1068
mode = "proxy"
range_start = "10.0.0.100"
range_end = "10.0.0.200"
netmask = "255.255.255.0"
router = "10.0.0.254"
dns = ["10.0.0.53", "10.0.0.54"]
lease_time = 7200
boot_file = "boot.ipxe"
pi3_reply_delay_ms = 500
[defaults]
image = "bookworm"
enroll = "any-pi"
on_image_change = "keep"
[image]
enable_ssh = true
[[client]]
mac = "b8:27:eb:00:00:01"
ip = "10.0.0.11"
serial = "1A2B3C4D"
hostname = "pi-one"
image = "bullseye"
[[client]]
mac = "dc-a6-32-00-00-02"
)",
                                  "farm.toml");
    EXPECT_EQ(c.state_dir, "/srv/farm");
    EXPECT_EQ(c.server_ip.to_string(), "10.0.0.1");
    EXPECT_EQ(c.log.level, "debug");
    EXPECT_EQ(c.store.client_quota, 1000000u);
    EXPECT_EQ(c.store.boot_mount, "/boot");
    EXPECT_EQ(c.nfs.listen.to_string(), "127.0.0.1");
    EXPECT_EQ(c.nfs.port, 12049);
    EXPECT_EQ(c.nfs.mount_port, 12050);
    EXPECT_EQ(c.nfs.portmap_port, 12111);
    EXPECT_EQ(c.nfs.portmap, NfsConfig::Portmap::kBuiltin);
    EXPECT_EQ(c.nfs.threads, 2);
    EXPECT_FALSE(c.tftp.enabled);
    EXPECT_EQ(c.tftp.port, 1069);
    EXPECT_TRUE(c.tftp.rewrite_cmdline);
    EXPECT_TRUE(c.dhcp.enabled);
    EXPECT_EQ(c.dhcp.interface, "eth1");
    EXPECT_EQ(c.dhcp.mode, DhcpConfig::Mode::kProxy);
    EXPECT_EQ(c.dhcp.range_start->to_string(), "10.0.0.100");
    EXPECT_EQ(c.dhcp.range_end->to_string(), "10.0.0.200");
    EXPECT_EQ(c.dhcp.netmask->to_string(), "255.255.255.0");
    EXPECT_EQ(c.dhcp.router->to_string(), "10.0.0.254");
    ASSERT_EQ(c.dhcp.dns.size(), 2u);
    EXPECT_EQ(c.dhcp.dns[1].to_string(), "10.0.0.54");
    EXPECT_EQ(c.dhcp.lease_time, 7200u);
    EXPECT_EQ(c.dhcp.boot_file, "boot.ipxe");
    EXPECT_EQ(c.dhcp.pi3_reply_delay_ms, 500u);
    EXPECT_EQ(c.defaults.image, "bookworm");
    EXPECT_EQ(c.defaults.enroll, DefaultsConfig::Enroll::kAnyPi);
    EXPECT_EQ(c.defaults.on_image_change, DefaultsConfig::OnImageChange::kKeep);
    EXPECT_TRUE(c.image.enable_ssh);
    ASSERT_EQ(c.clients.size(), 2u);
    EXPECT_EQ(c.clients[0].mac.to_string(), "b8:27:eb:00:00:01");
    EXPECT_EQ(c.clients[0].ip->to_string(), "10.0.0.11");
    EXPECT_EQ(c.clients[0].serial, "1a2b3c4d");
    EXPECT_EQ(c.clients[0].hostname, "pi-one");
    EXPECT_EQ(c.clients[0].image, "bullseye");
    EXPECT_EQ(c.clients[1].mac.to_string(), "dc:a6:32:00:00:02");
    EXPECT_FALSE(c.clients[1].ip);
}

// Every error names the file, the line, the key and the value.
TEST(Config, UnknownTopLevelKey) {
    EXPECT_EQ(error_of("state_dir = \"/x\"\nserver_pi = \"1.2.3.4\"\n"),
              "farm.toml:2: server_pi = \"1.2.3.4\": unknown key");
}

TEST(Config, UnknownKeyInSection) {
    EXPECT_EQ(error_of("[nfs]\nport = 2049\nprot = 1\n"), "farm.toml:3: nfs.prot = 1: unknown key");
}

TEST(Config, UnknownSection) {
    EXPECT_THAT(error_of("[nsf]\nport = 1\n"), HasSubstr("farm.toml:1: nsf = "));
    EXPECT_THAT(error_of("[nsf]\nport = 1\n"), HasSubstr("unknown key"));
}

TEST(Config, WrongType) {
    EXPECT_EQ(error_of("[nfs]\nport = \"2049\"\n"),
              "farm.toml:2: nfs.port = \"2049\": expected an integer");
    EXPECT_EQ(error_of("[tftp]\nenabled = \"yes\"\n"),
              "farm.toml:2: tftp.enabled = \"yes\": expected true or false");
    EXPECT_EQ(error_of("[dhcp]\ndns = 5\n"),
              "farm.toml:2: dhcp.dns = 5: expected a list of IPv4 addresses");
}

TEST(Config, PortOutOfRange) {
    EXPECT_EQ(error_of("[tftp]\nport = 70000\n"),
              "farm.toml:2: tftp.port = 70000: expected an integer from 0 to 65535");
}

TEST(Config, BadChoice) {
    EXPECT_EQ(error_of("[dhcp]\nmode = \"relay\"\n"),
              "farm.toml:2: dhcp.mode = \"relay\": expected one of \"server\", \"proxy\"");
    EXPECT_EQ(error_of("[nfs]\nportmap = \"yes\"\n"),
              "farm.toml:2: nfs.portmap = \"yes\": expected one of \"auto\", \"builtin\", \"off\"");
    EXPECT_EQ(error_of("[log]\nlevel = \"loud\"\n"),
              "farm.toml:2: log.level = \"loud\": expected one of trace, debug, info, warn, error, "
              "critical, off");
}

TEST(Config, MalformedIp) {
    EXPECT_EQ(error_of("server_ip = \"10.0.0.256\"\n"),
              "farm.toml:1: server_ip = \"10.0.0.256\": not an IPv4 address (expected a dotted "
              "quad like 192.168.1.10)");
    EXPECT_EQ(error_of("[[client]]\nmac = \"b8:27:eb:00:00:01\"\nip = \"10.0.0\"\n"),
              "farm.toml:3: client.ip = \"10.0.0\": not an IPv4 address (expected a dotted quad "
              "like 192.168.1.10)");
}

TEST(Config, MalformedMac) {
    EXPECT_EQ(error_of("[[client]]\nmac = \"b8:27:eb:00:00\"\n"),
              "farm.toml:2: client.mac = \"b8:27:eb:00:00\": not a MAC address (expected "
              "b8:27:eb:12:34:56)");
}

TEST(Config, DuplicateClient) {
    EXPECT_EQ(error_of("[[client]]\nmac = \"b8:27:eb:00:00:01\"\n"
                       "[[client]]\nmac = \"B8-27-EB-00-00-01\"\n"),
              "farm.toml:4: client.mac = \"B8-27-EB-00-00-01\": duplicate client");
}

TEST(Config, DuplicateClientAddressAndSerial) {
    EXPECT_EQ(error_of("[[client]]\nmac = \"b8:27:eb:00:00:01\"\nip = \"10.0.0.5\"\n"
                       "[[client]]\nmac = \"b8:27:eb:00:00:02\"\nip = \"10.0.0.5\"\n"),
              "farm.toml:6: client.ip = \"10.0.0.5\": address already given to another client");
    EXPECT_EQ(
        error_of("[[client]]\nmac = \"b8:27:eb:00:00:01\"\nimage = \"../etc\"\n"),
        "farm.toml:3: client.image = \"../etc\": not an image name (1-64 of A-Z a-z 0-9 . _ + "
        "-, not starting with . or -)");
    EXPECT_EQ(error_of("[defaults]\nimage = \"\"\n"),
              "farm.toml:2: defaults.image = \"\": not an image name (1-64 of A-Z a-z 0-9 . _ + -, "
              "not starting with . or -)");
    EXPECT_EQ(error_of("[[client]]\nmac = \"b8:27:eb:00:00:01\"\nhostname = \"my pi\"\n"),
              "farm.toml:3: client.hostname = \"my pi\": not a host name (letters, digits and '-', "
              "dot-separated, RFC 1123)");
    EXPECT_EQ(error_of("[[client]]\nmac = \"b8:27:eb:00:00:01\"\nhostname = \"-pi\"\n"),
              "farm.toml:3: client.hostname = \"-pi\": not a host name (letters, digits and '-', "
              "dot-separated, RFC 1123)");
    EXPECT_EQ(error_of("[[client]]\nmac = \"b8:27:eb:00:00:01\"\nserial = \"abc\"\n"
                       "[[client]]\nmac = \"b8:27:eb:00:00:02\"\nserial = \"ABC\"\n"),
              "farm.toml:6: client.serial = \"ABC\": serial already given to another client");
}

TEST(Config, ClientWithoutMac) {
    EXPECT_THAT(error_of("[[client]]\nip = \"10.0.0.5\"\n"), HasSubstr("client.mac = "));
    EXPECT_THAT(error_of("[[client]]\nip = \"10.0.0.5\"\n"),
                HasSubstr("every [[client]] needs a mac"));
}

TEST(Config, RangeMustBeComplete) {
    EXPECT_EQ(
        error_of("[dhcp]\nrange_start = \"10.0.0.10\"\n"),
        "farm.toml:2: dhcp.range_start = \"10.0.0.10\": range_start and range_end go together");
    EXPECT_EQ(error_of("[dhcp]\nrange_start = \"10.0.0.10\"\nrange_end = \"10.0.0.5\"\n"),
              "farm.toml:3: dhcp.range_end = \"10.0.0.5\": must not be below range_start");
}

TEST(Config, HttpIsOffByDefaultAndListensOnAddrPort) {
    EXPECT_FALSE(parse_config("", "farm.toml").http.enabled());
    const Config c = parse_config("[http]\nlisten = \"127.0.0.1:9180\"\n", "farm.toml");
    EXPECT_TRUE(c.http.enabled());
    EXPECT_EQ(c.http.address.to_string(), "127.0.0.1");
    EXPECT_EQ(c.http.port, 9180);
    EXPECT_FALSE(parse_config("[http]\nlisten = \"\"\n", "farm.toml").http.enabled());
}

TEST(Config, MalformedHttpListen) {
    const std::string why =
        ": expected ADDR:PORT with an IPv4 address and a port from 1 to 65535, like "
        "127.0.0.1:9180";
    EXPECT_EQ(error_of("[http]\nlisten = \"9180\"\n"), "farm.toml:2: http.listen = \"9180\"" + why);
    EXPECT_EQ(error_of("[http]\nlisten = \"localhost:9180\"\n"),
              "farm.toml:2: http.listen = \"localhost:9180\"" + why);
    EXPECT_EQ(error_of("[http]\nlisten = \"127.0.0.1:70000\"\n"),
              "farm.toml:2: http.listen = \"127.0.0.1:70000\"" + why);
    EXPECT_EQ(error_of("[http]\nlisten = \"127.0.0.1:\"\n"),
              "farm.toml:2: http.listen = \"127.0.0.1:\"" + why);
    EXPECT_EQ(error_of("[http]\nlisten = \"127.0.0.1:80x\"\n"),
              "farm.toml:2: http.listen = \"127.0.0.1:80x\"" + why);
    EXPECT_EQ(error_of("[http]\nlisten = 9180\n"),
              "farm.toml:2: http.listen = 9180: expected a string");
    EXPECT_EQ(error_of("[http]\nport = 9180\n"), "farm.toml:2: http.port = 9180: unknown key");
}

TEST(Config, SyntaxErrorNamesLine) {
    EXPECT_THAT(error_of("[nfs]\nport = = 3\n"), HasSubstr("farm.toml:2: "));
}

TEST(Config, LoadConfigReadsFileAndNamesIt) {
    const auto path = std::filesystem::temp_directory_path() / "rootfarm_config_test.toml";
    {
        std::ofstream out(path);
        out << "[tftp]\nport = 1069\nbogus = true\n";
    }
    try {
        load_config(path);
        FAIL() << "expected a ConfigError";
    } catch (const ConfigError& e) {
        EXPECT_EQ(std::string(e.what()), path.string() + ":3: tftp.bogus = true: unknown key");
    }
    std::filesystem::remove(path);
    EXPECT_THROW(load_config(path), ConfigError);
}

}  // namespace
}  // namespace rootfarm
