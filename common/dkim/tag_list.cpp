// common/dkim/tag_list.cpp - RFC 6376 §3.2 tag=value list parser.
#include "common/dkim/tag_list.hpp"

namespace mailmoat::dkim {
namespace {

bool is_wsp(char c) { return c == ' ' || c == '\t'; }
bool is_fws_char(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

/// Checks that every line break in s is followed by WSP (it is folding, not a new line) and that
/// CR only appears before LF.
bool valid_fws(std::string_view s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\r') {
            if (i + 1 >= s.size() || s[i + 1] != '\n') return false;
        } else if (s[i] == '\n') {
            if (i + 1 >= s.size() || !is_wsp(s[i + 1])) return false;
        }
    }
    return true;
}

std::string_view trim_fws(std::string_view s) {
    while (!s.empty() && is_fws_char(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_fws_char(s.back())) s.remove_suffix(1);
    return s;
}

}  // namespace

const std::string* TagList::find(std::string_view name) const noexcept {
    for (const auto& t : tags)
        if (t.name == name) return &t.value;
    return nullptr;
}

std::string strip_fws(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (const char c : value)
        if (!is_fws_char(c)) out += c;
    return out;
}

TagList parse_tag_list(std::string_view text, std::size_t max_tags) {
    TagList r;
    auto fail = [&](TagListStatus s, std::string why) {
        r.status = s;
        r.error = std::move(why);
        r.tags.clear();
        return r;
    };
    if (!valid_fws(text)) return fail(TagListStatus::syntax_error, "line break not followed by whitespace");
    std::size_t pos = 0;
    bool first = true;
    while (pos <= text.size()) {
        const std::size_t semi = text.find(';', pos);
        const std::string_view spec = text.substr(pos, semi == std::string_view::npos ? std::string_view::npos : semi - pos);
        const std::string_view trimmed = trim_fws(spec);
        const bool last = semi == std::string_view::npos;
        if (trimmed.empty()) {
            // Only the part after a final ';' may be empty ("a=b;" is fine, "a=b;;c=d" and "" are not).
            if (last && !first) break;
            return fail(TagListStatus::syntax_error, "empty tag");
        }
        const std::size_t eq = trimmed.find('=');
        if (eq == std::string_view::npos) return fail(TagListStatus::syntax_error, "tag without '='");
        const std::string_view name = trim_fws(trimmed.substr(0, eq));
        const std::string_view value = trim_fws(trimmed.substr(eq + 1));
        if (name.empty() || !is_alpha(name[0])) return fail(TagListStatus::syntax_error, "bad tag name");
        for (const char c : name)
            if (!is_alpha(c) && !is_digit(c) && c != '_') return fail(TagListStatus::syntax_error, "bad tag name");
        for (const char c : value) {
            const auto u = static_cast<unsigned char>(c);
            if (is_fws_char(c) || (u >= 0x21 && u <= 0x7e) || u >= 0x80) continue;
            return fail(TagListStatus::syntax_error, "control character in value of tag " + std::string(name));
        }
        for (const auto& t : r.tags)
            if (t.name == name) return fail(TagListStatus::duplicate_tag, "duplicate tag " + std::string(name));
        if (r.tags.size() >= max_tags) return fail(TagListStatus::syntax_error, "too many tags");
        r.tags.push_back(Tag{std::string(name), std::string(value)});
        first = false;
        if (last) break;
        pos = semi + 1;
    }
    r.status = TagListStatus::ok;
    return r;
}

}  // namespace mailmoat::dkim
