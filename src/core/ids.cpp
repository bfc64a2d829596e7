#include "ids.hpp"

#include "errors.hpp"

#include <boost/uuid/detail/sha1.hpp>

#include <cstring>
#include <limits>

namespace normalize::core {

namespace {

bool is_ascii_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
unsigned char byte(std::string_view s, std::size_t i) { return static_cast<unsigned char>(s[i]); }

// What starts at s[i]: a blank (white space), a zero-width character, or
// neither; len is its length in bytes.
enum class Blank { none, space, zero_width };
struct BlankAt {
    Blank kind;
    std::size_t len;
};

BlankAt blank_at(std::string_view s, std::size_t i, IdStyle style) {
    if (is_ascii_space(s[i]))
        return {Blank::space, 1};
    if (!style.utf8 || byte(s, i) < 0xC2)
        return {Blank::none, 0};
    const std::size_t left = s.size() - i;
    const unsigned char b0 = byte(s, i);
    if (b0 == 0xC2 && left >= 2 && (byte(s, i + 1) == 0x85 || byte(s, i + 1) == 0xA0))
        return {Blank::space, 2};  // next line, no-break space
    if (left < 3)
        return {Blank::none, 0};
    const unsigned char b1 = byte(s, i + 1), b2 = byte(s, i + 2);
    if (b0 == 0xE1 && b1 == 0x9A && b2 == 0x80)
        return {Blank::space, 3};  // ogham space mark
    if (b0 == 0xE1 && b1 == 0xA0 && b2 == 0x8E)
        return {Blank::zero_width, 3};  // mongolian vowel separator
    if (b0 == 0xE2 && b1 == 0x80) {
        if (b2 >= 0x80 && b2 <= 0x8A)
            return {Blank::space, 3};  // en quad ... hair space
        if (b2 >= 0x8B && b2 <= 0x8D)
            return {Blank::zero_width, 3};  // zero width space, non-joiner, joiner
        if (b2 == 0xA8 || b2 == 0xA9 || b2 == 0xAF)
            return {Blank::space, 3};  // line and paragraph separators, narrow no-break space
    }
    if (b0 == 0xE2 && b1 == 0x81 && b2 == 0x9F)
        return {Blank::space, 3};  // medium mathematical space
    if (b0 == 0xE2 && b1 == 0x81 && b2 == 0xA0)
        return {Blank::zero_width, 3};  // word joiner
    if (b0 == 0xE3 && b1 == 0x80 && b2 == 0x80)
        return {Blank::space, 3};  // ideographic space
    if (b0 == 0xEF && b1 == 0xBB && b2 == 0xBF)
        return {Blank::zero_width, 3};  // zero width no-break space (BOM)
    return {Blank::none, 0};
}

// The length of the blank or zero-width character that ends s, if any.
std::size_t blank_before(std::string_view s, std::size_t end, IdStyle style) {
    for (const std::size_t len : {std::size_t{1}, std::size_t{2}, std::size_t{3}}) {
        if (len > end)
            break;
        const BlankAt b = blank_at(s, end - len, style);
        if (b.kind != Blank::none && b.len == len)
            return len;
    }
    return 0;
}

std::string_view trim_blanks(std::string_view s, IdStyle style) {
    std::size_t start = 0;
    for (BlankAt b; start < s.size() && (b = blank_at(s, start, style)).kind != Blank::none;)
        start += b.len;
    std::size_t end = s.size();
    for (std::size_t len; end > start && (len = blank_before(s, end, style)) > 0;)
        end -= len;
    return s.substr(start, end - start);
}

// The ID without blanks around it, nor the braces GUIDs are often written in.
std::string_view trim(std::string_view s, IdStyle style) {
    s = trim_blanks(s, style);
    if (s.size() >= 2 && s.front() == '{' && s.back() == '}')
        s = trim_blanks(s.substr(1, s.size() - 2), style);
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

// Where the number of a trimmed prefixed-number ID starts and ends (before
// a zero tail); start == end when the ID is not one.
struct NumberSpan {
    std::size_t start;
    std::size_t end;
};

NumberSpan number_span(std::string_view s) {
    const std::size_t end = zero_fraction_start(s);
    std::size_t start = end;
    while (start > 0 && is_digit(s[start - 1]))
        --start;
    if (start == end)
        return {0, 0};
    for (std::size_t k = 0; k < start; ++k)
        if (is_digit(s[k]))
            return {0, 0};
    return {start, end};
}

// The lower-case form of a two-byte UTF-8 letter (U+0080-U+07FF), which is
// two bytes as well; cp itself when it has none here.
unsigned lower_code_point(unsigned cp) {
    if ((cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) ||   // Latin-1
        (cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2) ||  // Greek
        (cp >= 0x410 && cp <= 0x42F))                   // Cyrillic
        return cp + 0x20;
    if (cp >= 0x400 && cp <= 0x40F)
        return cp + 0x50;  // Cyrillic Ѐ-Џ
    if (cp == 0x386)
        return 0x3AC;
    if (cp >= 0x388 && cp <= 0x38A)
        return cp + 0x25;
    if (cp == 0x38C)
        return 0x3CC;
    if (cp == 0x38E || cp == 0x38F)
        return cp + 0x3F;
    if (cp == 0x178)
        return 0xFF;
    // Latin Extended-A: upper and lower case alternate, upper first, except
    // in U+0139-U+0148 and U+0179-U+017E where lower comes first; U+0138
    // and U+0149 have no pair.
    if ((cp >= 0x100 && cp <= 0x137) || (cp >= 0x14A && cp <= 0x177))
        return cp % 2 == 0 ? cp + 1 : cp;
    if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E))
        return cp % 2 == 1 ? cp + 1 : cp;
    return cp;
}

// Copies the character at s[i] to out, lower-cased; returns its length.
std::size_t copy_lowered(std::string_view s, std::size_t i, IdStyle style, char* out) {
    const unsigned char c = byte(s, i);
    if (c < 0x80) {
        out[0] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : static_cast<char>(c);
        return 1;
    }
    const bool two_bytes = style.utf8 && c >= 0xC2 && c <= 0xDF && i + 1 < s.size() && (byte(s, i + 1) & 0xC0) == 0x80;
    if (!two_bytes) {
        out[0] = static_cast<char>(c);
        return 1;
    }
    const unsigned cp = lower_code_point(((c & 0x1Fu) << 6) | (byte(s, i + 1) & 0x3Fu));
    out[0] = static_cast<char>(0xC0 | (cp >> 6));
    out[1] = static_cast<char>(0x80 | (cp & 0x3F));
    return 2;
}

constexpr char kHex[] = "0123456789abcdef";

}  // namespace

