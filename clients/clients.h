#pragma once

// The one owner of each Pi's life: who it is (registry.h), its DHCP lease (leases.h), where it
// is in its boot (phase.h), which image its root is on and when that may change (roll-out), its
// identity in its view (identity.h), and its reset. The services ask it which view a request is
// served from; none of them decides roll-out or identity or touches the store's directories.
//
// A boot starts at the first of: a DISCOVER from the Pi's boot ROM, a TFTP read of a first
// boot file, or a MNT. That is the one moment a Pi moves to its configured image (keeping or
// dropping its overlay per [defaults] on_image_change) and its identity files are brought up to
// date. A Pi whose root is mounted and in use (an NFS call in the last kInUse, and no boot ROM
// DISCOVER since) is never moved under it: a spurious boot signal from a running Pi (a TFTP or
// MNT from user space) then leaves it where it is, and the next real boot moves it.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "clients/leases.h"
#include "clients/phase.h"
#include "clients/registry.h"
#include "core/config.h"
#include "core/mutex.h"
#include "core/result.h"
#include "store/store.h"

namespace rootfarm {

// How recent an NFS call must be for a Pi's root to count as in use at a boot signal. A real
// reboot puts seconds between the old system's last call and the new boot's first request (the
// boot ROM starts, brings the link up and asks DHCP first); a call within this window means
// the system is still running.
inline constexpr std::chrono::seconds kInUse{5};

// When a Pi looks stuck (PiStatus::hint). A Pi 4 asks for its first boot file within a second
// or two of its DHCP ACK, and a kernel mounts its root within seconds of being loaded (tens
// under emulation); a minute of silence means it will not.
inline constexpr std::chrono::seconds kNoTftpAfter{30};
inline constexpr std::chrono::seconds kNoMountAfter{60};
inline constexpr uint32_t kTftpTimeoutsHint = 3;
inline constexpr std::chrono::seconds kBootLoopWindow{300};
inline constexpr size_t kBootLoopBoots = 3;

// One phase of a boot, for the timeline of a Pi's last boot.
struct PhaseSpan {
    BootPhase phase = BootPhase::kUnknown;
    std::chrono::system_clock::time_point start{};
    std::chrono::milliseconds duration{0};  // until the next phase, or until now
};

// Evidence a service reports about something that went wrong for a Pi (Clients::note).
enum class Trouble : uint8_t {
    kUnknownSerial,  // detail: the TFTP path whose <serial>/ prefix no Pi has
    kTftpTimeout,    // detail: the file whose transfer timed out
    kMountRefused,   // detail: why
    kCmdlineServed,  // detail: the kernel command line TFTP served (not a trouble by itself)
};

// One Pi as an operator sees it (`rootfarm status`, the status page, /api/clients).
struct PiStatus {
    ClientInfo info;
    BootPhase phase = BootPhase::kUnknown;
    std::chrono::system_clock::time_point phase_since{};  // epoch if never seen
    std::chrono::system_clock::time_point last_boot{};    // the last boot's first signal
    uint64_t boots = 0;                                   // since the server started
    std::string delta_image;  // the image its overlay is on; empty without an overlay
    uint64_t overlay_bytes = 0;
    std::vector<PhaseSpan> timeline;  // the phases of its last (or current) boot, in order
    // From the boot's first signal until it was up; unset while booting or never seen.
    std::optional<std::chrono::milliseconds> last_boot_duration;
    std::string hint;  // empty when nothing looks wrong; else what and the evidence
};

class Clients {
  public:
    using Clock = std::chrono::steady_clock;

    // `store` may be null when only DHCP runs; then view() answers ENODEV. Loads
    // <state_dir>/leases (throws ConfigError-free std::system_error if it cannot be read).
    Clients(const Config& config, store::Store* store);
    ~Clients();
    Clients(const Clients&) = delete;
    Clients& operator=(const Clients&) = delete;

    // --- Who is asking -------------------------------------------------------------------
    std::optional<ClientInfo> by_mac(const MacAddr& mac) const { return registry_.by_mac(mac); }
    std::optional<ClientInfo> by_ip(Ipv4 ip) const { return registry_.by_ip(ip); }
    std::optional<ClientInfo> by_serial(std::string_view s) const { return registry_.by_serial(s); }
    std::vector<ClientInfo> all() const { return registry_.all(); }
    DefaultsConfig defaults() const { return registry_.defaults(); }
    // A known client, or a Raspberry Pi enrolled now when [defaults] enroll = "any-pi".
    std::optional<ClientInfo> admit(const MacAddr& mac, bool is_raspberry_pi);
    void learn_ip(const MacAddr& mac, Ipv4 ip) { registry_.learn_ip(mac, ip); }
    void learn_serial(const MacAddr& mac, std::string_view serial, std::string_view model) {
        registry_.learn_serial(mac, serial, model);
    }
    // Tests: where the kernel's neighbour table is read from.
    void set_neighbour_source(std::function<std::optional<MacAddr>(Ipv4)> fn) {
        registry_.set_neighbour_source(std::move(fn));
    }

