#include "nfsd/blocking.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

#include "core/log.h"

namespace rootfarm::nfsd {

BlockingPool::BlockingPool(unsigned threads) {
    for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

BlockingPool::~BlockingPool() {
    {
        MutexLock lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
}

void BlockingPool::submit(std::function<void()> job) {
    {
        MutexLock lock(mu_);
        jobs_.push_back(std::move(job));
        high_water_ = std::max(high_water_, ++pending_);
    }
    cv_.notify_one();
}

size_t BlockingPool::pending() const {
    MutexLock lock(mu_);
    return pending_;
}

size_t BlockingPool::high_water() const {
    MutexLock lock(mu_);
    return high_water_;
}

void BlockingPool::run() {
    pthread_setname_np(pthread_self(), "nfsd-blocking");  // for top and perf
    MutexLock lock(mu_);
    for (;;) {
        cv_.wait(lock, [&]() REQUIRES(mu_) { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;  // stopping, and everything submitted has run
        std::function<void()> job = std::move(jobs_.front());
        jobs_.pop_front();
        lock.unlock();
        job();
        job = nullptr;  // what it captured (views, records) goes before the count drops
        lock.lock();
        --pending_;
    }
}

std::shared_ptr<ReplyChannel> ReplyChannel::open(Loop& loop) {
    int fd = ::eventfd(0, EFD_CLOEXEC);
    if (fd < 0) return nullptr;
    std::shared_ptr<ReplyChannel> ch(new ReplyChannel(loop, fd));
    ch->arm();
    return ch;
}

void ReplyChannel::arm() {
    Loop* loop;
    {
        MutexLock lock(mu_);
        loop = loop_;
    }
    // Nothing writes the eventfd: the read completes when the loop cancels it at shutdown.
    loop->read_at(fd_, 0, std::span(reinterpret_cast<uint8_t*>(&buf_), sizeof buf_),
                  [self = shared_from_this()](int res) {
                      if (res != -ECANCELED) {
                          nfs_log().warn("reply channel: unexpected completion {}", res);
                          self->arm();
                          return;
                      }
                      MutexLock lock(self->mu_);
                      self->loop_ = nullptr;
                  });
}

ReplyChannel::~ReplyChannel() {
    ::close(fd_);
}

void ReplyChannel::post(std::function<void()> fn) {
    MutexLock lock(mu_);
    if (loop_) loop_->post(std::move(fn));
}

}  // namespace rootfarm::nfsd
