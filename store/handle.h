#pragma once

// NFS file handles (RFC 1813 §2.5: opaque, at most 64 bytes). Layout, 38 bytes little-endian:
//   u8 version (1) | u8 0 | u32 image generation | u64 object id | u64 client salt |
//   16-byte tag = XXH3-128 keyed with the store's secret over the client's MAC and the 22
//   bytes before it
// The tag binds a handle to the client it was issued to: a forged, altered, truncated or other
// client's handle fails it (EBADF, NFS3ERR_BADHANDLE). A genuine handle whose salt (the client
// was reset) or generation (the image was re-indexed from scratch) is not current, or whose
// object is gone, is stale (ESTALE, NFS3ERR_STALE; docs/pi-boot.md NFS 12).

#include <xxhash.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "core/net.h"
#include "core/result.h"
#include "store/env.h"
#include "store/store.h"

namespace rootfarm::store {

struct HandleFields {
    uint32_t generation = 0;
    ObjectId id = 0;
    uint64_t salt = 0;
};

class HandleKey {
  public:
    static constexpr size_t kSecretSize = 192;  // >= XXH3_SECRET_SIZE_MIN
    static constexpr size_t kHandleSize = 38;

    // Reads <state_dir>/secret, creating it (0600, random) on first start. The secret must
    // survive restarts: handles must (docs/pi-boot.md NFS 1).
    static Result<HandleKey> load_or_create(Env& env, const std::filesystem::path& path);
    explicit HandleKey(std::string secret) : secret_(std::move(secret)) {}

    Handle make(const MacAddr& mac, const HandleFields& fields) const;
    // 16 bytes keyed with the secret over `mac` and `purpose` (Store::client_secret).
    std::array<uint8_t, 16> derive(const MacAddr& mac, std::string_view purpose) const;
    // The fields of a handle issued to `mac`; EBADF if it is not one.
    Result<HandleFields> parse(const MacAddr& mac, std::span<const uint8_t> handle) const;

  private:
    XXH128_hash_t tag(const MacAddr& mac, const uint8_t* body) const;
    std::string secret_;
};

}  // namespace rootfarm::store
