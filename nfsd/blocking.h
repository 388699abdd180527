#pragma once

// Where NFS calls that wait for a disk flush run, so the io_uring worker that owns the
// connection keeps serving everyone else meanwhile.
//
// RFC 1813 requires namespace operations, SETATTR, FILE_SYNC writes and COMMIT to be on stable
// storage before the reply (docs/pi-boot.md NFS 17): the store's journal fdatasyncs before such a
// call returns. A profile of a 20-Pi storm had a third of the server's samples in that fdatasync on
// the worker thread, with every other call on the worker queued behind it. Calls that may block
// (WRITE, COMMIT, and a namespace operation or SETATTR the store refuses to run under a
// store::Deferred) run on a BlockingPool; the other namespace operations run on the worker and
// only their replies wait, for the commit log's sync thread. Both come back to the connection's
// loop through its ReplyChannel.

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "core/loop.h"
#include "core/mutex.h"

namespace rootfarm::nfsd {

// A fixed set of threads running jobs in submission order. Jobs may block (fdatasync); the
// number of jobs waiting is bounded by the callers (see kMaxInFlightPerConnection in nfsd.h and
// kMaxBlockingUdpCalls in service.cc), not here.
class BlockingPool {
  public:
    explicit BlockingPool(unsigned threads);
    // Runs every job already submitted, then joins the threads.
    ~BlockingPool();
    BlockingPool(const BlockingPool&) = delete;
    BlockingPool& operator=(const BlockingPool&) = delete;

    void submit(std::function<void()> job);
    // Jobs submitted and not yet finished (queued or running).
    size_t pending() const;
    // The largest pending() seen so far (tests check the bounds with it).
    size_t high_water() const;

  private:
    void run();

    mutable Mutex mu_;
    CondVar cv_;
    std::deque<std::function<void()>> jobs_ GUARDED_BY(mu_);
    size_t pending_ GUARDED_BY(mu_) = 0;
    size_t high_water_ GUARDED_BY(mu_) = 0;
    bool stopping_ GUARDED_BY(mu_) = false;
    std::vector<std::thread> threads_;
};

// Carries work from pool threads back to one loop's thread. A pool thread must not touch a
// Loop that may be gone: `rootfarm serve` destroys each loop on its own thread before the
// services, so a flush finishing during shutdown would post into freed memory. The channel
// keeps an eventfd read pending on the loop that nothing ever writes; the loop cancels it when
// it shuts down (Loop::shutdown_all cancels every file operation and waits for it), and from
// that completion on post() drops its work instead of reaching the loop.
class ReplyChannel : public std::enable_shared_from_this<ReplyChannel> {
  public:
    // Call on `loop`'s thread. Nullptr if no eventfd could be made.
    static std::shared_ptr<ReplyChannel> open(Loop& loop);
    ~ReplyChannel();
    ReplyChannel(const ReplyChannel&) = delete;
    ReplyChannel& operator=(const ReplyChannel&) = delete;

    // Thread-safe: runs fn on the loop's thread, or destroys it unrun once the loop stopped.
    void post(std::function<void()> fn);

  private:
    ReplyChannel(Loop& loop, int fd) : loop_(&loop), fd_(fd) {}
    // On the loop's thread: starts the canary read.
    void arm();

    Mutex mu_;
    Loop* loop_ GUARDED_BY(mu_);  // nullptr once the loop shut down
    int fd_;
    uint64_t buf_ = 0;  // the canary read's target; never filled
};

}  // namespace rootfarm::nfsd
