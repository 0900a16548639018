// common/mail/auth_results.hpp - RFC 8601 Authentication-Results: builder, parser, forged-header finder.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/mail/header.hpp"

namespace mailmoat::mail {

/// ptype.property=value (RFC 8601 §2.2 propspec), e.g. header.d=example.com, smtp.mailfrom=a@b.
struct AuthProperty {
    std::string ptype;
    std::string property;
    std::string value;

    friend bool operator==(const AuthProperty&, const AuthProperty&) = default;
};

/// One resinfo: method[/version]=result [(comment)] [reason=...] properties.
struct AuthResult {
    std::string method;
    std::string method_version;  // empty: none
    std::string result;
    std::string comment;  // first comment after the result; text without the parentheses
    std::string reason;   // empty: no reasonspec
    std::vector<AuthProperty> properties;

    friend bool operator==(const AuthResult&, const AuthResult&) = default;
};

/// A whole header value. No results means "none" (RFC 8601 §2.2 no-result).
struct AuthResults {
    std::string authserv_id;
    std::string version;  // empty or digits ("1")
    std::vector<AuthResult> results;

    friend bool operator==(const AuthResults&, const AuthResults&) = default;
};

/// The header value on one line: "authserv-id[ version]; method=result ...; ..." or "...; none".
/// Values are written as tokens when they are tokens (RFC 2045), pvalues also as [local-part]@domain,
/// everything else as a quoted-string with '"' and '\' escaped. Control characters other than HTAB
/// (CR, LF, NUL, ...) in any value or comment are replaced by '?' so that the result is always one field.
/// Keywords (method, result, ptype, property) keep only letters, digits, '-', '_' and '.'.
[[nodiscard]] std::string auth_results_value(const AuthResults& ar);

/// "Authentication-Results: <value>" folded at `width` (see fold_header), without a trailing line end.
[[nodiscard]] std::string auth_results_field(const AuthResults& ar, std::size_t width = 78,
                                             std::string_view eol = "\r\n");

struct [[nodiscard]] ParsedAuthResults {
    /// ok: the whole value parsed; partial: authserv-id (and any results before the error) parsed, then
    /// a syntax error; invalid: not even an authserv-id.
    enum class Status { ok, partial, invalid };
    Status status = Status::invalid;
    AuthResults value;
    std::string error;
};

/// Parses an Authentication-Results value (RFC 8601 §2.2), folded or unfolded, with CFWS (nested
/// comments) anywhere between tokens. Keywords (method, result, ptype, property) are lower-cased (they
/// are case-insensitive); authserv-id and values are kept as written, quoted-strings unquoted.
/// Unknown methods and ptypes are kept. A control character other than HTAB/CR/LF ends parsing with
/// an error (partial once the authserv-id is known). Input over 64 KiB is invalid. Never throws.
[[nodiscard]] ParsedAuthResults parse_auth_results(std::string_view value);

/// An Authentication-Results field to delete: its index in `fields` and its 1-based occurrence among
/// fields of that name (the index libmilter's smfi_chgheader wants).
struct ForgedField {
    std::size_t field_index = 0;
    std::size_t occurrence = 0;

    friend bool operator==(const ForgedField&, const ForgedField&) = default;
};

/// RFC 8601 §5: the Authentication-Results fields that claim `authserv_id` (case-insensitive compare),
/// which a border MTA must remove. A field whose value cannot even yield an authserv-id is not listed.
[[nodiscard]] std::vector<ForgedField> forged_auth_results(const std::vector<HeaderField>& fields,
                                                           std::string_view authserv_id);

}  // namespace mailmoat::mail
