#include "tests/support/serve_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#ifndef ROOTFARM_BINARY
#error "ROOTFARM_BINARY must name the built rootfarm executable"
#endif

namespace rootfarm::testing {

namespace fs = std::filesystem;

fs::path rootfarm_binary() {
    return ROOTFARM_BINARY;
}

TempDir::TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "rootfarm-test-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

namespace {

bool port_free(int type, uint16_t port) {
    const int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    ::close(fd);
    return ok;
}

int decode_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// Waits for `pid` up to `timeout`; the decoded status, or -1 if it is still running.
int wait_bounded(pid_t pid, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        int status = 0;
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) return decode_status(status);
        if (r < 0) return -1;
        if (std::chrono::steady_clock::now() >= deadline) return -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

}  // namespace

std::filesystem::path write_text(const std::filesystem::path& path, const std::string& text) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << text;
    return path;
}

std::string read_text(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

uint16_t free_port() {
    static std::mt19937 rng(std::random_device{}());
    for (int i = 0; i < 1000; ++i) {
        const auto port = static_cast<uint16_t>(20000 + rng() % 40000);
        if (port_free(SOCK_STREAM, port) && port_free(SOCK_DGRAM, port)) return port;
    }
    throw std::runtime_error("no free port");
}

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
    TempDir dir;
    const fs::path out = dir.path() / "out", err = dir.path() / "err";
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        const int n = ::open("/dev/null", O_RDONLY);
        ::dup2(n, 0);
        ::dup2(o, 1);
        ::dup2(e, 2);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        _exit(127);
    }
    CommandResult r;
    r.status = wait_bounded(pid, timeout);
    if (r.status < 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
    }
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
}

ServeProcess::ServeProcess(fs::path config) : config_(std::move(config)) {
    log_path_ = config_;
    log_path_ += ".log";
    // Truncated here, before the child exists, so wait_ready() never reads a previous run's
    // "rootfarm serving" line.
    const int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    pid_ = ::fork();
    if (pid_ == 0) {
        const int n = ::open("/dev/null", O_RDONLY);
        ::dup2(n, 0);
        ::dup2(log, 1);
        ::dup2(log, 2);
        const std::string bin = rootfarm_binary().string();
        ::execl(bin.c_str(), bin.c_str(), "--config", config_.c_str(), "serve", nullptr);
        _exit(127);
    }
    ::close(log);
}

ServeProcess::~ServeProcess() {
    if (running()) kill9();
}

bool ServeProcess::running() {
    if (pid_ <= 0 || status_ >= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        status_ = decode_status(status);
        return false;
    }
    return true;
}

bool ServeProcess::wait_ready(std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (log().find("rootfarm serving") != std::string::npos) return true;
        if (!running()) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

int ServeProcess::stop(int sig, std::chrono::seconds timeout) {
    if (!running()) return status_;
    ::kill(pid_, sig);
    status_ = wait_bounded(pid_, timeout);
    return status_;
}

void ServeProcess::kill9() {
    if (!running()) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    status_ = decode_status(status);
}

std::string ServeProcess::log() const {
    return slurp(log_path_);
}

}  // namespace rootfarm::testing
