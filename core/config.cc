#include "core/config.h"

#include <toml++/toml.h>

#include <charconv>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <unordered_set>

namespace rootfarm {

namespace {

// The value as the user wrote it (near enough) for an error message.
std::string value_text(const toml::node& node) {
    std::ostringstream out;
    if (node.is_string()) {
        out << '"' << node.as_string()->get() << '"';
    } else if (node.is_table()) {
        out << "{...}";
    } else if (node.is_array()) {
        out << *node.as_array();
    } else {
        out << std::boolalpha;
        node.visit([&](const auto& v) {
            if constexpr (toml::is_value<decltype(v)>) out << v.get();
        });
    }
    return out.str();
}

// Reads one TOML table, remembering which keys were used so unknown keys can be reported.
class Section {
  public:
    Section(const toml::table& table, std::string prefix, const std::string& file)
        : table_(table), prefix_(std::move(prefix)), file_(file) {}

    [[noreturn]] void fail(const toml::node& node, std::string_view key,
                           std::string_view reason) const {
        std::ostringstream msg;
        msg << file_ << ":" << node.source().begin.line << ": " << prefix_ << key << " = "
            << value_text(node) << ": " << reason;
        throw ConfigError(msg.str());
    }

    const toml::node* get(std::string_view key) {
        seen_.insert(std::string(key));
        return table_.get(key);
    }

    void boolean(std::string_view key, bool& out) {
        if (const auto* n = get(key)) {
            if (!n->is_boolean()) fail(*n, key, "expected true or false");
            out = n->as_boolean()->get();
        }
    }

    void string(std::string_view key, std::string& out) {
        if (const auto* n = get(key)) {
            if (!n->is_string()) fail(*n, key, "expected a string");
            out = n->as_string()->get();
        }
    }

    template <class Int>
    void integer(std::string_view key, Int& out, int64_t min, int64_t max) {
        if (const auto* n = get(key)) {
            if (!n->is_integer()) fail(*n, key, "expected an integer");
            const int64_t v = n->as_integer()->get();
            if (v < min || v > max) {
                fail(*n, key,
                     "expected an integer from " + std::to_string(min) + " to " +
                         std::to_string(max));
            }
            out = static_cast<Int>(v);
        }
    }

    void port(std::string_view key, uint16_t& out) { integer(key, out, 0, 65535); }

    void ipv4(std::string_view key, Ipv4& out) {
        std::optional<Ipv4> v;
        ipv4(key, v);
        if (v) out = *v;
    }

    void ipv4(std::string_view key, std::optional<Ipv4>& out) {
        if (const auto* n = get(key)) {
            if (!n->is_string()) fail(*n, key, "expected an IPv4 address as a string");
            auto ip = Ipv4::parse(n->as_string()->get());
            if (!ip)
                fail(*n, key, "not an IPv4 address (expected a dotted quad like 192.168.1.10)");
            out = ip;
        }
    }

    void ipv4_list(std::string_view key, std::vector<Ipv4>& out) {
        if (const auto* n = get(key)) {
            // A single address is accepted as well as a list.
            if (n->is_string()) {
                auto ip = Ipv4::parse(n->as_string()->get());
                if (!ip) fail(*n, key, "not an IPv4 address");
                out = {*ip};
                return;
            }
            if (!n->is_array()) fail(*n, key, "expected a list of IPv4 addresses");
            out.clear();
            for (const auto& item : *n->as_array()) {
                auto ip = item.is_string() ? Ipv4::parse(item.as_string()->get()) : std::nullopt;
                if (!ip) fail(item, key, "not an IPv4 address");
                out.push_back(*ip);
            }
        }
    }

    void string_list(std::string_view key, std::vector<std::string>& out) {
        if (const auto* n = get(key)) {
            if (!n->is_array()) fail(*n, key, "expected a list of strings");
            out.clear();
            for (const auto& item : *n->as_array()) {
                if (!item.is_string()) fail(item, key, "expected a string");
                out.push_back(item.as_string()->get());
            }
        }
    }