std::size_t normalize_id(std::string_view raw, char* out, IdStyle style) {
    const std::string_view s = trim(raw, style);
    const NumberSpan number = number_span(s);
    const bool numbered = number.start != number.end;
    std::size_t n = 0;
    std::size_t i = 0;
    while (i < s.size()) {
        if (numbered && i == number.start) {
            i = number.start;
            while (i + 1 < number.end && s[i] == '0')
                ++i;
            std::memcpy(out + n, s.data() + i, number.end - i);
            return n + (number.end - i);  // the zero tail, if any, is dropped
        }
        const BlankAt b = blank_at(s, i, style);
        if (b.kind == Blank::zero_width) {
            i += b.len;
        } else if (b.kind == Blank::space) {
            while (i < s.size()) {
                const BlankAt next = blank_at(s, i, style);
                if (next.kind == Blank::none)
                    break;
                i += next.len;
            }
            out[n++] = ' ';
        } else if (style.keep_case) {
            out[n++] = s[i++];
        } else {
            const std::size_t len = copy_lowered(s, i, style, out + n);
            n += len;
            i += len;
        }
    }
    return n;
}

std::string normalize_id(std::string_view raw, IdStyle style) {
    std::string out(raw.size(), '\0');
    out.resize(normalize_id(raw, out.data(), style));
    return out;
}

std::size_t fold_category(std::string_view raw, char* out, IdStyle style) {
    std::size_t n = 0;
    bool pending_separator = false;
    for (std::size_t i = 0; i < raw.size();) {
        const BlankAt b = blank_at(raw, i, style);
        if (b.kind == Blank::zero_width) {
            i += b.len;
        } else if (b.kind == Blank::space || raw[i] == '_' || raw[i] == '-') {
            pending_separator = n > 0;
            i += b.kind == Blank::space ? b.len : 1;
        } else {
            if (pending_separator)
                out[n++] = ' ';
            pending_separator = false;
            const std::size_t len = copy_lowered(raw, i, style, out + n);
            n += len;
            i += len;
        }
    }
    return n;
}

std::string fold_category(std::string_view raw, IdStyle style) {
    std::string out(raw.size(), '\0');
    out.resize(fold_category(raw, out.data(), style));
    return out;
}

IdParts parse_id(std::string_view raw, IdStyle style) {
    IdParts parts;
    const std::string_view s = trim(raw, style);
    const NumberSpan span = number_span(s);
    if (span.start == span.end)
        return parts;
    std::int64_t n = 0;
    for (std::size_t k = span.start; k < span.end; ++k) {
        const int d = s[k] - '0';
        if (n > (std::numeric_limits<std::int64_t>::max() - d) / 10)
            return parts;
        n = n * 10 + d;
    }
    parts.valid = true;
    parts.number = n;
    parts.digits = static_cast<int>(span.end - span.start);
    parts.prefix = s.substr(0, span.start);
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

std::size_t stable_key(std::string_view kind, std::string_view raw, char* out, IdStyle style) {
    check_kind(kind);
    char* id = out + kind.size() + 1;
    std::size_t len = normalize_id(raw, id, style);
    if (len == 0)
        return 0;
    std::memcpy(out, kind.data(), kind.size());
    out[kind.size()] = ':';
    if (len > kMaxKeyIdBytes) {
        boost::uuids::detail::sha1 sha;
        sha.process_bytes(id, len);
        boost::uuids::detail::sha1::digest_type digest;
        sha.get_digest(digest);
        std::size_t kept = kKeptPrefixBytes;
        while (style.utf8 && kept > 0 && (static_cast<unsigned char>(id[kept]) & 0xC0) == 0x80)
            --kept;  // not inside a character
        id[kept] = '~';
        len = kept + 1;
        for (int w = 0; w < 4; ++w)
            for (int shift = 28; shift >= 0; shift -= 4)
                id[len++] = kHex[(digest[w] >> shift) & 0xF];
    }
    return kind.size() + 1 + len;
}

std::string stable_key(std::string_view kind, std::string_view raw, IdStyle style) {
    std::string out(kind.size() + 1 + raw.size(), '\0');
    out.resize(stable_key(kind, raw, out.data(), style));
    return out;
}

}  // namespace normalize::core
