// Connection::send_file (loop_splice.cc): the bytes a client reads are exactly the queued bytes
// and file ranges, in order, whatever the file does.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <future>
#include <random>
#include <thread>

#include "core/loop.h"

namespace rootfarm {
namespace {

const Ipv4 kLocalhost{0x7f000001};
// Sizes no multiple of a page or of 4.
constexpr size_t kFileSize = (3u << 20) + 123;

// Runs a loop on its own thread; `setup` runs on that thread before the loop starts.
class LoopThread {
  public:
    explicit LoopThread(std::function<void(Loop&)> setup) {
        std::promise<void> ready;
        auto started = ready.get_future();
        thread_ = std::thread([this, setup, &ready] {
            auto loop = Loop::create();
            if (!loop) {
                ADD_FAILURE() << "Loop::create: " << loop.error().message();
                ready.set_value();
                return;
            }
            loop_ = std::move(*loop);
            setup(*loop_);
            ready.set_value();
            loop_->run();
        });
        started.wait();
    }
    ~LoopThread() {
        if (loop_) loop_->stop();
        thread_.join();
    }
    Loop& loop() { return *loop_; }

  private:
    std::unique_ptr<Loop> loop_;
    std::thread thread_;
};

// On a connection's first byte, runs `reply` with it.
class OnFirstByte : public TcpHandler {
  public:
    explicit OnFirstByte(std::function<void(Connection&)> reply) : reply_(std::move(reply)) {}
    void on_data(Connection& conn) override {
        conn.consume(conn.input().size());
        reply_(conn);
    }

  private:
    std::function<void(Connection&)> reply_;
};

// A file of kFileSize pseudo-random bytes, removed at the end.
class TestFile {
  public:
    explicit TestFile(size_t size = kFileSize) {
        char tmpl[] = "/tmp/loop_splice_test.XXXXXX";
        fd_ = ::mkstemp(tmpl);
        path_ = tmpl;
        content_.resize(size);
        std::mt19937 rng(7);
        for (auto& b : content_) b = static_cast<uint8_t>(rng() | 1);  // no zero bytes
        EXPECT_EQ(::pwrite(fd_, content_.data(), size, 0), static_cast<ssize_t>(size));
    }
    ~TestFile() {
        ::close(fd_);
        std::filesystem::remove(path_);
    }
    int fd() const { return fd_; }
    const std::vector<uint8_t>& content() const { return content_; }
    // What a range of the file sends: the file's bytes, zeros past its end.
    std::vector<uint8_t> range(uint64_t offset, size_t length) const {
        std::vector<uint8_t> v(length, 0);
        for (size_t i = 0; i < length && offset + i < content_.size(); ++i) {
            v[i] = content_[offset + i];
        }
        return v;
    }
    FileRange file_range(uint64_t offset, size_t length) const {
        return FileRange{nullptr, fd_, offset, length};
    }