    // --- What a request is served from ----------------------------------------------------
    enum class Ask {
        kCall,       // an ordinary request: the view its overlay is on, never moved
        kBootFiles,  // a first boot file over TFTP: moves the Pi, its identity waits for MNT
        kBootStart,  // MNT: moves the Pi if nothing earlier did, and writes its identity
    };
    // The view of `client`'s root. At kBootFiles and kBootStart the Pi first moves to its
    // configured image, unless its root is in use; kBootStart also writes its identity files
    // (an SSH host key takes ssh-keygen a moment: never on the TFTP loop's thread). Errors: the
    // store's (ENOENT for an image that does not exist).
    Result<std::shared_ptr<store::ClientView>> view(const ClientInfo& client, Ask ask);
    // The read-only, pristine default image, for a TFTP request from no known client.
    Result<std::shared_ptr<const store::ClientView>> pristine_default();

    // --- Boot phases ----------------------------------------------------------------------
    void record(const MacAddr& mac, BootEvent event);
    // Evidence for a hint (PiStatus::hint), kept until the Pi is up again.
    void note(const MacAddr& mac, Trouble trouble, std::string detail);
    // Called with each boot that reached kUp, and how long it took from its first signal.
    void on_boot_complete(std::function<void(const MacAddr&, std::chrono::milliseconds)> fn);
    // Logs phases that come from silence (idle) and new hints; the owner's thread calls it
    // once a second, tests call it directly.
    void tick();
    PiStatus status(const MacAddr& mac) const;
    std::vector<PiStatus> status_all() const;

    // --- Operator actions -----------------------------------------------------------------
    // Drops the Pi's overlay through the store. EBUSY while its root is mounted and it made an
    // NFS call within [defaults] idle_after, unless `force` (its handles then go stale).
    Result<void> reset(const MacAddr& mac, bool force);
    // Takes a new, valid configuration's clients and [defaults]: new clients are served,
    // removed ones refused, changed images wait for each Pi's next boot, changed host names
    // are written at once. Returns one line per change for the log and the caller.
    std::vector<std::string> reconfigure(const Config& config);
    // Called with each new configuration, after the registry took it (the DHCP service
    // refreshes its static addresses). `fn` must not call back into reconfigure.
    void on_reconfigure(std::function<void(const Config&)> fn);

    // --- DHCP leases ----------------------------------------------------------------------
    // The lease table, locked while the returned object lives.
    struct Leases {
        std::unique_lock<Mutex> lock;
        LeaseTable& table;
    };
    Leases leases() EXCLUDES(leases_mu_);
    // Asks for the table to be written to <state_dir>/leases: batched, at most once per
    // kLeaseFlush, on a thread of the owner's, durable (write, fsync, rename, fsync dir).
    void leases_changed();
    // Writes the table now if it changed (tests, shutdown).
    void flush_leases();
    uint64_t lease_writes() const;

    // Tests: the clock that phases and the in-use rule read.
    void set_clock(std::function<Clock::time_point()> now) { now_ = std::move(now); }

  private:
    // One Pi's life since the server started. Guarded by `mu`, but for `last_nfs`, which every NFS
    // call stores.
    struct Life {
        Mutex mu;
        BootPhase phase GUARDED_BY(mu) = BootPhase::kUnknown;
        std::chrono::system_clock::time_point phase_since GUARDED_BY(mu) = {};
        std::chrono::system_clock::time_point last_boot GUARDED_BY(mu) = {};
        uint64_t boots GUARDED_BY(mu) = 0;
        bool mounted GUARDED_BY(mu) = false;
        Clock::time_point rebooted GUARDED_BY(mu) = {};  // the last boot ROM DISCOVER
        std::atomic<Clock::rep> last_nfs{Clock::time_point::min().time_since_epoch().count()};
        std::atomic<bool> up{false};  // phase == kUp, read without the lock
        // The boot being handled: what start_boot applied, so the other first requests of the same
        // boot (a Pi 4 reads config.txt up to four times, then MNTs) cost nothing.
        bool booting GUARDED_BY(mu) = false;
        std::string booted_image GUARDED_BY(mu);
        std::string booted_hostname GUARDED_BY(mu);
        // The store hands out one view per client for its whole life (a reset or a move to another
        // image happens inside it), so it can be kept here.
        std::shared_ptr<store::ClientView> view GUARDED_BY(mu);

