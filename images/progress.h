#pragma once

// The progress bar of `rootfarm image import`: files and bytes written, redrawn on stderr at
// most five times a second, only when stderr is a terminal (logs stay quiet).

#include <chrono>
#include <cstdint>

namespace rootfarm::images {

class Progress {
  public:
    // `enabled` is ANDed with isatty(stderr). Totals of 0 mean unknown (no percentage).
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
    bool drawn_ = false;
    uint64_t files_ = 0, bytes_ = 0;
    uint64_t total_files_ = 0, total_bytes_ = 0;
    std::chrono::steady_clock::time_point last_{};
};

}  // namespace rootfarm::images
