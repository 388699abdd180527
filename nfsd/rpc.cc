#include "nfsd/rpc.h"

namespace rootfarm::nfsd {

namespace {

constexpr uint32_t kCall = 0;
constexpr uint32_t kReply = 1;
constexpr uint32_t kMsgAccepted = 0;
constexpr uint32_t kMsgDenied = 1;
constexpr uint32_t kRpcVersion = 2;
constexpr uint32_t kMaxAuthBytes = 400;  // RFC 5531 §8.2 opaque_auth body<400>
constexpr uint32_t kMaxMachineName = 255;

// RFC 5531 appendix A authsys_parms. The whole body must be consumed exactly.
bool decode_auth_sys(std::span<const uint8_t> body, Cred& cred) {
    XdrReader r(body);
    r.u32();  // stamp
    r.string(kMaxMachineName);
    cred.uid = r.u32();
    cred.gid = r.u32();
    uint32_t n = r.u32();
    if (!r.ok() || n > cred.groups.size()) return false;
    for (uint32_t i = 0; i < n; ++i) cred.groups[i] = r.u32();
    cred.ngroups = static_cast<uint8_t>(n);
    return r.ok() && r.remaining() == 0;
}

}  // namespace

DecodedCall decode_call(std::span<const uint8_t> record) {
    DecodedCall out;
    XdrReader r(record);
    CallHeader& h = out.header;
    h.xid = r.u32();
    uint32_t type = r.u32();
    if (!r.ok() || type != kCall) return out;
    uint32_t rpcvers = r.u32();
    if (!r.ok()) return out;
    if (rpcvers != kRpcVersion) {
        out.status = CallStatus::kRpcMismatch;
        return out;
    }
    h.prog = r.u32();
    h.vers = r.u32();
    h.proc = r.u32();
    uint32_t cred_flavor = r.u32();
    auto cred_body = r.opaque(kMaxAuthBytes);
    r.u32();  // verifier flavor: AUTH_NONE/AUTH_SYS callers send AUTH_NONE; not checked
    r.opaque(kMaxAuthBytes);
    if (!r.ok()) return out;
    h.args_offset = r.position();
    h.cred.flavor = cred_flavor;
    if (cred_flavor == kAuthSys) {
        if (!decode_auth_sys(cred_body, h.cred)) {
            out.status = CallStatus::kAuthError;
            out.auth_stat = AuthStat::kBadCred;
            return out;
        }
    } else if (cred_flavor != kAuthNone) {
        // RPCSEC_GSS and others are not offered (MNT lists AUTH_SYS only); Linux's sunrpc
        // answers an unknown flavor with AUTH_BADCRED too.
        out.status = CallStatus::kAuthError;
        out.auth_stat = AuthStat::kBadCred;
        return out;
    }
    out.status = CallStatus::kOk;
    return out;
}

std::vector<uint8_t> new_reply(size_t reserve) {
    std::vector<uint8_t> v;
    v.reserve(reserve + kReplyMarkBytes);
    v.resize(kReplyMarkBytes, 0);
    return v;
}

void write_accepted(XdrWriter& w, uint32_t xid, AcceptStat stat) {
    w.u32(xid);
    w.u32(kReply);
    w.u32(kMsgAccepted);
    w.u32(kAuthNone);  // verifier
    w.u32(0);
    w.u32(static_cast<uint32_t>(stat));
}

std::vector<uint8_t> accepted_reply(uint32_t xid, AcceptStat stat) {
    auto v = new_reply(32);
    XdrWriter w(v);
    write_accepted(w, xid, stat);
    return v;
}

std::vector<uint8_t> prog_mismatch_reply(uint32_t xid, uint32_t low, uint32_t high) {
    auto v = new_reply(40);
    XdrWriter w(v);
    write_accepted(w, xid, AcceptStat::kProgMismatch);
    w.u32(low);
    w.u32(high);
    return v;
}

std::vector<uint8_t> rpc_mismatch_reply(uint32_t xid) {
    auto v = new_reply(32);
    XdrWriter w(v);
    w.u32(xid);
    w.u32(kReply);
    w.u32(kMsgDenied);
    w.u32(0);  // RPC_MISMATCH
    w.u32(kRpcVersion);
    w.u32(kRpcVersion);
    return v;
}

std::vector<uint8_t> auth_error_reply(uint32_t xid, AuthStat stat) {
    auto v = new_reply(24);
    XdrWriter w(v);
    w.u32(xid);
    w.u32(kReply);
    w.u32(kMsgDenied);
    w.u32(1);  // AUTH_ERROR
    w.u32(static_cast<uint32_t>(stat));
    return v;
}

std::optional<ReplyHeader> read_reply_header(std::span<const uint8_t> reply) {
    if (reply.size() < kReplyMarkBytes) return std::nullopt;
    XdrReader r(reply.subspan(kReplyMarkBytes));
    r.u32();  // xid
    r.u32();  // REPLY
    ReplyHeader h;
    h.accepted = r.u32() == kMsgAccepted;
    if (h.accepted) {
        r.u32();  // verifier flavor
        r.opaque(400);
    }
    h.stat = r.u32();
    if (!r.ok()) return std::nullopt;
    if (h.accepted && h.stat == 0) {
        const uint32_t first = r.u32();
        if (r.ok()) h.first_result = first;
    }
    return h;
}

}  // namespace rootfarm::nfsd
