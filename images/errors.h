#pragma once

// Errors of the image commands. Each failure is logged once, with the detail (file, offset,
// path inside the image), by the code that detects it (core_log()); the error code returned
// alongside names the class of failure, and its message() is a one-line summary for the CLI.

#include <spdlog/spdlog.h>

#include <system_error>

#include "core/log.h"
#include "core/result.h"

namespace rootfarm::images {

enum class ImageErrc {
    kBadName = 1,      // NAME is not a safe single path component
    kExists,           // NAME exists and --replace was not given
    kNotFound,         // no image NAME
    kInUse,            // a client is configured for the image or has a delta on it
    kNotAnImage,       // SOURCE has no partition table we understand
    kTruncated,        // a partition or filesystem extends past the end of the file
    kNoRootPartition,  // no partition holds an ext2/3/4 filesystem
    kNoBootPartition,  // no partition holds a FAT filesystem
    kUnsupportedFat,   // FAT12, exFAT or a boot sector of no known FAT variant
    kCorruptFat,       // bad cluster chain, loop, or directory entry
    kCorruptExt4,      // libext2fs refused the filesystem or an inode / directory
    kBadSource,        // SOURCE is neither a regular file nor a directory
};

const std::error_category& image_category();

inline std::error_code make_error_code(ImageErrc e) {
    return {static_cast<int>(e), image_category()};
}

// Logs the detail once and returns the code.
template <class... Args>
std::error_code image_error(ImageErrc e, spdlog::format_string_t<Args...> fmt, Args&&... args) {
    core_log().error(fmt, std::forward<Args>(args)...);
    return make_error_code(e);
}

// The same for a failed system call: logs "<what>: <strerror>" and returns the errno code.
std::error_code system_error(int err, std::string_view what);
// The same for a failed file operation whose error names it (store/env.h): logs its message.
std::error_code system_error(const Error& e);

}  // namespace rootfarm::images

template <>
struct std::is_error_code_enum<rootfarm::images::ImageErrc> : std::true_type {};
