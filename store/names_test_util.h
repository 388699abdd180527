#pragma once

// Test support for READDIR cookies: name hashes that collide on purpose (names.h).

#include <cstdint>
#include <string_view>

#include "store/names.h"

namespace rootfarm::store::testing {

// Makes `fn` the name hash for its lifetime. Open stores (and servers) only after it, and close
// them before it goes: a store sorts its directories with the hash in use when it opened.
class ScopedNameHash {
  public:
    explicit ScopedNameHash(NameHashFn fn) : saved_(name_hash_fn) { name_hash_fn = fn; }
    ~ScopedNameHash() { name_hash_fn = saved_; }
    ScopedNameHash(const ScopedNameHash&) = delete;
    ScopedNameHash& operator=(const ScopedNameHash&) = delete;

  private:
    NameHashFn saved_;
};

// Four hashes in all, one of them 0: any ten names in a directory have colliding hashes.
inline uint64_t four_name_hashes(std::string_view name) {
    return xxh3_name_hash(name) & (uint64_t{3} << 62);
}

// Every name the same hash, all bits set: the largest cookies there are.
inline uint64_t one_name_hash(std::string_view) {
    return UINT64_MAX;
}

}  // namespace rootfarm::store::testing
