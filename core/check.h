#pragma once

#include <spdlog/fmt/fmt.h>

#include <cstdlib>
#include <string_view>

#include "core/log.h"

// ROOTFARM_CHECK(cond, fmt, args...) aborts the process when an invariant that must never break
// does: it logs "file:line: CHECK(cond) failed: message" at critical level on the core logger,
// flushes, and calls std::abort(). The message is formatted only on failure. Not for errors a
// client or the system can cause at run time: those are Result values.
#define ROOTFARM_CHECK(cond, ...)                                                            \
    do {                                                                                     \
        if (!(cond)) [[unlikely]] {                                                          \
            ::rootfarm::check_failed(__FILE__, __LINE__, #cond, ::fmt::format(__VA_ARGS__)); \
        }                                                                                    \
    } while (0)

namespace rootfarm {

[[noreturn]] inline void check_failed(const char* file, int line, std::string_view condition,
                                      std::string_view message) {
    core_log().critical("{}:{}: CHECK({}) failed: {}", file, line, condition, message);
    core_log().flush();
    std::abort();
}

}  // namespace rootfarm
