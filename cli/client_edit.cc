// `rootfarm client add`: appends a [[client]] table to the configuration file, checked first.

#include <sys/stat.h>

#include <toml++/toml.h>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "store/fs_util.h"

namespace rootfarm::cli {

namespace {

// A TOML basic string, quoted and escaped by toml++ (a value can never end the table early).
std::string quoted(const std::string& s) {
    std::ostringstream out;
    out << toml::value<std::string>(s);
    return out.str();
}

}  // namespace

int client_add(const std::filesystem::path& config_path, const NewClient& c) {
    std::ifstream in(config_path, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "rootfarm: cannot read %s\n", config_path.c_str());
        return 1;
    }
    std::string text((std::istreambuf_iterator<char>(in)), {});
    if (!text.empty() && text.back() != '\n') text += '\n';
    std::string table =
        "\n# added by `rootfarm client add`\n[[client]]\nmac = " + quoted(c.mac) + "\n";
    if (!c.ip.empty()) table += "ip = " + quoted(c.ip) + "\n";
    if (!c.serial.empty()) table += "serial = " + quoted(c.serial) + "\n";
    if (!c.hostname.empty()) table += "hostname = " + quoted(c.hostname) + "\n";
    if (!c.image.empty()) table += "image = " + quoted(c.image) + "\n";
    if (c.root_squash) table += "root_squash = true\n";
    // The same checks as at start-up (duplicate MAC, address or serial; malformed values), on
    // the file as it would be: a client that would stop `rootfarm serve` is never written.
    try {
        parse_config(text + table, config_path.string());
    } catch (const ConfigError& e) {
        std::fprintf(stderr, "rootfarm: client not added: %s\n", e.what());
        return 2;
    }
    struct stat st;
    const bool have_mode = ::stat(config_path.c_str(), &st) == 0;
    // Atomic: a crash leaves the old file or the new one, never half a table.
    if (auto r = store::write_file_atomic(config_path, text + table); !r.ok()) {
        std::fprintf(stderr, "rootfarm: cannot write %s: %s\n", config_path.c_str(),
                     r.error().message().c_str());
        return 1;
    }
    if (have_mode) ::chmod(config_path.c_str(), st.st_mode & 07777);
    std::printf("added client %s to %s; a running `rootfarm serve` uses it after a restart\n",
                c.mac.c_str(), config_path.c_str());
    return 0;
}

}  // namespace rootfarm::cli
