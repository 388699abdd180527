// The Loop's timers: a TimerWheel driven by one IORING_OP_TIMEOUT armed while timers are pending.

#include "core/loop_internal.h"

namespace rootfarm {

TimerId Loop::add_timer(std::chrono::milliseconds delay, std::function<void()> fn) {
    // Round up so a timer never fires early; one extra tick covers the partial current tick.
    const uint64_t ticks = (delay.count() + options_.tick.count() - 1) / options_.tick.count() + 1;
    // The tick is not armed while no timer is pending, so the wheel's clock stood still; bring
    // it to now, or handle_tick's catch-up would fire this timer at once (seen as a TFTP
    // transfer giving up after five retransmits in 9 ms after iPXE's idle 13 s).
    const uint64_t now = current_tick();
    timers_.skip_to(now);
    // After a late tick (the thread was busy: a slow fsync, a burst of work) handle_tick
    // catches the wheel up one tick at a time. A timer added meanwhile, by a callback of that
    // catch-up or by work done before it, must count from wall time, not from the wheel's
    // lagging clock, or it fires in the same catch-up: a TFTP transfer re-armed its
    // retransmit timer there and used up all its retries in one burst.
    const uint64_t lag = now > timers_.now_tick() ? now - timers_.now_tick() : 0;
    const TimerId id = timers_.add(ticks + lag, std::move(fn));
    arm_tick();
    return id;
}

bool Loop::cancel_timer(TimerId id) {
    return timers_.cancel(id);
}

void Loop::arm_tick() {
    if (tick_armed_ || stop_requested_) return;
    Op op;
    op.kind = Op::Kind::kTick;
    const uint64_t ud = new_op(std::move(op));
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_timeout(sqe, &tick_ts_, 0, 0);
    io_uring_sqe_set_data64(sqe, ud);
    tick_armed_ = true;
}

uint64_t Loop::current_tick() const {
    return static_cast<uint64_t>((std::chrono::steady_clock::now() - start_) / options_.tick);
}

void Loop::handle_tick() {
    if (stop_requested_) return;
    // Catch up with wall time, so a late tick does not make every timer late.
    const uint64_t target = current_tick();
    do {
        timers_.advance();
    } while (timers_.now_tick() < target && timers_.pending() > 0);
    if (timers_.pending() > 0) arm_tick();
}

}  // namespace rootfarm
