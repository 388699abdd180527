#pragma once

#include <liburing.h>
#include <netinet/in.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "core/mutex.h"
#include "core/net.h"
#include "core/result.h"
#include "core/timer_wheel.h"

namespace rootfarm {

class Loop;
class Connection;
class UdpSocket;

// Names a connection across its teardown: a completion or a deferred reply that carries a
// ConnRef finds the connection with Loop::find(), or nullptr once it is gone, even if its slot
// was reused (the generation differs).
struct ConnRef {
    uint32_t index = 0;
    uint32_t generation = 0;
};

// A range of an open file for Connection::send_file. `owner` keeps `fd` open until the range has
// gone out (or the connection is gone).
struct FileRange {
    std::shared_ptr<const void> owner;
    int fd = -1;
    uint64_t offset = 0;
    size_t length = 0;
};

// State a handler attaches to a connection; destroyed when the connection closes.
struct ConnectionState {
    virtual ~ConnectionState() = default;
};

// A TCP service. All calls run on the loop thread that owns the connection.
class TcpHandler {
  public:
    virtual ~TcpHandler() = default;
    virtual void on_open(Connection& conn) {}
    // New bytes were appended to conn.input(); consume what was used with conn.consume(n).
    virtual void on_data(Connection& conn) = 0;
    // The connection is closing (peer closed, error, or close()); conn.state is dropped after.
    virtual void on_close(Connection& conn) {}
};

// Unconsumed input a connection may hold. Past it the loop stops receiving until the handler
// consumes: the socket's buffer fills and TCP's window slows the peer, instead of this buffer
// growing without end (a client pipelining calls faster than they are served, or one that never
// reads its replies while the handler waits for them to drain).
inline constexpr size_t kMaxConnectionInput = 4u << 20;

// One accepted TCP connection. Belongs to one loop thread for life.
class Connection {
  public:
    std::span<const uint8_t> input() const {
        return {in_.data() + in_start_, in_.size() - in_start_};
    }
    void consume(size_t n);
    // Queues bytes; they are written in order, whole, after everything queued before.
    void send(std::vector<uint8_t> bytes);
    // Queues `head`, then `file.length` bytes of the file from `file.offset`, then `tail`, all in
    // order after everything queued before. The file's bytes go from the page cache into the
    // socket by splice(2) and are never copied through our memory (loop_splice.cc). Exactly
    // head + length + tail bytes are sent whatever the file does meanwhile: where it ends before
    // the range does (truncated since its size was read), zeros stand for the missing bytes. A
    // read error closes the connection, since the bytes announced in `head` cannot be sent.
    // Either send may close the connection before it returns (closing() then says so): a splice
    // runs at once when nothing is queued before it, and finds a peer that has gone.
    void send_file(std::vector<uint8_t> head, FileRange file, std::vector<uint8_t> tail);
    // Closes after the queued bytes are written (graceful) or at once.
    void close(bool graceful = false);

    ConnRef ref() const { return {index_, generation_}; }
    Loop& loop() const { return *loop_; }
    const sockaddr_in& peer() const { return peer_; }
    Ipv4 peer_ip() const { return Ipv4::from_network(peer_.sin_addr); }
    uint16_t peer_port() const { return ntohs(peer_.sin_port); }
    bool closing() const { return closing_; }
    // Bytes queued by send() and not yet handed to the kernel, so a protocol can stop reading
    // requests from a client that does not read its replies.
    size_t queued_bytes() const { return queued_bytes_; }

    std::unique_ptr<ConnectionState> state;

