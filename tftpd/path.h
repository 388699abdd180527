#pragma once

// From a TFTP file name to a file inside one client's boot view (docs/pi-boot.md "TFTP").

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/net.h"
#include "core/result.h"
#include "store/store.h"

namespace rootfarm::tftpd {

struct RequestPath {
    // Set when the first directory is a Pi's TFTP_PREFIX: the serial (8 or 16 hex digits,
    // lower-cased; a Pi 5 sends the low 32 bits) or the MAC with dashes (Pi 4 TFTP_PREFIX=2).
    std::optional<std::string> serial;
    std::optional<MacAddr> mac;
    // The rest, relative to the boot view's root; "" and "." components removed.
    std::vector<std::string> components;
    // components joined with '/', for logs.
    std::string relative() const;
};

// Splits and checks a request's file name. A leading '/' means the root of the boot view (many
// clients and iPXE scripts send "/file"). Refuses with EACCES a ".." component anywhere (no
// client needs one; rather than reason about where it lands, nothing goes up), control
// characters, and with ENAMETOOLONG a component over 255 bytes; ENOENT if nothing names a file.
Result<RequestPath> parse_request_path(std::string_view filename);

// Walks `components` from view.boot_root(), following symbolic links only while they stay inside
// the boot view: a relative target resolves from its directory, an absolute one only when it
// lies under `boot_mount` (where the boot tree sits in the root view). A link leading out is
// EACCES, more than 8 links ELOOP, a missing name ENOENT, a directory at the end EISDIR, any
// other non-regular file EACCES.
Result<store::ObjectId> resolve_boot_file(const store::ClientView& view,
                                          const std::vector<std::string>& components,
                                          std::string_view boot_mount);

}  // namespace rootfarm::tftpd
