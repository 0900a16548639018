// common/arc/arc_headers.hpp - the three ARC header fields (RFC 8617 §4.1): recognising them, reading
// their instance (i=), and parsing ARC-Message-Signature and ARC-Seal into checked values.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/dkim/canonicalizer.hpp"
#include "common/mail/auth_results.hpp"

namespace mailmoat::arc {

/// RFC 8617 §4.2.1: instances run from 1 to 50; a chain with more sets fails.
inline constexpr unsigned max_instance = 50;

/// Which ARC header field a header is.
enum class FieldKind { aar, ams, seal };
[[nodiscard]] const char* field_kind_name(FieldKind k) noexcept;  // "ARC-Authentication-Results", ...

/// The field kind of a header name (case-insensitive, trailing whitespace ignored), or nullopt for
/// every other header.
[[nodiscard]] std::optional<FieldKind> field_kind(std::string_view name) noexcept;

/// Chain validation status recorded in an ARC-Seal's cv= (RFC 8617 §4.1.3).
enum class Cv { none, pass, fail };
[[nodiscard]] const char* cv_name(Cv c) noexcept;  // "none", "pass", "fail"

enum class InstanceStatus {
    ok,
    missing,       // no i= (AAR: the value does not start with "i=")
    invalid,       // i= is not 1*DIGIT, or the field is not a tag-list at all
    out_of_range,  // i=0 or i > max_instance
};

struct [[nodiscard]] InstanceParse {
    InstanceStatus status = InstanceStatus::invalid;
    unsigned instance = 0;  // the value when status is ok or out_of_range (saturating at 9999)
};

/// Reads the instance of an ARC field value. ARC-Authentication-Results: the value must start (after
/// whitespace) with "i=" 1*DIGIT ";" (RFC 8617 §4.1.1). ARC-Message-Signature and ARC-Seal: the i= tag
/// of the tag-list (RFC 6376 §3.2 syntax). Never throws.
[[nodiscard]] InstanceParse parse_instance(FieldKind kind, std::string_view value);

/// RFC 8617 only defines rsa-sha256 for ARC (§4.1.2 refers to DKIM's algorithms; the ARC test suite
/// and every implementation use rsa-sha256 only). Other a= values are `unsupported`.
enum class ParseStatus { ok, permerror, unsupported };

/// A syntactically valid ARC-Message-Signature (a DKIM-Signature without v=, with i= the instance).
struct MessageSignature {
    unsigned instance = 0;
    std::string signature;   // b= decoded
    std::string b_text;      // b= without whitespace
    std::string body_hash;   // bh= decoded (32 octets)
    dkim::Canon header_canon = dkim::Canon::simple;  // c= defaults as in DKIM (RFC 6376 §3.5)
    dkim::Canon body_canon = dkim::Canon::simple;
    std::string domain;      // d=, lower-cased
    std::string selector;    // s=, lower-cased
    std::vector<std::string> signed_headers;  // h=, lower-cased
    std::optional<std::uint64_t> body_length;  // l=
    std::optional<std::int64_t> timestamp;     // t=

    [[nodiscard]] std::string key_name() const { return selector + "._domainkey." + domain; }
};

struct [[nodiscard]] MessageSignatureParse {
    ParseStatus status = ParseStatus::permerror;
    std::string error;
    MessageSignature signature;  // filled as far as parsing got
};

/// Parses an ARC-Message-Signature value (RFC 8617 §4.1.2): tag-list syntax without duplicates; the
/// tags i a b bh d h s are required; i= in 1..50; a=rsa-sha256; b=/bh= base64 with bh= 32 octets;
/// c= as in DKIM; h= must not name arc-seal (§4.1.2); l=/t= decimal. Bad input is a status with a
/// reason; never throws.
[[nodiscard]] MessageSignatureParse parse_message_signature(std::string_view value);

/// A syntactically valid ARC-Seal.
struct Seal {
    unsigned instance = 0;
    Cv cv = Cv::none;
    std::string signature;  // b= decoded
    std::string b_text;
    std::string domain;     // d=, lower-cased
    std::string selector;   // s=, lower-cased
    std::optional<std::int64_t> timestamp;  // t=

    [[nodiscard]] std::string key_name() const { return selector + "._domainkey." + domain; }
};

struct [[nodiscard]] SealParse {
    ParseStatus status = ParseStatus::permerror;
    std::string error;
    Seal seal;  // filled as far as parsing got
};

/// Parses an ARC-Seal value (RFC 8617 §4.1.3): tag-list syntax without duplicates; the tags i a b cv
/// d s are required; h= is forbidden (an AS with h= fails); i= in 1..50; cv= none, pass or fail
/// (case-insensitive); a=rsa-sha256; b= base64. Never throws.
[[nodiscard]] SealParse parse_seal(std::string_view value);

/// The Authentication-Results payload of an ARC-Authentication-Results value (RFC 8617 §4.1.1): the
/// value after its leading "i=N;" parsed by mail::parse_auth_results (so authserv-id and results as
/// an A-R header would give them). A value without a valid instance prefix is Status::invalid with
/// an error. Only meaningful once the chain passed and the sealer of that set is trusted.
[[nodiscard]] mail::ParsedAuthResults parse_aar(std::string_view value);

}  // namespace mailmoat::arc
