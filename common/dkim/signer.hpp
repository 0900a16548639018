// common/dkim/signer.hpp - streaming DKIM signer (RFC 6376 §5, rsa-sha256 and ed25519-sha256 per RFC 8463).
#pragma once
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/crypto/keys.hpp"
#include "common/dkim/canonicalizer.hpp"
#include "common/dkim/header_list.hpp"
#include "common/util/clock.hpp"

namespace mailmoat::dkim {

/// RFC 6376 §5.4.1's recommended header fields plus Message-ID, MIME-Version and the Content-*
/// fields, lower-case.
[[nodiscard]] const std::vector<std::string>& default_sign_headers();
/// Header fields listed once more than they occur, so that adding another instance breaks the
/// signature (§5.4.2, §8.15): from, sender, reply-to, to, cc, subject, date, message-id,
/// mime-version, content-type, content-transfer-encoding.
[[nodiscard]] const std::vector<std::string>& default_oversign_headers();

struct SignerConfig {
    std::string domain;    // d=
    std::string selector;  // s=
    Canon header_canon = Canon::relaxed;
    Canon body_canon = Canon::relaxed;
    std::vector<std::string> sign_headers = default_sign_headers();
    std::vector<std::string> oversign_headers = default_oversign_headers();
    std::optional<std::string> identity;               // i=, must lie within domain
    bool timestamp = true;                             // t=
    std::optional<std::chrono::seconds> expire_after;  // x = t + expire_after
    /// Adds l= with the full canonical body length. Not recommended (RFC 6376 §8.2: lets others
    /// append content); useful for tests and for sites that must interoperate with l= checkers.
    bool body_length_tag = false;
    std::size_t max_signed_instances = 256;            // header instances the signature may cover
};

enum class SignStatus {
    ok,
    too_many_headers,  // more instances of signed header fields than max_signed_instances
    bad_config,        // empty/invalid domain or selector, i= outside d=
    key_error,         // the key failed to sign (unexpected; logged by the caller)
};
[[nodiscard]] const char* sign_status_name(SignStatus s) noexcept;

struct [[nodiscard]] SignResult {
    SignStatus status = SignStatus::key_error;
    std::string error;                          // reason when status != ok
    std::string header_name = "DKIM-Signature";
    std::string value;  // header value with leading space, folded with CRLF+TAB; add as received
};

/// One signature over one message. Feed the header fields in message order, then the body in chunks
/// of any size, then finish(). Nothing fed is altered or buffered except the header fields named in
/// the signed lists. Not thread-safe (one per message); the key is shared and read-only.
class Signer {
public:
    Signer(SignerConfig config, std::shared_ptr<const crypto::SigningKey> key, const util::Clock& clock);

    /// `value` is everything after the colon as received (leading space and folding kept).
    void add_header(std::string_view name, std::string_view value);
    void add_body(std::string_view chunk);
    /// Computes the signature. Call once, after the whole body.
    SignResult finish();

    /// The h= list for the headers seen so far (exposed for tests and logs).
    [[nodiscard]] std::vector<std::string> signed_header_list() const;

private:
    SignerConfig config_;
    std::shared_ptr<const crypto::SigningKey> key_;
    const util::Clock& clock_;
    std::vector<HeaderField> headers_;  // only fields named in the sign/oversign lists
    std::size_t dropped_ = 0;           // signed-list fields beyond max_signed_instances
    BodyHasher body_;
};

}  // namespace mailmoat::dkim
