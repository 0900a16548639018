// common/checks/action.cpp - header_checks(5)/body_checks action parsing and REJECT reply codes.
#include "common/checks/action.hpp"

#include <array>
#include <utility>

namespace mailmoat::checks {
namespace {

bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

char upper(char c) noexcept { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool iequal(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (upper(a[i]) != upper(b[i])) return false;
    return true;
}

constexpr std::array<std::pair<const char*, ActionKind>, 15> keywords{{
    {"REJECT", ActionKind::reject},     {"DISCARD", ActionKind::discard}, {"HOLD", ActionKind::hold},
    {"FILTER", ActionKind::filter},     {"REDIRECT", ActionKind::redirect}, {"BCC", ActionKind::bcc},
    {"PREPEND", ActionKind::prepend},   {"REPLACE", ActionKind::replace}, {"IGNORE", ActionKind::ignore},
    {"STRIP", ActionKind::strip},       {"INFO", ActionKind::info},       {"WARN", ActionKind::warn},
    {"PASS", ActionKind::pass},         {"DUNNO", ActionKind::dunno},     {"OK", ActionKind::dunno},
}};

/// Length of an RFC 3463 status "d.ddd.ddd" at the start of text (0 when none), as dsn_valid().
std::size_t status_length(std::string_view t) noexcept {
    if (t.size() < 5 || (t[0] != '2' && t[0] != '4' && t[0] != '5') || t[1] != '.') return 0;
    std::size_t i = 2;
    auto digits = [&](std::size_t max) {
        std::size_t n = 0;
        while (i < t.size() && is_digit(t[i]) && n < max) ++i, ++n;
        return n;
    };
    if (digits(3) == 0 || i >= t.size() || t[i] != '.') return 0;
    ++i;
    if (digits(3) == 0) return 0;
    if (i < t.size() && !is_space(t[i])) return 0;
    return i;
}

}  // namespace

const char* action_name(ActionKind kind) noexcept {
    switch (kind) {
    case ActionKind::reject: return "REJECT";
    case ActionKind::discard: return "DISCARD";
    case ActionKind::hold: return "HOLD";
    case ActionKind::filter: return "FILTER";
    case ActionKind::redirect: return "REDIRECT";
    case ActionKind::bcc: return "BCC";
    case ActionKind::prepend: return "PREPEND";
    case ActionKind::replace: return "REPLACE";
    case ActionKind::ignore: return "IGNORE";
    case ActionKind::strip: return "STRIP";
    case ActionKind::info: return "INFO";
    case ActionKind::warn: return "WARN";
    case ActionKind::pass: return "PASS";
    case ActionKind::dunno: return "DUNNO";
    case ActionKind::unknown: return "UNKNOWN";
    case ActionKind::invalid: return "INVALID";
    }
    return "UNKNOWN";
}

Action parse_action(std::string_view value) {
    Action a;
    std::size_t end = 0;
    while (end < value.size() && !is_space(value[end])) ++end;
    const std::string_view word = value.substr(0, end);
    std::string_view rest = value.substr(end);
    while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
    a.text = std::string(rest);
    for (const auto& [name, kind] : keywords) {
        if (!iequal(word, name)) continue;
        a.kind = kind;
        break;
    }
    if (a.kind == ActionKind::unknown) {
        a.why = "unknown command";
        return a;
    }
    auto invalid = [&](const char* why) {
        a.kind = ActionKind::invalid;
        a.why = why;
    };
    switch (a.kind) {
    case ActionKind::redirect:
        if (a.text.find('@') == std::string::npos) invalid("REDIRECT needs user@domain");
        break;
    case ActionKind::bcc:
        if (a.text.find('@') == std::string::npos) invalid("BCC needs user@domain");
        break;
    case ActionKind::filter:
        if (a.text.find(':') == std::string::npos) invalid("FILTER needs transport:destination");
        break;
    case ActionKind::prepend:
    case ActionKind::replace:
        if (a.text.empty()) invalid("PREPEND/REPLACE need text");
        break;
    default: break;
    }
    return a;
}

Reply reject_reply(std::string_view text) {
    Reply r;
    while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
    if (text.empty()) return {"550", "5.7.1", "message content rejected"};
    const std::size_t n = status_length(text);
    if (n == 0) return {"550", "5.7.1", std::string(text)};
    r.status = std::string(text.substr(0, n));
    if (r.status[0] == '2') r.status[0] = '4';
    std::string_view rest = text.substr(n);
    while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
    r.text = std::string(rest);
    r.code = r.status[0] == '4' ? "451" : "550";
    return r;
}

bool is_header_text(std::string_view text) noexcept {
    std::size_t i = 0;
    while (i < text.size()) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == ':' || c <= ' ' || c >= 0x7f) break;
        ++i;
    }
    if (i == 0) return false;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    return i < text.size() && text[i] == ':';
}

}  // namespace mailmoat::checks