        // The current (or last) boot, for status and hints.
        Clock::time_point phase_at GUARDED_BY(mu) = {};  // when `phase` began
        Clock::time_point boot_at GUARDED_BY(mu) = {};   // its first signal
        std::vector<PhaseSpan> timeline GUARDED_BY(mu);
        std::vector<Clock::time_point> timeline_at GUARDED_BY(mu);
        std::optional<std::chrono::milliseconds> last_boot_duration GUARDED_BY(mu);
        std::vector<Clock::time_point> recent_boots GUARDED_BY(mu);  // within kBootLoopWindow
        // Evidence from the services, kept until the Pi is up again.
        std::string unknown_serial_path GUARDED_BY(mu);
        std::string mount_refused GUARDED_BY(mu);
        std::string cmdline GUARDED_BY(mu);
        uint32_t tftp_timeouts GUARDED_BY(mu) = 0;
        std::string last_timeout_file GUARDED_BY(mu);
        // What tick() logged last, so each change is one line.
        BootPhase logged_phase GUARDED_BY(mu) = BootPhase::kUnknown;
        std::string logged_hint_kinds GUARDED_BY(mu);

        Clock::time_point last_call() const {
            return Clock::time_point(Clock::duration(last_nfs.load(std::memory_order_relaxed)));
        }
    };

    std::shared_ptr<Life> life_of(const MacAddr& mac) EXCLUDES(lives_mu_);
    std::shared_ptr<Life> find_life(const MacAddr& mac) const EXCLUDES(lives_mu_);
    Result<void> start_boot(const ClientInfo& client, Life& life, bool identity) EXCLUDES(life.mu);
    bool in_use(const Life& life, Clock::time_point now) const REQUIRES(life.mu);
    BootPhase phase_of(const Life& life, Clock::time_point now) const REQUIRES(life.mu);
    void set_phase(const MacAddr& mac, Life& life, BootPhase phase) REQUIRES(life.mu);
    Result<size_t> write_identity(const ClientInfo& client, store::ClientView& view);
    // The hints, joined; `kinds`, when given, gets one letter per hint (which hints, whatever
    // their counts and ages say), so the log gets a line when a hint comes, not every tick.
    std::string hint_of(const ClientInfo& info, const Life& life, Clock::time_point now,
                        uint64_t overlay_bytes, std::string* kinds = nullptr) const
        REQUIRES(life.mu);
    void lease_writer() EXCLUDES(writer_mu_);

    ClientRegistry registry_;
    store::Store* const store_;
    std::function<Clock::time_point()> now_;

    mutable Mutex config_mu_;
    bool keep_delta_ GUARDED_BY(config_mu_);  // [defaults] on_image_change = "keep"
    // Read on every status and reset, changed by a reload: seconds, atomically.
    std::atomic<int64_t> idle_after_s_;
    std::chrono::seconds idle_after() const {
        return std::chrono::seconds(idle_after_s_.load(std::memory_order_relaxed));
    }
    uint64_t quota_;  // [store] client_quota, for the hint
    std::vector<std::function<void(const Config&)>> listeners_ GUARDED_BY(config_mu_);
    std::vector<std::function<void(const MacAddr&, std::chrono::milliseconds)>> boot_listeners_
        GUARDED_BY(config_mu_);

    mutable SharedMutex lives_mu_;
    std::unordered_map<MacAddr, std::shared_ptr<Life>> lives_ GUARDED_BY(lives_mu_);

    std::filesystem::path leases_path_;
    mutable Mutex leases_mu_;
    LeaseTable leases_table_ GUARDED_BY(leases_mu_);
    uint64_t saved_version_ GUARDED_BY(leases_mu_) = 0;
    uint64_t lease_writes_ GUARDED_BY(leases_mu_) = 0;
    Mutex writer_mu_;
    CondVar writer_cv_;
    bool writer_wanted_ GUARDED_BY(writer_mu_) = false;
    bool writer_stop_ GUARDED_BY(writer_mu_) = false;
    std::thread writer_;
};

}  // namespace rootfarm
