// common/policy/action.cpp - building and sanitising policy answers.
#include "common/policy/action.hpp"

#include <algorithm>
#include <stdexcept>

namespace mailmoat::policy {
namespace {

// Length of the valid UTF-8 sequence starting at s[i] (RFC 3629 §4), or 0 when it is not one.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xbf;
    if (b0 >= 0xc2 && b0 <= 0xdf) {
        len = 2;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
        len = 3;
        if (b0 == 0xe0) lo = 0xa0;
        if (b0 == 0xed) hi = 0x9f;  // no surrogates
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
        len = 4;
        if (b0 == 0xf0) lo = 0x90;
        if (b0 == 0xf4) hi = 0x8f;
    } else {
        return 0;
    }
    if (i + len > s.size()) return 0;
    const auto b1 = static_cast<unsigned char>(s[i + 1]);
    if (b1 < lo || b1 > hi) return 0;
    for (std::size_t k = 2; k < len; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if (b < 0x80 || b > 0xbf) return 0;
    }
    return len;
}

std::string without_spaces(std::string_view text) {
    std::string out = sanitize_text(text);
    out.erase(std::remove(out.begin(), out.end(), ' '), out.end());
    return out;
}

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::string sanitize_text(std::string_view text, std::size_t max_len) {
    // Already clean (printable ASCII, single inner spaces, within max_len): the common case, copied as is.
    bool clean = text.size() <= max_len && (text.empty() || (text.front() != ' ' && text.back() != ' '));
    for (std::size_t i = 0; clean && i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        clean = c > 0x20 ? c < 0x7f : c == ' ' && text[i + 1] != ' ';  // a space is never last here
    }
    if (clean) return std::string(text);
    std::string out;
    out.reserve(std::min(text.size(), max_len));
    bool pending_space = false;
    for (std::size_t i = 0; i < text.size();) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x20 || c == 0x7f || c == ' ') {
            pending_space = !out.empty();
            ++i;
            continue;
        }
        std::string_view piece;
        std::size_t step = 1;
        if (c < 0x80) {
            piece = text.substr(i, 1);
        } else if (const auto len = utf8_sequence(text, i); len > 0) {
            piece = text.substr(i, len);
            step = len;
        } else {
            piece = "?";
        }
        const std::size_t need = piece.size() + (pending_space ? 1 : 0);
        if (out.size() + need > max_len) break;  // never split a character
        if (pending_space) out += ' ';
        out.append(piece);
        pending_space = false;
        i += step;
    }
    return out;
}

Action Action::with_text(std::string_view keyword, std::string_view text) {
    std::string clean = sanitize_text(text);
    if (clean.empty()) return Action(std::string(keyword));
    std::string line(keyword);
    line += ' ';
    line += clean;
    return Action(std::move(line));
}

Action Action::dunno() { return Action("DUNNO"); }
Action Action::ok() { return Action("OK"); }
Action Action::reject(std::string_view text) { return with_text("REJECT", text); }
Action Action::defer(std::string_view text) { return with_text("DEFER", text); }
Action Action::defer_if_permit(std::string_view text) { return with_text("DEFER_IF_PERMIT", text); }
Action Action::defer_if_reject(std::string_view text) { return with_text("DEFER_IF_REJECT", text); }
Action Action::hold(std::string_view text) { return with_text("HOLD", text); }
Action Action::discard(std::string_view text) { return with_text("DISCARD", text); }
Action Action::warn(std::string_view text) { return with_text("WARN", text); }
Action Action::info(std::string_view text) { return with_text("INFO", text); }

Action Action::prepend(std::string_view header) {
    const auto colon = header.find(':');
    if (colon == 0 || colon == std::string_view::npos)
        throw std::invalid_argument("PREPEND needs a header 'Name: value'");
    for (const char ch : header.substr(0, colon)) {
        const auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c >= 0x7f) throw std::invalid_argument("PREPEND header name has a byte outside 0x21..0x7e");
    }
    return with_text("PREPEND", header);
}

Action Action::redirect(std::string_view address) { return with_text("REDIRECT", without_spaces(address)); }
Action Action::filter(std::string_view transport_destination) {
    return with_text("FILTER", without_spaces(transport_destination));
}

Action Action::raw(std::string_view line) {
    std::string clean = sanitize_text(line, max_text_length + 32);
    if (clean.size() == 3 && all_digits(clean)) {
        if (clean[0] == '4') return Action(clean + " 4.7.1 Service unavailable, try again later");
        if (clean[0] == '5') return Action(clean + " 5.7.1 Access denied");
    }
    if (clean.empty()) return dunno();
    return Action(std::move(clean));
}

std::string_view Action::keyword() const noexcept {
    const std::string_view t(text_);
    return t.substr(0, t.find(' '));
}

std::string Action::wire() const {
    std::string out;
    out.reserve(text_.size() + 9);
    out += "action=";
    out += text_;
    out += "\n\n";
    return out;
}

}  // namespace mailmoat::policy
