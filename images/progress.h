#pragma once

// The progress of `rootfarm image import`: files and bytes written, the rate and the time
// left. On a terminal, a bar on stderr redrawn at most five times a second; otherwise (a log,
// a pipe, systemd) a plain line every few seconds, so the output stays readable.

#include <chrono>
#include <cstdint>
#include <string>

namespace rootfarm::images {

struct ProgressState {
    uint64_t files = 0, total_files = 0;  // totals of 0 mean unknown
    uint64_t bytes = 0, total_bytes = 0;
    std::chrono::steady_clock::duration elapsed{};
};

// "importing: 120/5000 files, 12.0 of 800.0 MiB [#####     ] 1%, 40.0 MiB/s, 20 s left", with
// the bar only when `bar`. The rate and what is left appear once a second has passed.
std::string format_progress(const ProgressState& s, bool bar);

class Progress {
  public:
    // Nothing is written unless `enabled`; a bar when stderr is a terminal, else plain lines.
    explicit Progress(bool enabled);
    ~Progress();

    void set_totals(uint64_t files, uint64_t bytes);
    void add_file();
    void add_bytes(uint64_t n);
    // Draws the final state and ends the line.
    void finish();

  private:
    void draw(bool force);

    bool enabled_ = false;
    bool tty_ = false;
    bool drawn_ = false;
    ProgressState state_;
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last_{};
};

}  // namespace rootfarm::images
