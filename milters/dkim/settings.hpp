// milters/dkim/settings.hpp - mailmoat-dkim settings, OpenDKIM-format KeyTable/SigningTable, signing keys.
#pragma once
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/options.hpp"
#include "common/crypto/keys.hpp"
#include "common/daemon/daemon.hpp"
#include "common/dkim/canonicalizer.hpp"
#include "common/util/ip_address.hpp"

namespace mailmoat::dkimd {

enum class Mode { sign, verify, sign_verify };
[[nodiscard]] const char* mode_name(Mode m) noexcept;  // "s", "v", "sv"

/// One KeyTable entry: "name domain:selector:path" (OpenDKIM KeyTable). domain "%" means the
/// signing domain found by the SigningTable lookup (the From domain).
struct KeyEntry {
    std::string name;
    std::string domain;
    std::string selector;
    std::string path;
    std::shared_ptr<const crypto::SigningKey> key;  // set by load_keys()
};

/// One SigningTable line: "pattern keyname". With refile semantics the pattern is a glob where '*'
/// matches any run of characters; otherwise it is an exact address or domain.
struct SigningRule {
    std::string pattern;  // lower-cased
    std::string key_name;
};

struct [[nodiscard]] TableParse {
    std::vector<KeyEntry> keys;      // parse_key_table
    std::vector<SigningRule> rules;  // parse_signing_table
    std::string error;               // empty when ok; else "line N: reason"
};

/// Parses OpenDKIM KeyTable text: one "keyname domain:selector:keypath" per line, '#' comments
/// and blank lines ignored. Returns an error for a line without the three colon-separated fields,
/// an empty field, a duplicate key name, or more than 10000 entries. Never throws.
TableParse parse_key_table(std::string_view text);
/// Parses OpenDKIM SigningTable text: one "pattern keyname" per line (extra fields ignored, as
/// OpenDKIM does), '#' comments and blank lines ignored. Same bounds and error form as above.
TableParse parse_signing_table(std::string_view text);

/// Glob match as OpenDKIM's refile: '*' matches any sequence (also empty), everything else matches
/// itself case-insensitively. Returns false for empty text only if the pattern needs a character.
[[nodiscard]] bool glob_match(std::string_view pattern, std::string_view text) noexcept;

struct Settings {
    daemon::CommonSettings common;
    Mode mode = Mode::sign_verify;
    std::vector<KeyEntry> keys;           // key-table entries, or the single-domain key (name "default")
    std::vector<SigningRule> rules;       // signing-table; single-domain form: "*" or the domain
    bool refile = false;                  // signing-table given as refile:PATH
    bool multiple_signatures = false;     // every matching signing-table line signs, not only the first
    std::vector<util::IpNetwork> internal_hosts;
    dkim::Canon header_canon = dkim::Canon::relaxed;
    dkim::Canon body_canon = dkim::Canon::relaxed;
    std::string signature_algorithm = "rsa-sha256";
    std::vector<std::string> sign_headers;      // lower-case
    std::vector<std::string> oversign_headers;  // lower-case
    std::string authserv_id;
    std::size_t max_signatures_to_verify = 5;
    bool tempfail_on_dns_error = false;
    bool require_safe_keys = true;
    std::size_t dns_cache_size = 20000;
};

/// The schema of mailmoat-dkim (common daemon options plus the DKIM keys).
[[nodiscard]] config::Schema make_schema();

/// Builds Settings from parsed values, reading the key-table and signing-table files but not the
/// keys. Throws config::ConfigError naming the key for any invalid value or table line.
[[nodiscard]] Settings build_settings(const config::Values& values);

/// Loads every private key of s.keys (honouring require_safe_keys). Throws config::ConfigError
/// naming the key file and the reason (unreadable, unsafe permissions, bad format, weak key), or
/// when the single-domain key does not sign with signature-algorithm.
void load_keys(Settings& s, const config::Values& values);

/// What to sign a message from `from_address` (local@domain, lower-case) with.
struct SigningChoice {
    const KeyEntry* key = nullptr;
    std::string domain;  // d= ("%" resolved to the From domain)
};

/// The keys to sign with for this From address: the first matching signing-table line (all of them
/// with multiple_signatures), looked up as OpenDKIM does: with refile, every pattern is tried against
/// the whole address in file order; otherwise the address, then its domain, must equal a pattern.
/// An empty vector means "do not sign".
[[nodiscard]] std::vector<SigningChoice> choose_keys(const Settings& s, std::string_view from_address);

}  // namespace mailmoat::dkimd
