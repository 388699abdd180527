#include "clients/identity.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include "core/log.h"

extern char** environ;

namespace rootfarm {

namespace {

bool is_blank(char c) {
    return c == ' ' || c == '\t';
}

// The first whitespace-separated field of a hosts(5) line.
std::string_view first_field(std::string_view line) {
    while (!line.empty() && is_blank(line.front())) line.remove_prefix(1);
    size_t end = 0;
    while (end < line.size() && !is_blank(line[end])) ++end;
    return line.substr(0, end);
}

}  // namespace

std::string hosts_with_hostname(std::string_view hosts, std::string_view hostname) {
    const std::string ours = "127.0.1.1\t" + std::string(hostname);
    std::string out;
    out.reserve(hosts.size() + ours.size() + 1);
    bool found = false;
    while (!hosts.empty()) {
        size_t eol = hosts.find('\n');
        std::string_view line = hosts.substr(0, eol);
        hosts = eol == std::string_view::npos ? std::string_view{} : hosts.substr(eol + 1);
        if (first_field(line) == "127.0.1.1") {
            // Debian's convention (the same line raspi-config rewrites): one 127.0.1.1 line
            // naming this host. A second one would only repeat it.
            if (found) continue;
            found = true;
            out += ours;
        } else {
            out += line;
        }
        out += '\n';
    }
    if (!found) out += ours + "\n";
    return out;
}

std::string machine_id_text(std::array<uint8_t, 16> bytes) {
    // RFC 4122 §4.4: version 4 in the high nibble of byte 6, variant 10 in the top bits of 8.
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(33);
    for (uint8_t b : bytes) {
        out += kHex[b >> 4];
        out += kHex[b & 0xf];
    }
    out += '\n';
    return out;
}

namespace {

std::string slurp(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

// Runs `argv` with its output discarded; its exit status, or -1 if it could not start.
int run_quietly(const std::vector<std::string>& args) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    const int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return -1;
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

Result<SshKeyPair> make_ssh_host_key(std::string_view type, std::string_view comment) {
    // The sizes `ssh-keygen -A` gives host keys (OpenSSH's default bits per type).
    std::string bits = type == "rsa" ? "3072" : type == "ecdsa" ? "256" : "";
    char dir_template[] = "/tmp/rootfarm-sshkey-XXXXXX";
    const char* dir = ::mkdtemp(dir_template);
    if (dir == nullptr) return errno_error(errno);
    const std::filesystem::path key = std::filesystem::path(dir) / "key";
    std::vector<std::string> args = {"ssh-keygen", "-q",        "-t", std::string(type),
                                     "-N",         "",          "-C", std::string(comment),
                                     "-f",         key.string()};
    if (!bits.empty()) {
        args.push_back("-b");
        args.push_back(bits);
    }
    const int status = run_quietly(args);
    SshKeyPair pair;
    if (status == 0) {
        pair.private_key = slurp(key);
        pair.public_key = slurp(key.string() + ".pub");
    }
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    if (status != 0 || pair.private_key.empty() || pair.public_key.empty()) {
        clients_log().error("ssh-keygen -t {} {}", type,
                            status < 0 ? "could not run (is openssh-client installed?)"
                                       : "failed with status " + std::to_string(status));
        return std::errc::io_error;
    }
    return pair;
}

std::vector<store::GeneratedFile> identity_files(const Identity& identity) {
    const std::string name = identity.hostname;
    const std::string machine_id = machine_id_text(identity.machine_id);
    std::vector<store::GeneratedFile> files = {
        {"/etc/hostname",
         [name](std::string_view) -> std::optional<std::string> { return name + "\n"; }},
        {"/etc/hosts",
         [name](std::string_view image) -> std::optional<std::string> {
             return hosts_with_hostname(image, name);
         }},
        // The image's value is never shown: systemd would otherwise keep it (machine-id(5)).
        {"/etc/machine-id",
         [machine_id](std::string_view) -> std::optional<std::string> { return machine_id; }},
        // D-Bus reads its own copy where it is not a symlink to /etc/machine-id.
        {"/var/lib/dbus/machine-id",
         [machine_id](std::string_view) -> std::optional<std::string> { return machine_id; }},
    };
    for (std::string_view type : {"ed25519", "ecdsa", "rsa"}) {
        // One key pair per type, made when the first of its two files asks for it. `keep`: a
        // host key stays the same from the first boot on, or every boot would warn ssh users
        // of a changed host key.
        struct Lazy {
            std::string type, comment;
            std::optional<SshKeyPair> pair;
            const SshKeyPair* get() {
                if (!pair) {
                    auto made = make_ssh_host_key(type, comment);
                    if (!made) return nullptr;
                    pair = std::move(*made);
                }
                return &*pair;
            }
        };
        auto lazy = std::make_shared<Lazy>(Lazy{std::string(type), "root@" + name, {}});
        const std::string base = "/etc/ssh/ssh_host_" + std::string(type) + "_key";
        files.push_back({base,
                         [lazy](std::string_view) -> std::optional<std::string> {
                             const SshKeyPair* p = lazy->get();
                             if (!p) return std::nullopt;
                             return p->private_key;
                         },
                         true});
        files.push_back({base + ".pub",
                         [lazy](std::string_view) -> std::optional<std::string> {
                             const SshKeyPair* p = lazy->get();
                             if (!p) return std::nullopt;
                             return p->public_key;
                         },
                         true});
    }
    return files;
}

}  // namespace rootfarm
