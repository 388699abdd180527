// The configuration loader (core/config.h): TOML text to a validated Config. A bad file must
// end in one ConfigError naming what is wrong (the daemon prints it and exits); any other
// exception escaping, or a crash, is a bug.

#include <cstdint>
#include <string_view>

#include "core/config.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    rootfarm::fuzz::quiet_logs();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        rootfarm::Config config = rootfarm::parse_config(text, "fuzz.toml");
        (void)config;
    } catch (const rootfarm::ConfigError&) {
    }
    return 0;
}
