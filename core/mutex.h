#pragma once
// Mutexes the thread-safety analysis (core/thread_annotations.h) understands. libstdc++'s
// std::mutex and std::shared_mutex carry no capability attributes, so members guarded by them
// cannot be checked; these wrap them and add the attributes, nothing else.
//
//   Mutex mu_;  int n_ GUARDED_BY(mu_);
//   { MutexLock lock(mu_); ++n_; }
//
//   SharedMutex mu_;
//   { ReaderLock lock(mu_); read(); }   { WriterLock lock(mu_); write(); }
//
// A condition variable waits on a MutexLock (CondVar below). The lowercase lock()/unlock()
// members keep Mutex and SharedMutex usable with std::unique_lock and std::shared_lock where a
// lock must outlive its scope, at the cost of the analysis not following it there.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>

#include "core/thread_annotations.h"

namespace rootfarm {

class CAPABILITY("mutex") Mutex {
  public:
    Mutex() = default;
    Mutex(const Mutex&) = delete;
    Mutex& operator=(const Mutex&) = delete;

    void lock() ACQUIRE() { mu_.lock(); }
    void unlock() RELEASE() { mu_.unlock(); }
    bool try_lock() TRY_ACQUIRE(true) { return mu_.try_lock(); }

    // Tells the analysis the caller holds this mutex where it cannot see that itself.
    void assert_held() const ASSERT_CAPABILITY(this) {}

  private:
    friend class MutexLock;
    std::mutex mu_;
};

class CAPABILITY("shared_mutex") SharedMutex {
  public:
    SharedMutex() = default;
    SharedMutex(const SharedMutex&) = delete;
    SharedMutex& operator=(const SharedMutex&) = delete;

    void lock() ACQUIRE() { mu_.lock(); }
    void unlock() RELEASE() { mu_.unlock(); }
    bool try_lock() TRY_ACQUIRE(true) { return mu_.try_lock(); }
    void lock_shared() ACQUIRE_SHARED() { mu_.lock_shared(); }
    void unlock_shared() RELEASE_SHARED() { mu_.unlock_shared(); }
    bool try_lock_shared() TRY_ACQUIRE_SHARED(true) { return mu_.try_lock_shared(); }

  private:
    std::shared_mutex mu_;
};

// Holds a Mutex for its scope; unlock() and lock() release and take it again inside it.
class SCOPED_CAPABILITY MutexLock {
  public:
    explicit MutexLock(Mutex& mu) ACQUIRE(mu) : lock_(mu.mu_) {}
    ~MutexLock() RELEASE() {}
    MutexLock(const MutexLock&) = delete;
    MutexLock& operator=(const MutexLock&) = delete;

    void lock() ACQUIRE() { lock_.lock(); }
    void unlock() RELEASE() { lock_.unlock(); }

  private:
    friend class CondVar;
    std::unique_lock<std::mutex> lock_;
};

// Holds a SharedMutex shared for its scope.
class SCOPED_CAPABILITY ReaderLock {
  public:
    explicit ReaderLock(SharedMutex& mu) ACQUIRE_SHARED(mu) : mu_(mu) { mu_.lock_shared(); }
    ~ReaderLock() RELEASE() { mu_.unlock_shared(); }
    ReaderLock(const ReaderLock&) = delete;
    ReaderLock& operator=(const ReaderLock&) = delete;

  private:
    SharedMutex& mu_;
};

// Holds a SharedMutex exclusively for its scope; unlock() releases it early.
class SCOPED_CAPABILITY WriterLock {
  public:
    explicit WriterLock(SharedMutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
    ~WriterLock() RELEASE() {
        if (held_) mu_.unlock();
    }
    WriterLock(const WriterLock&) = delete;
    WriterLock& operator=(const WriterLock&) = delete;

    void unlock() RELEASE() {
        mu_.unlock();
        held_ = false;
    }

  private:
    SharedMutex& mu_;
    bool held_ = true;
};

// std::condition_variable for a MutexLock. The predicate runs with the mutex held: annotate
// the lambda REQUIRES(mu_) when it reads guarded members.
class CondVar {
  public:
    void notify_one() { cv_.notify_one(); }
    void notify_all() { cv_.notify_all(); }

    void wait(MutexLock& lock) { cv_.wait(lock.lock_); }
    // The analysis cannot see that std::condition_variable returns with the lock held again.
    template <class Pred>
    void wait(MutexLock& lock, Pred pred) NO_THREAD_SAFETY_ANALYSIS {
        cv_.wait(lock.lock_, pred);
    }
    template <class Rep, class Period, class Pred>
    bool wait_for(MutexLock& lock, std::chrono::duration<Rep, Period> timeout,
                  Pred pred) NO_THREAD_SAFETY_ANALYSIS {
        return cv_.wait_for(lock.lock_, timeout, pred);
    }

    template <class Clock, class Duration, class Pred>
    bool wait_until(MutexLock& lock, std::chrono::time_point<Clock, Duration> deadline,
                    Pred pred) NO_THREAD_SAFETY_ANALYSIS {
        return cv_.wait_until(lock.lock_, deadline, pred);
    }

  private:
    std::condition_variable cv_;
};

}  // namespace rootfarm