    template <class Enum>
    void choice(std::string_view key, Enum& out,
                std::initializer_list<std::pair<std::string_view, Enum>> options) {
        if (const auto* n = get(key)) {
            std::string names;
            for (const auto& [name, value] : options) {
                if (n->is_string() && n->as_string()->get() == name) {
                    out = value;
                    return;
                }
                names += (names.empty() ? "\"" : ", \"") + std::string(name) + "\"";
            }
            fail(*n, key, "expected one of " + names);
        }
    }

    // A sub-table (e.g. [nfs]); nullptr when absent.
    const toml::table* table(std::string_view key) {
        if (const auto* n = get(key)) {
            if (!n->is_table()) fail(*n, key, "expected a table ([" + std::string(key) + "])");
            return n->as_table();
        }
        return nullptr;
    }

    // Every key must have been read: an unknown key is a typo the user wants to hear about.
    void reject_unknown() const {
        for (const auto& [key, node] : table_) {
            if (!seen_.count(std::string(key.str()))) fail(node, key.str(), "unknown key");
        }
    }

  private:
    const toml::table& table_;
    std::string prefix_;
    const std::string& file_;
    std::set<std::string> seen_;
};

void read_section(Section& top, std::string_view name, const std::string& file,
                  const std::function<void(Section&)>& fn) {
    if (const auto* t = top.table(name)) {
        Section s(*t, std::string(name) + ".", file);
        fn(s);
        s.reject_unknown();
    }
}

bool valid_serial(std::string_view s) {
    if (s.empty() || s.size() > 16) return false;
    for (char c : s)
        if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
    return true;
}

// RFC 1123 §2.1 host names: dot-separated labels of letters, digits and hyphens, 1-63 bytes,
// not starting or ending with a hyphen, 253 bytes in all. The name is written into the
// client's /etc/hostname and /etc/hosts, so anything else would break those files.
constexpr std::string_view kBadImageName =
    "not an image name (1-64 of A-Z a-z 0-9 . _ + -, not starting with . or -)";

bool valid_hostname(std::string_view s) {
    if (s.empty() || s.size() > 253) return false;
    size_t label = 0;
    char prev = '.';
    for (char c : s) {
        if (c == '.') {
            if (label == 0 || prev == '-') return false;
            label = 0;
        } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '-') {
            if (label == 0 && c == '-') return false;
            if (++label > 63) return false;
        } else {
            return false;
        }
        prev = c;
    }
    return label > 0 && prev != '-';
}

}  // namespace

std::string canonical_serial(std::string_view serial) {
    std::string s(serial);
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool valid_image_name(std::string_view name) {
    if (name.empty() || name.size() > 64 || name[0] == '.' || name[0] == '-') return false;
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-' || c == '+';
        if (!ok) return false;
    }
    return true;
}

