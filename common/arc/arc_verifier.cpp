// common/arc/arc_verifier.cpp - ARC chain validation (RFC 8617 §5.2) on top of the DKIM engine's
// canonicalization, header selection, key records and crypto.
#include "common/arc/arc_verifier.hpp"

#include <algorithm>
#include <array>

#include "common/crypto/digest.hpp"
#include "common/dkim/canonicalizer.hpp"
#include "common/dkim/key_record.hpp"
#include "common/dkim/signature.hpp"

namespace mailmoat::arc {
namespace {

constexpr std::size_t npos = static_cast<std::size_t>(-1);
constexpr std::size_t max_reason = 200;

std::string lowered(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::string inst(unsigned i) { return "i=" + std::to_string(i); }

/// The hashed form of a signature field itself: its canonical form without the b= value and without
/// the final CRLF (RFC 6376 §3.7, RFC 8617 §5.1.1).
std::string self_form(dkim::Canon c, std::string_view name, std::string_view value) {
    std::string s = dkim::canonicalize_header(c, name, dkim::strip_b_value(value));
    s.resize(s.size() - 2);
    return s;
}

}  // namespace

const char* chain_status_name(ChainStatus s) noexcept {
    switch (s) {
    case ChainStatus::none: return "none";
    case ChainStatus::pass: return "pass";
    case ChainStatus::fail: return "fail";
    case ChainStatus::temperror: return "temperror";
    }
    return "fail";
}

const char* fail_reason_name(FailReason r) noexcept {
    switch (r) {
    case FailReason::none: return "none";
    case FailReason::too_many_sets: return "too_many_sets";
    case FailReason::bad_instance: return "bad_instance";
    case FailReason::field_too_long: return "field_too_long";
    case FailReason::missing_field: return "missing_field";
    case FailReason::duplicate_field: return "duplicate_field";
    case FailReason::missing_instance: return "missing_instance";
    case FailReason::cv_fail: return "cv_fail";
    case FailReason::cv_invalid: return "cv_invalid";
    case FailReason::ams_fail: return "ams_fail";
    case FailReason::seal_fail: return "seal_fail";
    case FailReason::header_limits: return "header_limits";
    case FailReason::dns_temperror: return "dns_temperror";
    }
    return "none";
}

struct Verifier::BodyHash {
    dkim::BodyHasher hasher;
    std::string digest;
};

struct Verifier::KeyLookup {
    dkim::Result status = dkim::Result::permerror;  // pass: `key` is usable
    std::string error;
    std::shared_ptr<const crypto::PublicKey> key;
};

struct Verifier::Ams {
    bool parsed = false;
    bool decided = false;
    MessageSignature sig;
    std::string header_digest;
    std::shared_ptr<const crypto::PublicKey> key;
    BodyHash* body = nullptr;
};

Verifier::Verifier(dns::Resolver& resolver, VerifierConfig config) : resolver_(resolver), config_(std::move(config)) {}

Verifier::~Verifier() = default;

void Verifier::add_header(std::string_view name, std::string_view value) {
    if (headers_done_) return;
    const auto kind = field_kind(name);
    if (headers_.size() < config_.max_headers && header_bytes_ + name.size() + value.size() <= config_.max_header_bytes) {
        header_bytes_ += name.size() + value.size();
        headers_.push_back(dkim::HeaderField{std::string(name), lowered(name), std::string(value)});
    } else {
        header_overflow_ = true;
    }
    if (!kind) return;
    ++arc_fields_seen_;
    if (value.size() > config_.max_field_bytes) {
        field_too_long_ = true;
        return;
    }
    if (arc_fields_.size() < 3 * max_instance)
        arc_fields_.push_back(ArcField{*kind, std::string(name), std::string(value)});
}

void Verifier::fail(FailReason r, std::string why) {
    result_.status = ChainStatus::fail;
    result_.reason = r;
    if (why.size() > max_reason) why.resize(max_reason);
    result_.reason_text = std::move(why);
    structure_failed_ = true;
}

const Verifier::KeyLookup& Verifier::key(const std::string& name) {
    if (auto it = keys_.find(name); it != keys_.end()) return it->second;
    KeyLookup k;
    auto decide = [&](dkim::Result r, std::string why) {
        k.status = r;
        k.error = std::move(why);
    };
    const dns::Answer ans = resolver_.query(name, dns::RrType::txt);
    if (ans.status == dns::Status::tempfail) {
        decide(dkim::Result::temperror, "key lookup failed: " + (ans.error.empty() ? std::string("tempfail") : ans.error));
    } else if (ans.status != dns::Status::ok || ans.txt.empty()) {
        decide(dkim::Result::permerror, "no key record at " + name);
    } else {
        dkim::KeyRecordParse rec;
        for (const auto& txt : ans.txt) {
            rec = dkim::parse_key_record(txt);
            if (rec.status == dkim::KeyRecordStatus::ok) break;
        }
        const dkim::KeyRecord& kr = rec.record;
        if (rec.status != dkim::KeyRecordStatus::ok) {
            decide(dkim::Result::permerror, "bad key record: " + rec.error);
        } else if (kr.revoked) {
            decide(dkim::Result::permerror, "key revoked, empty p=");
        } else if (kr.type != crypto::KeyType::rsa) {
            decide(dkim::Result::permerror, "key is not an RSA key, ARC uses rsa-sha256");
        } else if (!kr.allows_sha256) {
            decide(dkim::Result::permerror, "key record h= does not allow sha256");
        } else {
            const auto pk = config_.key_cache
                                ? config_.key_cache->get(kr.type, kr.public_key, config_.min_rsa_bits)
                                : crypto::PublicKey::from_dkim(kr.type, kr.public_key, config_.min_rsa_bits);
            if (pk.status == crypto::PublicKeyStatus::weak_key) {
                decide(dkim::Result::fail, pk.error);
            } else if (pk.status != crypto::PublicKeyStatus::ok) {
                decide(dkim::Result::permerror, "unusable public key: " + pk.error);
            } else {
                k.status = dkim::Result::pass;
                k.key = pk.key;
            }
        }
    }
    return keys_.emplace(name, std::move(k)).first->second;
}

void Verifier::end_of_headers() {
    if (headers_done_) return;
    headers_done_ = true;
    if (arc_fields_seen_ == 0) return;  // status none
    if (field_too_long_)
        return fail(FailReason::field_too_long, "an ARC header field is longer than " +
                                                    std::to_string(config_.max_field_bytes) + " octets");
    if (arc_fields_seen_ > 3 * max_instance)
        return fail(FailReason::too_many_sets, std::to_string(arc_fields_seen_) + " ARC header fields, more than " +
                                                   std::to_string(max_instance) + " sets hold");

    // §5.2 step 1 and 3: group the fields into sets by instance.
    std::vector<std::array<std::size_t, 3>> slots(max_instance + 1, {npos, npos, npos});
    unsigned n = 0;
    for (std::size_t k = 0; k < arc_fields_.size(); ++k) {
        const ArcField& f = arc_fields_[k];
        const auto ip = parse_instance(f.kind, f.value);
        if (ip.status == InstanceStatus::out_of_range && ip.instance > max_instance)
            return fail(FailReason::too_many_sets, std::string(field_kind_name(f.kind)) + " with " + inst(ip.instance) +
                                                       ", more than " + std::to_string(max_instance) + " sets");
        if (ip.status != InstanceStatus::ok)
            return fail(FailReason::bad_instance, std::string(field_kind_name(f.kind)) + " without a valid i= instance");
        std::size_t& slot = slots[ip.instance][static_cast<std::size_t>(f.kind)];
        if (slot != npos)
            return fail(FailReason::duplicate_field,
                        std::string("two ") + field_kind_name(f.kind) + " fields with " + inst(ip.instance));
        slot = k;
        n = std::max(n, ip.instance);
    }
    result_.instances = n;
    for (unsigned i = 1; i <= n; ++i) {
        const auto& s = slots[i];
        if (s[0] == npos && s[1] == npos && s[2] == npos)
            return fail(FailReason::missing_instance, "no ARC set with " + inst(i) + ", the highest is " + inst(n));
        for (const FieldKind kind : {FieldKind::aar, FieldKind::ams, FieldKind::seal})
            if (s[static_cast<std::size_t>(kind)] == npos)
                return fail(FailReason::missing_field,
                            "ARC set " + inst(i) + " has no " + field_kind_name(kind));
    }

    // Parse every seal and signature; record what the report needs even if the chain fails later.
    result_.sets.resize(n);
    ams_.resize(n);
    bool seal_syntax_failed = false;
    std::string seal_syntax_error;
    for (unsigned i = 1; i <= n; ++i) {
        SetResult& sr = result_.sets[i - 1];
        sr.instance = i;
        sr.aar_value = arc_fields_[slots[i][0]].value;
        const auto sp = parse_seal(arc_fields_[slots[i][2]].value);
        sr.seal_domain = sp.seal.domain;
        sr.seal_selector = sp.seal.selector;
        sr.cv = sp.seal.cv;
        if (sp.status != ParseStatus::ok) {
            sr.seal = dkim::Result::permerror;
            sr.seal_reason = sp.error;
            if (!seal_syntax_failed) seal_syntax_error = "ARC-Seal " + inst(i) + ": " + sp.error;
            seal_syntax_failed = true;
        }
        const auto mp = parse_message_signature(arc_fields_[slots[i][1]].value);
        sr.ams_domain = mp.signature.domain;
        sr.ams_selector = mp.signature.selector;
        if (mp.status != ParseStatus::ok) {
            sr.ams = dkim::Result::permerror;
            sr.ams_reason = mp.error;
            ams_[i - 1].decided = true;
        } else {
            ams_[i - 1].parsed = true;
            ams_[i - 1].sig = mp.signature;
        }
    }
    for (const auto& sr : result_.sets) result_.sealers.push_back(sr.seal_domain);
    if (seal_syntax_failed) return fail(FailReason::seal_fail, seal_syntax_error);

    // §5.2 step 2: the newest seal's cv=fail ends it; step 3: every cv as the position requires.
    if (result_.sets[n - 1].cv == Cv::fail)
        return fail(FailReason::cv_fail, "the newest ARC-Seal " + inst(n) + " says cv=fail");
    for (const auto& sr : result_.sets) {
        if (sr.cv == Cv::fail) return fail(FailReason::cv_fail, "ARC-Seal " + inst(sr.instance) + " says cv=fail");
        if (sr.instance == 1 && sr.cv != Cv::none)
            return fail(FailReason::cv_invalid, std::string("ARC-Seal i=1 says cv=") + cv_name(sr.cv) + " instead of none");
        if (sr.instance > 1 && sr.cv != Cv::pass)
            return fail(FailReason::cv_invalid,
                        "ARC-Seal " + inst(sr.instance) + " says cv=" + cv_name(sr.cv) + " instead of pass");
    }
    // Keep the slot order for the seal hashes.
    std::vector<ArcField> ordered;
    ordered.reserve(3 * static_cast<std::size_t>(n));
    for (unsigned i = 1; i <= n; ++i)
        for (std::size_t k = 0; k < 3; ++k) ordered.push_back(std::move(arc_fields_[slots[i][k]]));
    arc_fields_ = std::move(ordered);

    verify_seals();
    prepare_ams();
}

void Verifier::verify_seals() {
    // §5.2 step 7 (RFC 8617 §5.1.1 for what a seal covers): the seal of set i signs, in instance
    // order, AAR, AMS and AS of sets 1..i in relaxed canonical form, its own AS without the b= value
    // and without the final CRLF. Newest first; after a definite failure the older seals are not
    // evaluated (the chain has failed already).
    const unsigned n = result_.instances;
    // Each field is canonicalized once, though the seals of a long chain hash it up to 50 times.
    std::vector<std::string> canon(arc_fields_.size());
    for (std::size_t k = 0; k < arc_fields_.size(); ++k)
        dkim::canonicalize_header_into(canon[k], dkim::Canon::relaxed, arc_fields_[k].name, arc_fields_[k].value);
    for (unsigned i = n; i >= 1; --i) {
        SetResult& sr = result_.sets[i - 1];
        const ArcField& own = arc_fields_[3 * (i - 1) + 2];
        const auto sp = parse_seal(own.value);
        crypto::Digest d(crypto::HashAlgorithm::sha256);
        for (std::size_t k = 0; k + 1 < 3 * static_cast<std::size_t>(i); ++k) d.update(canon[k]);
        d.update(self_form(dkim::Canon::relaxed, own.name, own.value));
        const std::string digest = d.finish();
        const KeyLookup& k = key(sp.seal.key_name());
        if (k.status != dkim::Result::pass) {
            sr.seal = k.status;
            sr.seal_reason = k.error;
        } else {
            switch (k.key->verify_digest(crypto::HashAlgorithm::sha256, digest, sp.seal.signature)) {
            case crypto::VerifyStatus::valid:
                sr.seal = dkim::Result::pass;
                sr.seal_reason = "seal verified";
                break;
            case crypto::VerifyStatus::invalid:
                sr.seal = dkim::Result::fail;
                sr.seal_reason = "seal did not verify";
                break;
            case crypto::VerifyStatus::error:
                sr.seal = dkim::Result::permerror;
                sr.seal_reason = "seal cannot be checked with this key";
                break;
            }
        }
        if (sr.seal != dkim::Result::pass && sr.seal != dkim::Result::temperror) {
            for (unsigned j = i - 1; j >= 1; --j) result_.sets[j - 1].seal_reason = "not evaluated: a newer seal failed";
            return;
        }
    }
}

void Verifier::prepare_ams() {
    const unsigned n = result_.instances;
    for (unsigned i = n; i >= 1; --i) {
        Ams& a = ams_[i - 1];
        SetResult& sr = result_.sets[i - 1];
        if (!a.parsed) continue;
        auto decide = [&](dkim::Result r, std::string why) {
            sr.ams = r;
            sr.ams_reason = std::move(why);
            a.decided = true;
        };
        if (i != n && !config_.find_oldest_pass) {
            decide(dkim::Result::neutral, "not evaluated: oldest-pass search is off");
            continue;
        }
        if (header_overflow_) {
            decide(dkim::Result::permerror, "message has too many header fields to verify");
            continue;
        }
        const KeyLookup& k = key(a.sig.key_name());
        if (k.status != dkim::Result::pass) {
            decide(k.status, k.error);
            continue;
        }
        a.key = k.key;
        // RFC 6376 §3.7 as for DKIM: the h= fields selected bottom-up, then this field without b=.
        crypto::Digest hh(crypto::HashAlgorithm::sha256);
        dkim::hash_signed_headers(hh, headers_, a.sig.signed_headers, a.sig.header_canon);
        const ArcField& own = arc_fields_[3 * (i - 1) + 1];
        hh.update(self_form(a.sig.header_canon, own.name, own.value));
        a.header_digest = hh.finish();
        for (auto& b : body_hashes_) {
            if (b->hasher.canon() == a.sig.body_canon && b->hasher.limit() == a.sig.body_length) {
                a.body = b.get();
                break;
            }
        }
        if (a.body == nullptr) {
            if (body_hashes_.size() >= config_.max_body_hashes) {
                decide(dkim::Result::neutral, "not evaluated: too many distinct body hashes");
                continue;
            }
            body_hashes_.push_back(std::make_unique<BodyHash>(
                BodyHash{dkim::BodyHasher(a.sig.body_canon, crypto::HashAlgorithm::sha256, a.sig.body_length), {}}));
            a.body = body_hashes_.back().get();
        }
    }
}

void Verifier::add_body(std::string_view chunk) {
    if (!headers_done_) end_of_headers();
    if (finished_) return;
    for (auto& b : body_hashes_) b->hasher.update(chunk);
}

ArcResult Verifier::finish() {
    if (!headers_done_) end_of_headers();
    if (finished_) return ArcResult{};
    finished_ = true;
    if (arc_fields_seen_ == 0 || structure_failed_) return std::move(result_);
    for (auto& b : body_hashes_) b->digest = b->hasher.finish();
    const unsigned n = result_.instances;
    for (unsigned i = 1; i <= n; ++i) {
        Ams& a = ams_[i - 1];
        SetResult& sr = result_.sets[i - 1];
        if (a.decided || !a.parsed) continue;
        const BodyHash& b = *a.body;
        if (a.sig.body_length && *a.sig.body_length > b.hasher.canonical_length()) {
            sr.ams = dkim::Result::fail;
            sr.ams_reason = "body is shorter than l=";
        } else if (b.digest != a.sig.body_hash) {
            sr.ams = dkim::Result::fail;
            sr.ams_reason = "body hash mismatch";
        } else {
            switch (a.key->verify_digest(crypto::HashAlgorithm::sha256, a.header_digest, a.sig.signature)) {
            case crypto::VerifyStatus::valid:
                sr.ams = dkim::Result::pass;
                sr.ams_reason = "signature verified";
                break;
            case crypto::VerifyStatus::invalid:
                sr.ams = dkim::Result::fail;
                sr.ams_reason = "signature did not verify";
                break;
            case crypto::VerifyStatus::error:
                sr.ams = dkim::Result::permerror;
                sr.ams_reason = "signature cannot be checked with this key";
                break;
            }
        }
    }

    auto set_reason = [&](ChainStatus st, FailReason r, std::string why) {
        result_.status = st;
        result_.reason = r;
        if (why.size() > max_reason) why.resize(max_reason);
        result_.reason_text = std::move(why);
    };
    // §5.2 step 4: the newest AMS; step 7: every seal. A definite failure anywhere decides "fail";
    // a temporary key lookup failure without one is "temperror".
    bool temp = false;
    std::string temp_why;
    const SetResult& top = result_.sets[n - 1];
    if (top.ams == dkim::Result::temperror) {
        temp = true;
        temp_why = "ARC-Message-Signature " + inst(n) + ": " + top.ams_reason;
    } else if (top.ams != dkim::Result::pass) {
        set_reason(ChainStatus::fail, header_overflow_ ? FailReason::header_limits : FailReason::ams_fail,
                   "ARC-Message-Signature " + inst(n) + ": " + top.ams_reason);
        return std::move(result_);
    }
    for (unsigned i = n; i >= 1; --i) {
        const SetResult& sr = result_.sets[i - 1];
        if (sr.seal == dkim::Result::pass) continue;
        if (sr.seal == dkim::Result::temperror) {
            if (!temp) temp_why = "ARC-Seal " + inst(i) + ": " + sr.seal_reason;
            temp = true;
            continue;
        }
        set_reason(ChainStatus::fail, FailReason::seal_fail, "ARC-Seal " + inst(i) + ": " + sr.seal_reason);
        return std::move(result_);
    }
    if (temp) {
        set_reason(ChainStatus::temperror, FailReason::dns_temperror, temp_why);
        return std::move(result_);
    }
    if (header_overflow_) {  // cannot happen with a passing AMS, kept as a guard
        set_reason(ChainStatus::fail, FailReason::header_limits, "message has too many header fields to verify");
        return std::move(result_);
    }
    result_.status = ChainStatus::pass;
    result_.reason = FailReason::none;
    result_.reason_text = "chain of " + std::to_string(n) + " set" + (n == 1 ? "" : "s") + " verified";
    // §5.2 steps 5-6.
    result_.oldest_pass = 0;
    if (!config_.find_oldest_pass && n > 1) {
        result_.oldest_pass = n;
    } else {
        for (unsigned i = n - 1; i >= 1; --i) {
            if (result_.sets[i - 1].ams != dkim::Result::pass) {
                result_.oldest_pass = i + 1;
                break;
            }
        }
    }
    return std::move(result_);
}

mail::AuthResult auth_result(const ArcResult& r, std::string_view remote_ip) {
    mail::AuthResult a;
    a.method = "arc";
    a.result = chain_status_name(r.status);
    if (r.status == ChainStatus::fail || r.status == ChainStatus::temperror) a.comment = r.reason_text;
    if (r.status == ChainStatus::pass)
        a.properties.push_back(mail::AuthProperty{"header", "oldest-pass", std::to_string(r.oldest_pass)});
    if (!remote_ip.empty()) a.properties.push_back(mail::AuthProperty{"smtp", "remote-ip", std::string(remote_ip)});
    return a;
}

std::string auth_result_text(const ArcResult& r, std::string_view remote_ip) {
    mail::AuthResults ar;
    ar.authserv_id = "x";
    ar.results.push_back(auth_result(r, remote_ip));
    const std::string v = mail::auth_results_value(ar);
    const auto semi = v.find("; ");
    return semi == std::string::npos ? v : v.substr(semi + 2);
}

}  // namespace mailmoat::arc
