#pragma once

// ONC RPC v2 message headers (RFC 5531 §9): call decoding with AUTH_NONE / AUTH_SYS
// credentials, and the accepted / denied reply headers.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "nfsd/xdr.h"

namespace rootfarm::nfsd {

// Every reply buffer starts with this many bytes reserved for the TCP record mark (RFC 5531 §11),
// so a reply is built once and sent as a single fragment; UDP skips them.
inline constexpr size_t kReplyMarkBytes = 4;

enum AuthFlavor : uint32_t { kAuthNone = 0, kAuthSys = 1 };

// RFC 5531 §9 accept_stat.
enum class AcceptStat : uint32_t {
    kSuccess = 0,
    kProgUnavail = 1,
    kProgMismatch = 2,
    kProcUnavail = 3,
    kGarbageArgs = 4,
    kSystemErr = 5,
};

// RFC 5531 §9 auth_stat.
enum class AuthStat : uint32_t {
    kOk = 0,
    kBadCred = 1,
    kRejectedCred = 2,
    kBadVerf = 3,
    kRejectedVerf = 4,
    kTooWeak = 5,
};

// The caller's identity. AUTH_NONE calls get the anonymous ids (65534), as knfsd does.
struct Cred {
    uint32_t flavor = kAuthNone;
    uint32_t uid = 65534;
    uint32_t gid = 65534;
    uint8_t ngroups = 0;
    std::array<uint32_t, 16> groups{};  // RFC 5531 appendix A: gids<16>

    std::span<const uint32_t> group_list() const { return {groups.data(), ngroups}; }
};

struct CallHeader {
    uint32_t xid = 0;
    uint32_t prog = 0;
    uint32_t vers = 0;
    uint32_t proc = 0;
    Cred cred;
    size_t args_offset = 0;  // where the procedure's arguments start in the record
};

enum class CallStatus {
    kOk,
    kDrop,         // not a call we can answer (no xid, a REPLY, truncated header): say nothing
    kRpcMismatch,  // rpcvers != 2: MSG_DENIED RPC_MISMATCH
    kAuthError,    // bad or unsupported credential: MSG_DENIED AUTH_ERROR (auth_stat set)
};

struct DecodedCall {
    CallStatus status = CallStatus::kDrop;
    CallHeader header;
    AuthStat auth_stat = AuthStat::kOk;
};

DecodedCall decode_call(std::span<const uint8_t> record);

// A fresh reply buffer with the record-mark bytes reserved.
std::vector<uint8_t> new_reply(size_t reserve = 256);

// Accepted reply header with an AUTH_NONE verifier; for kSuccess the results follow.
void write_accepted(XdrWriter& w, uint32_t xid, AcceptStat stat);
// Complete replies for the error cases.
std::vector<uint8_t> accepted_reply(uint32_t xid, AcceptStat stat);
std::vector<uint8_t> prog_mismatch_reply(uint32_t xid, uint32_t low, uint32_t high);
std::vector<uint8_t> rpc_mismatch_reply(uint32_t xid);
std::vector<uint8_t> auth_error_reply(uint32_t xid, AuthStat stat);

// A reply built here (record-mark bytes reserved at its front), read back (RFC 5531 §9):
// accepted or denied, its accept_stat or reject_stat, and for an accepted SUCCESS the first
// word of its results, which is the procedure's status where its result starts with one.
struct ReplyHeader {
    bool accepted = false;
    uint32_t stat = 0;  // accept_stat when accepted, else reject_stat
    std::optional<uint32_t> first_result;
};
// nullopt when `reply` is too short to hold a header.
std::optional<ReplyHeader> read_reply_header(std::span<const uint8_t> reply);

}  // namespace rootfarm::nfsd
