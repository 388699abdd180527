#pragma once

// Small filesystem helpers shared by the journal, the id map and the delta directories.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/result.h"
#include "store/store.h"

namespace rootfarm::store {

// The error of the last failed system call.
std::error_code last_error();

// Replaces `path` with `data` atomically and durably: write a temporary file beside it, fsync
// it, rename it over `path`, fsync the directory. A crash leaves either the old or the new file.
Result<void> write_file_atomic(const std::filesystem::path& path, std::string_view data);

// The whole file; ENOENT if it does not exist.
Result<std::string> read_whole_file(const std::filesystem::path& path);

// fsync on a directory, so the names created or removed in it are durable.
Result<void> fsync_dir(const std::filesystem::path& dir);

// `n` bytes from getrandom(2).
std::string random_bytes(size_t n);

// The current time, for server-set timestamps.
Time now();

// Copies the first `length` bytes of `src` into `dst` (empty, same length afterwards): FICLONE
// when the filesystem shares extents, else copy_file_range, else read/write.
Result<void> copy_file_data(int src, int dst, uint64_t length);

}  // namespace rootfarm::store
