// common/dkim/verifier.cpp - streaming DKIM verifier.
#include "common/dkim/verifier.hpp"

#include "common/crypto/keys.hpp"
#include "common/dkim/key_record.hpp"

namespace mailmoat::dkim {
namespace {

std::string lowered(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

}  // namespace

const char* result_name(Result r) noexcept {
    switch (r) {
    case Result::pass: return "pass";
    case Result::fail: return "fail";
    case Result::neutral: return "neutral";
    case Result::policy: return "policy";
    case Result::temperror: return "temperror";
    case Result::permerror: return "permerror";
    }
    return "permerror";
}

struct Verifier::BodyHash {
    BodyHasher hasher;
    std::string digest;
};

struct Verifier::Pending {
    std::string raw_value;     // the DKIM-Signature value as received
    std::string raw_name;      // its field name as received
    bool evaluate = false;     // within max_signatures
    bool decided = false;      // result already final (error before the body)
    SignatureResult out;
    Signature sig;
    std::shared_ptr<const crypto::PublicKey> key;
    std::string header_digest;
    BodyHash* body = nullptr;
};

Verifier::Verifier(dns::Resolver& resolver, const util::Clock& clock, VerifierConfig config)
    : resolver_(resolver), clock_(clock), config_(config) {}

Verifier::~Verifier() = default;

void Verifier::add_header(std::string_view name, std::string_view value) {
    if (headers_done_) return;
    std::string lower = lowered(name);
    const bool is_sig = lower == "dkim-signature";
    if (is_sig) {
        ++signatures_seen_;
        if (pending_.size() < config_.max_reported) {
            Pending p;
            if (value.size() > config_.max_signature_bytes) {
                p.out.result = Result::permerror;
                p.out.reason = "DKIM-Signature field longer than " + std::to_string(config_.max_signature_bytes) + " octets";
                p.decided = true;
            } else {
                p.raw_value = std::string(value);
            }
            p.raw_name = std::string(name);
            p.evaluate = pending_.size() < config_.max_signatures;
            pending_.push_back(std::move(p));
        }
    }
    if (headers_.size() >= config_.max_headers || header_bytes_ + name.size() + value.size() > config_.max_header_bytes) {
        header_overflow_ = true;
        return;
    }
    header_bytes_ += name.size() + value.size();
    headers_.push_back(HeaderField{std::string(name), std::move(lower), std::string(value)});
}

void Verifier::end_of_headers() {
    if (headers_done_) return;
    headers_done_ = true;
    for (auto& p : pending_)
        if (!p.decided) evaluate(p);
}

void Verifier::evaluate(Pending& p) {
    auto decide = [&](Result r, std::string why) {
        p.out.result = r;
        p.out.reason = std::move(why);
        p.decided = true;
    };
    if (!p.evaluate) {
        decide(Result::neutral, "not evaluated: more than " + std::to_string(config_.max_signatures) +
                                    " signatures in the message");
        // Identify it anyway, when it parses.
        const auto parsed = parse_signature(p.raw_value);
        p.out.domain = parsed.signature.domain;
        p.out.selector = parsed.signature.selector;
        p.out.b_text = parsed.signature.b_text;
        return;
    }
    const auto parsed = parse_signature(p.raw_value);
    p.sig = parsed.signature;
    p.out.domain = p.sig.domain;
    p.out.selector = p.sig.selector;
    p.out.b_text = p.sig.b_text;
    if (parsed.status != SignatureStatus::ok) return decide(Result::permerror, parsed.error);
    p.out.identity = p.sig.identity;
    p.out.algorithm = algorithm_name(p.sig.algorithm);
    if (header_overflow_) return decide(Result::permerror, "message has too many header fields to verify");

    // §3.5 t= and x= against our clock.
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(clock_.now().time_since_epoch()).count();
    const auto skew = config_.clock_skew.count();
    if (p.sig.timestamp && *p.sig.timestamp > now + skew)
        return decide(Result::permerror, "signature timestamp t= is in the future");
    if (p.sig.expiration && *p.sig.expiration + skew < now)
        return decide(Result::permerror, "signature expired (x=)");

    // §6.1.2 get the key.
    const dns::Answer ans = resolver_.query(p.sig.key_name(), dns::RrType::txt);
    if (ans.status == dns::Status::tempfail)
        return decide(Result::temperror, "key lookup failed: " + (ans.error.empty() ? std::string("tempfail") : ans.error));
    if (ans.status != dns::Status::ok || ans.txt.empty())
        return decide(Result::permerror, "no key record at " + p.sig.key_name());
    KeyRecordParse rec;
    for (const auto& txt : ans.txt) {
        rec = parse_key_record(txt);
        if (rec.status == KeyRecordStatus::ok) break;
    }
    if (rec.status != KeyRecordStatus::ok) return decide(Result::permerror, "bad key record: " + rec.error);
    const KeyRecord& k = rec.record;
    p.out.testing = k.testing;
    if (k.revoked) return decide(Result::permerror, "key revoked (empty p=)");
    if (k.type != algorithm_key_type(p.sig.algorithm))
        return decide(Result::permerror, std::string("key type k=") + crypto::key_type_name(k.type) +
                                             " does not match a=" + algorithm_name(p.sig.algorithm));
    const bool hash_ok = p.sig.algorithm == Algorithm::rsa_sha1 ? k.allows_sha1 : k.allows_sha256;
    if (!hash_ok) return decide(Result::permerror, "key record h= does not allow the signature's hash");
    if (k.strict_identity && lowered(p.sig.identity_domain()) != p.sig.domain)
        return decide(Result::permerror, "key has t=s but i= is a subdomain of d=");
    const auto pk = config_.key_cache ? config_.key_cache->get(k.type, k.public_key, config_.min_rsa_bits)
                                      : crypto::PublicKey::from_dkim(k.type, k.public_key, config_.min_rsa_bits);
    if (pk.status == crypto::PublicKeyStatus::weak_key) return decide(Result::fail, pk.error);
    if (pk.status != crypto::PublicKeyStatus::ok) return decide(Result::permerror, "unusable public key: " + pk.error);
    p.key = pk.key;
    p.out.key_bits = p.key->bits();

    // §3.7 header hash: the signed fields, then this signature field without its b= value and CRLF.
    crypto::Digest hh(algorithm_hash(p.sig.algorithm));
    hash_signed_headers(hh, headers_, p.sig.signed_headers, p.sig.header_canon);
    std::string self = canonicalize_header(p.sig.header_canon, p.raw_name, strip_b_value(p.raw_value));
    self.resize(self.size() - 2);
    hh.update(self);
    p.header_digest = hh.finish();

    // Share one body hash among signatures with the same parameters.
    for (auto& b : body_hashes_) {
        if (b->hasher.canon() == p.sig.body_canon && b->hasher.hash() == algorithm_hash(p.sig.algorithm) &&
            b->hasher.limit() == p.sig.body_length) {
            p.body = b.get();
            return;
        }
    }
    body_hashes_.push_back(std::make_unique<BodyHash>(
        BodyHash{BodyHasher(p.sig.body_canon, algorithm_hash(p.sig.algorithm), p.sig.body_length), {}}));
    p.body = body_hashes_.back().get();
}

void Verifier::add_body(std::string_view chunk) {
    if (!headers_done_) end_of_headers();
    if (finished_) return;
    for (auto& b : body_hashes_) b->hasher.update(chunk);
}

std::vector<SignatureResult> Verifier::finish() {
    if (!headers_done_) end_of_headers();
    std::vector<SignatureResult> results;
    if (finished_) return results;
    finished_ = true;
    for (auto& b : body_hashes_) b->digest = b->hasher.finish();
    for (auto& p : pending_) {
        if (!p.decided) {
            const BodyHash& b = *p.body;
            const std::uint64_t body_len = b.hasher.canonical_length();
            const bool sha1 = p.sig.algorithm == Algorithm::rsa_sha1;
            if (p.sig.body_length && *p.sig.body_length > body_len) {
                p.out.result = Result::fail;
                p.out.reason = "body is shorter than l=";
            } else if (b.digest != p.sig.body_hash) {
                p.out.result = Result::fail;
                p.out.reason = "body hash mismatch";
            } else {
                switch (p.key->verify_digest(algorithm_hash(p.sig.algorithm), p.header_digest, p.sig.signature)) {
                case crypto::VerifyStatus::valid:
                    if (p.sig.body_length && *p.sig.body_length < body_len && !config_.accept_partial_body) {
                        p.out.result = Result::policy;
                        p.out.reason = "l= leaves " + std::to_string(body_len - *p.sig.body_length) +
                                       " body octets unsigned";
                    } else {
                        p.out.result = Result::pass;
                        p.out.reason = "signature verified";
                    }
                    break;
                case crypto::VerifyStatus::invalid:
                    p.out.result = Result::fail;
                    p.out.reason = "signature did not verify";
                    break;
                case crypto::VerifyStatus::error:
                    p.out.result = Result::permerror;
                    p.out.reason = "signature cannot be checked with this key";
                    break;
                }
            }
            if (sha1) {
                p.out.reason = "rsa-sha1 is not accepted (RFC 8301); " +
                               std::string(p.out.result == Result::pass ? "otherwise valid" : p.out.reason);
                p.out.result = Result::fail;
            }
        } else if (p.sig.algorithm == Algorithm::rsa_sha1 && p.out.result != Result::neutral &&
                   !p.out.algorithm.empty()) {
            p.out.reason = "rsa-sha1 is not accepted (RFC 8301); " + p.out.reason;
            p.out.result = Result::fail;
        }
        results.push_back(std::move(p.out));
    }
    return results;
}

}  // namespace mailmoat::dkim
