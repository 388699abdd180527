#pragma once

// Directory entry names and their READDIR cookies.

#include <xxhash.h>

#include <cerrno>
#include <cstdint>
#include <string_view>

namespace rootfarm::store {

// READDIR cookies (RFC 1813 §3.3.16, §3.3.17). Every directory lists its entries in the order
// of (name_hash(name), name). An entry's cookie is its hash shifted left by kCookieRankBits,
// plus its rank among the entries of the directory that share its hash, in name order: 0 unless
// hashes collide. Resuming from a cookie lists the entries past that (hash, rank), so a cookie
// resumes at the right place whatever was added or removed since, and the cookies are the same
// after a restart, which recomputes them from the image and the journal. The one exception is a
// collision: adding or removing a name that sorts before another of the same hash moves that
// one's rank, so a listing paused across that change may skip or repeat it. That takes two
// names whose 55-bit hashes meet in one directory (about n^2 / 2^56 for n entries).
//
// The Linux client hands cookies to user space as directory offsets, a signed loff_t (fs/nfs/
// dir.c, nfs_llseek_dir), so telldir()/seekdir() break on a cookie with the top bit set (ext4
// keeps its hash positions below 2^63 for the same reason). Cookies here are below 2^63, and
// at least 1 << kCookieRankBits, leaving 0, 1 and 2 for the start, "." and "..".
//
// More than kMaxCookieRank names of one hash in one directory (crafted names, or the test hash)
// share the last rank's cookie; a listing paused among them skips the rest of them.
constexpr int kCookieRankBits = 8;
constexpr uint64_t kMaxCookieRank = (uint64_t{1} << kCookieRankBits) - 1;
constexpr int kNameHashBits = 63 - kCookieRankBits;

inline uint64_t xxh3_name_hash(std::string_view name) {
    return XXH3_64bits(name.data(), name.size());
}

// The 64-bit hash of a name; only its top kNameHashBits bits order a directory. Tests replace it
// to force collisions (names_test_util.h), and only while no store is open: an image index and
// a delta sort their entries with the hash in use when they were built.
using NameHashFn = uint64_t (*)(std::string_view name);
inline NameHashFn name_hash_fn = &xxh3_name_hash;

// In [1, 2^kNameHashBits): 0 would let a cookie be 0, 1 or 2.
inline uint64_t name_hash(std::string_view name) {
    uint64_t h = name_hash_fn(name) >> (64 - kNameHashBits);
    return h == 0 ? 1 : h;
}

inline uint64_t entry_cookie(uint64_t hash, uint64_t rank) {
    return hash << kCookieRankBits | (rank < kMaxCookieRank ? rank : kMaxCookieRank);
}

// Where a cookie resumes: after the entries of lower hash and those of its own hash up to `rank`.
// The last rank stands for all that share it, so a listing never goes back. Any value decodes,
// including cookies this server never gave out.
struct CookiePosition {
    uint64_t hash = 0;
    uint64_t rank = 0;
};
inline CookiePosition cookie_position(uint64_t cookie) {
    uint64_t rank = cookie & kMaxCookieRank;
    return CookiePosition{cookie >> kCookieRankBits, rank == kMaxCookieRank ? UINT64_MAX : rank};
}

// 0 if `name` can be a new directory entry, else the errno saying why not.
inline int check_name(std::string_view name) {
    if (name.empty() || name == "." || name == "..") return EINVAL;
    if (name.size() > 255) return ENAMETOOLONG;
    if (name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos) {
        return EINVAL;
    }
    return 0;
}

}  // namespace rootfarm::store
