#pragma once

// Tests: holds every journal and commit-log sync open until released, through Journal's global
// sync hook (which runs inside each sync, before its fdatasync), so a test can look at what
// happens while a sync is under way, deterministically.

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "store/journal.h"

namespace rootfarm::store::testing {

// Holds every sync that reaches it until opened; counts them.
struct SyncGate {
    std::mutex mu;
    std::condition_variable cv;
    bool open = false;
    int entered = 0;

    static SyncGate& get() {
        static SyncGate gate;
        return gate;
    }
    static void hook() {
        SyncGate& g = get();
        std::unique_lock lock(g.mu);
        ++g.entered;
        g.cv.notify_all();
        // Bounded, so a failing test cannot hang the server for good.
        g.cv.wait_for(lock, std::chrono::seconds(60), [&] { return g.open; });
    }
    void close() {
        std::lock_guard lock(mu);
        open = false;
        entered = 0;
    }
    void release() {
        std::lock_guard lock(mu);
        open = true;
        cv.notify_all();
    }
    bool wait_entered(std::chrono::seconds timeout) {
        std::unique_lock lock(mu);
        return cv.wait_for(lock, timeout, [&] { return entered > 0; });
    }
};

// Closes the gate and hooks it into every sync for its scope; opens and unhooks it after.
struct HeldSyncs {
    HeldSyncs() {
        SyncGate::get().close();
        Journal::set_global_sync_hook(&SyncGate::hook);
    }
    ~HeldSyncs() {
        SyncGate::get().release();
        Journal::set_global_sync_hook(nullptr);
    }
    HeldSyncs(const HeldSyncs&) = delete;
    HeldSyncs& operator=(const HeldSyncs&) = delete;
};

}  // namespace rootfarm::store::testing
