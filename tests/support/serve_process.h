#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace rootfarm::testing {

// Path of the built `rootfarm` binary.
std::filesystem::path rootfarm_binary();

// A fresh temporary directory, removed when this object dies.
class TempDir {
  public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

// Writes `text` to `path` (its directories created first); returns `path`.
std::filesystem::path write_text(const std::filesystem::path& path, const std::string& text);
// The whole file; empty if it cannot be read.
std::string read_text(const std::filesystem::path& path);

// A port in 20000-59999 that nothing listens on right now (TCP and UDP), for tests that start
// a real server on 127.0.0.1.
uint16_t free_port();

// The result of running a command to completion.
struct CommandResult {
    int status = -1;  // exit status, or 128 + signal
    std::string out;
    std::string err;
};

// Runs argv[0] with arguments, bounded by `timeout` (killed with SIGKILL past it).
CommandResult run_command(const std::vector<std::string>& argv,
                          std::chrono::seconds timeout = std::chrono::seconds(60));

// A running `rootfarm serve --config FILE`. Its stderr is kept in a file for inspection.
class ServeProcess {
  public:
    explicit ServeProcess(std::filesystem::path config);
    ~ServeProcess();  // SIGKILL if still running

    // Waits until the server logs that it serves, or exits; false on exit or timeout.
    bool wait_ready(std::chrono::seconds timeout = std::chrono::seconds(30));
    // Sends `sig` and waits (bounded) for the exit status; -1 on timeout.
    int stop(int sig, std::chrono::seconds timeout = std::chrono::seconds(30));
    // SIGKILL, as a crash would.
    void kill9();
    bool running();
    std::string log() const;
    pid_t pid() const { return pid_; }

  private:
    std::filesystem::path config_;
    std::filesystem::path log_path_;
    pid_t pid_ = -1;
    int status_ = -1;
};

}  // namespace rootfarm::testing