Config parse_config(std::string_view text, std::string_view source_name) {
    const std::string file(source_name);
    toml::table root;
    try {
        root = toml::parse(text, source_name);
    } catch (const toml::parse_error& e) {
        std::ostringstream msg;
        msg << file << ":" << e.source().begin.line << ": " << e.description();
        throw ConfigError(msg.str());
    }

    Config c;
    c.source = file;
    Section top(root, "", file);
    std::string state_dir = c.state_dir.string();
    top.string("state_dir", state_dir);
    c.state_dir = state_dir;
    top.ipv4("server_ip", c.server_ip);

    read_section(top, "log", file, [&](Section& s) {
        s.string("level", c.log.level);
        static const std::set<std::string> kLevels = {"trace", "debug",    "info", "warn",
                                                      "error", "critical", "off"};
        if (!kLevels.count(c.log.level)) {
            s.fail(*s.get("level"), "level",
                   "expected one of trace, debug, info, warn, error, critical, off");
        }
    });
    read_section(top, "store", file, [&](Section& s) {
        s.integer("client_quota", c.store.client_quota, 0, INT64_MAX);
        s.string("boot_mount", c.store.boot_mount);
        if (c.store.boot_mount.empty() || c.store.boot_mount[0] != '/') {
            s.fail(*s.get("boot_mount"), "boot_mount",
                   "expected an absolute path like /boot/firmware");
        }
    });
    read_section(top, "nfs", file, [&](Section& s) {
        s.boolean("enabled", c.nfs.enabled);
        s.ipv4("listen", c.nfs.listen);
        s.port("port", c.nfs.port);
        s.port("mount_port", c.nfs.mount_port);
        s.port("portmap_port", c.nfs.portmap_port);
        s.choice("portmap", c.nfs.portmap,
                 {{"auto", NfsConfig::Portmap::kAuto},
                  {"builtin", NfsConfig::Portmap::kBuiltin},
                  {"off", NfsConfig::Portmap::kOff}});
        s.integer("threads", c.nfs.threads, 0, 256);
        s.boolean("udp", c.nfs.udp);
        s.string("trace", c.nfs.trace);
        s.string_list("exports", c.nfs.exports);
        s.integer("bogus_calls_per_second", c.nfs.bogus_calls_per_second, 0, 1000000);
    });
    read_section(top, "tftp", file, [&](Section& s) {
        s.boolean("enabled", c.tftp.enabled);
        s.ipv4("listen", c.tftp.listen);
        s.port("port", c.tftp.port);
        s.boolean("rewrite_cmdline", c.tftp.rewrite_cmdline);
        s.integer("timeout_ms", c.tftp.timeout_ms, 10, 255000);
        s.integer("retries", c.tftp.retries, 0, 100);
        s.integer("max_transfers", c.tftp.max_transfers, 1, 100000);
        s.integer("max_transfers_per_client", c.tftp.max_transfers_per_client, 1, 100000);
        s.integer("client_requests_per_second", c.tftp.client_requests_per_second, 0, 1000000);
        s.integer("nfs_rsize", c.tftp.nfs_rsize, 4096, 1048576);
    });
    read_section(top, "dhcp", file, [&](Section& s) {
        s.boolean("enabled", c.dhcp.enabled);
        s.string("interface", c.dhcp.interface);
        s.ipv4("listen", c.dhcp.listen);
        s.port("port", c.dhcp.port);
        s.port("client_port", c.dhcp.client_port);
        s.choice("mode", c.dhcp.mode,
                 {{"server", DhcpConfig::Mode::kServer}, {"proxy", DhcpConfig::Mode::kProxy}});
        s.ipv4("range_start", c.dhcp.range_start);
        s.ipv4("range_end", c.dhcp.range_end);
        s.ipv4("netmask", c.dhcp.netmask);
        s.ipv4("router", c.dhcp.router);
        s.ipv4_list("dns", c.dhcp.dns);
        s.string("domain", c.dhcp.domain);
        s.integer("lease_time", c.dhcp.lease_time, 60, 365 * 24 * 3600);
        s.string("boot_file", c.dhcp.boot_file);
        s.integer("client_packets_per_second", c.dhcp.client_packets_per_second, 0, 1000000);
        if (s.get("pi3_reply_delay_ms")) {
            uint32_t delay = 0;
            s.integer("pi3_reply_delay_ms", delay, 0, 10000);
            c.dhcp.pi3_reply_delay_ms = delay;
        }
        if (c.dhcp.range_start.has_value() != c.dhcp.range_end.has_value()) {
            const char* given = c.dhcp.range_start ? "range_start" : "range_end";
            s.fail(*s.get(given), given, "range_start and range_end go together");
        }
        if (c.dhcp.range_start && *c.dhcp.range_start > *c.dhcp.range_end) {
            s.fail(*s.get("range_end"), "range_end", "must not be below range_start");
        }
    });
    read_section(top, "defaults", file, [&](Section& s) {
        s.string("image", c.defaults.image);
        if (!valid_image_name(c.defaults.image)) {
            s.fail(*s.get("image"), "image", kBadImageName);
        }
        s.choice("enroll", c.defaults.enroll,
                 {{"known", DefaultsConfig::Enroll::kKnown},
                  {"any-pi", DefaultsConfig::Enroll::kAnyPi}});
        s.choice("on_image_change", c.defaults.on_image_change,
                 {{"reset", DefaultsConfig::OnImageChange::kReset},
                  {"keep", DefaultsConfig::OnImageChange::kKeep}});
        s.integer("idle_after", c.defaults.idle_after, 1, 24 * 3600);
    });
    read_section(top, "image", file, [&](Section& s) {
        s.boolean("enable_ssh", c.image.enable_ssh);
        s.boolean("setcap_fallback", c.image.setcap_fallback);
    });
    read_section(top, "http", file, [&](Section& s) {
        s.string("listen", c.http.listen);
        if (c.http.listen.empty()) return;
        // "ADDR:PORT", as Prometheus exporters are given (127.0.0.1:9180).
        const size_t colon = c.http.listen.rfind(':');
        std::optional<Ipv4> address;
        uint32_t port = 0;
        if (colon != std::string::npos) {
            address = Ipv4::parse(std::string_view(c.http.listen).substr(0, colon));
            const std::string_view digits = std::string_view(c.http.listen).substr(colon + 1);
            auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
            if (ec != std::errc() || end != digits.data() + digits.size()) port = 0;
        }
        if (!address || port == 0 || port > 65535) {
            s.fail(*s.get("listen"), "listen",
                   "expected ADDR:PORT with an IPv4 address and a port from 1 to 65535, like "
                   "127.0.0.1:9180");
        }
        c.http.address = *address;
        c.http.port = static_cast<uint16_t>(port);
    });

    if (const auto* n = top.get("client")) {
        if (!n->is_array_of_tables()) top.fail(*n, "client", "expected [[client]] tables");
        std::unordered_set<MacAddr> macs;
        std::unordered_set<Ipv4> ips;
        std::unordered_set<std::string> serials;
        for (const auto& item : *n->as_array()) {
            const auto& t = *item.as_table();
            Section s(t, "client.", file);
            ClientConfig cc;
            const auto* mac_node = s.get("mac");
            if (!mac_node) s.fail(item, "mac", "every [[client]] needs a mac");
            if (!mac_node->is_string()) s.fail(*mac_node, "mac", "expected a string");
            auto mac = MacAddr::parse(mac_node->as_string()->get());
            if (!mac) s.fail(*mac_node, "mac", "not a MAC address (expected b8:27:eb:12:34:56)");
            cc.mac = *mac;
            if (!macs.insert(cc.mac).second) s.fail(*mac_node, "mac", "duplicate client");
            s.ipv4("ip", cc.ip);
            if (cc.ip && !ips.insert(*cc.ip).second) {
                s.fail(*s.get("ip"), "ip", "address already given to another client");
            }
            s.string("serial", cc.serial);
            if (!cc.serial.empty()) {
                if (!valid_serial(cc.serial)) {
                    s.fail(*s.get("serial"), "serial", "expected up to 16 hex digits");
                }
                cc.serial = canonical_serial(cc.serial);
                if (!serials.insert(cc.serial).second) {
                    s.fail(*s.get("serial"), "serial", "serial already given to another client");
                }
            }
            s.string("hostname", cc.hostname);
            if (!cc.hostname.empty() && !valid_hostname(cc.hostname)) {
                s.fail(*s.get("hostname"), "hostname",
                       "not a host name (letters, digits and '-', dot-separated, RFC 1123)");
            }
            s.string("image", cc.image);
            if (!cc.image.empty() && !valid_image_name(cc.image)) {
                s.fail(*s.get("image"), "image", kBadImageName);
            }
            s.boolean("root_squash", cc.root_squash);
            s.reject_unknown();
            c.clients.push_back(std::move(cc));
        }
    }
    top.reject_unknown();
    return c;
}

Config load_config(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ConfigError(path.string() + ": cannot read the configuration file");
    std::ostringstream text;
    text << in.rdbuf();
    return parse_config(text.str(), path.string());
}

}  // namespace rootfarm
