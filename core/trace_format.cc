#include "core/trace_format.h"

#include <charconv>
#include <iterator>

namespace rootfarm {

namespace {

// RFC 1813 §3.3, by procedure number.
constexpr const char* kProcNames[] = {
    "NULL",    "GETATTR",     "SETATTR", "LOOKUP", "ACCESS",   "READLINK", "READ",   "WRITE",
    "CREATE",  "MKDIR",       "SYMLINK", "MKNOD",  "REMOVE",   "RMDIR",    "RENAME", "LINK",
    "READDIR", "READDIRPLUS", "FSSTAT",  "FSINFO", "PATHCONF", "COMMIT",
};
constexpr uint32_t kProcs = std::size(kProcNames);

struct StatusName {
    uint32_t status;
    std::string_view name;
};
// RFC 1813 §2.6 nfsstat3, without the NFS3ERR_ prefix.
constexpr StatusName kStatusNames[] = {
    {0, "OK"},           {1, "PERM"},          {2, "NOENT"},           {5, "IO"},
    {6, "NXIO"},         {13, "ACCES"},        {17, "EXIST"},          {18, "XDEV"},
    {19, "NODEV"},       {20, "NOTDIR"},       {21, "ISDIR"},          {22, "INVAL"},
    {27, "FBIG"},        {28, "NOSPC"},        {30, "ROFS"},           {31, "MLINK"},
    {63, "NAMETOOLONG"}, {66, "NOTEMPTY"},     {69, "DQUOT"},          {70, "STALE"},
    {71, "REMOTE"},      {10001, "BADHANDLE"}, {10002, "NOT_SYNC"},    {10003, "BAD_COOKIE"},
    {10004, "NOTSUPP"},  {10005, "TOOSMALL"},  {10006, "SERVERFAULT"}, {10007, "BADTYPE"},
    {10008, "JUKEBOX"},
};

}  // namespace

const char* nfs3_proc_name(uint32_t proc) {
    return proc < kProcs ? kProcNames[proc] : "UNKNOWN";
}

std::optional<uint32_t> nfs3_proc_number(std::string_view name) {
    for (uint32_t p = 0; p < kProcs; ++p) {
        if (name == kProcNames[p]) return p;
    }
    return std::nullopt;
}

std::string trace_status_name(uint32_t status) {
    for (const auto& s : kStatusNames) {
        if (s.status == status) return std::string(s.name);
    }
    return std::to_string(status);
}

bool trace_parse_status(std::string_view token, uint32_t& status) {
    for (const auto& s : kStatusNames) {
        if (s.name == token) {
            status = s.status;
            return true;
        }
    }
    auto [p, ec] = std::from_chars(token.data(), token.data() + token.size(), status);
    return ec == std::errc() && p == token.data() + token.size() && !token.empty();
}

std::string trace_escape(std::string_view raw) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(raw.size());
    for (char ch : raw) {
        auto b = static_cast<unsigned char>(ch);
        if (b == '%' || b == '=' || b <= ' ' || b > '~') {
            out += '%';
            out += kHex[b >> 4];
            out += kHex[b & 15];
        } else {
            out += ch;
        }
    }
    return out;
}

bool trace_unescape(std::string_view field, std::string& out) {
    out.clear();
    for (size_t i = 0; i < field.size(); ++i) {
        if (field[i] != '%') {
            out += field[i];
            continue;
        }
        unsigned v = 0;
        if (i + 2 >= field.size()) return false;
        auto [p, ec] = std::from_chars(field.data() + i + 1, field.data() + i + 3, v, 16);
        if (ec != std::errc() || p != field.data() + i + 3) return false;
        out += static_cast<char>(v);
        i += 2;
    }
    return true;
}

}  // namespace rootfarm
