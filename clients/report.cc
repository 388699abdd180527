#include "clients/report.h"

#include <toml++/toml.h>

#include <cstdio>
#include <ctime>
#include <sstream>

namespace rootfarm {

namespace {

using SysClock = std::chrono::system_clock;

std::string rfc3339(SysClock::time_point t) {
    const std::time_t secs = SysClock::to_time_t(t);
    std::tm tm{};
    ::gmtime_r(&secs, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

bool seen(SysClock::time_point t) {
    return t.time_since_epoch().count() != 0;
}

double seconds(std::chrono::milliseconds ms) {
    return static_cast<double>(ms.count()) / 1000.0;
}

std::string ago(SysClock::time_point t, SysClock::time_point now) {
    if (!seen(t)) return "-";
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(now - t).count();
    if (s < 60) return std::to_string(std::max<int64_t>(s, 0)) + " s ago";
    if (s < 3600) return std::to_string(s / 60) + " min ago";
    if (s < 86400) return std::to_string(s / 3600) + " h ago";
    return std::to_string(s / 86400) + " d ago";
}

}  // namespace

std::string human_bytes(uint64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
    return buf;
}

std::string status_json(const std::vector<PiStatus>& pis, bool running) {
    // toml++ writes the JSON: its formatter escapes strings as RFC 8259 asks.
    toml::array list;
    for (const PiStatus& p : pis) {
        toml::table t;
        t.insert("mac", p.info.mac.to_string());
        if (p.info.ip) t.insert("ip", p.info.ip->to_string());
        t.insert("serial", p.info.serial);
        t.insert("model", p.info.model);
        t.insert("hostname", p.info.hostname);
        t.insert("image", p.info.image);
        t.insert("configured", p.info.configured);
        t.insert("overlay_image", p.delta_image);
        t.insert("overlay_bytes", static_cast<int64_t>(p.overlay_bytes));
        t.insert("phase", std::string(to_string(p.phase)));
        if (seen(p.phase_since)) t.insert("phase_since", rfc3339(p.phase_since));
        if (seen(p.last_boot)) t.insert("last_boot", rfc3339(p.last_boot));
        t.insert("boots", static_cast<int64_t>(p.boots));
        if (p.last_boot_duration) t.insert("last_boot_seconds", seconds(*p.last_boot_duration));
        t.insert("hint", p.hint);
        toml::array timeline;
        for (const PhaseSpan& span : p.timeline) {
            toml::table s;
            s.insert("phase", std::string(to_string(span.phase)));
            s.insert("start", rfc3339(span.start));
            s.insert("seconds", seconds(span.duration));
            timeline.push_back(std::move(s));
        }
        t.insert("timeline", std::move(timeline));
        list.push_back(std::move(t));
    }
    toml::table server;
    server.insert("running", running);
    toml::table root;
    root.insert("server", std::move(server));
    root.insert("pis", std::move(list));
    std::ostringstream out;
    out << toml::json_formatter{root};
    out << '\n';
    return out.str();
}

std::string status_table(const std::vector<PiStatus>& pis, SysClock::time_point now) {
    std::string out;
    char line[512];
    std::snprintf(line, sizeof line,
                  "%-17s  %-15s  %-16s  %-5s  %-16s  %-12s  %-15s  %-10s  %-10s  %s\n", "MAC", "IP",
                  "SERIAL", "MODEL", "HOSTNAME", "IMAGE", "PHASE", "SINCE", "LAST BOOT", "OVERLAY");
    out += line;
    for (const PiStatus& p : pis) {
        std::string image = p.info.image;
        if (!p.delta_image.empty() && p.delta_image != p.info.image) {
            image += " (on " + p.delta_image + ")";
        }
        std::snprintf(
            line, sizeof line, "%-17s  %-15s  %-16s  %-5s  %-16s  %-12s  %-15s  %-10s  %-10s  %s\n",
            p.info.mac.to_string().c_str(), p.info.ip ? p.info.ip->to_string().c_str() : "-",
            p.info.serial.empty() ? "-" : p.info.serial.c_str(),
            p.info.model.empty() ? "-" : p.info.model.c_str(), p.info.hostname.c_str(),
            image.c_str(), std::string(to_string(p.phase)).c_str(), ago(p.phase_since, now).c_str(),
            ago(p.last_boot, now).c_str(),
            p.delta_image.empty() ? "none" : human_bytes(p.overlay_bytes).c_str());
        out += line;
        if (!p.hint.empty()) out += "    hint: " + p.hint + "\n";
    }
    return out;
}

}  // namespace rootfarm