  private:
    int fd_ = -1;
    std::string path_;
    std::vector<uint8_t> content_;
};

int connect_to(uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_in sa = make_sockaddr(kLocalhost, port);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
        ::close(fd);
        return -1;
    }
    timeval tv{10, 0};  // every wait is bounded
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

// Everything until the server closes (or 10 s pass without a byte).
std::vector<uint8_t> read_to_end(int fd) {
    std::vector<uint8_t> got;
    uint8_t buf[65536];
    for (;;) {
        const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
        if (r <= 0) return got;
        got.insert(got.end(), buf, buf + r);
    }
}

std::vector<uint8_t> bytes(std::string_view s) {
    return {s.begin(), s.end()};
}

void append(std::vector<uint8_t>& to, const std::vector<uint8_t>& v) {
    to.insert(to.end(), v.begin(), v.end());
}

// The first differing byte, for a readable failure over megabytes.
std::string first_difference(const std::vector<uint8_t>& got, const std::vector<uint8_t>& want) {
    const size_t n = std::min(got.size(), want.size());
    for (size_t i = 0; i < n; ++i) {
        if (got[i] != want[i]) {
            return "byte " + std::to_string(i) + " is " + std::to_string(got[i]) + ", not " +
                   std::to_string(want[i]);
        }
    }
    if (got.size() != want.size()) {
        return "got " + std::to_string(got.size()) + " bytes, not " + std::to_string(want.size());
    }
    return "";
}

TEST(LoopSplice, RangesAndBytesArriveInOrderOnEveryConnection) {
    TestFile file;
    // Whole file; unaligned offsets and lengths; a range crossing the end (zeros after it); one
    // wholly past it; ranges larger than a pipe holds. Each between bytes, some with a tail.
    struct Piece {
        std::string head;
        uint64_t offset;
        size_t length;
        std::string tail;
    };
    const std::vector<Piece> pieces = {
        {"head-0", 0, kFileSize, std::string(3, '\0')},
        {"h1", 4095, (1u << 20) + 1, ""},
        {"", kFileSize - 10, 1000, "t"},
        {"past the end", kFileSize + 4096, 5, std::string(3, '\0')},
        {"h4", 1, 3, ""},
        {"h5", 12345, (2u << 20) + 7, "x"},
    };
    std::vector<uint8_t> want;
    for (const Piece& p : pieces) {
        append(want, bytes(p.head));
        append(want, file.range(p.offset, p.length));
        append(want, bytes(p.tail));
    }
    append(want, bytes("end"));
    OnFirstByte handler([&](Connection& conn) {
        for (const Piece& p : pieces) {
            conn.send_file(bytes(p.head), file.file_range(p.offset, p.length), bytes(p.tail));
        }
        conn.send(bytes("end"));
        conn.close(/*graceful=*/true);
    });
    uint16_t port = 0;
    LoopThread t([&](Loop& loop) { port = *loop.listen_tcp(kLocalhost, 0, &handler); });

    constexpr int kConnections = 12;
    std::vector<std::string> failures(kConnections);
    std::vector<std::thread> clients;
    for (int i = 0; i < kConnections; ++i) {
        clients.emplace_back([&, i] {
            const int fd = connect_to(port);
            if (fd < 0 || ::send(fd, "x", 1, 0) != 1) {
                failures[i] = "no connection";
                return;
            }
            // Some clients start late: the socket fills and the splices into it wait.
            if (i % 2) std::this_thread::sleep_for(std::chrono::milliseconds(100));
            failures[i] = first_difference(read_to_end(fd), want);
            ::close(fd);
        });
    }
    for (auto& c : clients) c.join();
    for (int i = 0; i < kConnections; ++i) EXPECT_EQ(failures[i], "") << "connection " << i;
}

TEST(LoopSplice, AFileThatShrinksStillSendsTheAnnouncedCount) {
    constexpr size_t kSize = 16u << 20;
    TestFile file(kSize);
    constexpr size_t kKept = (1u << 20) + 5;
    std::atomic<size_t> queued{0};
    OnFirstByte handler([&](Connection& conn) {
        conn.send_file(bytes("head"), file.file_range(0, kSize), bytes("tail"));
        queued = conn.queued_bytes();
        conn.close(/*graceful=*/true);
    });
    uint16_t port = 0;
    LoopThread t([&](Loop& loop) { port = *loop.listen_tcp(kLocalhost, 0, &handler); });
    const int fd = connect_to(port);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::send(fd, "x", 1, 0), 1);
    // The server has spliced what the socket holds and waits; the file shrinks under it.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ASSERT_EQ(::ftruncate(file.fd(), kKept), 0);
    const std::vector<uint8_t> got = read_to_end(fd);
    ::close(fd);
    EXPECT_EQ(queued.load(), 8 + kSize);
    // The count holds; what was kept is the file's; the rest is the file's (taken before the
    // truncation) or zeros, then the tail.
    ASSERT_EQ(got.size(), 4 + kSize + 4);
    EXPECT_EQ(std::string(got.begin(), got.begin() + 4), "head");
    EXPECT_EQ(std::string(got.end() - 4, got.end()), "tail");
    size_t zeros = 0;
    for (size_t i = 0; i < kSize; ++i) {
        const uint8_t b = got[4 + i];
        if (i < kKept) {
            ASSERT_EQ(b, file.content()[i]) << "at " << i;
        } else {
            ASSERT_TRUE(b == 0 || b == file.content()[i]) << "at " << i;
            zeros += b == 0;
        }
    }
    // Most of the 16 MiB was still in the file when it shrank, not in the socket.
    EXPECT_GT(zeros, kSize / 2);
}

TEST(LoopSplice, AReadErrorClosesTheConnectionAndOthersGoOn) {
    TestFile file;
    // A directory cannot be spliced from (EISDIR/EINVAL): the announced bytes cannot be sent.
    const int dir = ::open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(dir, 0);
    std::atomic<int> calls{0};
    OnFirstByte handler([&](Connection& conn) {
        if (calls++ == 0) {
            conn.send_file(bytes("head"), FileRange{nullptr, dir, 0, 100}, bytes("tail"));
        } else {
            conn.send_file(bytes("head"), file.file_range(0, 100), bytes("tail"));
        }
        conn.close(/*graceful=*/true);
    });
    uint16_t port = 0;
    LoopThread t([&](Loop& loop) { port = *loop.listen_tcp(kLocalhost, 0, &handler); });
    for (int i = 0; i < 2; ++i) {
        const int fd = connect_to(port);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::send(fd, "x", 1, 0), 1);
        const std::vector<uint8_t> got = read_to_end(fd);
        ::close(fd);
        if (i == 0) {
            // The bytes before the range, then the end of the connection: never a short reply
            // followed by more data.
            EXPECT_EQ(got, bytes("head"));
        } else {
            std::vector<uint8_t> want = bytes("head");
            append(want, file.range(0, 100));
            append(want, bytes("tail"));
            EXPECT_EQ(first_difference(got, want), "");
        }
    }
    ::close(dir);
}

