// NFS file handles (store/handle.h) as every NFSv3 call brings one: any bytes must parse to
// EBADF unless they carry a valid tag, and a handle made for one client must parse back to its
// fields for that client and for no other.
//
// Input: the first 28 bytes, when present, give a MAC and handle fields for the round trip;
// the whole input is also parsed as a handle as it came off the wire.

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>

#include "store/handle.h"

using namespace rootfarm;
using namespace rootfarm::store;

namespace {

const HandleKey& key() {
    static const HandleKey k(std::string(HandleKey::kSecretSize, '\x5a'));
    return k;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const MacAddr mac = *MacAddr::parse("b8:27:eb:00:00:01");
    auto parsed = key().parse(mac, std::span(data, size));
    if (parsed.ok()) {
        // Only a handle the key made parses: the input must be one, byte for byte.
        Handle again = key().make(mac, *parsed);
        if (again.size != size || std::memcmp(again.bytes.data(), data, size) != 0) std::abort();
    }

    if (size < 28) return 0;
    MacAddr owner;
    std::memcpy(owner.bytes.data(), data, 6);
    HandleFields f;
    std::memcpy(&f.generation, data + 6, 4);
    std::memcpy(&f.id, data + 10, 8);
    std::memcpy(&f.salt, data + 18, 8);
    Handle h = key().make(owner, f);
    auto back = key().parse(owner, h.span());
    if (!back.ok() || back->generation != f.generation || back->id != f.id ||
        back->salt != f.salt) {
        std::abort();
    }
    MacAddr other = owner;
    other.bytes[5] ^= data[26] | 1;
    if (key().parse(other, h.span()).ok()) std::abort();
    // Any one byte changed makes it someone else's or nobody's handle.
    Handle altered = h;
    altered.bytes[data[27] % h.size] ^= 0x01;
    if (key().parse(owner, altered.span()).ok()) std::abort();
    return 0;
}
