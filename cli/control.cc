#include "cli/control.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"

namespace rootfarm::cli {

namespace {

constexpr size_t kMaxRequest = 4096;
constexpr int kIoTimeoutMs = 5000;  // a client that neither sends nor reads is dropped

bool fill_address(const std::filesystem::path& path, sockaddr_un& addr) {
    std::memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    const std::string p = path.string();
    if (p.size() >= sizeof addr.sun_path) return false;
    std::memcpy(addr.sun_path, p.c_str(), p.size() + 1);
    return true;
}

// Reads up to the first newline, bounded in size and time.
std::optional<std::string> read_line(int fd) {
    std::string line;
    char buf[512];
    while (line.size() < kMaxRequest) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, kIoTimeoutMs) <= 0) return std::nullopt;
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        line.append(buf, size_t(n));
        if (size_t nl = line.find('\n'); nl != std::string::npos) return line.substr(0, nl);
    }
    if (line.empty() || line.size() >= kMaxRequest) return std::nullopt;
    return line;
}

void write_all(int fd, std::string_view text) {
    while (!text.empty()) {
        pollfd p{fd, POLLOUT, 0};
        if (::poll(&p, 1, kIoTimeoutMs) <= 0) return;
        ssize_t n = ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        text.remove_prefix(size_t(n));
    }
}

}  // namespace

std::filesystem::path control_socket_path(const std::filesystem::path& state_dir) {
    return state_dir / "control.sock";
}

Result<std::unique_ptr<ControlServer>> ControlServer::start(const std::filesystem::path& state_dir,
                                                            Handler handler) {
    const auto path = control_socket_path(state_dir);
    sockaddr_un addr;
    if (!fill_address(path, addr)) return std::errc::filename_too_long;
    // A socket left by a server that was killed: nobody listens on it any more.
    if (control_call(state_dir, "")) return std::errc::address_in_use;
    ::unlink(path.c_str());
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno_error(errno);
    // 0600 from the start: the mode of a socket decides who may connect to it.
    const mode_t old_mask = ::umask(0177);
    const int bound = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::umask(old_mask);
    if (bound != 0 || ::listen(fd, 16) != 0) {
        int err = errno;
        ::close(fd);
        return errno_error(err);
    }
    int stop = ::eventfd(0, EFD_CLOEXEC);
    if (stop < 0) {
        int err = errno;
        ::close(fd);
        return errno_error(err);
    }
    return std::unique_ptr<ControlServer>(new ControlServer(fd, stop, path, std::move(handler)));
}

ControlServer::ControlServer(int listen_fd, int stop_fd, std::filesystem::path path,
                             Handler handler)
    : listen_fd_(listen_fd),
      stop_fd_(stop_fd),
      path_(std::move(path)),
      handler_(std::move(handler)) {
    thread_ = std::thread([this] { run(); });
}

ControlServer::~ControlServer() {
    const uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof one);
    thread_.join();
    ::close(listen_fd_);
    ::close(stop_fd_);
    ::unlink(path_.c_str());
}

void ControlServer::run() {
    for (;;) {
        pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            core_log().error("control socket: poll: {}", std::strerror(errno));
            return;
        }
        if (fds[1].revents) return;
        int conn = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (conn < 0) continue;
        // Requests are rare and short (an operator's command): one at a time.
        if (auto line = read_line(conn)) {
            ControlReply reply = handler_(*line);
            write_all(conn, std::to_string(reply.status) + "\n" + reply.text);
        }
        ::close(conn);
    }
}

std::optional<ControlReply> control_call(const std::filesystem::path& state_dir,
                                         std::string_view request) {
    sockaddr_un addr;
    if (!fill_address(control_socket_path(state_dir), addr)) return std::nullopt;
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::nullopt;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return std::nullopt;
    }
    if (request.empty()) {  // only asking whether someone listens
        ::close(fd);
        return ControlReply{};
    }
    write_all(fd, std::string(request) + "\n");
    std::string out;
    char buf[4096];
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        // A reset or a reload may write a few files and generate keys: allow it time.
        if (::poll(&p, 1, 60000) <= 0) break;
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        out.append(buf, size_t(n));
    }
    ::close(fd);
    ControlReply reply;
    const size_t nl = out.find('\n');
    if (nl == std::string::npos) return ControlReply{1, "rootfarm serve gave no answer\n"};
    reply.status = std::atoi(out.substr(0, nl).c_str());
    reply.text = out.substr(nl + 1);
    return reply;
}

}  // namespace rootfarm::cli
