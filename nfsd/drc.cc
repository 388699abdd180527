#include "nfsd/drc.h"

#include <xxhash.h>

namespace rootfarm::nfsd {

DrcKey drc_key(uint32_t client_ip, std::span<const uint8_t> record) {
    DrcKey k;
    k.ip = client_ip;
    if (record.size() >= 4) {
        k.xid = uint32_t{record[0]} << 24 | uint32_t{record[1]} << 16 | uint32_t{record[2]} << 8 |
                record[3];
        k.checksum = XXH3_64bits(record.data() + 4, record.size() - 4);
    }
    return k;
}

Drc::State Drc::begin(const DrcKey& key, std::vector<uint8_t>* reply) {
    MutexLock lock(mu_);
    auto [it, inserted] = entries_.try_emplace(key);
    if (inserted) return State::kNew;
    if (!it->second.done) return State::kInProgress;
    lru_.splice(lru_.end(), lru_, it->second.lru);
    if (reply) *reply = it->second.reply;
    return State::kDone;
}

void Drc::complete(const DrcKey& key, const std::vector<uint8_t>& reply) {
    MutexLock lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second.done) return;
    it->second.done = true;
    it->second.reply = reply;
    it->second.lru = lru_.insert(lru_.end(), key);
    evict_locked();
}

void Drc::forget(const DrcKey& key) {
    MutexLock lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    if (it->second.done) lru_.erase(it->second.lru);
    entries_.erase(it);
}

size_t Drc::size() const {
    MutexLock lock(mu_);
    return entries_.size();
}

void Drc::evict_locked() {
    // Only completed entries are evicted; an in-progress one must stay until its call ends so a
    // retransmit meanwhile is not executed twice.
    while (lru_.size() > capacity_) {
        entries_.erase(lru_.front());
        lru_.pop_front();
    }
}

}  // namespace rootfarm::nfsd
