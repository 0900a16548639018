// common/spf/record.hpp - RFC 7208 §4.5-§6 SPF record selection and parsing into a compact form.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/util/ip_address.hpp"

namespace mailmoat::spf {

/// §4.6.2 qualifiers; the value is the result a match produces.
enum class Qualifier : std::uint8_t { pass, fail, softfail, neutral };

enum class MechanismKind : std::uint8_t { all, include, a, mx, ptr, ip4, ip6, exists };

[[nodiscard]] const char* mechanism_name(MechanismKind k) noexcept;
[[nodiscard]] char qualifier_char(Qualifier q) noexcept;

/// Bounds on a record. TXT answers are bounded by the DNS message size; these keep a hostile record's
/// cost linear and small.
inline constexpr std::size_t max_record_length = 8192;  // octets after joining the TXT strings
inline constexpr std::size_t max_record_terms = 1024;

struct Mechanism {
    Qualifier qualifier = Qualifier::pass;
    MechanismKind kind = MechanismKind::all;
    std::string domain_spec;   // unexpanded macro-string; empty: the current <domain>
    util::IpAddress network;   // ip4 / ip6
    std::uint8_t cidr4 = 32;   // a, mx, ip4
    std::uint8_t cidr6 = 128;  // a, mx, ip6
    std::string text;          // the term as written (for results and logs)

    /// True for the terms that count against the 10-lookup limit (§4.6.4).
    [[nodiscard]] bool needs_dns() const noexcept {
        return kind == MechanismKind::include || kind == MechanismKind::a || kind == MechanismKind::mx ||
               kind == MechanismKind::ptr || kind == MechanismKind::exists;
    }
};

/// A parsed record: mechanisms in order, the two known modifiers (unknown ones are checked for syntax
/// and dropped, §6).
struct Record {
    std::vector<Mechanism> mechanisms;
    std::optional<std::string> redirect;  // domain-spec
    std::optional<std::string> exp;       // domain-spec
};

enum class ParseStatus {
    ok,
    not_spf,       // no "v=spf1" version tag: not an SPF record at all (§4.5)
    syntax_error,  // an SPF record with an error anywhere: permerror (§4.6)
};

[[nodiscard]] const char* parse_status_name(ParseStatus s) noexcept;

struct ParseResult {
    ParseStatus status = ParseStatus::syntax_error;
    Record record;      // ok only
    std::string error;  // syntax_error: the offending term and why
};

/// True when txt begins with the version tag "v=spf1" (case-insensitive) followed by a space or the
/// end of the record (§4.5). Anything else ("v=spf10", "v=spf1\t") is not an SPF record.
[[nodiscard]] bool has_spf_version(std::string_view txt) noexcept;

/// Parses a whole record (§4.6, §12 ABNF): terms separated by one or more SP, trailing SP allowed;
/// mechanism and modifier names case-insensitive; domain-specs and macro-strings validated; CIDR
/// lengths in range without leading zeros; duplicate redirect= or exp= rejected. Returns not_spf
/// without a version tag and syntax_error (with the reason) for any malformed term or for records
/// over max_record_length/max_record_terms.
[[nodiscard]] ParseResult parse_record(std::string_view txt);

/// Checks a domain-spec (§7.1): a valid domain-context macro-string whose end is a macro-expand or
/// "." toplabel with an optional trailing dot. Returns false and sets *error on bad input.
[[nodiscard]] bool valid_domain_spec(std::string_view spec, std::string* error = nullptr);

}  // namespace mailmoat::spf
