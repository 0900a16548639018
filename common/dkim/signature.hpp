// common/dkim/signature.hpp - the DKIM-Signature header field: parsing and validation (RFC 6376 §3.5)
// and building a folded header value for the signer.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/crypto/digest.hpp"
#include "common/crypto/keys.hpp"
#include "common/dkim/canonicalizer.hpp"

namespace mailmoat::dkim {

/// a= values we recognise. rsa-sha1 is parsed only so that it can be reported as failing (RFC 8301).
enum class Algorithm { rsa_sha1, rsa_sha256, ed25519_sha256 };
[[nodiscard]] const char* algorithm_name(Algorithm a) noexcept;  // "rsa-sha256", ...
[[nodiscard]] crypto::HashAlgorithm algorithm_hash(Algorithm a) noexcept;
[[nodiscard]] crypto::KeyType algorithm_key_type(Algorithm a) noexcept;

/// A parsed, syntactically valid DKIM-Signature.
struct Signature {
    Algorithm algorithm = Algorithm::rsa_sha256;
    std::string signature;   // b= decoded
    std::string b_text;      // b= as base64 without whitespace (for header.b in Authentication-Results)
    std::string body_hash;   // bh= decoded
    Canon header_canon = Canon::simple;
    Canon body_canon = Canon::simple;
    std::string domain;      // d=, lower-cased
    std::vector<std::string> signed_headers;  // h=, lower-cased, in order
    std::string identity;    // i= (default "@" + d); local-part as written, domain lower-cased
    std::optional<std::uint64_t> body_length;  // l=
    std::string selector;    // s=, lower-cased
    std::optional<std::int64_t> timestamp;   // t=
    std::optional<std::int64_t> expiration;  // x=
    std::string copied_headers;              // z= as written (diagnostic only)

    /// The domain part of identity().
    [[nodiscard]] std::string_view identity_domain() const noexcept;
    /// "selector._domainkey.domain" (RFC 6376 §3.6.2.1).
    [[nodiscard]] std::string key_name() const;
};

enum class SignatureStatus {
    ok,
    permerror,  // malformed, missing or contradictory tags (RFC 6376 §6.1.1: PERMFAIL)
    unsupported,  // well-formed but v= or a= or q= or c= we do not implement (also PERMFAIL)
};

struct [[nodiscard]] SignatureParse {
    SignatureStatus status = SignatureStatus::permerror;
    std::string error;   // reason when status != ok
    Signature signature; // filled as far as parsing got (domain/selector useful for reporting)
};

/// Parses a DKIM-Signature header value (everything after the colon, folding kept). Checks, per
/// RFC 6376 §3.5 and §6.1.1: tag-list syntax, no duplicate tags, v=1, the required tags
/// (v a b bh d h s), known a= and c= values, base64 b=/bh= with bh= of the hash's size, h=
/// including "from", i= whose domain is d= or a subdomain of it, l= and t=/x= as decimal numbers
/// of at most 76 / 12 digits, x= > t= when both present, q= containing dns/txt, selector and domain
/// syntax. Bad input is a status with a reason; it never throws.
[[nodiscard]] SignatureParse parse_signature(std::string_view value);

/// Case-insensitive "is `sub` equal to `domain` or a subdomain of it" (for i= vs d=, §3.5).
[[nodiscard]] bool domain_within(std::string_view sub, std::string_view domain) noexcept;

/// What the signer puts in a DKIM-Signature.
struct SignatureFields {
    Algorithm algorithm = Algorithm::rsa_sha256;
    Canon header_canon = Canon::relaxed;
    Canon body_canon = Canon::relaxed;
    std::string domain;
    std::string selector;
    std::optional<std::string> identity;
    std::optional<std::int64_t> timestamp;
    std::optional<std::int64_t> expiration;
    std::optional<std::uint64_t> body_length;
    std::vector<std::string> signed_headers;
    std::string body_hash;  // raw digest
};

/// Builds the header value (with a leading space) folded at 78 columns with CRLF + TAB, counting
/// the "DKIM-Signature:" name on the first line. Tags in the order v a c d s t x i l h bh b; b= is
/// last. With an empty `signature` the value ends in "b=" — the form that is hashed (§3.7); with the
/// signature it continues "b=<base64>" on the same line, folded after the first chunk, so that
/// removing the b= value (as verifiers do) yields exactly the hashed form.
[[nodiscard]] std::string build_signature_value(const SignatureFields& f, std::string_view signature = {});

/// Removes the value of the b= tag from a raw DKIM-Signature value (§3.7): the characters from the
/// first non-whitespace after "b=" up to the last non-whitespace before the next ';' or the end.
/// Returns the input unchanged when it has no b= tag.
[[nodiscard]] std::string strip_b_value(std::string_view value);

}  // namespace mailmoat::dkim
