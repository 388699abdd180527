#pragma once

// Duplicate request cache for non-idempotent NFS calls (docs/pi-boot.md NFS 7; chimera's nfs3_drc.h
// and knfsd's nfscache.c do the same). A retransmitted REMOVE that reached us twice must get the
// first answer, not NOENT. Keyed on the client's address without the port (a retransmit may come
// on a new connection from a new port), the xid and a checksum of the whole call, so a reused
// xid with different arguments is not mistaken for a retransmit.
//
// Thread-safe: one cache is shared by every worker, since a reconnecting client may land on
// another worker's listener.

#include <cstdint>
#include <list>
#include <span>
#include <unordered_map>
#include <vector>

#include "core/mutex.h"

namespace rootfarm::nfsd {

struct DrcKey {
    uint32_t ip = 0;
    uint32_t xid = 0;
    uint64_t checksum = 0;
    bool operator==(const DrcKey&) const = default;
};

// Key of a call record (everything after the xid is checksummed).
DrcKey drc_key(uint32_t client_ip, std::span<const uint8_t> record);

class Drc {
  public:
    enum class State {
        kNew,         // first time seen: now marked in progress; call complete() or forget()
        kInProgress,  // the original is still executing: drop the retransmit silently
        kDone,        // answered before: `reply` holds the cached reply
    };

    explicit Drc(size_t capacity = 4096) : capacity_(capacity) {}

    State begin(const DrcKey& key, std::vector<uint8_t>* reply);
    void complete(const DrcKey& key, const std::vector<uint8_t>& reply);
    void forget(const DrcKey& key);
    size_t size() const;

  private:
    struct Hash {
        size_t operator()(const DrcKey& k) const {
            return k.checksum ^ (uint64_t{k.ip} << 32 | k.xid) * 0x9e3779b97f4a7c15ull;
        }
    };
    struct Entry {
        bool done = false;
        std::vector<uint8_t> reply;
        std::list<DrcKey>::iterator lru;  // valid when done
    };
    void evict_locked() REQUIRES(mu_);

    size_t capacity_;
    mutable Mutex mu_;
    std::unordered_map<DrcKey, Entry, Hash> entries_ GUARDED_BY(mu_);
    std::list<DrcKey> lru_ GUARDED_BY(mu_);  // completed entries, oldest first
};

}  // namespace rootfarm::nfsd
