// common/spf/macro.cpp - RFC 7208 §7 macro parsing and bounded expansion (one pass, no recursion).
#include "common/spf/macro.hpp"

#include <array>
#include <vector>

namespace mailmoat::spf {

namespace {

constexpr bool is_delimiter(char c) noexcept {
    return c == '.' || c == '-' || c == '+' || c == ',' || c == '/' || c == '_' || c == '=';
}

constexpr char lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr bool is_macro_literal(char c) noexcept {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x21 && u <= 0x7e && c != '%';
}

constexpr bool is_unreserved(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

bool letter_allowed(char letter, MacroContext ctx) noexcept {
    switch (letter) {
        case 's':
        case 'l':
        case 'o':
        case 'd':
        case 'i':
        case 'p':
        case 'h':
        case 'v':
            return true;
        case 'c':
        case 'r':
        case 't':
            return ctx == MacroContext::explanation;
        default:
            return false;
    }
}

/// One parsed "%{...}" macro-expand.
struct Macro {
    char letter = 0;     // lower-case
    bool upper = false;  // URL-escape the result
    unsigned parts = 0;  // 0: all
    bool reverse = false;
    std::array<bool, 128> delims{};
    bool any_delim = false;
};

/// Parses the macro starting at text[pos] == '%' and '{' at pos+1. On success sets *end to one past '}'.
MacroStatus parse_macro(std::string_view text, std::size_t pos, MacroContext ctx, Macro& m, std::size_t& end,
                        std::string& error) {
    std::size_t i = pos + 2;
    if (i >= text.size()) {
        error = "unterminated macro";
        return MacroStatus::syntax_error;
    }
    const char raw = text[i];
    m.letter = lower(raw);
    m.upper = raw >= 'A' && raw <= 'Z';
    if (!letter_allowed(m.letter, ctx)) {
        const bool printable = static_cast<unsigned char>(raw) > 0x20 && static_cast<unsigned char>(raw) < 0x7f;
        error = std::string("macro letter '") + (printable ? raw : '?') +
                (ctx == MacroContext::domain ? "' not allowed here" : "' unknown");
        return MacroStatus::syntax_error;
    }
    ++i;
    bool have_digits = false;
    unsigned value = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        have_digits = true;
        // Saturate: a domain has at most 127 labels, so any larger count means "all of them".
        value = value * 10 + static_cast<unsigned>(text[i] - '0');
        if (value > max_macro_parts) value = max_macro_parts + 1;
        ++i;
    }
    if (have_digits && value == 0) {
        error = "macro transformer digit must be non-zero";
        return MacroStatus::syntax_error;
    }
    m.parts = have_digits ? (value > max_macro_parts ? 0 : value) : 0;
    if (i < text.size() && (text[i] == 'r' || text[i] == 'R')) {
        m.reverse = true;
        ++i;
    }
    while (i < text.size() && is_delimiter(text[i])) {
        m.delims[static_cast<unsigned char>(text[i])] = true;
        m.any_delim = true;
        ++i;
    }
    if (i >= text.size() || text[i] != '}') {
        error = "malformed macro";
        return MacroStatus::syntax_error;
    }
    end = i + 1;
    return MacroStatus::ok;
}

/// Walks text; calls on_literal(char) and on_macro(const Macro&) in order. Stops at the first error.
template <class Lit, class Mac>
MacroStatus walk(std::string_view text, MacroContext ctx, std::string& error, Lit&& on_literal, Mac&& on_macro) {
    if (text.size() > max_macro_input) {
        error = "macro-string too long";
        return MacroStatus::too_long;
    }
    for (std::size_t i = 0; i < text.size();) {
        const char c = text[i];
        if (c == '%') {
            if (i + 1 >= text.size()) {
                error = "'%' at end of macro-string";
                return MacroStatus::syntax_error;
            }
            const char n = text[i + 1];
            if (n == '%' || n == '_' || n == '-') {
                if (!on_literal(n == '%' ? '%' : (n == '_' ? ' ' : '\x01'))) return MacroStatus::too_long;
                i += 2;
                continue;
            }
            if (n != '{') {
                error = "'%' not followed by '{', '%', '_' or '-'";
                return MacroStatus::syntax_error;
            }
            Macro m;
            std::size_t end = 0;
            if (auto st = parse_macro(text, i, ctx, m, end, error); st != MacroStatus::ok) return st;
            if (!on_macro(m)) return MacroStatus::too_long;
            i = end;
            continue;
        }
        if (!is_macro_literal(c) && !(ctx == MacroContext::explanation && c == ' ')) {
            error = "invalid character in macro-string";
            return MacroStatus::syntax_error;
        }
        if (!on_literal(c)) return MacroStatus::too_long;
        ++i;
    }
    return MacroStatus::ok;
}

std::string macro_value(const Macro& m, const MacroEnv& env, MacroContext ctx) {
    switch (m.letter) {
        case 's': {
            std::string s(env.local_part);
            s += '@';
            s += env.sender_domain;
            return s;
        }
        case 'l':
            return std::string(env.local_part);
        case 'o':
            return std::string(env.sender_domain);
        case 'd':
            return std::string(env.domain);
        case 'h':
            return std::string(env.helo);
        case 'r':
            return env.receiver.empty() ? std::string("unknown") : std::string(env.receiver);
        case 't':
            return std::to_string(env.timestamp);
        case 'v':
            return env.ip.is_v4() ? "in-addr" : "ip6";
        case 'c':
            return env.ip.to_string();
        case 'p':
            return env.validated_name ? env.validated_name() : std::string("unknown");
        case 'i': {
            std::string s = env.ip.spf_macro_form();
            // Explanation text shows IPv6 nibbles in upper case, as the RFC 7208 test suite (and pyspf)
            // expect; in domain-specs they stay lower case as in the §7.4 examples (DNS names are
            // case-insensitive, so only the human-readable text differs).
            if (ctx == MacroContext::explanation && env.ip.is_v6()) {
                for (auto& ch : s) {
                    if (ch >= 'a' && ch <= 'f') ch = static_cast<char>(ch - 'a' + 'A');
                }
            }
            return s;
        }
        default:
            return {};
    }
}

/// Applies transformers and delimiters (§7.3): split on the delimiters, optionally reverse, keep the
/// rightmost N parts, join with ".".
std::string transform(const Macro& m, const std::string& value) {
    if (!m.any_delim && m.parts == 0 && !m.reverse) return value;
    std::vector<std::string_view> parts;
    std::string_view v(value);
    std::size_t start = 0;
    for (std::size_t i = 0; i <= v.size(); ++i) {
        const auto u = i == v.size() ? 0U : static_cast<unsigned char>(v[i]);
        const bool split = i == v.size() || (m.any_delim ? (u < m.delims.size() && m.delims[u]) : v[i] == '.');
        if (split) {
            parts.push_back(v.substr(start, i - start));
            start = i + 1;
        }
    }
    if (m.reverse) {
        for (std::size_t a = 0, b = parts.size() - 1; a < b; ++a, --b) std::swap(parts[a], parts[b]);
    }
    std::size_t first = 0;
    if (m.parts != 0 && m.parts < parts.size()) first = parts.size() - m.parts;
    std::string out;
    for (std::size_t i = first; i < parts.size(); ++i) {
        if (i != first) out += '.';
        out += parts[i];
    }
    return out;
}

void url_escape(std::string_view in, std::string& out) {
    static constexpr char hex[] = "0123456789ABCDEF";
    for (const char c : in) {
        if (is_unreserved(c)) {
            out += c;
        } else {
            const auto u = static_cast<unsigned char>(c);
            out += '%';
            out += hex[u >> 4];
            out += hex[u & 0xf];
        }
    }
}

}  // namespace

const char* macro_status_name(MacroStatus s) noexcept {
    switch (s) {
        case MacroStatus::ok:
            return "ok";
        case MacroStatus::syntax_error:
            return "syntax_error";
        case MacroStatus::too_long:
            return "too_long";
    }
    return "syntax_error";
}

MacroStatus validate_macro_string(std::string_view text, MacroContext ctx, std::string* error) {
    std::string err;
    const auto st = walk(
        text, ctx, err, [](char) { return true; }, [](const Macro&) { return true; });
    if (error != nullptr) *error = std::move(err);
    return st;
}

MacroResult expand_macro_string(std::string_view text, MacroContext ctx, const MacroEnv& env) {
    MacroResult r;
    std::string out;
    const auto room = [&out](std::size_t n) { return out.size() + n <= max_macro_output; };
    const auto st = walk(
        text, ctx, r.error,
        [&](char c) {
            if (!room(c == '\x01' ? 3 : 1)) return false;
            if (c == '\x01') {
                out += "%20";
            } else {
                out += c;
            }
            return true;
        },
        [&](const Macro& m) {
            if (m.letter == 's' || m.letter == 'l' || m.letter == 'h') r.sender_specific = true;
            std::string value = transform(m, macro_value(m, env, ctx));
            if (m.upper) {
                std::string escaped;
                url_escape(value, escaped);
                value = std::move(escaped);
            }
            if (!room(value.size())) return false;
            out += value;
            return true;
        });
    if (st == MacroStatus::too_long && r.error.empty()) r.error = "macro expansion too long";
    r.status = st;
    if (st == MacroStatus::ok) r.text = std::move(out);
    return r;
}

std::string truncate_domain(std::string_view expanded) {
    if (!expanded.empty() && expanded.back() == '.') expanded.remove_suffix(1);
    while (expanded.size() > max_domain_length) {
        const auto dot = expanded.find('.');
        if (dot == std::string_view::npos) return {};
        expanded.remove_prefix(dot + 1);
    }
    return std::string(expanded);
}

}  // namespace mailmoat::spf
