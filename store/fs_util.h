#pragma once

// Small helpers shared by the journal, the id map and the delta directories. Whatever writes
// goes through store/env.h instead.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/result.h"
#include "store/store.h"

namespace rootfarm::store {

// The error of the last failed system call.
std::error_code last_error();

// `n` bytes from getrandom(2).
std::string random_bytes(size_t n);

// The current time, for server-set timestamps.
Time now();

}  // namespace rootfarm::store