TEST(LoopSplice, ARangeOutOfThePageCacheIsReadToo) {
    // Pages not cached are spliced on an io-wq worker, cached ones on the loop thread: a range
    // with both, after the cache dropped the file (POSIX_FADV_DONTNEED on clean pages).
    TestFile file;
    ASSERT_EQ(::fdatasync(file.fd()), 0);
    ASSERT_EQ(::posix_fadvise(file.fd(), 0, 0, POSIX_FADV_DONTNEED), 0);
    std::vector<uint8_t> first(4096);
    ASSERT_EQ(::pread(file.fd(), first.data(), first.size(), 1u << 20), 4096);  // one cached
    OnFirstByte handler([&](Connection& conn) {
        conn.send_file(bytes("a"), file.file_range(100, kFileSize - 100), bytes("b"));
        conn.close(/*graceful=*/true);
    });
    uint16_t port = 0;
    LoopThread t([&](Loop& loop) { port = *loop.listen_tcp(kLocalhost, 0, &handler); });
    const int fd = connect_to(port);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::send(fd, "x", 1, 0), 1);
    std::vector<uint8_t> want = bytes("a");
    append(want, file.range(100, kFileSize - 100));
    append(want, bytes("b"));
    EXPECT_EQ(first_difference(read_to_end(fd), want), "");
    ::close(fd);
}

TEST(LoopSplice, OwnerIsReleasedOnceTheRangeIsOut) {
    TestFile file;
    auto owner = std::make_shared<int>(1);
    std::weak_ptr<int> watch = owner;
    OnFirstByte handler([&](Connection& conn) {
        FileRange r = file.file_range(10, 1000);
        r.owner = std::move(owner);
        conn.send_file({}, std::move(r), {});
        conn.close(/*graceful=*/true);
    });
    uint16_t port = 0;
    LoopThread t([&](Loop& loop) { port = *loop.listen_tcp(kLocalhost, 0, &handler); });
    const int fd = connect_to(port);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::send(fd, "x", 1, 0), 1);
    EXPECT_EQ(first_difference(read_to_end(fd), file.range(10, 1000)), "");
    ::close(fd);
    for (int i = 0; i < 200 && !watch.expired(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(watch.expired());
}

}  // namespace
}  // namespace rootfarm
