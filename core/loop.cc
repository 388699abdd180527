// The Loop's ring: set-up and teardown, the operation slot table whose slot and generation form
// each SQE's user_data, submission, the run loop and completion dispatch, post() and stop().
// Each concern's operations live beside it: loop_tcp.cc, loop_udp.cc, loop_buffers.cc,
// loop_timers.cc, loop_file.cc.

#include "core/loop.h"

#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>

#include "core/check.h"
#include "core/log.h"
#include "core/loop_internal.h"

namespace rootfarm {

using loop_internal::get_sqe_bounded;
using loop_internal::kIgnore;
using loop_internal::pack;
using loop_internal::take_slot;

Loop::Loop(Options options) : options_(options), timers_(4096) {}

Result<std::unique_ptr<Loop>> Loop::create(Options options) {
    std::unique_ptr<Loop> loop(new Loop(options));
    if (auto r = loop->init(); !r) return r.error();
    return loop;
}

Result<void> Loop::init() {
    // DEFER_TASKRUN (kernel 6.1) runs completion work only when we wait, on our thread;
    // it requires SINGLE_ISSUER (6.0). Older kernels refuse them with EINVAL: fall back.
    io_uring_params params{};
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    int ret = io_uring_queue_init_params(options_.entries, &ring_, &params);
    if (ret == -EINVAL) {
        params = {};
        params.flags = IORING_SETUP_COOP_TASKRUN;  // 5.19
        ret = io_uring_queue_init_params(options_.entries, &ring_, &params);
    }
    if (ret == -EINVAL) {
        params = {};
        ret = io_uring_queue_init_params(options_.entries, &ring_, &params);
    }
    if (ret < 0) return errno_error(-ret);
    ring_ready_ = true;
    defer_taskrun_ = (params.flags & IORING_SETUP_DEFER_TASKRUN) != 0;

    if (auto r = init_buffers(); !r) return r;

    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) return errno_error(errno);
    Op op;
    op.kind = Op::Kind::kWake;
    const uint64_t ud = new_op(std::move(op));
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_read(sqe, wake_fd_, &wake_value_, sizeof wake_value_, 0);
    io_uring_sqe_set_data64(sqe, ud);

    tick_ts_.tv_sec = options_.tick.count() / 1000;
    tick_ts_.tv_nsec = (options_.tick.count() % 1000) * 1000000;
    start_ = std::chrono::steady_clock::now();
    return {};
}

Loop::~Loop() {
    shutdown_all();
    for (auto& l : listeners_)
        if (l->fd >= 0) ::close(l->fd);
    for (auto& c : conns_)
        if (c && c->fd_ >= 0) ::close(c->fd_);
    for (auto& s : udp_)
        if (s && s->fd_ >= 0) ::close(s->fd_);
    if (ring_ready_) {
        if (buf_ring_) io_uring_unregister_buf_ring(&ring_, kBufferGroup);
        io_uring_queue_exit(&ring_);
    }
    if (buf_ring_) ::munmap(buf_ring_, buf_ring_bytes_);
    // A stop() or post() still between its flag (or queue) and its write: the write must not
    // land on a closed descriptor, or on one reused meanwhile. It is a few instructions away.
    while (waking_.load() != 0) std::this_thread::yield();
    if (wake_fd_ >= 0) ::close(wake_fd_);
}

namespace loop_internal {

io_uring_sqe* get_sqe_bounded(io_uring& ring) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    int submitted = 0;
    for (int tries = 0; sqe == nullptr; ++tries) {
        ROOTFARM_CHECK(tries < kSqeSubmitRetries,
                       "submission queue still full after {} submits: {} of {} entries queued, "
                       "{} completions unreaped, completion queue overflow: {}, last submit: {}",
                       tries, io_uring_sq_ready(&ring), ring.sq.ring_entries,
                       io_uring_cq_ready(&ring), io_uring_cq_has_overflow(&ring),
                       submitted < 0 ? std::strerror(-submitted) : std::to_string(submitted));
        submitted = io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
    }
    return sqe;
}

}  // namespace loop_internal

io_uring_sqe* Loop::get_sqe() {
    return get_sqe_bounded(ring_);
}

uint64_t Loop::new_op(Op op) {
    const uint32_t slot = take_slot(ops_, free_ops_);
    const uint32_t generation = ops_[slot]->generation + 1;
    *ops_[slot] = std::move(op);
    ops_[slot]->generation = generation;
    return pack(slot, generation);
}

void Loop::free_op(uint32_t slot) {
    Op& op = *ops_[slot];
    const uint32_t generation = op.generation;
    op = Op{};
    op.generation = generation;
    free_ops_.push_back(slot);
}

void Loop::cancel_op(uint64_t user_data) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, user_data, 0);
    io_uring_sqe_set_data64(sqe, kIgnore);
}

void Loop::post(std::function<void()> fn) {
    waking_.fetch_add(1);
    {
        MutexLock lock(posted_mu_);
        posted_.push_back(std::move(fn));
    }
    wake();
}

void Loop::stop() {
    waking_.fetch_add(1);
    stop_requested_ = true;
    wake();
}

void Loop::wake() {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
    waking_.fetch_sub(1);
}

void Loop::drain_posted() {
    std::vector<std::function<void()>> batch;
    {
        MutexLock lock(posted_mu_);
        batch.swap(posted_);
    }
    for (auto& fn : batch) fn();
}

