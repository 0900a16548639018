// common/dkim/tag_list.hpp - RFC 6376 §3.2 tag=value lists (DKIM-Signature and key records).
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mailmoat::dkim {

struct Tag {
    std::string name;   // as written (tag names are case-sensitive, §3.2)
    std::string value;  // leading/trailing FWS removed, inner FWS kept as written
};

enum class TagListStatus { ok, syntax_error, duplicate_tag };

struct [[nodiscard]] TagList {
    TagListStatus status = TagListStatus::syntax_error;
    std::string error;      // what is wrong when status != ok
    std::vector<Tag> tags;  // in order of appearance

    /// The value of `name`, or nullptr when absent.
    [[nodiscard]] const std::string* find(std::string_view name) const noexcept;
};

/// Parses "tag=value; tag=value[;]" per RFC 6376 §3.2: tag names are ALPHA *(ALPHA/DIGIT/"_");
/// values are VALCHAR (%x21-3A / %x3C-7E, plus octets >= 0x80 for RFC 8616 UTF-8) separated by
/// WSP/FWS; FWS may be CRLF or a bare LF followed by WSP. A duplicate tag name is duplicate_tag (the
/// RFC makes that an error); an empty tag-spec between semicolons, a missing '=', a bad name or
/// a control character is syntax_error. At most max_tags tags (syntax_error beyond).
[[nodiscard]] TagList parse_tag_list(std::string_view text, std::size_t max_tags = 64);

/// Removes every FWS/WSP character (SP, HTAB, CR, LF) — for values whose syntax allows whitespace
/// anywhere (base64 b=/bh=/p=, colon-separated h=).
[[nodiscard]] std::string strip_fws(std::string_view value);

}  // namespace mailmoat::dkim
