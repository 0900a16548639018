// common/dkim/signer.cpp - streaming DKIM signer.
#include "common/dkim/signer.hpp"

#include <algorithm>
#include <stdexcept>

#include "common/crypto/base64.hpp"
#include "common/dkim/signature.hpp"

namespace mailmoat::dkim {
namespace {

std::string lowered(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

bool contains(const std::vector<std::string>& v, std::string_view s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

std::vector<std::string> lowered_unique(const std::vector<std::string>& in) {
    std::vector<std::string> out;
    for (const auto& s : in) {
        auto l = lowered(s);
        if (!l.empty() && !contains(out, l)) out.push_back(std::move(l));
    }
    return out;
}

}  // namespace

const std::vector<std::string>& default_sign_headers() {
    static const std::vector<std::string> list = {
        "from", "reply-to", "subject", "date", "to", "cc", "resent-date", "resent-from", "resent-to",
        "resent-cc", "in-reply-to", "references", "list-id", "list-help", "list-unsubscribe",
        "list-subscribe", "list-post", "list-owner", "list-archive", "sender", "message-id",
        "mime-version", "content-type", "content-transfer-encoding"};
    return list;
}

const std::vector<std::string>& default_oversign_headers() {
    static const std::vector<std::string> list = {
        "from", "sender", "reply-to", "to", "cc", "subject", "date", "message-id",
        "mime-version", "content-type", "content-transfer-encoding"};
    return list;
}

const char* sign_status_name(SignStatus s) noexcept {
    switch (s) {
    case SignStatus::ok: return "ok";
    case SignStatus::too_many_headers: return "too-many-headers";
    case SignStatus::bad_config: return "bad-config";
    case SignStatus::key_error: return "key-error";
    }
    return "key-error";
}

Signer::Signer(SignerConfig config, std::shared_ptr<const crypto::SigningKey> key, const util::Clock& clock)
    : config_(std::move(config)),
      key_(std::move(key)),
      clock_(clock),
      body_(config_.body_canon, crypto::HashAlgorithm::sha256) {
    if (!key_) throw std::invalid_argument("Signer needs a key");
    config_.sign_headers = lowered_unique(config_.sign_headers);
    config_.oversign_headers = lowered_unique(config_.oversign_headers);
    if (!contains(config_.sign_headers, "from")) config_.sign_headers.insert(config_.sign_headers.begin(), "from");
}

void Signer::add_header(std::string_view name, std::string_view value) {
    std::string lower = lowered(name);
    if (!contains(config_.sign_headers, lower) && !contains(config_.oversign_headers, lower)) return;
    if (headers_.size() >= config_.max_signed_instances) {
        ++dropped_;
        return;
    }
    headers_.push_back(HeaderField{std::string(name), std::move(lower), std::string(value)});
}

void Signer::add_body(std::string_view chunk) { body_.update(chunk); }

std::vector<std::string> Signer::signed_header_list() const {
    std::vector<std::string> h;
    auto count = [&](const std::string& n) {
        return static_cast<std::size_t>(
            std::count_if(headers_.begin(), headers_.end(), [&](const HeaderField& f) { return f.lower_name == n; }));
    };
    auto add = [&](const std::string& n) {
        std::size_t times = count(n);
        if (contains(config_.oversign_headers, n)) ++times;
        if (n == "from" && times == 0) times = 1;  // h= must always name From (§5.4)
        for (std::size_t i = 0; i < times; ++i) h.push_back(n);
    };
    for (const auto& n : config_.sign_headers) add(n);
    for (const auto& n : config_.oversign_headers)
        if (!contains(config_.sign_headers, n)) add(n);
    return h;
}

SignResult Signer::finish() {
    SignResult r;
    if (dropped_ > 0) {
        r.status = SignStatus::too_many_headers;
        r.error = "more than " + std::to_string(config_.max_signed_instances) + " instances of signed header fields";
        return r;
    }
    SignatureFields f;
    f.algorithm = key_->type() == crypto::KeyType::rsa ? Algorithm::rsa_sha256 : Algorithm::ed25519_sha256;
    f.header_canon = config_.header_canon;
    f.body_canon = config_.body_canon;
    f.domain = lowered(config_.domain);
    f.selector = lowered(config_.selector);
    f.identity = config_.identity;
    if (config_.timestamp || config_.expire_after) {
        const auto now = std::chrono::duration_cast<std::chrono::seconds>(clock_.now().time_since_epoch()).count();
        if (config_.timestamp) f.timestamp = now;
        if (config_.expire_after) f.expiration = now + std::max<std::int64_t>(1, config_.expire_after->count());
    }
    f.signed_headers = signed_header_list();
    f.body_hash = body_.finish();
    if (config_.body_length_tag) f.body_length = body_.canonical_length();

    // The value must parse as we would verify it: this catches a bad domain, selector or i=.
    const std::string unsigned_value = build_signature_value(f);
    {
        const auto check = parse_signature(build_signature_value(f, "AAAA"));
        if (check.status != SignatureStatus::ok) {
            r.status = SignStatus::bad_config;
            r.error = check.error;
            return r;
        }
    }
    crypto::Digest hh(crypto::HashAlgorithm::sha256);
    hash_signed_headers(hh, headers_, f.signed_headers, f.header_canon);
    std::string sig_header = canonicalize_header(f.header_canon, r.header_name, unsigned_value);
    sig_header.resize(sig_header.size() - 2);  // the signature header is hashed without its CRLF (§3.7)
    hh.update(sig_header);
    try {
        const std::string sig = key_->sign_sha256_digest(hh.finish());
        r.value = build_signature_value(f, crypto::base64_encode(sig));
    } catch (const std::exception& e) {
        r.status = SignStatus::key_error;
        r.error = e.what();
        return r;
    }
    r.status = SignStatus::ok;
    return r;
}

}  // namespace mailmoat::dkim
