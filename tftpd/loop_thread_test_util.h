#pragma once

// Runs a core Loop on its own thread for tests; call() runs a function on it and waits.

#include <future>
#include <memory>
#include <thread>

#include "core/loop.h"

namespace rootfarm::tftpd::testing {

class LoopThread {
  public:
    LoopThread() {
        std::promise<Loop*> ready;
        thread_ = std::thread([this, &ready] {
            // The ring belongs to the thread that creates it (SINGLE_ISSUER).
            auto loop = Loop::create();
            ready.set_value(loop ? loop->get() : nullptr);
            if (!loop) return;
            (*loop)->run();
        });
        loop_ = ready.get_future().get();
    }
    ~LoopThread() {
        if (loop_) loop_->stop();
        thread_.join();
    }

    Loop* loop() const { return loop_; }

    template <class F>
    auto call(F fn) -> decltype(fn()) {
        std::packaged_task<decltype(fn())()> task(std::move(fn));
        auto result = task.get_future();
        loop_->post([&task] { task(); });
        return result.get();
    }

  private:
    Loop* loop_ = nullptr;
    std::thread thread_;
};

}  // namespace rootfarm::tftpd::testing
