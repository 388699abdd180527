#pragma once

// The vocabulary of the NFS trace format: NFSv3 procedure names, nfsstat3 names, and the
// escaping of paths and names. `[nfs] trace` writes the format (nfsd/trace.h) and rootfarm-bench
// reads and replays it (bench/trace.h has the grammar). This unit depends on nothing, so the
// bench, a wire client, shares it with the server without linking a server library.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rootfarm {

// An NFSv3 procedure (RFC 1813 §3.3, 0 NULL .. 21 COMMIT) by name ("GETATTR"); "UNKNOWN" past
// COMMIT.
const char* nfs3_proc_name(uint32_t proc);
// The procedure a name gives ("NULL" gives 0); nullopt if it names none.
std::optional<uint32_t> nfs3_proc_number(std::string_view name);

// An nfsstat3 (RFC 1813 §2.6) by its name without NFS3ERR_ ("NOENT"), or its number.
std::string trace_status_name(uint32_t status);
// The nfsstat3 a trace status token names (a name or a number); false if it names none.
bool trace_parse_status(std::string_view token, uint32_t& status);

// Paths, names and symlink targets: '%', '=' and bytes outside '!'..'~' become %XX, so a
// field never holds a space and never starts a status token.
std::string trace_escape(std::string_view raw);
// The inverse; false on a malformed escape.
bool trace_unescape(std::string_view field, std::string& out);

}  // namespace rootfarm