  private:
    friend class Loop;
    Loop* loop_ = nullptr;
    TcpHandler* handler_ = nullptr;
    int fd_ = -1;
    uint32_t index_ = 0;
    uint32_t generation_ = 0;
    sockaddr_in peer_{};
    std::vector<uint8_t> in_;
    size_t in_start_ = 0;
    struct Outgoing {
        std::vector<uint8_t> bytes;
        FileRange file;  // when fd >= 0, a range to splice instead of bytes
    };
    std::deque<Outgoing> out_;
    // The range being spliced (loop_splice.cc): through the connection's pipe, made on first use.
    FileRange splicing_;
    size_t spliced_in_ = 0;    // bytes of splicing_ put into the pipe (the file's or zeros)
    size_t in_pipe_ = 0;       // bytes in the pipe not yet taken by the socket
    bool file_ended_ = false;  // the file ended inside splicing_: zeros for the rest
    int pipe_[2] = {-1, -1};
    size_t pipe_capacity_ = 0;
    bool sending_ = false;
    bool recv_armed_ = false;
    bool read_paused_ = false;  // input at kMaxConnectionInput: no recv until consumed
    bool closing_ = false;
    bool close_after_send_ = false;
    int pending_ops_ = 0;
    uint64_t recv_op_ = 0;
    size_t queued_bytes_ = 0;
};

// One received datagram.
struct Datagram {
    std::span<const uint8_t> data;
    sockaddr_in from{};
    Ipv4 local_addr{};  // destination address of the datagram (IP_PKTINFO)
    int ifindex = 0;    // receiving interface (IP_PKTINFO)
};

class UdpHandler {
  public:
    virtual ~UdpHandler() = default;
    // `d.data` is valid only during the call.
    virtual void on_datagram(UdpSocket& sock, const Datagram& d) = 0;
};

struct UdpOptions {
    bool reuse_port = false;
    bool broadcast = false;   // SO_BROADCAST: may send to 255.255.255.255
    std::string bind_device;  // SO_BINDTODEVICE when not empty (unprivileged since Linux 5.7)
};

// A bound UDP socket on the loop, receiving with multishot recvmsg.
class UdpSocket {
  public:
    // Sends asynchronously. With `ifindex`/`source` set, the datagram leaves through that
    // interface with that source address (IP_PKTINFO), as a DHCP server must.
    void send_to(const sockaddr_in& to, std::vector<uint8_t> bytes, int ifindex = 0,
                 Ipv4 source = {});
    // Stops receiving and closes the socket once in-flight operations finish. `this` must not
    // be used afterwards.
    void close();
    uint16_t local_port() const { return local_port_; }
    int fd() const { return fd_; }
    Loop& loop() const { return *loop_; }

    void* user = nullptr;  // free for the handler

  private:
    friend class Loop;
    Loop* loop_ = nullptr;
    UdpHandler* handler_ = nullptr;
    int fd_ = -1;
    uint16_t local_port_ = 0;
    bool closing_ = false;
    int pending_ops_ = 0;
    uint64_t recv_op_ = 0;
    msghdr recv_msg_{};
};

// An io_uring event loop; one per worker thread. Everything but post() and stop() must be
// called on the loop's own thread.
class Loop {
  public:
    struct Options {
        unsigned entries = 1024;
        unsigned buffer_count = 256;         // provided buffers for receives (power of two)
        unsigned buffer_size = 65536;        // holds any UDP datagram whole
        std::chrono::milliseconds tick{10};  // timer wheel resolution
    };

    // Creates the ring on the calling thread (SINGLE_ISSUER | DEFER_TASKRUN, falling back to a
    // plain ring on kernels that refuse those flags).
    static Result<std::unique_ptr<Loop>> create(Options options);
    static Result<std::unique_ptr<Loop>> create() { return create(Options{}); }
    ~Loop();

    // Runs until stop(). Returns after every connection and socket was closed.
    void run();
    // Thread-safe: asks run() to return. The loop may be destroyed as soon as run() returned,
    // even while a stop() that made it return is still writing its wake-up: ~Loop waits for it.
    void stop();
    // Thread-safe: runs fn on the loop thread.
    void post(std::function<void()> fn);

    // TCP listener with SO_REUSEPORT (so every worker may listen on the same port) and
    // multishot accept. Returns the bound port (useful with port 0).
    Result<uint16_t> listen_tcp(Ipv4 addr, uint16_t port, TcpHandler* handler);
    // UDP socket with multishot recvmsg and IP_PKTINFO. The loop owns the socket.
    Result<UdpSocket*> open_udp(Ipv4 addr, uint16_t port, UdpHandler* handler,
                                const UdpOptions& options = {});

