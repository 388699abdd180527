#include "images/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace rootfarm::images {

namespace {

constexpr auto kRedraw = std::chrono::milliseconds(200);  // a bar on a terminal
constexpr auto kLine = std::chrono::seconds(5);           // a plain line elsewhere
constexpr int kBarWidth = 30;

std::string mib(uint64_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(bytes) / (1 << 20));
    return buf;
}

std::string duration_text(double seconds) {
    const auto s = static_cast<int64_t>(seconds + 0.5);
    if (s < 60) return std::to_string(s) + " s";
    if (s < 3600) return std::to_string(s / 60) + " min " + std::to_string(s % 60) + " s";
    return std::to_string(s / 3600) + " h " + std::to_string(s % 3600 / 60) + " min";
}

}  // namespace

std::string format_progress(const ProgressState& s, bool bar) {
    std::string line = "importing: " + std::to_string(s.files);
    if (s.total_files != 0) line += "/" + std::to_string(s.total_files);
    line += " files, " + mib(s.bytes);
    double done = 0;
    if (s.total_bytes != 0) {
        // Totals are estimates from the filesystem's counters; never show more than 100%.
        done = std::min(1.0, static_cast<double>(s.bytes) / static_cast<double>(s.total_bytes));
        line += " of " + mib(s.total_bytes) + " MiB";
        if (bar) {
            const int filled = static_cast<int>(done * kBarWidth);
            line += " [" + std::string(filled, '#') + std::string(kBarWidth - filled, ' ') + "]";
        }
        line += " " + std::to_string(static_cast<int>(done * 100)) + "%";
    } else {
        line += " MiB";
    }
    const double secs = std::chrono::duration<double>(s.elapsed).count();
    if (secs >= 1.0) {
        const double rate = static_cast<double>(s.bytes) / secs;
        line += ", " + mib(static_cast<uint64_t>(rate)) + " MiB/s";
        if (s.total_bytes != 0 && rate > 0 && done < 1.0) {
            line +=
                ", " +
                duration_text(
                    static_cast<double>(s.total_bytes - std::min(s.bytes, s.total_bytes)) / rate) +
                " left";
        }
    }
    return line;
}

Progress::Progress(bool enabled)
    : enabled_(enabled), tty_(enabled && ::isatty(STDERR_FILENO) == 1) {}

Progress::~Progress() {
    if (drawn_ && tty_) std::fputc('\n', stderr);
}

void Progress::set_totals(uint64_t files, uint64_t bytes) {
    state_.total_files = files;
    state_.total_bytes = bytes;
}

void Progress::add_file() {
    ++state_.files;
    draw(false);
}

void Progress::add_bytes(uint64_t n) {
    state_.bytes += n;
    draw(false);
}

void Progress::finish() {
    draw(true);
    if (drawn_ && tty_) std::fputc('\n', stderr);
    drawn_ = false;
}

void Progress::draw(bool force) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (!force && now - (drawn_ ? last_ : start_) < (tty_ ? kRedraw : kLine)) return;
    last_ = now;
    state_.elapsed = now - start_;
    const std::string line = format_progress(state_, tty_);
    if (tty_) {
        std::fprintf(stderr, "\r%s\033[K", line.c_str());
    } else {
        std::fprintf(stderr, "%s\n", line.c_str());
    }
    std::fflush(stderr);
    drawn_ = true;
}

}  // namespace rootfarm::images
