// tools/mailmoat/dkim.hpp - `mailmoat dkim keygen|check-key`: the DNS key record of a signing key and
// the check that what DNS publishes matches the private key (the opendkim-genkey/opendkim-testkey jobs).
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "common/crypto/keys.hpp"
#include "common/dns/resolver.hpp"

namespace mailmoat::cli::dkim {

/// Longest character-string a TXT record may hold (RFC 1035 §3.3).
inline constexpr std::size_t max_txt_string = 255;

/// The key record text for `key` (RFC 6376 §3.6.1, RFC 8463 §4): "v=DKIM1; k=rsa; h=sha256; p=..." for
/// RSA, "v=DKIM1; k=ed25519; p=..." for Ed25519, with "t=y; " before p= when `testing`.
[[nodiscard]] std::string key_record_text(const crypto::SigningKey& key, bool testing);

/// `record` cut into character-strings of at most max_txt_string bytes: the tags before p= in the first
/// string, the p= value in 255-byte pieces after it. Empty input gives one empty string.
[[nodiscard]] std::vector<std::string> split_txt_strings(std::string_view record);

/// The record in zone-file form, as opendkim-genkey writes it: an absolute owner name
/// "SELECTOR._domainkey.DOMAIN.", "IN TXT", the strings in parentheses one per line, and a comment.
[[nodiscard]] std::string zone_file_record(std::string_view domain, std::string_view selector,
                                           const crypto::SigningKey& key, bool testing);

/// What check_key found, worst first where several apply.
enum class KeyCheckStatus {
    ok,             // the record is valid and its key is the private key's public half
    not_found,      // NXDOMAIN or no TXT record at the name
    dns_error,      // timeout, SERVFAIL, ...: nothing can be said yet
    several,        // more than one TXT record at the name (verifiers disagree which to use)
    bad_record,     // not a valid DKIM key record (syntax, v=, base64, p= missing, unusable key data)
    unsupported,    // k= we do not know, or s= excluding email
    revoked,        // p= empty (RFC 6376 §3.6.1)
    type_mismatch,  // k= names another key type than the private key's
    too_short,      // RSA key under 1024 bits (RFC 8301 §3.2): verifiers fail its signatures
    sha1_only,      // h= allows only sha1 (RFC 8301 §3.1): verifiers fail every signature we make
    mismatch,       // a valid key, but not the private key's public half
};
[[nodiscard]] const char* key_check_status_name(KeyCheckStatus s) noexcept;

struct [[nodiscard]] KeyCheck {
    KeyCheckStatus status = KeyCheckStatus::dns_error;
    std::string name;                   // the name looked up
    std::string detail;                 // one line saying what is wrong (or what matched)
    std::vector<std::string> warnings;  // not fatal: t=y testing flag, ...
};

/// Looks up SELECTOR._domainkey.DOMAIN TXT through `resolver` and compares the record with `key`:
/// parsed strictly (RFC 6376 §3.6.1), then the public key is matched by signing a probe with `key` and
/// verifying it with the published key. A bad domain or selector (empty, impossible DNS name) is
/// not_found. Never throws for bad DNS data.
[[nodiscard]] KeyCheck check_key(dns::Resolver& resolver, std::string_view domain, std::string_view selector,
                                 const crypto::SigningKey& key);

}  // namespace mailmoat::cli::dkim