    // Nullptr if the connection has closed since `ref` was taken.
    Connection* find(ConnRef ref);

    // One-shot timer on the wheel; the callback runs on the loop thread.
    TimerId add_timer(std::chrono::milliseconds delay, std::function<void()> fn);
    // False if the timer already fired or was cancelled.
    bool cancel_timer(TimerId id);

    // Asynchronous file I/O. `done` gets the io_uring result: bytes (>= 0) or -errno. The
    // buffer and fd must stay valid until `done` runs.
    void read_at(int fd, uint64_t offset, std::span<uint8_t> buf, std::function<void(int)> done);
    void write_at(int fd, uint64_t offset, std::span<const uint8_t> buf,
                  std::function<void(int)> done);
    void fsync(int fd, bool datasync, std::function<void(int)> done);

    std::chrono::steady_clock::time_point now() const { return std::chrono::steady_clock::now(); }
    size_t connection_count() const { return open_connections_; }

  private:
    friend class Connection;
    friend class UdpSocket;
    struct Op;
    struct Listener;
    explicit Loop(Options options);
    Result<void> init();
    Result<void> init_buffers();

    io_uring_sqe* get_sqe();
    uint64_t new_op(Op op);
    void on_completion(io_uring_cqe* cqe);
    void arm_accept(Listener& l);
    void arm_recv(Connection& c);
    void arm_udp_recv(UdpSocket& s);
    void flush_send(Connection& c);
    void start_splice(Connection& c);
    void splice_step(Connection& c);
    void handle_splice(uint32_t conn_index, bool to_socket, int res);
    bool file_spliced(Connection& c, int res);
    void end_send(Connection& c);
    void begin_close(Connection& c);
    void maybe_free(Connection& c);
    void maybe_free(UdpSocket& s);
    void recycle_buffer(uint16_t bid);
    uint8_t* buffer(uint16_t bid);
    void arm_tick();
    void drain_posted();
    // Writes wake_fd_, then ends the waking_ count its caller began.
    void wake();
    void free_op(uint32_t slot);
    void cancel_op(uint64_t user_data);
    void handle_accept(Op& op, int res, bool more);
    void handle_recv(Op& op, int res, uint32_t flags, bool more);
    bool handle_send(uint32_t slot, Op& op, int res);
    void handle_udp_recv(Op& op, int res, uint32_t flags, bool more);
    void handle_udp_send(Op& op, int res);
    void handle_tick();
    uint64_t current_tick() const;
    void shutdown_all();

    Options options_;
    io_uring ring_{};
    bool ring_ready_ = false;
    bool defer_taskrun_ = false;
    io_uring_buf_ring* buf_ring_ = nullptr;
    size_t buf_ring_bytes_ = 0;
    std::unique_ptr<uint8_t[]> buffers_;  // not zeroed: pages are touched only when used
    static constexpr uint16_t kBufferGroup = 1;

    std::vector<std::unique_ptr<Op>> ops_;  // slot table; user_data = slot | generation << 32
    std::vector<uint32_t> free_ops_;

    std::vector<std::unique_ptr<Listener>> listeners_;
    std::vector<std::unique_ptr<Connection>> conns_;
    std::vector<uint32_t> free_conns_;
    size_t open_connections_ = 0;
    std::vector<std::unique_ptr<UdpSocket>> udp_;

    TimerWheel timers_;
    bool tick_armed_ = false;
    __kernel_timespec tick_ts_{};
    std::chrono::steady_clock::time_point start_;

    int wake_fd_ = -1;
    uint64_t wake_value_ = 0;
    Mutex posted_mu_;
    std::vector<std::function<void()>> posted_ GUARDED_BY(posted_mu_);
    std::atomic<bool> stop_requested_{false};
    // stop() and post() calls between their first step and their write to wake_fd_: ~Loop
    // closes it only at zero. stop() counts itself before it sets stop_requested_, so a run()
    // that saw the flag and returned leaves a destructor that sees the count.
    std::atomic<int> waking_{0};
};

}  // namespace rootfarm
