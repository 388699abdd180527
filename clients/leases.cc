#include "clients/leases.h"

#include "store/env.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <sstream>
#include <vector>

namespace rootfarm {
namespace {

constexpr std::string_view kHeader = "# rootfarm leases v1";

std::string_view state_name(Lease::State s) {
    switch (s) {
        case Lease::State::kOffered:
            return "offered";
        case Lease::State::kBound:
            return "bound";
        case Lease::State::kReleased:
            return "released";
    }
    return "offered";
}

std::optional<Lease::State> parse_state(std::string_view s) {
    if (s == "offered") return Lease::State::kOffered;
    if (s == "bound") return Lease::State::kBound;
    if (s == "released") return Lease::State::kReleased;
    return std::nullopt;
}

std::vector<std::string_view> split_words(std::string_view line) {
    std::vector<std::string_view> words;
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        size_t j = i;
        while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
        if (j > i) words.push_back(line.substr(i, j - i));
        i = j;
    }
    return words;
}

}  // namespace

bool Pool::usable_by(Ipv4 ip, const MacAddr& mac) const {
    if (!contains(ip)) return false;
    auto it = reserved.find(ip);
    return it == reserved.end() || it->second == mac;
}

const Lease* LeaseTable::by_mac(const MacAddr& mac) const {
    auto it = by_mac_.find(mac);
    return it == by_mac_.end() ? nullptr : &it->second;
}

const Lease* LeaseTable::by_ip(Ipv4 ip) const {
    auto it = by_ip_.find(ip);
    return it == by_ip_.end() ? nullptr : by_mac(it->second);
}

bool LeaseTable::quarantined(Ipv4 ip, int64_t now) const {
    auto it = quarantine_.find(ip);
    return it != quarantine_.end() && it->second > now;
}

std::optional<Ipv4> LeaseTable::choose(const MacAddr& mac, std::optional<Ipv4> requested,
                                       const Pool& pool, int64_t now) const {
    auto free_for_mac = [&](Ipv4 ip) {
        if (!pool.usable_by(ip, mac) || quarantined(ip, now)) return false;
        const Lease* holder = by_ip(ip);
        return holder == nullptr || holder->mac == mac;
    };
    if (const Lease* own = by_mac(mac); own && free_for_mac(own->ip)) return own->ip;
    if (requested && free_for_mac(*requested)) return requested;
    if (!pool.start || !pool.end || *pool.start > *pool.end) return std::nullopt;
    for (uint64_t v = pool.start->value; v <= pool.end->value; ++v) {
        Ipv4 ip{uint32_t(v)};
        if (free_for_mac(ip)) return ip;
    }
    // The range is full: reuse the address whose lease ended longest ago.
    const Lease* oldest = nullptr;
    for (const auto& [m, lease] : by_mac_) {
        if (lease.active(now) || !pool.usable_by(lease.ip, mac) || quarantined(lease.ip, now)) {
            continue;
        }
        if (!oldest || lease.expires < oldest->expires) oldest = &lease;
    }
    if (oldest) return oldest->ip;
    return std::nullopt;
}

void LeaseTable::put(const Lease& lease) {
    if (auto it = by_mac_.find(lease.mac); it != by_mac_.end() && it->second.ip != lease.ip) {
        by_ip_.erase(it->second.ip);
    }
    if (auto it = by_ip_.find(lease.ip); it != by_ip_.end() && it->second != lease.mac) {
        by_mac_.erase(it->second);
    }
    by_mac_[lease.mac] = lease;
    by_ip_[lease.ip] = lease.mac;
    quarantine_.erase(lease.ip);
    ++version_;
}

void LeaseTable::erase(const MacAddr& mac) {
    auto it = by_mac_.find(mac);
    if (it == by_mac_.end()) return;
    by_ip_.erase(it->second.ip);
    by_mac_.erase(it);
    ++version_;
}

void LeaseTable::quarantine(Ipv4 ip, int64_t until) {
    if (auto it = by_ip_.find(ip); it != by_ip_.end()) erase(it->second);
    quarantine_[ip] = until;
}

std::string LeaseTable::serialize() const {
    std::ostringstream out;
    out << kHeader << '\n';
    for (const auto& [mac, lease] : by_mac_) {
        out << mac.to_string() << ' ' << lease.ip.to_string() << ' ' << lease.expires << ' '
            << state_name(lease.state) << '\n';
    }
    return out.str();
}

LeaseTable LeaseTable::parse(std::string_view text, size_t* skipped) {
    LeaseTable table;
    size_t bad = 0;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        if (line.empty() || line.front() == '#') continue;
        auto words = split_words(line);
        std::optional<MacAddr> mac;
        std::optional<Ipv4> ip;
        std::optional<Lease::State> state;
        int64_t expires = 0;
        bool ok = words.size() == 4;
        if (ok) {
            mac = MacAddr::parse(words[0]);
            ip = Ipv4::parse(words[1]);
            auto [p, ec] =
                std::from_chars(words[2].data(), words[2].data() + words[2].size(), expires);
            state = parse_state(words[3]);
            ok = mac && ip && state && ec == std::errc() && p == words[2].data() + words[2].size();
        }
        if (!ok) {
            ++bad;
            continue;
        }
        table.put(Lease{*mac, *ip, expires, *state});
    }
    if (skipped) *skipped = bad;
    table.version_ = 0;
    return table;
}

Result<LeaseTable> load_leases(const std::filesystem::path& path) {
    Result<std::string> text = store::Env::Default()->read_file(path);
    if (!text.ok()) {
        if (text.error() == std::errc::no_such_file_or_directory) return LeaseTable{};
        return text.failure();
    }
    return LeaseTable::parse(*text);
}

Result<void> save_leases(const std::filesystem::path& path, std::string_view text) {
    return store::Env::Default()->write_file_atomic(path, text);
}

}  // namespace rootfarm
