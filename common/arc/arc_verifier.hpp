// common/arc/arc_verifier.hpp - streaming ARC chain verifier (RFC 8617 §5.2), verification only.
#pragma once
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/arc/arc_headers.hpp"
#include "common/crypto/keys.hpp"
#include "common/dkim/header_list.hpp"
#include "common/dkim/key_cache.hpp"
#include "common/dkim/verifier.hpp"
#include "common/dns/resolver.hpp"
#include "common/mail/auth_results.hpp"

namespace mailmoat::arc {

/// The chain validation status (RFC 8617 §4.4). RFC 8617 §11 registers none, pass and fail for the
/// Authentication-Results method "arc"; temperror is ours: a key lookup failed temporarily and no
/// definite failure was found, so retrying may give pass (callers must not treat it as pass).
enum class ChainStatus { none, pass, fail, temperror };
[[nodiscard]] const char* chain_status_name(ChainStatus s) noexcept;  // "none", "pass", ...

/// Why a chain is not "pass" (none for pass and for an unsigned message).
enum class FailReason {
    none,
    too_many_sets,     // an instance above 50, or more ARC fields than 50 sets can hold (§4.2.1)
    bad_instance,      // an ARC field without a usable i= (missing, not a number, 0)
    field_too_long,    // an ARC field longer than VerifierConfig::max_field_bytes
    missing_field,     // a set lacks its AAR, AMS or AS (§5.2 step 3)
    duplicate_field,   // two AARs, AMSs or ASs with the same instance (§5.2 step 3)
    missing_instance,  // instances are not 1..N without gaps (§5.2 step 3)
    cv_fail,           // an ARC-Seal says cv=fail (§5.2 steps 2 and 3)
    cv_invalid,        // i=1 without cv=none, or i>1 without cv=pass (§5.2 step 3)
    ams_fail,          // the newest ARC-Message-Signature does not validate (§5.2 step 4)
    seal_fail,         // an ARC-Seal does not validate (§5.2 step 7)
    header_limits,     // the message has more header fields than we keep, so the AMS cannot be checked
    dns_temperror,     // status temperror: a key lookup failed temporarily
};
[[nodiscard]] const char* fail_reason_name(FailReason r) noexcept;  // "missing_instance", ...

/// What we found for one ARC set.
struct SetResult {
    unsigned instance = 0;
    Cv cv = Cv::none;
    /// pass / fail / permerror / temperror, or neutral when not evaluated (the chain failed its
    /// structure checks first, or the oldest-pass search stopped before this set).
    dkim::Result ams = dkim::Result::neutral;
    std::string ams_reason;
    std::string ams_domain;
    std::string ams_selector;
    dkim::Result seal = dkim::Result::neutral;
    std::string seal_reason;
    std::string seal_domain;  // d= of the ARC-Seal: the sealer
    std::string seal_selector;
    std::string aar_value;    // the ARC-Authentication-Results value as received (unverified text
                              // unless the chain passes and the sealer is trusted)
};

/// The verdict on a message's ARC chain.
struct [[nodiscard]] ArcResult {
    ChainStatus status = ChainStatus::none;
    FailReason reason = FailReason::none;
    std::string reason_text;   // short human-readable explanation (tag values only, no mail text)
    unsigned instances = 0;    // N, the highest instance seen (0: no ARC fields)
    /// RFC 8617 §5.2 steps 5-6: starting from N-1 downwards, the AMS of each older set is checked;
    /// the first one that fails to validate at instance i makes oldest-pass i+1. 0 when every AMS
    /// validates (the message is unchanged since the first sealer) and whenever status is not pass.
    unsigned oldest_pass = 0;
    /// d= of each ARC-Seal in instance order (1..N), when the structure allowed reading them all.
    std::vector<std::string> sealers;
    std::vector<SetResult> sets;  // instance order; empty when the structure checks failed early
};

struct VerifierConfig {
    std::size_t max_headers = 10000;                // header fields kept for the AMS h= selection
    std::size_t max_header_bytes = 4 * 1024 * 1024; // their total size
    std::size_t max_field_bytes = 16 * 1024;        // a longer ARC field fails the chain
    std::size_t max_body_hashes = 8;                // distinct (c=, l=) body hashes computed
    bool find_oldest_pass = true;                   // verify older AMSs (RFC 8617 §5.2 step 6, optional)
    unsigned min_rsa_bits = crypto::min_rsa_bits;   // RFC 8301 §3.2, as for DKIM
    std::shared_ptr<dkim::PublicKeyCache> key_cache;  // optional, shared by all verifiers of a daemon
};

/// Verifies the ARC chain of one message. Same shape as dkim::Verifier: feed every header field in
/// message order (name, and the value after the colon as received), then end_of_headers() (checks
/// the structure, fetches the keys and verifies the seals), then the body in chunks of any size,
/// then finish(). Only header fields are buffered. At most one DNS query per distinct key name.
/// Not thread-safe (one per message); the resolver must be thread-safe.
class Verifier {
public:
    explicit Verifier(dns::Resolver& resolver, VerifierConfig config = {});
    ~Verifier();
    Verifier(const Verifier&) = delete;
    Verifier& operator=(const Verifier&) = delete;

    void add_header(std::string_view name, std::string_view value);
    /// Called implicitly by add_body()/finish().
    void end_of_headers();
    void add_body(std::string_view chunk);
    /// The verdict. Call once; later calls return a default (none) result.
    [[nodiscard]] ArcResult finish();

    /// True once end_of_headers() knows the message has ARC fields (a caller may skip feeding the
    /// body to us otherwise).
    [[nodiscard]] bool needs_body() const noexcept { return !body_hashes_.empty(); }

private:
    struct ArcField {
        FieldKind kind;
        std::string name;
        std::string value;
    };
    struct BodyHash;
    struct KeyLookup;
    struct Ams;

    void fail(FailReason r, std::string why);
    const KeyLookup& key(const std::string& name);
    void verify_seals();
    void prepare_ams();

    dns::Resolver& resolver_;
    VerifierConfig config_;
    std::vector<dkim::HeaderField> headers_;
    std::size_t header_bytes_ = 0;
    bool header_overflow_ = false;
    std::vector<ArcField> arc_fields_;
    std::size_t arc_fields_seen_ = 0;
    bool field_too_long_ = false;
    bool headers_done_ = false;
    bool finished_ = false;
    bool structure_failed_ = false;
    ArcResult result_;
    std::vector<Ams> ams_;  // index i-1 for instance i
    std::vector<std::unique_ptr<BodyHash>> body_hashes_;
    std::map<std::string, KeyLookup> keys_;
};

/// The Authentication-Results entry the DMARC milter writes (RFC 8617 §11, RFC 8601 §2.7):
/// "arc=pass header.oldest-pass=N smtp.remote-ip=IP", with a short comment naming the failure
/// otherwise ("arc=fail (seal i=2 did not verify) smtp.remote-ip=..."); temperror is written as
/// arc=temperror. oldest-pass is given only for pass; smtp.remote-ip only when `remote_ip` is not
/// empty. Never fails.
[[nodiscard]] mail::AuthResult auth_result(const ArcResult& r, std::string_view remote_ip);
/// The same as text: "arc=pass header.oldest-pass=0 smtp.remote-ip=192.0.2.1".
[[nodiscard]] std::string auth_result_text(const ArcResult& r, std::string_view remote_ip);

}  // namespace mailmoat::arc
