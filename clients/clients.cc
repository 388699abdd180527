#include "clients/clients.h"

#include <algorithm>
#include <system_error>

#include "clients/identity.h"
#include "core/log.h"

namespace rootfarm {

namespace {

// Lease writes are batched: a boot storm of DISCOVERs costs one fsync per interval, not one
// per packet.
constexpr std::chrono::milliseconds kLeaseFlush{500};

}  // namespace

Clients::Clients(const Config& config, store::Store* store)
    : registry_(config),
      store_(store),
      now_([] { return Clock::now(); }),
      keep_delta_(config.defaults.on_image_change == DefaultsConfig::OnImageChange::kKeep),
      idle_after_s_(config.defaults.idle_after),
      quota_(config.store.client_quota),
      leases_path_(config.state_dir / "leases") {
    std::error_code ec;
    std::filesystem::create_directories(config.state_dir, ec);  // where the leases are kept
    auto leases = load_leases(leases_path_);
    if (!leases) {
        throw std::system_error(leases.error(), leases_path_.string());
    }
    leases_table_ = std::move(*leases);
    saved_version_ = leases_table_.version();
    writer_ = std::thread([this] { lease_writer(); });
}

Clients::~Clients() {
    {
        MutexLock lock(writer_mu_);
        writer_stop_ = true;
    }
    writer_cv_.notify_all();
    writer_.join();
    flush_leases();
}

std::optional<ClientInfo> Clients::admit(const MacAddr& mac, bool is_raspberry_pi) {
    if (auto known = registry_.by_mac(mac)) return known;
    if (registry_.defaults().enroll != DefaultsConfig::Enroll::kAnyPi || !is_raspberry_pi) {
        return std::nullopt;
    }
    ClientInfo info = registry_.enroll(mac);
    clients_log().info("{}: a Raspberry Pi we did not know, enrolled with image {}",
                       mac.to_string(), info.image);
    return info;
}

std::shared_ptr<Clients::Life> Clients::find_life(const MacAddr& mac) const {
    ReaderLock lock(lives_mu_);
    auto it = lives_.find(mac);
    return it == lives_.end() ? nullptr : it->second;
}

std::shared_ptr<Clients::Life> Clients::life_of(const MacAddr& mac) {
    if (auto life = find_life(mac)) return life;
    WriterLock lock(lives_mu_);
    auto& slot = lives_[mac];
    if (!slot) slot = std::make_shared<Life>();
    return slot;
}

bool Clients::in_use(const Life& life, Clock::time_point now) const {
    const Clock::time_point last = life.last_call();
    return last != Clock::time_point::min() && last > life.rebooted && now - last < kInUse;
}

Result<size_t> Clients::write_identity(const ClientInfo& client, store::ClientView& view) {
    Identity id;
    id.hostname = client.hostname;
    id.machine_id = store_->client_secret(client.mac, "machine-id");
    auto written = view.generate(identity_files(id));
    if (!written) {
        // A failure costs the Pi its identity, not its boot.
        clients_log().warn("{}: identity files not written: {}", client.mac.to_string(),
                           written.error().message());
    } else if (*written > 0) {
        clients_log().info("{}: {} identity file(s) written, host name {}", client.mac.to_string(),
                           *written, client.hostname);
    }
    return written;
}

Result<void> Clients::start_boot(const ClientInfo& client, Life& life, bool identity) {
    MutexLock lock(life.mu);
    const Clock::time_point now = now_();
    const bool moved = life.booting && life.booted_image == client.image;
    const bool named = life.booting && life.booted_hostname == client.hostname;
    if (moved && (named || !identity)) return {};  // another first request of this boot
    if (!life.booting && in_use(life, now)) {
        clients_log().info(
            "{}: asked to boot while its root is in use (NFS call {} ms ago): not moved",
            client.mac.to_string(),
            std::chrono::duration_cast<std::chrono::milliseconds>(now - life.last_call()).count());
        return {};
    }
    if (!moved) {
        life.mounted = false;  // whatever had its root mounted is gone: the Pi is booting
        Result<std::string> current = store_->delta_image(client.mac);
        if (current && *current != client.image) {
            bool keep;
            {
                MutexLock config_lock(config_mu_);
                keep = keep_delta_;
            }
            if (auto r = store_->switch_image(client.mac, client.image, keep); !r) {
                clients_log().error("{}: cannot move from image {} to {}: {}",
                                    client.mac.to_string(), *current, client.image,
                                    r.error().message());
                return r;
            }
            clients_log().info("{}: moved from image {} to {} at the start of its boot, overlay {}",
                               client.mac.to_string(), *current, client.image,
                               keep ? "kept" : "dropped");
        }
        life.booting = true;
        life.booted_image = client.image;
        life.booted_hostname.clear();
    }
    Result<std::shared_ptr<store::ClientView>> v = store_->view(client.mac, client.image);
    if (!v) return v.error();
    life.view = *v;
    if (identity) {
        (void)write_identity(client, **v);
        life.booted_hostname = client.hostname;
    }
    return {};
}

Result<std::shared_ptr<store::ClientView>> Clients::view(const ClientInfo& client, Ask ask) {
    if (store_ == nullptr) return std::errc::no_such_device;
    std::shared_ptr<Life> life = life_of(client.mac);
    if (ask != Ask::kCall) {
        if (auto started = start_boot(client, *life, ask == Ask::kBootStart); !started) {
            return started.error();
        }
    }
    {
        MutexLock lock(life->mu);
        if (life->view) return life->view;
    }
    Result<std::shared_ptr<store::ClientView>> v = store_->view(client.mac, client.image);
    if (!v && v.error() == std::errc::cross_device_link) {
        // Its overlay is on another image: it moves at its next boot, never under a running
        // system, so until then it is served from the image its overlay is on.
        if (Result<std::string> current = store_->delta_image(client.mac)) {
            v = store_->view(client.mac, *current);
        }
    }
    if (v) {
        MutexLock lock(life->mu);
        life->view = *v;
    }
    return v;
}

Result<std::shared_ptr<const store::ClientView>> Clients::pristine_default() {
    if (store_ == nullptr) return std::errc::no_such_device;
    return store_->image_view(registry_.defaults().image);
}

void Clients::set_phase(const MacAddr& mac, Life& life, BootPhase phase) {
    if (life.phase == phase) return;
    const BootPhase was = life.phase;
    const Clock::time_point now = now_();
    life.phase = phase;
    life.up.store(phase == BootPhase::kUp, std::memory_order_relaxed);
    life.phase_since = std::chrono::system_clock::now();
    life.phase_at = now;
    life.logged_phase = phase;
    const bool new_boot = (phase == BootPhase::kDhcpDiscover || phase == BootPhase::kTftpFirmware ||
                           phase == BootPhase::kNfsMounted) &&
                          (was == BootPhase::kUnknown || was >= BootPhase::kNfsMounted ||
                           (phase != BootPhase::kNfsMounted && was >= BootPhase::kKernelFetched));
    if (new_boot) {
        ++life.boots;
        life.last_boot = life.phase_since;
        life.boot_at = now;
        life.timeline.clear();
        life.timeline_at.clear();
        std::erase_if(life.recent_boots,
                      [&](Clock::time_point t) { return now - t > kBootLoopWindow; });
        life.recent_boots.push_back(now);
    }
    life.timeline.push_back(PhaseSpan{phase, life.phase_since, {}});
    life.timeline_at.push_back(now);
    if (phase == BootPhase::kUp && !life.timeline_at.empty()) {
        const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(now - life.boot_at);
        life.last_boot_duration = took;
        // The boot worked: what went wrong on the way no longer says anything.
        life.unknown_serial_path.clear();
        life.mount_refused.clear();
        life.tftp_timeouts = 0;
        std::vector<std::function<void(const MacAddr&, std::chrono::milliseconds)>> listeners;
        {
            MutexLock lock(config_mu_);
            listeners = boot_listeners_;
        }
        for (const auto& fn : listeners) fn(mac, took);
    }
    clients_log().info("{}: {} -> {}", mac.to_string(), to_string(was), to_string(phase));
}

void Clients::record(const MacAddr& mac, BootEvent event) {
    if (event == BootEvent::kNfsCall) {
        // The hot path: every NFS call. A store, and a lock only when the phase changes.
        std::shared_ptr<Life> life = life_of(mac);
        const Clock::time_point now = now_();
        life->last_nfs.store(now.time_since_epoch().count(), std::memory_order_relaxed);
        // Never waits behind a boot's store work (start_boot holds the lock through an image
        // index or ssh-keygen) once the Pi is up.
        if (life->up.load(std::memory_order_relaxed)) return;
        MutexLock lock(life->mu);
        if (life->phase != BootPhase::kUp) {
            life->booting = false;  // the boot is over: its system runs
            life->mounted = true;   // a call after a restart of ours: it has its root
            set_phase(mac, *life, BootPhase::kUp);
        }
        return;
    }
    std::shared_ptr<Life> life = life_of(mac);
    const Clock::time_point now = now_();
    MutexLock lock(life->mu);
    const BootPhase phase = life->phase;
    switch (event) {
        case BootEvent::kDhcpRomDiscover:
            // Only a boot ROM sends this: whatever ran on the Pi before has stopped.
            life->rebooted = now;
            life->mounted = false;
            life->booting = false;
            set_phase(mac, *life, BootPhase::kDhcpDiscover);
            break;
        case BootEvent::kDhcpDiscover:
            // The running system's own DHCP client (dhcpcd, NetworkManager): not a boot.
            if (phase < BootPhase::kNfsMounted) set_phase(mac, *life, BootPhase::kDhcpDiscover);
            break;
        case BootEvent::kDhcpOffer:
            if (phase < BootPhase::kNfsMounted) set_phase(mac, *life, BootPhase::kDhcpOffered);
            break;
        case BootEvent::kDhcpAck:
            if (phase < BootPhase::kNfsMounted) set_phase(mac, *life, BootPhase::kDhcpAcked);
            break;
        case BootEvent::kTftpFirstFile:
            // A running system does not fetch boot files; one that asks while its root is in
            // use is user space (curl tftp://…), not a boot.
            if (!in_use(*life, now)) set_phase(mac, *life, BootPhase::kTftpFirmware);
            break;
        case BootEvent::kTftpFile:
            // After the kernel come only dtbs and overlays: those stay in kKernelFetched.
            if (phase < BootPhase::kTftpFirmware && !in_use(*life, now)) {
                set_phase(mac, *life, BootPhase::kTftpFirmware);
            }
            break;
        case BootEvent::kTftpKernel:
            if (!in_use(*life, now)) set_phase(mac, *life, BootPhase::kKernelFetched);
            break;
        case BootEvent::kMount:
            life->mounted = true;
            life->mount_refused.clear();
            if (phase != BootPhase::kUp || !in_use(*life, now)) {
                set_phase(mac, *life, BootPhase::kNfsMounted);
            }
            break;
        case BootEvent::kUnmount:
            life->mounted = false;
            set_phase(mac, *life, BootPhase::kOff);
            break;
        case BootEvent::kNfsCall:
            break;
    }
}

BootPhase Clients::phase_of(const Life& life, Clock::time_point now) const {
    if ((life.phase == BootPhase::kUp || life.phase == BootPhase::kNfsMounted) &&
        life.last_call() != Clock::time_point::min() && now - life.last_call() >= idle_after()) {
        return BootPhase::kIdle;
    }
    return life.phase;
}

void Clients::note(const MacAddr& mac, Trouble trouble, std::string detail) {
    std::shared_ptr<Life> life = life_of(mac);
    MutexLock lock(life->mu);
    switch (trouble) {
        case Trouble::kUnknownSerial:
            life->unknown_serial_path = std::move(detail);
            break;
        case Trouble::kTftpTimeout:
            ++life->tftp_timeouts;
            life->last_timeout_file = std::move(detail);
            break;
        case Trouble::kMountRefused:
            life->mount_refused = std::move(detail);
            break;
        case Trouble::kCmdlineServed:
            life->cmdline = std::move(detail);
            break;
    }
}

std::string Clients::hint_of(const ClientInfo& info, const Life& life, Clock::time_point now,
                             uint64_t overlay_bytes, std::string* kinds) const {
    std::vector<std::string> hints;
    std::string which;
    const auto secs = [&](Clock::time_point since) {
        return std::to_string(
                   std::chrono::duration_cast<std::chrono::seconds>(now - since).count()) +
               " s";
    };
    if (!life.mount_refused.empty()) {
        which += 'm';
        hints.push_back("MNT refused: " + life.mount_refused);
    }
    if (!life.unknown_serial_path.empty()) {
        which += 's';
        hints.push_back("asked TFTP for " + life.unknown_serial_path +
                        ", but no Pi has that serial prefix: set its [[client]] serial (now " +
                        (info.serial.empty() ? std::string("unset") : info.serial) + ")");
    }
    if (life.phase == BootPhase::kKernelFetched && now - life.phase_at >= kNoMountAfter) {
        which += 'k';
        hints.push_back(
            "kernel sent " + secs(life.phase_at) +
            " ago but no MNT: its kernel did not mount its root; cmdline served: " +
            (life.cmdline.empty() ? std::string("(none: not over our TFTP)") : life.cmdline));
    }
    if ((life.phase == BootPhase::kDhcpOffered || life.phase == BootPhase::kDhcpAcked) &&
        now - life.phase_at >= kNoTftpAfter) {
        which += 'o';
        hints.push_back("offered an address " + secs(life.phase_at) +
                        " ago but asked for no boot file: another DHCP or proxy server may "
                        "answer it (its option 43 must say \"Raspberry Pi Boot\"), or spanning "
                        "tree holds its switch port (enable portfast)");
    }
    if (life.tftp_timeouts >= kTftpTimeoutsHint) {
        which += 't';
        hints.push_back(std::to_string(life.tftp_timeouts) +
                        " TFTP transfers timed out this boot (last: " + life.last_timeout_file +
                        "): packets are lost on the way, or the Pi stopped mid-transfer");
    }
    size_t loops = std::count_if(life.recent_boots.begin(), life.recent_boots.end(),
                                 [&](Clock::time_point t) { return now - t <= kBootLoopWindow; });
    if (loops >= kBootLoopBoots) {
        which += 'l';
        hints.push_back(std::to_string(loops) + " boots in " +
                        std::to_string(kBootLoopWindow.count() / 60) +
                        " min: a boot loop (a kernel panic, a watchdog, or power)");
    }
    if (quota_ > 0 && overlay_bytes >= quota_) {
        which += 'q';
        hints.push_back("overlay at its quota (" + std::to_string(overlay_bytes) + " of " +
                        std::to_string(quota_) +
                        " bytes): its writes fail with \"no space\"; reset it or raise "
                        "[store] client_quota");
    }
    if (kinds) *kinds = std::move(which);
    std::string out;
    for (const auto& h : hints) out += (out.empty() ? "" : "; ") + h;
    return out;
}

void Clients::tick() {
    std::vector<std::pair<MacAddr, std::shared_ptr<Life>>> lives;
    {
        ReaderLock lock(lives_mu_);
        lives.assign(lives_.begin(), lives_.end());
    }
    const Clock::time_point now = now_();
    for (auto& [mac, life] : lives) {
        auto info = registry_.by_mac(mac);
        MutexLock lock(life->mu);
        const BootPhase phase = phase_of(*life, now);
        if (phase != life->logged_phase) {
            clients_log().info("{}: {} -> {}", mac.to_string(), to_string(life->logged_phase),
                               to_string(phase));
            life->logged_phase = phase;
        }
        if (!info) continue;
        std::string kinds;
        std::string hint = hint_of(*info, *life, now, 0, &kinds);
        if (kinds != life->logged_hint_kinds) {
            if (!hint.empty()) clients_log().warn("{}: {}", mac.to_string(), hint);
            life->logged_hint_kinds = std::move(kinds);
        }
    }
}

void Clients::on_boot_complete(std::function<void(const MacAddr&, std::chrono::milliseconds)> fn) {
    MutexLock lock(config_mu_);
    boot_listeners_.push_back(std::move(fn));
}

PiStatus Clients::status(const MacAddr& mac) const {
    PiStatus s;
    if (auto info = registry_.by_mac(mac)) s.info = *info;
    s.info.mac = mac;
    if (store_) {
        if (auto on = store_->delta_image(mac)) {
            s.delta_image = *on;
            s.overlay_bytes = store_->delta_bytes(mac);
        }
    }
    if (std::shared_ptr<Life> life = find_life(mac)) {
        MutexLock lock(life->mu);
        const Clock::time_point now = now_();
        s.phase = phase_of(*life, now);
        s.phase_since = life->phase_since;
        s.last_boot = life->last_boot;
        s.boots = life->boots;
        s.timeline = life->timeline;
        for (size_t i = 0; i < s.timeline.size(); ++i) {
            const Clock::time_point end =
                i + 1 < life->timeline_at.size() ? life->timeline_at[i + 1] : now;
            s.timeline[i].duration =
                std::chrono::duration_cast<std::chrono::milliseconds>(end - life->timeline_at[i]);
        }
        if (s.phase == BootPhase::kIdle && !s.timeline.empty()) {
            // Up until it went quiet; idle since then.
            const Clock::time_point idle_at = life->last_call() + idle_after();
            s.phase_since =
                std::chrono::system_clock::now() -
                std::chrono::duration_cast<std::chrono::system_clock::duration>(now - idle_at);
        }
        s.last_boot_duration = life->last_boot_duration;
        s.hint = hint_of(s.info, *life, now, s.overlay_bytes);
    } else if (quota_ > 0 && s.overlay_bytes >= quota_) {
        Life none;
        MutexLock lock(none.mu);
        s.hint = hint_of(s.info, none, now_(), s.overlay_bytes);
    }
    return s;
}

std::vector<PiStatus> Clients::status_all() const {
    std::vector<PiStatus> out;
    for (const ClientInfo& c : registry_.all()) out.push_back(status(c.mac));
    std::sort(out.begin(), out.end(),
              [](const PiStatus& a, const PiStatus& b) { return a.info.mac < b.info.mac; });
    return out;
}

Result<void> Clients::reset(const MacAddr& mac, bool force) {
    if (store_ == nullptr) return std::errc::no_such_device;
    if (std::shared_ptr<Life> life = find_life(mac)) {
        MutexLock lock(life->mu);
        const Clock::time_point now = now_();
        const bool active = life->mounted && life->last_call() != Clock::time_point::min() &&
                            now - life->last_call() < idle_after();
        if (active && !force) return std::errc::device_or_resource_busy;
        if (auto r = store_->reset(mac); !r) return r;
        // Its next boot starts from the pristine image, and its identity is written again.
        life->booting = false;
        clients_log().info("{}: overlay dropped{}", mac.to_string(),
                           active ? " while its root was in use (--force)" : "");
        return {};
    }
    if (auto r = store_->reset(mac); !r) return r;
    clients_log().info("{}: overlay dropped", mac.to_string());
    return {};
}

std::vector<std::string> Clients::reconfigure(const Config& config) {
    RegistryChanges changes = registry_.reconfigure(config);
    std::vector<std::function<void(const Config&)>> listeners;
    {
        MutexLock lock(config_mu_);
        keep_delta_ = config.defaults.on_image_change == DefaultsConfig::OnImageChange::kKeep;
        idle_after_s_.store(config.defaults.idle_after, std::memory_order_relaxed);
        listeners = listeners_;
    }
    std::vector<std::string> lines;
    for (const MacAddr& mac : changes.added) lines.push_back(mac.to_string() + ": added");
    for (const MacAddr& mac : changes.removed) {
        lines.push_back(mac.to_string() + ": removed, refused from now on");
    }
    for (const MacAddr& mac : changes.image_changed) {
        auto info = registry_.by_mac(mac);
        if (!info) continue;
        lines.push_back(mac.to_string() + ": image " + info->image + " from its next boot");
    }
    for (const MacAddr& mac : changes.hostname_changed) {
        auto info = registry_.by_mac(mac);
        if (!info) continue;
        lines.push_back(mac.to_string() + ": host name " + info->hostname);
        // Written now into the view it has: the name shows at its next boot, and `hostname`
        // on a running Pi is its own business.
        std::shared_ptr<Life> life = find_life(mac);
        if (!life || store_ == nullptr) continue;
        std::shared_ptr<store::ClientView> view;
        {
            MutexLock lock(life->mu);
            view = life->view;
            life->booted_hostname = info->hostname;
        }
        if (view) (void)write_identity(*info, *view);
    }
    for (const std::string& line : lines) clients_log().info("reload: {}", line);
    for (const auto& fn : listeners) fn(config);
    return lines;
}

void Clients::on_reconfigure(std::function<void(const Config&)> fn) {
    MutexLock lock(config_mu_);
    listeners_.push_back(std::move(fn));
}

// The lock leaves with the returned object, where the analysis cannot follow it.
Clients::Leases Clients::leases() NO_THREAD_SAFETY_ANALYSIS {
    return Leases{std::unique_lock(leases_mu_), leases_table_};
}

void Clients::leases_changed() {
    {
        MutexLock lock(writer_mu_);
        writer_wanted_ = true;
    }
    writer_cv_.notify_one();
}

void Clients::flush_leases() {
    std::string text;
    uint64_t version = 0;
    {
        MutexLock lock(leases_mu_);
        if (leases_table_.version() == saved_version_) return;
        text = leases_table_.serialize();
        version = leases_table_.version();
    }
    if (auto r = save_leases(leases_path_, text); !r) {
        clients_log().error("saving leases: {}", r.message());
        return;
    }
    MutexLock lock(leases_mu_);
    saved_version_ = version;
    ++lease_writes_;
}

uint64_t Clients::lease_writes() const {
    MutexLock lock(leases_mu_);
    return lease_writes_;
}

void Clients::lease_writer() {
    MutexLock lock(writer_mu_);
    while (!writer_stop_) {
        // Once a second, phases that come from silence (idle) and hints that come from time
        // (no MNT after the kernel) are logged as they appear.
        writer_cv_.wait_for(lock, std::chrono::seconds(1), [this]() REQUIRES(writer_mu_) {
            return writer_wanted_ || writer_stop_;
        });
        if (writer_stop_) break;
        if (writer_wanted_) {
            // Gather what else arrives in the interval into the same write.
            writer_cv_.wait_for(lock, kLeaseFlush,
                                [this]() REQUIRES(writer_mu_) { return writer_stop_; });
            writer_wanted_ = false;
            lock.unlock();
            flush_leases();
            lock.lock();
        }
        lock.unlock();
        tick();
        lock.lock();
    }
}

}  // namespace rootfarm
