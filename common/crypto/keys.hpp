// common/crypto/keys.hpp - DKIM private keys (sign only, never exposing key bytes) and public keys.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/crypto/digest.hpp"
#include "common/crypto/ssl_handles.hpp"

namespace mailmoat::crypto {

/// Key types DKIM knows (RFC 6376 §3.6.1 k=rsa, RFC 8463 k=ed25519).
enum class KeyType { rsa, ed25519 };
[[nodiscard]] const char* key_type_name(KeyType t) noexcept;  // "rsa", "ed25519"

/// RFC 8301 §3.2: RSA keys shorter than this are refused for signing and fail verification.
inline constexpr unsigned min_rsa_bits = 1024;
/// Upper bound on RSA keys we accept at all (bounds the CPU a hostile key record can cost).
inline constexpr unsigned max_rsa_bits = 8192;

struct KeyLoadOptions {
    /// OpenDKIM's RequireSafeKeys=false: accept a key file readable or writable by group or others.
    bool allow_unsafe_permissions = false;
    /// Lowered only by tests that need to produce a deliberately weak signature.
    unsigned min_rsa_bits = crypto::min_rsa_bits;
    /// Key files larger than this are refused unread.
    std::size_t max_file_size = 64 * 1024;
};

enum class KeyLoadStatus {
    ok,
    unreadable,          // cannot open/stat/read, not a regular file, too large
    unsafe_permissions,  // group/other may read or write it and allow_unsafe_permissions is off
    bad_format,          // not a PEM key, not a base64 ed25519 seed, encrypted, or unsupported type
    weak_key,            // RSA below min_rsa_bits (RFC 8301 §3.2) or above max_rsa_bits
};
[[nodiscard]] const char* key_load_status_name(KeyLoadStatus s) noexcept;

class SigningKey;

struct [[nodiscard]] KeyLoadResult {
    KeyLoadStatus status = KeyLoadStatus::bad_format;
    std::string error;  // human-readable reason when status != ok; never contains key material
    std::shared_ptr<const SigningKey> key;
};

/// A private signing key. Only sign() and public facts are reachable; the private key bytes are
/// never exposed. Thread-safe: one loaded key serves every connection thread concurrently.
class SigningKey {
public:
    /// Loads a key file: PEM PKCS#1 ("RSA PRIVATE KEY"), PEM PKCS#8 ("PRIVATE KEY", RSA or
    /// Ed25519), or a file holding only the base64 of a raw 32-byte Ed25519 seed (the dkimpy
    /// `dknewkey --ktype ed25519` form; a 64-byte seed||public-key blob is accepted when its public
    /// half matches). Permission check per KeyLoadOptions on the opened file (no TOCTOU).
    /// Never throws for bad input: every failure is a status with a reason.
    static KeyLoadResult load_file(const std::string& path, const KeyLoadOptions& options = {});
    /// The same parsing from text already in memory (no permission check).
    static KeyLoadResult from_text(std::string_view text, const KeyLoadOptions& options = {});
    /// A fresh key (RSA of `bits`, or Ed25519 ignoring `bits`). Throws std::runtime_error only if
    /// OpenSSL cannot generate one; RSA bits outside [min_rsa_bits, max_rsa_bits] throw
    /// std::invalid_argument.
    static std::shared_ptr<const SigningKey> generate(KeyType type, unsigned bits = 2048);

    SigningKey(const SigningKey&) = delete;
    SigningKey& operator=(const SigningKey&) = delete;
    SigningKey(SigningKey&&) noexcept = default;
    SigningKey& operator=(SigningKey&&) noexcept = default;
    ~SigningKey() = default;

    /// DKIM signature over a SHA-256 digest (32 bytes) of the data to sign: RSASSA-PKCS1-v1_5 with
    /// SHA-256 (RFC 6376 §3.3.2) for RSA, PureEd25519 over the digest for Ed25519 (RFC 8463 §3).
    /// Throws std::invalid_argument for a digest that is not 32 bytes and std::runtime_error if
    /// OpenSSL fails (unexpected).
    /// RSA signs with a prepared EVP_PKEY_CTX (padding and digest set once) taken from a small pool
    /// kept with the key, so that no signature pays for a context set-up and its provider look-ups.
    [[nodiscard]] std::string sign_sha256_digest(std::string_view digest) const;
    /// sign_sha256_digest(SHA-256(data)).
    [[nodiscard]] std::string sign(std::string_view data) const;

    [[nodiscard]] KeyType type() const noexcept { return type_; }
    /// RSA modulus size, or 256 for Ed25519.
    [[nodiscard]] unsigned bits() const noexcept { return bits_; }
    /// "rsa-sha256" or "ed25519-sha256" (the a= value this key signs with).
    [[nodiscard]] const char* algorithm() const noexcept;
    /// The p= value of the matching DKIM key record: base64 SubjectPublicKeyInfo for RSA, base64 of
    /// the raw 32-byte public key for Ed25519 (RFC 8463 §4). Public data only.
    [[nodiscard]] std::string public_key_base64() const;
    /// Writes the key as PEM PKCS#8 to a new file created with mode 0600 (fails if it exists).
    /// Returns an empty string on success, else the reason. For key generation tools.
    [[nodiscard]] std::string write_pem_file(const std::string& path) const;

private:
    struct ContextPool;  // prepared RSA signing contexts, each used by one thread at a time
    SigningKey(EvpPkey pkey, KeyType type, unsigned bits);
    EvpPkey pkey_;
    KeyType type_;
    unsigned bits_;
    std::shared_ptr<ContextPool> contexts_;
};

enum class PublicKeyStatus {
    ok,
    bad_key,   // not a SubjectPublicKeyInfo / RSAPublicKey / 32-byte Ed25519 key, or type mismatch
    weak_key,  // RSA under min_rsa_bits (RFC 8301 §3.2) or over max_rsa_bits
};

enum class VerifyStatus {
    valid,
    invalid,  // the signature does not match
    error,    // unusable input (wrong digest size, hash the key type cannot use)
};

class PublicKey;

struct [[nodiscard]] PublicKeyResult {
    PublicKeyStatus status = PublicKeyStatus::bad_key;
    std::string error;
    std::shared_ptr<const PublicKey> key;
};

/// A verification key taken from a DKIM key record's p= (already base64-decoded).
class PublicKey {
public:
    /// RSA: DER SubjectPublicKeyInfo (RFC 6376 §3.6.1) or, as some publishers do, a bare PKCS#1
    /// RSAPublicKey. Ed25519: exactly 32 raw bytes (RFC 8463 §4). Never throws for bad input.
    static PublicKeyResult from_dkim(KeyType type, std::string_view der, unsigned min_bits = min_rsa_bits);

    /// Verifies `signature` over `digest` (the header hash). RSA: PKCS#1 v1.5 with the given hash.
    /// Ed25519: PureEd25519 over the 32-byte SHA-256 digest; any other hash is VerifyStatus::error.
    [[nodiscard]] VerifyStatus verify_digest(HashAlgorithm hash, std::string_view digest,
                                             std::string_view signature) const;

    [[nodiscard]] KeyType type() const noexcept { return type_; }
    [[nodiscard]] unsigned bits() const noexcept { return bits_; }

    PublicKey(EvpPkey pkey, KeyType type, unsigned bits) : pkey_(std::move(pkey)), type_(type), bits_(bits) {}

private:
    EvpPkey pkey_;
    KeyType type_;
    unsigned bits_;
};

}  // namespace mailmoat::crypto
