#include "ids.hpp"

#include "errors.hpp"

#include <cctype>
#include <cstring>
#include <limits>

namespace normalize::core {

namespace {

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && is_space(s.back()))
        s.remove_suffix(1);
    return s;
}

// Where ".000" starts if s ends in a digit run followed by it, else s.size().
std::size_t zero_fraction_start(std::string_view s) {
    const std::size_t dot = s.rfind('.');
    if (dot == std::string_view::npos || dot == 0 || dot + 1 == s.size() || !is_digit(s[dot - 1]))
        return s.size();
    for (std::size_t k = dot + 1; k < s.size(); ++k)
        if (s[k] != '0')
            return s.size();
    return dot;
}

}  // namespace

std::size_t normalize_id(std::string_view raw, char* out) {
    std::string_view s = trim(raw);
    s = s.substr(0, zero_fraction_start(s));
    std::size_t n = 0;
    std::size_t i = 0;
    while (i < s.size()) {
        const char c = s[i];
        if (is_space(c)) {
            while (i < s.size() && is_space(s[i]))
                ++i;
            out[n++] = ' ';
        } else if (is_digit(c)) {
            std::size_t j = i;
            while (j < s.size() && is_digit(s[j]))
                ++j;
            while (i + 1 < j && s[i] == '0')
                ++i;
            std::memcpy(out + n, s.data() + i, j - i);
            n += j - i;
            i = j;
        } else {
            out[n++] = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            ++i;
        }
    }
    return n;
}

std::string normalize_id(std::string_view raw) {
    std::string out(raw.size(), '\0');
    out.resize(normalize_id(raw, out.data()));
    return out;
}

IdParts parse_id(std::string_view raw) {
    IdParts parts;
    const std::string_view s = trim(raw);
    const std::size_t end = zero_fraction_start(s);
    std::size_t start = end;
    while (start > 0 && is_digit(s[start - 1]))
        --start;
    if (start == end)
        return parts;
    for (std::size_t k = 0; k < start; ++k)
        if (is_digit(s[k]))
            return parts;
    std::int64_t n = 0;
    for (std::size_t k = start; k < end; ++k) {
        const int d = s[k] - '0';
        if (n > (std::numeric_limits<std::int64_t>::max() - d) / 10)
            return parts;
        n = n * 10 + d;
    }
    parts.valid = true;
    parts.number = n;
    parts.digits = static_cast<int>(end - start);
    parts.prefix = s.substr(0, start);
    return parts;
}

void check_kind(std::string_view kind) {
    bool valid = !kind.empty() && kind.size() <= 63 && kind[0] >= 'a' && kind[0] <= 'z';
    for (char c : kind)
        valid = valid && ((c >= 'a' && c <= 'z') || is_digit(c) || c == '_');
    if (!valid)
        throw ArgumentError("kind must be a lower-case identifier, got \"" +
                                std::string(kind) + "\"",
                            "Name the entity kind in lower case, such as 'account' or 'device'.");
}

std::size_t stable_key(std::string_view kind, std::string_view raw, char* out) {
    check_kind(kind);
    const std::size_t id = normalize_id(raw, out + kind.size() + 1);
    if (id == 0)
        return 0;
    std::memcpy(out, kind.data(), kind.size());
    out[kind.size()] = ':';
    return kind.size() + 1 + id;
}

std::string stable_key(std::string_view kind, std::string_view raw) {
    std::string out(kind.size() + 1 + raw.size(), '\0');
    out.resize(stable_key(kind, raw, out.data()));
    return out;
}

}  // namespace normalize::core
