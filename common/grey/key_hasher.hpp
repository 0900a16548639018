// common/grey/key_hasher.hpp - privacy mode: HMAC-SHA256 of greylist keys, so the store holds no addresses.
#pragma once
#include <string>
#include <string_view>

namespace mailmoat::grey {

/// Keyed hashing of store keys. The key is secret: without it a stored hash cannot be tested against
/// guessed addresses (which a plain hash would allow).
class KeyHasher {
public:
    /// key must hold at least 16 bytes; throws std::invalid_argument otherwise.
    explicit KeyHasher(std::string key);
    /// Reads the key from a file that must not be readable by group or others (DESIGN: secrets).
    /// Throws config::ConfigError naming the file and the problem.
    [[nodiscard]] static KeyHasher from_file(const std::string& path);
    /// Lower-case hex HMAC-SHA256 (RFC 2104) of text: 64 characters.
    [[nodiscard]] std::string hash(std::string_view text) const;

private:
    std::string key_;
};

}  // namespace mailmoat::grey
