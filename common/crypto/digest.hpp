// common/crypto/digest.hpp - incremental SHA-256 / SHA-1 (SHA-1 only to evaluate rsa-sha1, RFC 8301).
#pragma once
#include <string>
#include <string_view>

#include "common/crypto/ssl_handles.hpp"

namespace mailmoat::crypto {

enum class HashAlgorithm { sha1, sha256 };

[[nodiscard]] const char* hash_name(HashAlgorithm h) noexcept;  // "sha1", "sha256"
[[nodiscard]] std::size_t hash_size(HashAlgorithm h) noexcept;  // 20, 32

/// One running hash. Move-only. Throws std::runtime_error only when OpenSSL cannot allocate or
/// initialise a digest (unexpected); updates and final never fail for valid objects.
class Digest {
public:
    explicit Digest(HashAlgorithm h);
    void update(std::string_view data);
    /// Returns the raw digest; the object must not be updated afterwards (it is reset to a new hash).
    [[nodiscard]] std::string finish();
    [[nodiscard]] HashAlgorithm algorithm() const noexcept { return alg_; }

    /// One-shot convenience.
    [[nodiscard]] static std::string of(HashAlgorithm h, std::string_view data);

private:
    HashAlgorithm alg_;
    EvpMdCtx ctx_;
};

}  // namespace mailmoat::crypto
