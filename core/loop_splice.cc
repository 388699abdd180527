// Connection::send_file: a file range sent from the page cache, never copied through our memory.
//
// Each range goes file -> pipe -> socket with IORING_OP_SPLICE (kernel 5.7). splice(2) from a
// file into a pipe takes references to the page-cache pages (filemap_splice_read), and from a
// pipe into a TCP socket hands those pages to the socket's buffers (MSG_SPLICE_PAGES), so the
// data is neither read into nor written from a user buffer. Copying it was most of a 1 MiB
// READ's cost: a zero-filled buffer, the read into it and the send out of it were three passes
// over the data, and the rest of the server under 2 % of it (bench/RESULTS.md). io_uring runs
// splices on its io-wq workers (io_splice_prep sets REQ_F_FORCE_ASYNC), so a read that misses
// the page cache, or a socket whose buffer is full, blocks a worker and not this loop.
//
// One range at a time per connection, in queue order: the pipe is filled only when empty, then
// drained into the socket, until the whole range is out. Where the file ends early (it shrank
// since the caller read its size, or the bytes past its end are a hole below a larger recorded
// size), zeros written into the pipe stand in, so the byte count the caller announced in the
// bytes before the range always holds.

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "core/check.h"
#include "core/log.h"
#include "core/loop_internal.h"

namespace rootfarm {

namespace {

// What a connection's pipe asks for: a 1 MiB READ in one fill (256 pages; one more when the
// offset is not page aligned). Above /proc/sys/fs/pipe-max-size (1 MiB by default) only with
// CAP_SYS_RESOURCE; the largest size granted is used, down to the default 64 KiB.
constexpr int kPipeSizes[] = {2 << 20, 1 << 20, 256 << 10};

// Zeros for a file that ended inside its range.
constexpr size_t kZeroBytes = 64 * 1024;
const uint8_t kZeros[kZeroBytes] = {};

bool open_pipe(int (&p)[2], size_t& capacity) {
    // Non-blocking: zeros are written into it by this thread, which must never wait (it only
    // writes into an empty pipe, so it never needs to).
    if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) return false;
    int size = -1;
    for (int want : kPipeSizes) {
        size = ::fcntl(p[1], F_SETPIPE_SZ, want);
        if (size > 0) break;
    }
    if (size <= 0) size = ::fcntl(p[1], F_GETPIPE_SZ);
    if (size <= 0) {
        ::close(p[0]);
        ::close(p[1]);
        p[0] = p[1] = -1;
        return false;
    }
    capacity = static_cast<size_t>(size);
    return true;
}

}  // namespace

void Loop::start_splice(Connection& c) {
    if (c.pipe_[0] < 0 && !open_pipe(c.pipe_, c.pipe_capacity_)) {
        core_log().warn("{}: no pipe for a file reply ({}): connection closed", to_string(c.peer_),
                        std::strerror(errno));
        begin_close(c);
        maybe_free(c);
        return;
    }
    c.splicing_ = std::move(c.out_.front().file);
    c.out_.pop_front();
    c.spliced_in_ = 0;
    c.in_pipe_ = 0;
    c.file_ended_ = false;
    c.sending_ = true;
    splice_step(c);
}

void Loop::splice_step(Connection& c) {
    const FileRange& f = c.splicing_;
    if (c.in_pipe_ == 0 && c.spliced_in_ == f.length) {
        c.sending_ = false;
        c.splicing_ = {};
        end_send(c);
        return;
    }
    Op op;
    op.kind = Op::Kind::kSplice;
    op.conn_index = c.index_;
    op.conn_generation = c.generation_;
    if (c.in_pipe_ == 0) {
        const size_t want = std::min(f.length - c.spliced_in_, c.pipe_capacity_);
        if (!c.file_ended_) {
            op.to_socket = false;
            const uint64_t ud = new_op(std::move(op));
            io_uring_sqe* sqe = get_sqe();
            io_uring_prep_splice(sqe, f.fd, static_cast<int64_t>(f.offset + c.spliced_in_),
                                 c.pipe_[1], -1, static_cast<unsigned>(want), 0);
            io_uring_sqe_set_data64(sqe, ud);
            ++c.pending_ops_;
            return;
        }
        // A non-blocking write into an empty pipe takes at least a page.
        const ssize_t n = ::write(c.pipe_[1], kZeros, std::min(want, kZeroBytes));
        ROOTFARM_CHECK(n > 0, "zeros into an empty pipe: {}", std::strerror(errno));
        c.spliced_in_ += static_cast<size_t>(n);
        c.in_pipe_ = static_cast<size_t>(n);
    }
    op.to_socket = true;
    // More of this range, or queued bytes, follow at once: let TCP fill its segments.
    const bool more = c.spliced_in_ < f.length || !c.out_.empty();
    const uint64_t ud = new_op(std::move(op));
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_splice(sqe, c.pipe_[0], -1, c.fd_, -1, static_cast<unsigned>(c.in_pipe_),
                         more ? SPLICE_F_MORE : 0);
    io_uring_sqe_set_data64(sqe, ud);
    ++c.pending_ops_;
}

void Loop::handle_splice(uint32_t conn_index, bool to_socket, int res) {
    Connection& c = *conns_[conn_index];
    --c.pending_ops_;
    if (c.closing_) {
        maybe_free(c);
        return;
    }
    if (res < 0 || (to_socket && res == 0)) {
        // A socket error ends the connection as a failed send does. A read error does too:
        // the reply's header, already queued, announced bytes we cannot produce; the client
        // retransmits on a new connection.
        if (!to_socket) {
            core_log().warn("{}: file reply: reading fd {} at {}: {}: connection closed",
                            to_string(c.peer_), c.splicing_.fd, c.splicing_.offset + c.spliced_in_,
                            std::strerror(-res));
        }
        begin_close(c);
        maybe_free(c);
        return;
    }
    const auto n = static_cast<size_t>(res);
    if (to_socket) {
        c.in_pipe_ -= n;
        c.queued_bytes_ -= std::min(c.queued_bytes_, n);
    } else if (n == 0) {
        c.file_ended_ = true;  // end of file inside the range
    } else {
        c.in_pipe_ += n;
        c.spliced_in_ += n;
    }
    splice_step(c);
    maybe_free(c);
}

}  // namespace rootfarm
