#include "store/handle.h"

#include <cstring>

#include "store/codec.h"
#include "store/fs_util.h"

namespace rootfarm::store {

namespace {

constexpr uint8_t kVersion = 1;
constexpr size_t kBody = 22;

}  // namespace

Result<HandleKey> HandleKey::load_or_create(Env& env, const std::filesystem::path& path) {
    Result<std::string> secret = env.read_file(path);
    if (secret.ok() && secret->size() == kSecretSize) return HandleKey(std::move(*secret));
    if (secret.ok() || secret.error() != std::errc::no_such_file_or_directory) {
        // Never replace a damaged secret silently: every client's handles would go stale.
        return secret.ok() ? Error(errno_error(EIO), "size of " + path.string()) : secret.failure();
    }
    std::string fresh = random_bytes(kSecretSize);
    Result<void> r = env.write_file_atomic(path, fresh);
    if (!r.ok()) return r.failure();
    return HandleKey(std::move(fresh));
}

XXH128_hash_t HandleKey::tag(const MacAddr& mac, const uint8_t* body) const {
    uint8_t input[6 + kBody];
    std::memcpy(input, mac.bytes.data(), 6);
    std::memcpy(input + 6, body, kBody);
    return XXH3_128bits_withSecret(input, sizeof input, secret_.data(), secret_.size());
}

std::array<uint8_t, 16> HandleKey::derive(const MacAddr& mac, std::string_view purpose) const {
    // A prefix no handle body has (handles hash exactly 6 + kBody bytes), so no derived value
    // can ever equal a handle's tag.
    std::string input = "rootfarm-derive:";
    input.append(reinterpret_cast<const char*>(mac.bytes.data()), mac.bytes.size());
    input += ':';
    input += purpose;
    XXH128_hash_t h =
        XXH3_128bits_withSecret(input.data(), input.size(), secret_.data(), secret_.size());
    std::array<uint8_t, 16> out;
    std::memcpy(out.data(), &h.high64, 8);
    std::memcpy(out.data() + 8, &h.low64, 8);
    return out;
}

Handle HandleKey::make(const MacAddr& mac, const HandleFields& fields) const {
    Encoder e;
    e.u8(kVersion);
    e.u8(0);
    e.u32(fields.generation);
    e.u64(fields.id);
    e.u64(fields.salt);
    Handle h;
    std::memcpy(h.bytes.data(), e.bytes().data(), kBody);
    XXH128_hash_t t = tag(mac, h.bytes.data());
    Encoder te;
    te.u64(t.low64);
    te.u64(t.high64);
    std::memcpy(h.bytes.data() + kBody, te.bytes().data(), 16);
    h.size = kHandleSize;
    return h;
}

Result<HandleFields> HandleKey::parse(const MacAddr& mac, std::span<const uint8_t> handle) const {
    if (handle.size() != kHandleSize || handle[0] != kVersion || handle[1] != 0) {
        return errno_error(EBADF);
    }
    XXH128_hash_t t = tag(mac, handle.data());
    Decoder d(std::string_view(reinterpret_cast<const char*>(handle.data()), handle.size()));
    uint8_t version, zero;
    HandleFields f;
    uint64_t low = 0, high = 0;  // always read: the size was checked above
    (void)(d.u8(version) && d.u8(zero) && d.u32(f.generation) && d.u64(f.id) && d.u64(f.salt) &&
           d.u64(low) && d.u64(high));
    // Compare without an early exit, so timing tells a forger nothing about the tag.
    if (((low ^ t.low64) | (high ^ t.high64)) != 0) return errno_error(EBADF);
    return f;
}

}  // namespace rootfarm::store
