// Connection::send_file: a file range sent from the page cache, never copied through our memory.
//
// Each range goes file -> pipe -> socket with splice(2). From a file into a pipe it takes
// references to the page-cache pages (filemap_splice_read); from a pipe into a TCP socket it
// hands those pages to the socket's buffers (MSG_SPLICE_PAGES): the data is neither read into
// nor written from a user buffer. Copying it was most of a 1 MiB READ's cost: a zero-filled
// buffer, the read into it and the send out of it were three passes over the data, the rest of
// the server under 2 % of it (bench/RESULTS.md).
//
// Where each splice runs was chosen by measurement (`rootfarm-bench micro-nfs --op read1m` on
// 127.0.0.1). Both on io_uring (IORING_OP_SPLICE, which io_splice_prep always sends to an io-wq
// worker) cost two thread hand-offs per range, and the context switches took back most of what
// the copies had cost. So this thread splices itself when that cannot block: into the socket
// with SPLICE_F_NONBLOCK (connections are O_NONBLOCK; a full socket arms an IORING_OP_POLL_ADD
// for POLLOUT), and from the file when cachestat(2) (Linux 6.5) finds the whole range in the
// page cache. A range not cached is spliced into the pipe on io-wq, so a disk read never
// blocks this loop.
//
// One range at a time per connection, in queue order: the pipe is filled only when empty, then
// drained into the socket, until the whole range is out. Where the file ends early (it shrank
// since the caller read its size, or the bytes past its end are a hole below a larger recorded
// size), zeros written into the pipe stand in, so the byte count the caller announced in the
// bytes before the range always holds.

#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
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

// cachestat(2), Linux 6.5; the C library may not wrap it yet. 451 on every architecture.
#ifndef __NR_cachestat
#define __NR_cachestat 451
#endif
struct CachestatRange {
    uint64_t off;
    uint64_t len;
};
struct Cachestat {
    uint64_t nr_cache;
    uint64_t nr_dirty;
    uint64_t nr_writeback;
    uint64_t nr_evicted;
    uint64_t nr_recently_evicted;
};

// True when every page of [offset, offset + length) is in the page cache, so a splice from it
// will not wait for the disk. False when unknown (an older kernel, a file system without a page
// cache): the io-wq path is always safe.
bool cached(int fd, uint64_t offset, size_t length) {
    constexpr uint64_t kPage = 4096;
    const uint64_t first = offset / kPage;
    const uint64_t last = (offset + length - 1) / kPage;
    CachestatRange range{first * kPage, (last - first + 1) * kPage};
    Cachestat st{};
    if (::syscall(__NR_cachestat, fd, &range, &st, 0) != 0) return false;
    return st.nr_cache >= last - first + 1;
}

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
    for (;;) {
        if (c.in_pipe_ == 0 && c.spliced_in_ == f.length) {
            c.sending_ = false;
            c.splicing_ = {};
            end_send(c);
            return;
        }
        if (c.in_pipe_ == 0) {
            const size_t want = std::min(f.length - c.spliced_in_, c.pipe_capacity_);
            if (c.file_ended_) {
                // A non-blocking write into an empty pipe takes at least a page.
                const ssize_t n = ::write(c.pipe_[1], kZeros, std::min(want, kZeroBytes));
                ROOTFARM_CHECK(n > 0, "zeros into an empty pipe: {}", std::strerror(errno));
                c.spliced_in_ += static_cast<size_t>(n);
                c.in_pipe_ = static_cast<size_t>(n);
            } else if (cached(f.fd, f.offset + c.spliced_in_, want)) {
                auto off = static_cast<loff_t>(f.offset + c.spliced_in_);
                const ssize_t n = ::splice(f.fd, &off, c.pipe_[1], nullptr, want, 0);
                if (!file_spliced(c, n < 0 ? -errno : static_cast<int>(n))) return;
                continue;
            } else {
                Op op;
                op.kind = Op::Kind::kSplice;
                op.conn_index = c.index_;
                op.conn_generation = c.generation_;
                const uint64_t ud = new_op(std::move(op));
                io_uring_sqe* sqe = get_sqe();
                io_uring_prep_splice(sqe, f.fd, static_cast<int64_t>(f.offset + c.spliced_in_),
                                     c.pipe_[1], -1, static_cast<unsigned>(want), 0);
                io_uring_sqe_set_data64(sqe, ud);
                ++c.pending_ops_;
                return;
            }
        }
        // More of this range, or queued bytes, follow at once: let TCP fill its segments.
        const bool more = c.spliced_in_ < f.length || !c.out_.empty();
        const ssize_t n = ::splice(c.pipe_[0], nullptr, c.fd_, nullptr, c.in_pipe_,
                                   SPLICE_F_NONBLOCK | (more ? SPLICE_F_MORE : 0));
        if (n > 0) {
            c.in_pipe_ -= static_cast<size_t>(n);
            c.queued_bytes_ -= std::min(c.queued_bytes_, static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            // The socket is full: on when it has room again.
            Op op;
            op.kind = Op::Kind::kSplice;
            op.to_socket = true;
            op.conn_index = c.index_;
            op.conn_generation = c.generation_;
            const uint64_t ud = new_op(std::move(op));
            io_uring_sqe* sqe = get_sqe();
            io_uring_prep_poll_add(sqe, c.fd_, POLLOUT);
            io_uring_sqe_set_data64(sqe, ud);
            ++c.pending_ops_;
            return;
        }
        // The peer went away (EPIPE, ECONNRESET), as a failed send.
        begin_close(c);
        maybe_free(c);
        return;
    }
}

bool Loop::file_spliced(Connection& c, int res) {
    if (res < 0) {
        // The bytes before the range, already queued, announced bytes we cannot produce: end
        // the connection; the client retransmits on a new one.
        core_log().warn("{}: file reply: reading fd {} at {}: {}: connection closed",
                        to_string(c.peer_), c.splicing_.fd, c.splicing_.offset + c.spliced_in_,
                        std::strerror(-res));
        begin_close(c);
        maybe_free(c);
        return false;
    }
    if (res == 0) {
        c.file_ended_ = true;  // end of file inside the range
    } else {
        c.in_pipe_ += static_cast<size_t>(res);
        c.spliced_in_ += static_cast<size_t>(res);
    }
    return true;
}

void Loop::handle_splice(uint32_t conn_index, bool to_socket, int res) {
    Connection& c = *conns_[conn_index];
    --c.pending_ops_;
    if (c.closing_) {
        maybe_free(c);
        return;
    }
    // A poll for room in the socket: its result is an event mask, or an error.
    if (to_socket && res < 0) {
        begin_close(c);
        maybe_free(c);
        return;
    }
    if (!to_socket && !file_spliced(c, res)) return;
    splice_step(c);
    maybe_free(c);
}

}  // namespace rootfarm
