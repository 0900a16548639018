// tests/fuzz/fuzz_dkim_key_record.cpp - libFuzzer target: DKIM key records and p= public keys.
#include <cstdint>
#include <string_view>

#include "common/crypto/keys.hpp"
#include "common/dkim/key_record.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto r = mailmoat::dkim::parse_key_record(text);
    if (r.status == mailmoat::dkim::KeyRecordStatus::ok && !r.record.revoked)
        (void)mailmoat::crypto::PublicKey::from_dkim(r.record.type, r.record.public_key);
    // The raw bytes as a DER key of either type, too.
    (void)mailmoat::crypto::PublicKey::from_dkim(mailmoat::crypto::KeyType::rsa, text);
    (void)mailmoat::crypto::PublicKey::from_dkim(mailmoat::crypto::KeyType::ed25519, text);
    return 0;
}
