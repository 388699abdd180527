// `rootfarm client add | rm | set`: edit the [[client]] tables of the configuration file, leaving
// the rest of the user's text and comments as they are. Every edit is checked as `serve` would
// check the file at start, written atomically, and then applied to a running server (reload).

#include <sys/stat.h>

#include <toml++/toml.h>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

#include "cli/commands.h"
#include "cli/control.h"
#include "store/env.h"

namespace rootfarm::cli {

namespace {

// A TOML basic string, quoted and escaped by toml++ (a value can never end the table early).
std::string quoted(const std::string& s) {
    std::ostringstream out;
    out << toml::value<std::string>(s);
    return out.str();
}

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

std::string join_lines(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
}

// The lines [first, end) of the [[client]] table of `mac` (first is its header), 0-based.
struct TableLines {
    size_t first = 0, end = 0;
};

std::optional<TableLines> find_table(const std::string& text, const std::vector<std::string>& lines,
                                     const MacAddr& mac) {
    toml::table root;
    try {
        root = toml::parse(text);
    } catch (const toml::parse_error&) {
        return std::nullopt;  // the caller checked the file first
    }
    const toml::array* tables = root["client"].as_array();
    if (!tables) return std::nullopt;
    for (const toml::node& n : *tables) {
        const toml::table* t = n.as_table();
        if (!t) continue;
        auto text_mac = (*t)["mac"].value<std::string>();
        if (!text_mac || MacAddr::parse(*text_mac) != mac) continue;
        // toml++ places an array-of-tables element at its first key; the header is the nearest
        // line above it that opens a table.
        size_t key_line = (*t)["mac"].node()->source().begin.line - 1;
        size_t first = key_line;
        while (first > 0 && lines[first].find('[') != 0) --first;
        size_t end = key_line + 1;
        while (end < lines.size()) {
            const std::string& l = lines[end];
            size_t i = l.find_first_not_of(" \t");
            if (i != std::string::npos && l[i] == '[') break;
            ++end;
        }
        // A comment just above the next table belongs to it, not to this one.
        while (end > key_line + 1 && (lines[end - 1].empty() || lines[end - 1][0] == '#')) --end;
        return TableLines{first, end};
    }
    return std::nullopt;
}

// Checks `text` as `serve` would, writes it atomically keeping the file's mode, and reloads a
// running server. `done` and `refused` start the messages of either outcome.
int commit(const std::filesystem::path& config_path, const std::string& text,
           const std::string& done, const std::string& refused) {
    Config config;
    try {
        config = parse_config(text, config_path.string());
    } catch (const ConfigError& e) {
        std::fprintf(stderr, "rootfarm: %s: %s\n", refused.c_str(), e.what());
        return 2;
    }
    struct stat st;
    const bool have_mode = ::stat(config_path.c_str(), &st) == 0;
    if (auto r = store::Env::Default()->write_file_atomic(config_path, text); !r.ok()) {
        std::fprintf(stderr, "rootfarm: cannot write %s: %s\n", config_path.c_str(),
                     r.message().c_str());
        return 1;
    }
    if (have_mode) ::chmod(config_path.c_str(), st.st_mode & 07777);
    std::printf("%s in %s\n", done.c_str(), config_path.c_str());
    auto reply = control_call(config.state_dir, "reload");
    if (!reply) {
        std::printf("no running `rootfarm serve` here: it takes effect when serve starts\n");
        return 0;
    }
    std::fputs(reply->text.c_str(), reply->status == 0 ? stdout : stderr);
    return reply->status;
}

std::optional<std::string> read_text(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "rootfarm: cannot read %s\n", path.c_str());
        return std::nullopt;
    }
    std::string text((std::istreambuf_iterator<char>(in)), {});
    if (!text.empty() && text.back() != '\n') text += '\n';
    return text;
}

// The `key = value` lines of the options that were given.
std::vector<std::pair<std::string, std::string>> assignments(const NewClient& c) {
    std::vector<std::pair<std::string, std::string>> out;
    if (!c.ip.empty()) out.emplace_back("ip", quoted(c.ip));
    if (!c.serial.empty()) out.emplace_back("serial", quoted(c.serial));
    if (!c.hostname.empty()) out.emplace_back("hostname", quoted(c.hostname));
    if (!c.image.empty()) out.emplace_back("image", quoted(c.image));
    if (c.root_squash_set) out.emplace_back("root_squash", c.root_squash ? "true" : "false");
    return out;
}

}  // namespace

int client_add(const std::filesystem::path& config_path, const NewClient& c) {
    auto text = read_text(config_path);
    if (!text) return 1;
    std::string table =
        "\n# added by `rootfarm client add`\n[[client]]\nmac = " + quoted(c.mac) + "\n";
    for (const auto& [key, value] : assignments(c)) table += key + " = " + value + "\n";
    // A duplicate MAC, address or serial is refused by the same checks as at start-up.
    return commit(config_path, *text + table, "added client " + c.mac, "client not added");
}

int client_rm(const std::filesystem::path& config_path, std::string_view mac_text) {
    auto text = read_text(config_path);
    if (!text) return 1;
    auto mac = MacAddr::parse(mac_text);
    if (!mac) {
        std::fprintf(stderr, "rootfarm: '%.*s' is not a MAC address\n", int(mac_text.size()),
                     mac_text.data());
        return 2;
    }
    std::vector<std::string> lines = split_lines(*text);
    auto where = find_table(*text, lines, *mac);
    if (!where) {
        std::fprintf(stderr, "rootfarm: %s has no [[client]] with mac %s\n", config_path.c_str(),
                     mac->to_string().c_str());
        return 1;
    }
    size_t first = where->first;
    // The comment `client add` wrote above it goes with it.
    if (first > 0 && lines[first - 1].starts_with("# added by `rootfarm client add`")) --first;
    lines.erase(lines.begin() + first, lines.begin() + where->end);
    return commit(config_path, join_lines(lines), "removed client " + mac->to_string(),
                  "client not removed");
}

int client_set(const std::filesystem::path& config_path, const NewClient& c) {
    auto text = read_text(config_path);
    if (!text) return 1;
    auto mac = MacAddr::parse(c.mac);
    if (!mac) {
        std::fprintf(stderr, "rootfarm: '%s' is not a MAC address\n", c.mac.c_str());
        return 2;
    }
    std::vector<std::string> lines = split_lines(*text);
    auto where = find_table(*text, lines, *mac);
    if (!where) {
        std::fprintf(stderr, "rootfarm: %s has no [[client]] with mac %s (see client add)\n",
                     config_path.c_str(), mac->to_string().c_str());
        return 1;
    }
    auto values = assignments(c);
    if (values.empty()) {
        std::fprintf(stderr, "rootfarm: client set: nothing to change\n");
        return 2;
    }
    size_t end = where->end;
    for (const auto& [key, value] : values) {
        bool replaced = false;
        for (size_t i = where->first + 1; i < end; ++i) {
            std::string_view l = lines[i];
            l.remove_prefix(std::min(l.find_first_not_of(" \t"), l.size()));
            if (!l.starts_with(key)) continue;
            std::string_view rest = l.substr(key.size());
            rest.remove_prefix(std::min(rest.find_first_not_of(" \t"), rest.size()));
            if (!rest.starts_with("=")) continue;
            lines[i] = key + " = " + value;
            replaced = true;
            break;
        }
        if (!replaced) lines.insert(lines.begin() + end++, key + " = " + value);
    }
    return commit(config_path, join_lines(lines), "changed client " + mac->to_string(),
                  "client not changed");
}

}  // namespace rootfarm::cli
