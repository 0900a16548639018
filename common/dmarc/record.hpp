// common/dmarc/record.hpp - RFC 9989 §4.7-§4.8 DMARC policy record parsing (with RFC 7489's pct kept).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mailmoat::dmarc {

/// Bounds on a record: TXT answers are bounded by the resolver; these keep a hostile record cheap.
inline constexpr std::size_t max_record_length = 8192;  // octets after joining the TXT strings
inline constexpr std::size_t max_record_tags = 64;      // tag-specs looked at; more are ignored
inline constexpr std::size_t max_report_uris = 32;      // URIs kept per rua/ruf; more are ignored

/// Whether the record's Domain Owner Assessment Policy can be used (RFC 9989 §4.10.1).
enum class PolicyState {
    valid,         // p= present and valid, sp=/np= absent or valid
    none_for_rua,  // p= missing or invalid, or sp=/np= invalid, but rua= has a valid URI: act as p=none
    unusable,      // as above without a valid rua=: no DMARC processing for the message
};

/// A parsed DMARC record. Absent tags have their RFC defaults; invalid values are dropped (§4.8:
/// "syntax errors in the remainder of the record MUST be discarded in favor of default values") and
/// described in `notes`.
struct Record {
    PolicyState state = PolicyState::valid;
    std::string p;              // none|quarantine|reject; "none" when state is none_for_rua; empty when unusable
    std::string sp;             // empty when absent (or when state != valid)
    std::string np;             // empty when absent (or when state != valid)
    std::string adkim = "r";    // r|s
    std::string aspf = "r";     // r|s
    std::string t;              // y|n as published; empty when absent
    std::string psd = "u";      // y|n|u
    int pct = -1;               // RFC 7489 pct= 0..100; -1 when absent or invalid
    std::string fo;             // as published when valid; empty when absent or invalid
    std::vector<std::string> rua;  // syntactically valid URIs, "!size" suffixes removed (§4.8 obs-dmarc-uri)
    std::vector<std::string> ruf;
    std::vector<std::string> ruf_published;  // the valid ruf URIs as published, "!size" kept (RFC 9991 §2 limits)
    std::vector<std::string> notes;  // what was ignored or defaulted and why (for `mailmoat dmarc check`)
};

enum class RecordStatus {
    ok,
    not_dmarc,  // does not start with "v=DMARC1" (§4.7 v=): the record is ignored entirely
};

struct ParsedRecord {
    RecordStatus status = RecordStatus::not_dmarc;
    Record record;
};

/// True when `text` starts with the version tag "v=DMARC1" (WSP allowed around '=', the value is case
/// sensitive) followed by the end of the text or a ';' (RFC 9989 §4.7 v=, §4.10 step 2). Leading WSP is
/// tolerated.
[[nodiscard]] bool is_dmarc_record(std::string_view text) noexcept;

/// Parses one DMARC record (RFC 9989 §4.7-§4.8). Tag names and the values of enumerated tags are
/// compared case-insensitively (ABNF strings); unknown tags are ignored; a repeated tag keeps its first
/// value; a malformed tag-spec is skipped. Returns not_dmarc when is_dmarc_record() is false. A record
/// longer than max_record_length is parsed up to that length only (noted). Never throws for bad input.
[[nodiscard]] ParsedRecord parse_record(std::string_view text);

/// True for a syntactically valid DMARC reporting URI (RFC 3986 scheme ":" 1*char, no whitespace or
/// control characters, no unencoded ',' or '!'), after an optional obsolete "!size" suffix is removed.
/// `out` receives the URI without the suffix.
[[nodiscard]] bool parse_report_uri(std::string_view text, std::string& out);

}  // namespace mailmoat::dmarc
