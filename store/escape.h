#pragma once

// Backslash escapes for paths in the store's line-oriented text files (id maps, image
// metadata): a path may hold any byte but '/' and NUL, these files split on tab and newline.

#include <string>
#include <string_view>

namespace rootfarm::store {

// \ -> \\, tab -> \t, newline -> \n, carriage return -> \r.
inline std::string escape_path(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            default:
                out += c;
        }
    }
    return out;
}

inline std::string unescape_path(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '\\' || i + 1 == text.size()) {
            out += text[i];
            continue;
        }
        char c = text[++i];
        out += c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c;
    }
    return out;
}

}  // namespace rootfarm::store
