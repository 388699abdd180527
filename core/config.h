#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/net.h"

namespace rootfarm {

// A configuration error. what() is one line: "FILE:LINE: KEY = VALUE: reason".
class ConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct LogConfig {
    std::string level = "info";
};

struct StoreConfig {
    uint64_t client_quota = 0;                  // bytes per client delta; 0 = unlimited
    std::string boot_mount = "/boot/firmware";  // where the boot tree appears in the root view
};

struct NfsConfig {
    enum class Portmap { kAuto, kBuiltin, kOff };

    bool enabled = true;
    Ipv4 listen{};  // 0.0.0.0 = all addresses
    uint16_t port = 2049;
    uint16_t mount_port = 20048;
    uint16_t portmap_port = 111;
    Portmap portmap = Portmap::kAuto;
    int threads = 0;    // 0 = one per core
    bool udp = true;    // also serve NFS and MOUNT over UDP
    std::string trace;  // when set, log every NFS call to this file (bench replay)
    std::vector<std::string> exports{"/"};  // paths a client may MNT to get its root
    // RPC-level errors, undecodable and oversized records one address may cause a second,
    // with bursts of five seconds' worth; past it its calls go unanswered and its TCP
    // connections are closed, logged once per interval. 0 = no limit.
    uint32_t bogus_calls_per_second = 100;
};

struct TftpConfig {
    bool enabled = true;
    Ipv4 listen{};
    uint16_t port = 69;
    bool rewrite_cmdline = false;
    uint32_t timeout_ms = 1000;    // retransmit timeout when the client asks for none
    uint32_t retries = 5;          // retransmits of one packet before giving up
    // Concurrent transfers in total. 250 Pis booting at once need about two each, and a
    // request a busy server answered late is retransmitted and may start a second one.
    uint32_t max_transfers = 2048;
    uint32_t max_transfers_per_client = 16;
    // Requests (RRQ/WRQ) one address may send a second, with bursts of five seconds' worth;
    // past it they are dropped unanswered and logged once per interval. 0 = no limit.
    uint32_t client_requests_per_second = 20;
    uint32_t nfs_rsize = 65536;  // rsize/wsize put into a generated cmdline.txt
};

struct DhcpConfig {
    enum class Mode { kServer, kProxy };

    bool enabled = false;
    std::string interface;  // bind to this device (SO_BINDTODEVICE); empty = any
    Ipv4 listen{};
    uint16_t port = 67;
    uint16_t client_port = 68;
    Mode mode = Mode::kServer;
    std::optional<Ipv4> range_start;
    std::optional<Ipv4> range_end;
    std::optional<Ipv4> netmask;
    std::optional<Ipv4> router;
    std::vector<Ipv4> dns;
    std::string domain;
    uint32_t lease_time = 3600;  // seconds
    std::string boot_file;       // option 67 for generic PXE clients (iPXE, PC BIOS)
    std::optional<uint32_t> pi3_reply_delay_ms;  // unset: 1000 in proxy mode, 0 in server mode
    // Packets one MAC may send a second, with bursts of five seconds' worth; past it they are
    // dropped unanswered and logged once per interval. 0 = no limit.
    uint32_t client_packets_per_second = 10;
};

struct DefaultsConfig {
    enum class Enroll { kKnown, kAnyPi };
    enum class OnImageChange { kReset, kKeep };

    std::string image = "default";
    Enroll enroll = Enroll::kKnown;
    OnImageChange on_image_change = OnImageChange::kReset;
    // Seconds without an NFS call after which a mounted Pi counts as idle: `rootfarm client
    // reset` no longer needs --force.
    uint32_t idle_after = 60;
};

struct ImageConfig {
    bool enable_ssh = false;
    bool setcap_fallback = false;
};

// [http] listen = "ADDR:PORT": /metrics, the status page and /api/clients. Empty = off.
struct HttpConfig {
    std::string listen;  // as written, for messages
    Ipv4 address{};      // parsed from listen
    uint16_t port = 0;

    bool enabled() const { return !listen.empty(); }
};

struct ClientConfig {
    MacAddr mac;
    std::optional<Ipv4> ip;
    std::string serial;    // lower-case hex as the Pi prints it, e.g. "1a2b3c4d"
    std::string hostname;  // empty = "pi-<serial>"
    std::string image;     // empty = [defaults] image
    bool root_squash = false;
};

struct Config {
    std::filesystem::path source;  // the file it was read from, for messages
    std::filesystem::path state_dir = "/var/lib/rootfarm";
    Ipv4 server_ip{};  // the address clients reach us at
    LogConfig log;
    StoreConfig store;
    NfsConfig nfs;
    TftpConfig tftp;
    DhcpConfig dhcp;
    DefaultsConfig defaults;
    ImageConfig image;
    HttpConfig http;
    std::vector<ClientConfig> clients;
};

// Reads and validates a rootfarm.toml. Throws ConfigError naming file, line, key and value for
// a syntax error, an unknown key, a wrong type, a malformed MAC/IP or a duplicate client.
Config load_config(const std::filesystem::path& path);

// Whether `name` can name an image (a directory under <state_dir>/images): 1..64 of
// [A-Za-z0-9._+-], not starting with '.' or '-'.
bool valid_image_name(std::string_view name);

// A Pi serial as rootfarm keeps and compares it: lower-case hex (Pis and users write either
// case).
std::string canonical_serial(std::string_view serial);
// The same from text; `source_name` stands for the file name in messages.
Config parse_config(std::string_view text, std::string_view source_name);

}  // namespace rootfarm
