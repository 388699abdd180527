#pragma once

// The control socket of a running `rootfarm serve`: <state_dir>/control.sock, mode 0600, so only
// the service's user and root reach it. One request line in ("reload", "reset MAC",
// "reset MAC force"), one reply out: the exit status the command should end with on its first
// line, then the text to print.
//
// A socket rather than SIGHUP to a pid file: the command learns whether the reload took (an
// invalid file is refused with its one-line error and exit status 2) and gets an answer from
// reset, and a stale pid file can never signal an unrelated process.

#include <atomic>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "core/result.h"

namespace rootfarm::cli {

struct ControlReply {
    int status = 0;
    std::string text;
};

std::filesystem::path control_socket_path(const std::filesystem::path& state_dir);

// Serves the socket on a thread of its own until destroyed.
class ControlServer {
  public:
    using Handler = std::function<ControlReply(std::string_view request)>;
    // Errors: what bind/listen said.
    static Result<std::unique_ptr<ControlServer>> start(const std::filesystem::path& state_dir,
                                                        Handler handler);
    ~ControlServer();

  private:
    ControlServer(int listen_fd, int stop_fd, std::filesystem::path path, Handler handler);
    void run();

    int listen_fd_;
    int stop_fd_;  // an eventfd: readable when the server must stop
    std::filesystem::path path_;
    Handler handler_;
    std::thread thread_;
};

// Sends `request` to the server running on `state_dir`. nullopt when none runs there (no socket,
// or nobody listening).
std::optional<ControlReply> control_call(const std::filesystem::path& state_dir,
                                         std::string_view request);

}  // namespace rootfarm::cli
