#include "images/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

namespace rootfarm::images {

namespace {

constexpr auto kRedraw = std::chrono::milliseconds(200);
constexpr int kBarWidth = 30;

std::string mib(uint64_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
    return buf;
}

}  // namespace

Progress::Progress(bool enabled) : enabled_(enabled && ::isatty(STDERR_FILENO) == 1) {}

Progress::~Progress() {
    if (drawn_) std::fputc('\n', stderr);
}

void Progress::set_totals(uint64_t files, uint64_t bytes) {
    total_files_ = files;
    total_bytes_ = bytes;
}

void Progress::add_file() {
    ++files_;
    draw(false);
}

void Progress::add_bytes(uint64_t n) {
    bytes_ += n;
    draw(false);
}

void Progress::finish() {
    draw(true);
    if (drawn_) std::fputc('\n', stderr);
    drawn_ = false;
}

void Progress::draw(bool force) {
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    if (!force && now - last_ < kRedraw) return;
    last_ = now;
    std::string line = "\rimporting: " + std::to_string(files_);
    if (total_files_ != 0) line += "/" + std::to_string(total_files_);
    line += " files, " + mib(bytes_);
    if (total_bytes_ != 0) {
        // Totals are estimates from the filesystem's counters; never show more than 100%.
        double done =
            std::min(1.0, static_cast<double>(bytes_) / static_cast<double>(total_bytes_));
        int filled = static_cast<int>(done * kBarWidth);
        line += " of " + mib(total_bytes_) + " [" + std::string(filled, '#') +
                std::string(kBarWidth - filled, ' ') + "] " +
                std::to_string(static_cast<int>(done * 100)) + "%";
    }
    line += "\033[K";
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
    drawn_ = true;
}

}  // namespace rootfarm::images