void Loop::run() {
    while (!stop_requested_) {
        drain_posted();
        if (stop_requested_) break;
        const int ret = io_uring_submit_and_wait(&ring_, 1);
        if (ret < 0 && ret != -EINTR && ret != -ETIME && ret != -EBUSY) {
            core_log().error("io_uring_submit_and_wait: {}", std::strerror(-ret));
            break;
        }
        io_uring_cqe* cqe;
        unsigned head;
        unsigned seen = 0;
        io_uring_for_each_cqe(&ring_, head, cqe) {
            on_completion(cqe);
            ++seen;
        }
        io_uring_cq_advance(&ring_, seen);
    }
    drain_posted();
    shutdown_all();
}

void Loop::shutdown_all() {
    if (!ring_ready_) return;
    // From here on nothing re-arms (the wake read, accepts, receives, the tick).
    stop_requested_ = true;
    for (auto& l : listeners_) {
        if (l->fd >= 0) {
            ::shutdown(l->fd, SHUT_RDWR);
            if (l->accept_op) cancel_op(l->accept_op);
        }
    }
    for (auto& c : conns_) {
        if (c && c->fd_ >= 0 && !c->closing_) {
            begin_close(*c);
            maybe_free(*c);
        }
    }
    for (auto& s : udp_)
        if (s) s->close();
    // Cancel what is still in flight (the wake read, the tick, file I/O) and wait, bounded,
    // for every completion so no buffer is written after we return.
    for (uint32_t slot = 0; slot < ops_.size(); ++slot) {
        if (ops_[slot]->kind != Op::Kind::kFree) cancel_op(pack(slot, ops_[slot]->generation));
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    auto busy = [&] {
        for (auto& op : ops_)
            if (op->kind != Op::Kind::kFree) return true;
        return false;
    };
    while (busy() && std::chrono::steady_clock::now() < deadline) {
        io_uring_submit(&ring_);
        __kernel_timespec ts{0, 50 * 1000 * 1000};
        io_uring_cqe* cqe = nullptr;
        if (io_uring_wait_cqe_timeout(&ring_, &cqe, &ts) != 0) continue;
        io_uring_cqe* c;
        unsigned head;
        unsigned seen = 0;
        io_uring_for_each_cqe(&ring_, head, c) {
            on_completion(c);
            ++seen;
        }
        io_uring_cq_advance(&ring_, seen);
    }
    for (auto& l : listeners_) {
        if (l->fd >= 0) ::close(l->fd);
        l->fd = -1;
    }
}

void Loop::on_completion(io_uring_cqe* cqe) {
    const uint64_t ud = io_uring_cqe_get_data64(cqe);
    if (ud == kIgnore) return;
    const uint32_t slot = static_cast<uint32_t>(ud);
    const uint32_t generation = static_cast<uint32_t>(ud >> 32);
    const bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
    // Every user_data but kIgnore comes from new_op, and the slot table never shrinks: a slot
    // beyond it is a completion for something this loop never submitted.
    ROOTFARM_CHECK(slot < ops_.size(),
                   "completion for unknown user_data {:#x} (slot {} of {}, res {}, flags {:#x})",
                   ud, slot, ops_.size(), cqe->res, cqe->flags);
    if (ops_[slot]->generation != generation || ops_[slot]->kind == Op::Kind::kFree) {
        // Stale: only a provided buffer needs handing back.
        if (cqe->flags & IORING_CQE_F_BUFFER) {
            recycle_buffer(static_cast<uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT));
        }
        return;
    }
    Op& op = *ops_[slot];
    const int res = cqe->res;
    switch (op.kind) {
        case Op::Kind::kAccept:
            handle_accept(op, res, more);
            if (!more) free_op(slot);
            break;
        case Op::Kind::kRecv:
            handle_recv(op, res, cqe->flags, more);
            if (!more) free_op(slot);
            break;
        case Op::Kind::kSend:
            if (!handle_send(slot, op, res)) free_op(slot);
            break;
        case Op::Kind::kSplice: {
            const uint32_t conn = op.conn_index;
            const bool to_socket = op.to_socket;
            free_op(slot);
            handle_splice(conn, to_socket, res);
            break;
        }
        case Op::Kind::kUdpRecv:
            handle_udp_recv(op, res, cqe->flags, more);
            if (!more) free_op(slot);
            break;
        case Op::Kind::kUdpSend:
            handle_udp_send(op, res);
            free_op(slot);
            break;
        case Op::Kind::kFile: {
            auto done = std::move(op.done);
            free_op(slot);
            if (done && !stop_requested_) done(res);
            break;
        }
        case Op::Kind::kTick:
            free_op(slot);
            tick_armed_ = false;
            handle_tick();
            break;
        case Op::Kind::kWake: {
            free_op(slot);
            if (stop_requested_) break;
            Op wake;
            wake.kind = Op::Kind::kWake;
            const uint64_t next = new_op(std::move(wake));
            io_uring_sqe* sqe = get_sqe();
            io_uring_prep_read(sqe, wake_fd_, &wake_value_, sizeof wake_value_, 0);
            io_uring_sqe_set_data64(sqe, next);
            break;
        }
        case Op::Kind::kFree:
            break;
    }
}

}  // namespace rootfarm
