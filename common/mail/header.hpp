// common/mail/header.hpp - RFC 5322 §2.2 header fields: parse a header block, unfold, compare names, fold.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mailmoat::mail {

/// One header field as received.
struct HeaderField {
    std::string name;       // as received, without the colon (and without obsolete WSP before it)
    std::string raw_value;  // everything after the colon up to the field's end: leading space, folding
                            // line breaks (CRLF or LF as received) and continuation whitespace kept
    std::size_t line = 0;   // 1-based line number where the field starts

    /// RFC 5322 §2.2.3 unfolding: every line break followed by WSP is removed (the WSP kept), a line
    /// break at the very end is dropped, then leading and trailing WSP are trimmed.
    [[nodiscard]] std::string unfolded() const;
};

/// Header field names compare case-insensitively (RFC 5322 §1.2.2). ASCII only.
[[nodiscard]] bool header_name_equal(std::string_view a, std::string_view b) noexcept;

/// Bounds while parsing a header block.
struct HeaderLimits {
    std::size_t max_line_bytes = 998;        // RFC 5322 §2.1.1; longer lines are kept but reported
    std::size_t hard_line_bytes = 65536;     // a longer physical line ends parsing (truncated)
    std::size_t max_fields = 1000;           // more fields end parsing (truncated)
    std::size_t max_block_bytes = 1U << 20;  // a larger header block ends parsing (truncated)
};

/// Something wrong with one line of a header block. The line is skipped (no exception).
struct HeaderProblem {
    enum class Kind {
        no_colon,             // a line that is neither a field nor a continuation
        bad_name,             // field name empty or with characters outside printable ASCII 33..126
        orphan_continuation,  // a continuation line before the first field
        line_too_long,        // a physical line longer than max_line_bytes (the field is still kept)
        bare_cr,              // a CR not followed by LF inside the block (the field is still kept)
        too_many_fields,      // max_fields reached; parsing stopped
        block_too_large,      // max_block_bytes or hard_line_bytes reached; parsing stopped
    };
    Kind kind;
    std::size_t line = 0;
};

struct [[nodiscard]] HeaderBlock {
    /// ok: the block ended at an empty line (or at the end of the text) with no problems;
    /// malformed: problems were found but parsing went to the end of the block;
    /// truncated: a bound stopped parsing (fields holds what came before it).
    enum class Status { ok, malformed, truncated };
    Status status = Status::ok;
    std::vector<HeaderField> fields;
    std::vector<HeaderProblem> problems;
    std::size_t body_offset = 0;  // offset of the body (just past the empty line); text size if none
    bool has_separator = false;   // an empty line ended the block

    /// Indexes of fields named `name` (case-insensitive), in order.
    [[nodiscard]] std::vector<std::size_t> find(std::string_view name) const;
};

/// Parses the header block at the start of `message` (CRLF or LF line ends, also mixed). Stops at the
/// first empty line. Never throws for bad input: problems are reported in the result.
[[nodiscard]] HeaderBlock parse_header_block(std::string_view message, const HeaderLimits& limits = {});

/// Folds a generated field "Name: value" (RFC 5322 §2.2.3) so that lines stay within `width` characters
/// where possible: line breaks (`eol`) are inserted before a space or tab, never inside a quoted-string
/// or comment. A single word longer than width stays on its own line. Runs of whitespace in value are
/// kept. Returns the field without a trailing line end; an empty name gives just the folded value.
[[nodiscard]] std::string fold_header(std::string_view name, std::string_view value, std::size_t width = 78,
                                      std::string_view eol = "\r\n");

/// RFC 5322 §3.3 date-time of `unix_seconds` in UTC, e.g. "Tue, 01 Dec 2026 06:05:00 +0000".
[[nodiscard]] std::string rfc5322_date(std::int64_t unix_seconds);

}  // namespace mailmoat::mail
