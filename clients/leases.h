#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "core/net.h"
#include "core/result.h"

namespace rootfarm {

// One address bound to one MAC. Times are Unix seconds so they survive a restart.
struct Lease {
    enum class State : uint8_t { kOffered, kBound, kReleased };

    MacAddr mac;
    Ipv4 ip;
    int64_t expires = 0;
    State state = State::kOffered;

    bool active(int64_t now) const { return state != State::kReleased && expires > now; }
};

// The dynamic range and the addresses it must never hand out.
struct Pool {
    std::optional<Ipv4> start;
    std::optional<Ipv4> end;
    // Static [[client]] addresses (by owner) and the server's own address.
    std::unordered_map<Ipv4, MacAddr> reserved;

    bool contains(Ipv4 ip) const { return start && end && ip >= *start && ip <= *end; }
    // True if `ip` may go to `mac`: in the range and not reserved for someone else.
    bool usable_by(Ipv4 ip, const MacAddr& mac) const;
};

// Which MAC holds which address. An address stays with the MAC it was first offered to, even
// after the lease expired, until the range runs out and the oldest expired lease is reused.
// Not thread-safe: Clients (clients.h) owns it and hands it to the DHCP service under its lock.
class LeaseTable {
  public:
    const Lease* by_mac(const MacAddr& mac) const;
    const Lease* by_ip(Ipv4 ip) const;

    // An address for `mac`: its own previous one, else `requested` if free, else the first
    // address never leased, else the lease that expired longest ago. nullopt when full.
    std::optional<Ipv4> choose(const MacAddr& mac, std::optional<Ipv4> requested, const Pool& pool,
                               int64_t now) const;

    // Records `lease`, dropping any other MAC's record of the same address.
    void put(const Lease& lease);
    void erase(const MacAddr& mac);
    // RFC 2131 §3.1 step 5 (DECLINE): the address is in use by someone unknown; keep it out of
    // the pool until `until`.
    void quarantine(Ipv4 ip, int64_t until);
    bool quarantined(Ipv4 ip, int64_t now) const;

    size_t size() const { return by_mac_.size(); }
    // Bumped by every change; the owner writes the file when it differs from the saved one.
    uint64_t version() const { return version_; }

    // One lease per line: "MAC IP EXPIRES STATE", after a "# rootfarm leases v1" header.
    std::string serialize() const;
    // Lines that do not parse are skipped and counted in `*skipped`.
    static LeaseTable parse(std::string_view text, size_t* skipped = nullptr);

  private:
    std::unordered_map<MacAddr, Lease> by_mac_;
    std::unordered_map<Ipv4, MacAddr> by_ip_;
    std::unordered_map<Ipv4, int64_t> quarantine_;
    uint64_t version_ = 0;
};

// Reads <path>; a missing file is an empty table.
Result<LeaseTable> load_leases(const std::filesystem::path& path);
// Replaces <path> with `text` (LeaseTable::serialize) atomically and durably: a crash leaves
// the old or the new file.
Result<void> save_leases(const std::filesystem::path& path, std::string_view text);

}  // namespace rootfarm
