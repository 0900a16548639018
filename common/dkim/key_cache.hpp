// common/dkim/key_cache.hpp - parsed public keys shared across messages (parsing an RSA key with
// OpenSSL 3 costs more than verifying with it).
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/crypto/keys.hpp"
#include "common/util/lock_guarded.hpp"

namespace mailmoat::dkim {

/// Maps the exact p= bytes (plus key type and minimum size) to the parsed key. Keyed by content,
/// not by name, so it never outlives DNS: a changed record has other bytes. Only successful parses
/// are kept; at `capacity` entries the cache starts over. Thread-safe.
class PublicKeyCache {
public:
    explicit PublicKeyCache(std::size_t capacity = 1024) : capacity_(capacity) {}

    /// Same contract as crypto::PublicKey::from_dkim.
    [[nodiscard]] crypto::PublicKeyResult get(crypto::KeyType type, std::string_view der, unsigned min_bits);

    [[nodiscard]] std::size_t size() const;
    [[nodiscard]] std::uint64_t hits() const;

private:
    struct State {
        std::unordered_map<std::string, std::shared_ptr<const crypto::PublicKey>> keys;
        std::uint64_t hits = 0;
    };
    std::size_t capacity_;
    util::LockGuarded<State> state_;
};

}  // namespace mailmoat::dkim
