#include "tftpd/transfer.h"

#include <algorithm>
#include <cstring>

#include "core/log.h"

namespace rootfarm::tftpd {
namespace {

// A lock-step client (every Pi: the firmware has no windowsize) asks for one small block at a
// time; reading 64 KiB ahead makes that one io_uring read per 64 blocks of 1024 bytes.
constexpr size_t kReadAhead = 64 * 1024;

bool same_peer(const sockaddr_in& a, const sockaddr_in& b) {
    return a.sin_addr.s_addr == b.sin_addr.s_addr && a.sin_port == b.sin_port;
}

}  // namespace

std::vector<uint8_t> BufferPool::acquire(size_t size) {
    for (auto it = free_.begin(); it != free_.end(); ++it) {
        if (it->capacity() >= size) {
            std::vector<uint8_t> buf = std::move(*it);
            free_.erase(it);
            buf.resize(size);
            return buf;
        }
    }
    return std::vector<uint8_t>(size);
}

void BufferPool::release(std::vector<uint8_t> buf) {
    if (buf.capacity() == 0) return;
    if (free_.size() < max_kept_) {
        free_.push_back(std::move(buf));
    } else {
        // Keep the bigger buffers: they serve any request a smaller one would.
        auto smallest = std::min_element(free_.begin(), free_.end(), [](auto& a, auto& b) {
            return a.capacity() < b.capacity();
        });
        if (smallest != free_.end() && smallest->capacity() < buf.capacity()) {
            *smallest = std::move(buf);
        }
    }
}

Transfer::Transfer(Loop& loop, TransferParams params, Source source,
                   std::shared_ptr<BufferPool> pool, Done done)
    : loop_(loop),
      params_(std::move(params)),
      source_(std::move(source)),
      pool_(std::move(pool)),
      done_(std::move(done)) {}

Transfer::~Transfer() {
    pool_->release(std::move(buf_));
}

Result<std::shared_ptr<Transfer>> Transfer::start(Loop& loop, TransferParams params, Source source,
                                                  std::shared_ptr<BufferPool> pool, Done done) {
    std::shared_ptr<Transfer> t(
        new Transfer(loop, std::move(params), std::move(source), std::move(pool), std::move(done)));
    // RFC 1350 §4: each side picks a new transfer id (port) for the transfer, so the DATA
    // comes from a fresh socket, bound to the address the client sent its request to.
    auto sock = loop.open_udp(t->params_.local_addr, 0, t.get());
    if (!sock) return sock.error();
    t->sock_ = *sock;
    if (!t->source_.in_memory) {
        const Negotiated& n = t->params_.negotiated;
        size_t window_bytes = static_cast<size_t>(n.window) * n.block_size;
        size_t want = std::max(window_bytes, kReadAhead);
        t->buf_ = t->pool_->acquire(static_cast<size_t>(std::min<uint64_t>(want, t->source_.size)));
    }
    t->retries_left_ = t->params_.retries;
    t->started_ = loop.now();
    if (!t->params_.negotiated.oack.empty()) {
        // RFC 2347: with accepted options the server answers OACK and waits for ACK 0.
        t->state_ = State::kOack;
        t->send_oack();
    } else {
        t->state_ = State::kData;
        t->load_window(1);
    }
    return t;
}

uint64_t Transfer::block_count() const {
    // RFC 1350 §6: a block shorter than blksize ends the transfer, so a file of an exact
    // multiple of the block size ends with an empty block.
    return source_.size / params_.negotiated.block_size + 1;
}

void Transfer::send_oack() {
    sock_->send_to(params_.peer, encode_oack(params_.negotiated.oack));
    arm_timer();
}

void Transfer::load_window(uint64_t first) {
    const uint64_t blksize = params_.negotiated.block_size;
    base_ = first;
    count_ = std::min<uint64_t>(params_.negotiated.window, block_count() - first + 1);
    const uint64_t begin = block_offset(first);
    const uint64_t end = std::min(source_.size, begin + count_ * blksize);
    if (source_.in_memory || (begin >= buf_offset_ && end <= buf_offset_ + buf_len_)) {
        send_window();
        return;
    }
    const uint64_t len = std::min<uint64_t>(buf_.size(), source_.size - begin);
    buf_offset_ = begin;
    buf_len_ = 0;
    loading_ = true;
    read_source(loop_, source_, begin, {buf_.data(), static_cast<size_t>(len)},
                [self = shared_from_this(), len](int res) {
                    self->loading_ = false;
                    if (self->state_ == State::kDone) return;
                    if (res < 0) {
                        self->finish(TransferOutcome::Kind::kReadError, std::strerror(-res));
                        return;
                    }
                    self->buf_len_ = len;
                    self->send_window();
                });
}

void Transfer::send_window() {
    const uint64_t blksize = params_.negotiated.block_size;
    for (uint64_t i = 0; i < count_; ++i) {
        const uint64_t block = base_ + i;
        const uint64_t offset = block_offset(block);
        const size_t len = static_cast<size_t>(std::min(blksize, source_.size - offset));
        const uint8_t* data = source_.in_memory
                                  ? reinterpret_cast<const uint8_t*>(source_.memory.data()) + offset
                                  : buf_.data() + (offset - buf_offset_);
        std::vector<uint8_t> packet(kDataHeaderSize + len);
        // Block numbers roll over from 65535 to 0, as tftp-hpa, curl, busybox and U-Boot expect.
        encode_data_header(packet, static_cast<uint16_t>(block));
        if (len > 0) std::memcpy(packet.data() + kDataHeaderSize, data, len);
        sock_->send_to(params_.peer, std::move(packet));
    }
    arm_timer();
}

void Transfer::arm_timer() {
    // Every ACK moves the deadline; the one timer on the wheel is re-armed only when it fires
    // early, so a lock-step transfer does not cancel and add a timer per block.
    deadline_ = loop_.now() + params_.timeout;
    if (timer_ == 0) add_timer(params_.timeout);
}

void Transfer::add_timer(std::chrono::steady_clock::duration delay) {
    timer_ = loop_.add_timer(std::chrono::ceil<std::chrono::milliseconds>(delay),
                             [weak = weak_from_this()] {
                                 if (auto self = weak.lock()) self->on_timer();
                             });
}

void Transfer::on_timer() {
    timer_ = 0;
    if (state_ == State::kDone || loading_) return;
    const auto now = loop_.now();
    if (now < deadline_) {
        add_timer(deadline_ - now);
        return;
    }
    on_timeout();
}

void Transfer::on_timeout() {
    if (retries_left_ == 0) {
        finish(TransferOutcome::Kind::kTimeout,
               "no answer after " + std::to_string(params_.retries) + " retransmits");
        return;
    }
    // One retransmit per timeout, of the OACK or of the whole window (RFC 7440 §4); nothing
    // else ever triggers one.
    --retries_left_;
    ++retransmits_;
    if (state_ == State::kOack) {
        send_oack();
    } else {
        send_window();
    }
}

void Transfer::on_datagram(UdpSocket& sock, const Datagram& d) {
    if (state_ == State::kDone) return;
    auto self = shared_from_this();  // finish() may drop the owner's reference
    if (!same_peer(d.from, params_.peer)) {
        // RFC 1350 §4: a packet from a foreign transfer id gets ERROR 5 and does not disturb
        // this transfer. An ERROR itself is never answered (§7), so two servers cannot bounce
        // errors between them.
        auto op = decode_opcode(d.data);
        if (op && *op != Opcode::kError) {
            sock.send_to(d.from, encode_error(ErrorCode::kUnknownTid, "Unknown transfer ID"));
        }
        return;
    }
    auto op = decode_opcode(d.data);
    if (!op) {
        tftp_log().debug("{}: malformed packet on transfer port", to_string(d.from));
        return;
    }
    switch (*op) {
        case Opcode::kAck: {
            auto ack = decode_ack(d.data);
            if (ack) on_ack(ack->block);
            return;
        }
        case Opcode::kError: {
            auto err = decode_error(d.data);
            std::string what =
                err ? "error " + std::to_string(err->code) + " \"" + err->message + "\""
                    : "malformed error";
            // docs/pi-boot.md: a Pi takes the OACK for the size, answers ERROR 0 "Early terminate",
            // and asks again; that ends this transfer quietly.
            finish(state_ == State::kOack ? TransferOutcome::Kind::kEarlyTerminate
                                          : TransferOutcome::Kind::kClientError,
                   what);
            return;
        }
        default:
            // RFC 1350 §5: anything else on a read transfer is an illegal operation.
            sock.send_to(d.from,
                         encode_error(ErrorCode::kIllegalOperation, "Illegal TFTP operation"));
            finish(TransferOutcome::Kind::kProtocolError,
                   "opcode " + std::to_string(static_cast<int>(*op)));
            return;
    }
}

void Transfer::on_ack(uint16_t block) {
    if (state_ == State::kOack) {
        if (block != 0) return;
        state_ = State::kData;
        retries_left_ = params_.retries;
        load_window(1);
        return;
    }
    if (loading_) return;  // only stale ACKs can arrive while the next window is read
    // Which block of the window is acknowledged, with the 16-bit number rolled over.
    const auto diff = static_cast<uint16_t>(block - static_cast<uint16_t>(base_ - 1));
    // diff 0 acknowledges again what was already acknowledged. It never triggers a
    // retransmit: answering duplicate ACKs with DATA is the Sorcerer's Apprentice bug
    // (RFC 1123 §4.2.3.1), and docs/pi-boot.md notes start4.elf hangs on duplicate DATA. If the client
    // really lost the window, the timer resends it.
    if (diff == 0 || diff > count_) return;
    const uint64_t acked = base_ - 1 + diff;
    retries_left_ = params_.retries;
    if (acked == block_count()) {
        finish(TransferOutcome::Kind::kComplete, "");
        return;
    }
    // RFC 7440 §4: an ACK inside the window means the blocks after it were lost; the next
    // window starts right after the acknowledged block.
    load_window(acked + 1);
}

void Transfer::finish(TransferOutcome::Kind kind, std::string detail) {
    if (state_ == State::kDone) return;
    state_ = State::kDone;
    if (timer_ != 0) {
        loop_.cancel_timer(timer_);
        timer_ = 0;
    }
    sock_->close();
    sock_ = nullptr;
    TransferOutcome outcome;
    outcome.kind = kind;
    outcome.detail = std::move(detail);
    outcome.bytes = source_.size;
    outcome.retransmits = retransmits_;
    outcome.block_size = params_.negotiated.block_size;
    outcome.window = params_.negotiated.window;
    outcome.elapsed = loop_.now() - started_;
    Done done = std::move(done_);
    if (done) done(*this, outcome);
}

}  // namespace rootfarm::tftpd
