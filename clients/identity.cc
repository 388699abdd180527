#include "store/identity.h"

namespace rootfarm::store {

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

std::vector<GeneratedFile> identity_files(std::string_view hostname) {
    std::string name(hostname);
    return {
        {"/etc/hostname", [name](std::string_view) { return name + "\n"; }},
        {"/etc/hosts", [name](std::string_view image) { return hosts_with_hostname(image, name); }},
    };
}

}  // namespace rootfarm::store
