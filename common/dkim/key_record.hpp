// common/dkim/key_record.hpp - DKIM key TXT records (RFC 6376 §3.6.1, RFC 8463 §4), parsed strictly.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/crypto/keys.hpp"

namespace mailmoat::dkim {

struct KeyRecord {
    crypto::KeyType type = crypto::KeyType::rsa;  // k= (default rsa)
    bool allows_sha1 = true;                      // h= absent or lists sha1
    bool allows_sha256 = true;                    // h= absent or lists sha256
    bool testing = false;                         // t=y
    bool strict_identity = false;                 // t=s: i= domain must equal d= exactly
    bool revoked = false;                         // p= empty
    std::string public_key;                       // p= decoded (empty when revoked)
    std::string notes;                            // n= as written
};

enum class KeyRecordStatus {
    ok,         // usable (check `revoked` and the allows_* flags against the signature)
    permerror,  // syntax error, duplicate tag, wrong v=, bad base64, p= missing
    unsupported,  // unknown k= or a service type (s=) that excludes email
};

struct [[nodiscard]] KeyRecordParse {
    KeyRecordStatus status = KeyRecordStatus::permerror;
    std::string error;
    KeyRecord record;
};

/// Parses one key record (the TXT strings already concatenated). Rules (RFC 6376 §3.6.1): tag-list
/// syntax with no duplicates; v= if present must be first and exactly "DKIM1"; k= rsa or ed25519;
/// h= a colon list of hash names (unknown names ignored); s= "*" or containing "email"; t= a colon
/// list of flags (y, s; others ignored); p= required, base64, empty meaning revoked; unknown tags
/// ignored. The p= key itself is checked later by crypto::PublicKey::from_dkim. Never throws.
[[nodiscard]] KeyRecordParse parse_key_record(std::string_view text);

}  // namespace mailmoat::dkim
