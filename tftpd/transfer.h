#pragma once

// One read transfer: RFC 1350 §2-§4 (lock-step DATA/ACK, transfer ids), RFC 2347 (OACK first),
// RFC 7440 (windows of blocks). Runs on one loop thread.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/loop.h"
#include "tftpd/options.h"
#include "tftpd/source.h"

namespace rootfarm::tftpd {

// Window buffers, reused from one transfer to the next instead of allocated per transfer.
class BufferPool {
  public:
    explicit BufferPool(size_t max_kept) : max_kept_(max_kept) {}
    std::vector<uint8_t> acquire(size_t size);
    void release(std::vector<uint8_t> buf);

  private:
    size_t max_kept_;
    std::vector<std::vector<uint8_t>> free_;
};

struct TransferParams {
    sockaddr_in peer{};
    Ipv4 local_addr{};  // the address the request came to; our replies leave from it
    Negotiated negotiated;
    std::chrono::milliseconds timeout{1000};
    uint32_t retries = 5;  // retransmits of one window (or the OACK) without progress
};

struct TransferOutcome {
    enum class Kind {
        kComplete,        // the last block was acknowledged
        kEarlyTerminate,  // the client answered the OACK with an ERROR (docs/pi-boot.md: normal)
        kClientError,     // the client sent an ERROR during the data phase
        kTimeout,         // no progress after `retries` retransmits
        kReadError,       // the file could not be read
        kProtocolError,   // the client sent something that is not ACK or ERROR
    };
    Kind kind = Kind::kComplete;
    std::string detail;
    uint64_t bytes = 0;  // the file's size on the wire
    uint64_t retransmits = 0;
    uint16_t block_size = 0;
    uint16_t window = 0;
    std::chrono::steady_clock::duration elapsed{};
};

class Transfer : public UdpHandler, public std::enable_shared_from_this<Transfer> {
  public:
    using Done = std::function<void(Transfer&, const TransferOutcome&)>;

    // Opens the transfer's own UDP socket (a new port: the RFC 1350 §4 transfer id) and sends the
    // OACK or the first window. `done` runs once, on the loop thread, when the transfer ends;
    // the socket is closed then and the caller drops its reference.
    static Result<std::shared_ptr<Transfer>> start(Loop& loop, TransferParams params, Source source,
                                                   std::shared_ptr<BufferPool> pool, Done done);
    // Touches neither the loop nor the socket: a transfer still running when its owner goes
    // away is one whose loop has stopped and closed every socket.
    ~Transfer() override;

    void on_datagram(UdpSocket& sock, const Datagram& d) override;

  private:
    Transfer(Loop& loop, TransferParams params, Source source, std::shared_ptr<BufferPool> pool,
             Done done);

    uint64_t block_count() const;
    uint64_t block_offset(uint64_t block) const {
        return (block - 1) * params_.negotiated.block_size;
    }
    void load_window(uint64_t first);
    void send_window();
    void send_oack();
    void on_ack(uint16_t block);
    void arm_timer();
    void add_timer(std::chrono::steady_clock::duration delay);
    void on_timer();
    void on_timeout();
    void finish(TransferOutcome::Kind kind, std::string detail);

    enum class State { kOack, kData, kDone };

    Loop& loop_;
    TransferParams params_;
    Source source_;
    std::shared_ptr<BufferPool> pool_;
    Done done_;
    UdpSocket* sock_ = nullptr;
    State state_ = State::kData;

    // The window: blocks [base_, base_ + count_) are in flight. Block numbers are counted in
    // 64 bits; the wire carries the low 16 (rollover past 65535 to 0).
    uint64_t base_ = 1;
    uint64_t count_ = 0;
    bool loading_ = false;

    // File bytes [buf_offset_, buf_offset_ + buf_len_) held in buf_: one read fills a whole
    // window, or more, so that a lock-step client is not one read per block.
    std::vector<uint8_t> buf_;
    uint64_t buf_offset_ = 0;
    uint64_t buf_len_ = 0;

    TimerId timer_ = 0;
    std::chrono::steady_clock::time_point deadline_;  // retransmit when reached, no ACK since
    uint32_t retries_left_ = 0;
    uint64_t retransmits_ = 0;
    std::chrono::steady_clock::time_point started_;
};

}  // namespace rootfarm::tftpd
