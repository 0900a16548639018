// common/dkim/verifier.hpp - streaming DKIM verifier (RFC 6376 §6, RFC 8301, RFC 8463).
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/dkim/canonicalizer.hpp"
#include "common/dkim/header_list.hpp"
#include "common/dkim/key_cache.hpp"
#include "common/dkim/signature.hpp"
#include "common/dns/resolver.hpp"
#include "common/util/clock.hpp"

namespace mailmoat::dkim {

/// Per-signature results as RFC 8601 §2.7.1 names them.
enum class Result {
    pass,       // signature and body hash verified
    fail,       // did not verify: body hash or signature mismatch, rsa-sha1 (RFC 8301 §3.1),
                // RSA key under 1024 bits (RFC 8301 §3.2)
    neutral,    // not evaluated: beyond the per-message limit of signatures to verify
    policy,     // verified, but l= leaves part of the body unsigned and that is not accepted
    temperror,  // key lookup failed temporarily (timeout, SERVFAIL); retrying may succeed
    permerror,  // unusable: bad syntax, no key, revoked key, key/algorithm mismatch, i= outside d=,
                // From not signed, x= expired, t= in the future, too many header fields
};
[[nodiscard]] const char* result_name(Result r) noexcept;  // "pass", "fail", ...

struct SignatureResult {
    Result result = Result::permerror;
    std::string reason;     // short human-readable explanation (not mail data beyond tag values)
    std::string domain;     // d= (may be empty when unparsable)
    std::string selector;   // s=
    std::string identity;   // i= (or "@d")
    std::string b_text;     // b= base64 without whitespace (A-R header.b uses a prefix)
    std::string algorithm;  // a= as written when known ("rsa-sha256", ...), else empty
    unsigned key_bits = 0;  // size of the key used, when one was fetched
    bool testing = false;   // key record carries t=y
};

struct VerifierConfig {
    std::size_t max_signatures = 5;                 // signatures evaluated per message (RFC 6376 §4)
    std::size_t max_reported = 32;                  // further ones are counted, not listed
    std::chrono::seconds clock_skew{300};           // tolerance for t= in the future and x= expiry
    bool accept_partial_body = false;               // l= shorter than the body: pass instead of policy
    std::size_t max_headers = 10000;                // header fields kept for h= selection
    std::size_t max_header_bytes = 4 * 1024 * 1024; // their total size
    std::size_t max_signature_bytes = 16 * 1024;    // a longer DKIM-Signature field is a permerror
    unsigned min_rsa_bits = crypto::min_rsa_bits;   // RFC 8301 §3.2
    std::shared_ptr<PublicKeyCache> key_cache;      // optional, shared by all verifiers of a daemon
};

/// Verifies the DKIM signatures of one message. Feed every header field in message order, then
/// end_of_headers() (performs the key lookups through the resolver), then the body in chunks of
/// any size, then finish(). Body hashes are computed once per distinct (canonicalization, hash,
/// l=) as the body streams; nothing is buffered but the header fields. Not thread-safe (one per
/// message); the resolver must be thread-safe.
class Verifier {
public:
    Verifier(dns::Resolver& resolver, const util::Clock& clock, VerifierConfig config = {});
    ~Verifier();
    Verifier(const Verifier&) = delete;
    Verifier& operator=(const Verifier&) = delete;

    /// `value` is everything after the colon as received (leading space and folding kept).
    void add_header(std::string_view name, std::string_view value);
    /// Validates the signatures and fetches their keys. Called implicitly by add_body()/finish().
    void end_of_headers();
    void add_body(std::string_view chunk);
    /// One result per DKIM-Signature header field, top to bottom, at most max_reported. An unsigned
    /// message gives an empty vector (RFC 8601 "none" is the caller's to write).
    [[nodiscard]] std::vector<SignatureResult> finish();

    /// DKIM-Signature header fields seen (also those beyond max_reported).
    [[nodiscard]] std::size_t signatures_seen() const noexcept { return signatures_seen_; }

private:
    struct Pending;
    struct BodyHash;

    void evaluate(Pending& p);

    dns::Resolver& resolver_;
    const util::Clock& clock_;
    VerifierConfig config_;
    std::vector<HeaderField> headers_;
    std::size_t header_bytes_ = 0;
    bool header_overflow_ = false;
    std::size_t signatures_seen_ = 0;
    std::vector<Pending> pending_;
    std::vector<std::unique_ptr<BodyHash>> body_hashes_;
    bool headers_done_ = false;
    bool finished_ = false;
};

}  // namespace mailmoat::dkim
