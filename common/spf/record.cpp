// common/spf/record.cpp - RFC 7208 §4.5-§6 and §12 ABNF: record parsing, strict and bounded.
#include "common/spf/record.hpp"

#include <arpa/inet.h>

#include <cstring>

#include "common/spf/macro.hpp"

namespace mailmoat::spf {

namespace {

constexpr char lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
constexpr bool is_alpha(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}
constexpr bool is_alnum(char c) noexcept {
    return is_alpha(c) || is_digit(c);
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

/// toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
bool valid_toplabel(std::string_view l) noexcept {
    if (l.empty() || l.size() > 63) return false;
    bool alpha = false;
    bool hyphen = false;
    for (const char c : l) {
        if (is_alpha(c)) {
            alpha = true;
        } else if (c == '-') {
            hyphen = true;
        } else if (!is_digit(c)) {
            return false;
        }
    }
    if (!hyphen) return alpha;
    return l.front() != '-' && l.back() != '-';
}

/// Parses a CIDR length: "0" / %x31-39 0*(max_digits-1)DIGIT, at most max. nullopt on bad syntax.
std::optional<std::uint8_t> parse_cidr(std::string_view s, unsigned max) {
    if (s.empty() || s.size() > 3 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
    unsigned v = 0;
    for (const char c : s) {
        if (!is_digit(c)) return std::nullopt;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v > max) return std::nullopt;
    return static_cast<std::uint8_t>(v);
}

/// Splits a trailing dual-cidr-length ("/n", "//n", "/n//m") off arg. Returns false on a malformed
/// length; arg keeps what precedes it.
bool split_dual_cidr(std::string_view& arg, Mechanism& m, std::string& error) {
    const auto trailing_digits = [](std::string_view s) {
        std::size_t n = 0;
        while (n < s.size() && is_digit(s[s.size() - 1 - n])) ++n;
        return n;
    };
    std::size_t n = trailing_digits(arg);
    if (n < arg.size() && n > 0 && arg.size() >= n + 2 && arg[arg.size() - n - 1] == '/' &&
        arg[arg.size() - n - 2] == '/') {
        auto v = parse_cidr(arg.substr(arg.size() - n), 128);
        if (!v) {
            error = "bad IPv6 CIDR length";
            return false;
        }
        m.cidr6 = *v;
        arg.remove_suffix(n + 2);
    }
    n = trailing_digits(arg);
    if (n < arg.size() && n > 0 && arg[arg.size() - n - 1] == '/') {
        auto v = parse_cidr(arg.substr(arg.size() - n), 32);
        if (!v) {
            error = "bad IPv4 CIDR length";
            return false;
        }
        m.cidr4 = *v;
        arg.remove_suffix(n + 1);
    }
    return true;
}

std::optional<MechanismKind> mechanism_kind(std::string_view name) noexcept {
    static constexpr std::pair<std::string_view, MechanismKind> names[] = {
        {"all", MechanismKind::all}, {"include", MechanismKind::include}, {"a", MechanismKind::a},
        {"mx", MechanismKind::mx},   {"ptr", MechanismKind::ptr},         {"ip4", MechanismKind::ip4},
        {"ip6", MechanismKind::ip6}, {"exists", MechanismKind::exists},
    };
    for (const auto& [n, k] : names) {
        if (iequals(name, n)) return k;
    }
    return std::nullopt;
}

bool parse_mechanism(std::string_view term, Mechanism& m, std::string& error) {
    std::string_view t = term;
    switch (t.front()) {
        case '+':
            m.qualifier = Qualifier::pass;
            t.remove_prefix(1);
            break;
        case '-':
            m.qualifier = Qualifier::fail;
            t.remove_prefix(1);
            break;
        case '~':
            m.qualifier = Qualifier::softfail;
            t.remove_prefix(1);
            break;
        case '?':
            m.qualifier = Qualifier::neutral;
            t.remove_prefix(1);
            break;
        default:
            break;
    }
    std::size_t name_end = 0;
    while (name_end < t.size() && is_alnum(t[name_end])) ++name_end;
    const auto kind = mechanism_kind(t.substr(0, name_end));
    if (!kind) {
        error = "unknown mechanism";
        return false;
    }
    m.kind = *kind;
    std::string_view rest = t.substr(name_end);
    switch (m.kind) {
        case MechanismKind::all:
            if (!rest.empty()) {
                error = "\"all\" takes no argument";
                return false;
            }
            return true;
        case MechanismKind::include:
        case MechanismKind::exists:
        case MechanismKind::ptr: {
            if (rest.empty() && m.kind == MechanismKind::ptr) return true;
            if (rest.empty() || rest.front() != ':') {
                error = "domain-spec expected";
                return false;
            }
            rest.remove_prefix(1);
            if (!valid_domain_spec(rest, &error)) return false;
            m.domain_spec = std::string(rest);
            return true;
        }
        case MechanismKind::a:
        case MechanismKind::mx: {
            if (rest.empty()) return true;
            if (rest.front() == '/') {
                if (!split_dual_cidr(rest, m, error)) return false;
                if (!rest.empty()) {
                    error = "bad CIDR length";
                    return false;
                }
                return true;
            }
            if (rest.front() != ':') {
                error = "unknown mechanism";
                return false;
            }
            rest.remove_prefix(1);
            if (!split_dual_cidr(rest, m, error)) return false;
            if (!valid_domain_spec(rest, &error)) return false;
            m.domain_spec = std::string(rest);
            return true;
        }
        case MechanismKind::ip4:
        case MechanismKind::ip6: {
            if (rest.empty() || rest.front() != ':') {
                error = "network expected";
                return false;
            }
            rest.remove_prefix(1);
            const bool v4 = m.kind == MechanismKind::ip4;
            const auto slash = rest.find('/');
            const auto addr = rest.substr(0, slash);
            if (slash != std::string_view::npos) {
                auto v = parse_cidr(rest.substr(slash + 1), v4 ? 32 : 128);
                if (!v) {
                    error = "bad CIDR length";
                    return false;
                }
                (v4 ? m.cidr4 : m.cidr6) = *v;
            }
            char buf[64];
            if (addr.empty() || addr.size() >= sizeof buf) {
                error = "bad network address";
                return false;
            }
            std::memcpy(buf, addr.data(), addr.size());
            buf[addr.size()] = '\0';
            std::uint8_t bytes[16] = {};
            // inet_pton is strict: dotted quads without leading zeros, RFC 4291 text for IPv6. An ip6
            // network stays IPv6 even when written IPv4-mapped; IPv4 clients never match it (§5.6).
            if (inet_pton(v4 ? AF_INET : AF_INET6, buf, bytes) != 1) {
                error = "bad network address";
                return false;
            }
            m.network = util::IpAddress::from_bytes(bytes, v4);
            return true;
        }
    }
    error = "unknown mechanism";
    return false;
}

}  // namespace

const char* mechanism_name(MechanismKind k) noexcept {
    switch (k) {
        case MechanismKind::all:
            return "all";
        case MechanismKind::include:
            return "include";
        case MechanismKind::a:
            return "a";
        case MechanismKind::mx:
            return "mx";
        case MechanismKind::ptr:
            return "ptr";
        case MechanismKind::ip4:
            return "ip4";
        case MechanismKind::ip6:
            return "ip6";
        case MechanismKind::exists:
            return "exists";
    }
    return "?";
}

char qualifier_char(Qualifier q) noexcept {
    switch (q) {
        case Qualifier::pass:
            return '+';
        case Qualifier::fail:
            return '-';
        case Qualifier::softfail:
            return '~';
        case Qualifier::neutral:
            return '?';
    }
    return '?';
}

const char* parse_status_name(ParseStatus s) noexcept {
    switch (s) {
        case ParseStatus::ok:
            return "ok";
        case ParseStatus::not_spf:
            return "not_spf";
        case ParseStatus::syntax_error:
            return "syntax_error";
    }
    return "syntax_error";
}

bool has_spf_version(std::string_view txt) noexcept {
    return txt.size() >= 6 && iequals(txt.substr(0, 6), "v=spf1") && (txt.size() == 6 || txt[6] == ' ');
}

bool valid_domain_spec(std::string_view spec, std::string* error) {
    const auto fail = [error](const char* why) {
        if (error != nullptr) *error = why;
        return false;
    };
    if (spec.empty()) return fail("empty domain-spec");
    std::string merr;
    if (validate_macro_string(spec, MacroContext::domain, &merr) != MacroStatus::ok) {
        if (error != nullptr) *error = merr;
        return false;
    }
    // Find where the trailing run of literal characters starts (after the last macro-expand).
    std::string_view s = spec;
    if (s.back() == '.') s.remove_suffix(1);  // "." toplabel [ "." ]; also accepted after a macro
    std::size_t literal_start = 0;
    bool ends_with_macro = false;
    for (std::size_t i = 0; i < s.size();) {
        if (s[i] == '%' && i + 1 < s.size()) {
            if (s[i + 1] == '{') {
                const auto close = s.find('}', i);
                if (close == std::string_view::npos) return fail("malformed macro");
                i = close + 1;
            } else {
                i += 2;
            }
            literal_start = i;
            ends_with_macro = i == s.size();
            continue;
        }
        ++i;
        ends_with_macro = false;
    }
    if (ends_with_macro) return true;
    const auto dot = s.rfind('.');
    if (dot == std::string_view::npos || dot < literal_start)
        return fail("domain-spec must end in a macro or .toplabel");
    if (!valid_toplabel(s.substr(dot + 1))) return fail("invalid top label in domain-spec");
    return true;
}

ParseResult parse_record(std::string_view txt) {
    ParseResult r;
    if (!has_spf_version(txt)) {
        r.status = ParseStatus::not_spf;
        return r;
    }
    const auto bad = [&r](std::string_view term, const std::string& why) {
        r.status = ParseStatus::syntax_error;
        r.record = Record{};
        r.error = why;
        if (!term.empty()) {
            r.error += ": ";
            r.error += term.substr(0, 64);
        }
        return r;
    };
    if (txt.size() > max_record_length) return bad({}, "record too long");
    std::size_t pos = 6;
    std::size_t terms = 0;
    while (pos < txt.size()) {
        if (txt[pos] == ' ') {
            ++pos;
            continue;
        }
        const auto end = std::min(txt.find(' ', pos), txt.size());
        const auto term = txt.substr(pos, end - pos);
        pos = end;
        if (++terms > max_record_terms) return bad({}, "too many terms");
        // modifier = name "=" ... with name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
        std::size_t n = 0;
        if (is_alpha(term[0])) {
            n = 1;
            while (n < term.size() && (is_alnum(term[n]) || term[n] == '-' || term[n] == '_' || term[n] == '.')) ++n;
        }
        if (n > 0 && n < term.size() && term[n] == '=') {
            const auto name = term.substr(0, n);
            const auto value = term.substr(n + 1);
            std::string error;
            if (iequals(name, "redirect") || iequals(name, "exp")) {
                auto& slot = iequals(name, "redirect") ? r.record.redirect : r.record.exp;
                if (slot) return bad(term, "duplicate modifier");
                if (!valid_domain_spec(value, &error)) return bad(term, error);
                slot = std::string(value);
            } else if (validate_macro_string(value, MacroContext::explanation, &error) != MacroStatus::ok) {
                return bad(term, error);
            }
            continue;
        }
        Mechanism m;
        std::string error;
        if (!parse_mechanism(term, m, error)) return bad(term, error);
        m.text = std::string(term);
        r.record.mechanisms.push_back(std::move(m));
    }
    r.status = ParseStatus::ok;
    return r;
}

}  // namespace mailmoat::spf
