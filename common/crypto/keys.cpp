// common/crypto/keys.cpp - loading, generating and using DKIM RSA/Ed25519 keys with OpenSSL 3.
#include "common/crypto/keys.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "common/crypto/base64.hpp"
#include "common/crypto/ssl_error.hpp"

namespace mailmoat::crypto {
namespace {

/// Holds secret bytes and wipes them when done.
struct SecretBuffer {
    std::string data;
    SecretBuffer() = default;
    SecretBuffer(const SecretBuffer&) = delete;
    SecretBuffer& operator=(const SecretBuffer&) = delete;
    ~SecretBuffer() {
        if (!data.empty()) OPENSSL_cleanse(data.data(), data.size());
    }
};

int no_password(char*, int, int, void*) { return -1; }  // encrypted keys are refused, never prompted

KeyLoadResult fail(KeyLoadStatus s, std::string why) { return KeyLoadResult{s, std::move(why), nullptr}; }

std::string trim(std::string_view s) {
    std::size_t b = 0, e = s.size();
    while (b < e && std::strchr(" \t\r\n", s[b]) != nullptr) ++b;
    while (e > b && std::strchr(" \t\r\n", s[e - 1]) != nullptr) --e;
    return std::string(s.substr(b, e - b));
}

}  // namespace

/// Idle RSA signing contexts. A thread takes one (or prepares a new one when none is idle), signs and
/// puts it back; at most max_idle are kept, so the pool never grows past the busiest moment's needs.
struct SigningKey::ContextPool {
    static constexpr std::size_t max_idle = 64;
    std::mutex mutex;
    std::vector<EvpPkeyCtx> idle;  // guarded by mutex
};

SigningKey::SigningKey(EvpPkey pkey, KeyType type, unsigned bits)
    : pkey_(std::move(pkey)), type_(type), bits_(bits), contexts_(std::make_shared<ContextPool>()) {}

const char* key_type_name(KeyType t) noexcept { return t == KeyType::rsa ? "rsa" : "ed25519"; }

const char* key_load_status_name(KeyLoadStatus s) noexcept {
    switch (s) {
    case KeyLoadStatus::ok: return "ok";
    case KeyLoadStatus::unreadable: return "unreadable";
    case KeyLoadStatus::unsafe_permissions: return "unsafe-permissions";
    case KeyLoadStatus::bad_format: return "bad-format";
    case KeyLoadStatus::weak_key: return "weak-key";
    }
    return "bad-format";
}

KeyLoadResult SigningKey::load_file(const std::string& path, const KeyLoadOptions& options) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return fail(KeyLoadStatus::unreadable, "cannot open " + path + ": " + std::strerror(errno));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0) return fail(KeyLoadStatus::unreadable, "cannot stat " + path + ": " + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) return fail(KeyLoadStatus::unreadable, path + " is not a regular file");
    if ((st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) != 0 && !options.allow_unsafe_permissions) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        return fail(KeyLoadStatus::unsafe_permissions,
                    path + " is accessible by group or others (mode " + mode +
                        "); make it 0600/0400 or allow unsafe key permissions");
    }
    if (static_cast<std::uint64_t>(st.st_size) > options.max_file_size)
        return fail(KeyLoadStatus::unreadable, path + " is too large for a key file");
    SecretBuffer buf;
    buf.data.resize(options.max_file_size + 1);
    std::size_t got = 0;
    while (got < buf.data.size()) {
        const ssize_t n = ::read(fd, buf.data.data() + got, buf.data.size() - got);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail(KeyLoadStatus::unreadable, "cannot read " + path + ": " + std::strerror(errno));
        }
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    if (got > options.max_file_size) return fail(KeyLoadStatus::unreadable, path + " is too large for a key file");
    auto r = from_text(std::string_view(buf.data.data(), got), options);
    if (r.status != KeyLoadStatus::ok) r.error = path + ": " + r.error;
    return r;
}

KeyLoadResult SigningKey::from_text(std::string_view text, const KeyLoadOptions& options) {
    ssl_clear_errors();
    EvpPkey pkey;
    if (text.find("-----BEGIN") != std::string_view::npos) {
        if (text.find("ENCRYPTED") != std::string_view::npos)
            return fail(KeyLoadStatus::bad_format, "encrypted private keys are not supported");
        Bio bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
        if (!bio) throw std::runtime_error(ssl_error("BIO_new_mem_buf"));
        pkey.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr));
        if (!pkey) return fail(KeyLoadStatus::bad_format, ssl_error("not a PEM private key"));
    } else {
        SecretBuffer trimmed;
        trimmed.data = trim(text);
        SecretBuffer raw;
        auto decoded = base64_decode(trimmed.data);
        if (!decoded) return fail(KeyLoadStatus::bad_format, "neither PEM nor a base64 Ed25519 seed");
        raw.data = std::move(*decoded);
        if (raw.data.size() != 32 && raw.data.size() != 64)
            return fail(KeyLoadStatus::bad_format, "a raw Ed25519 key must be 32 bytes (seed) or 64 (seed+public)");
        pkey.reset(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                                reinterpret_cast<const unsigned char*>(raw.data.data()), 32));
        if (!pkey) return fail(KeyLoadStatus::bad_format, ssl_error("Ed25519 seed"));
        if (raw.data.size() == 64) {
            unsigned char pub[32];
            std::size_t len = sizeof pub;
            if (EVP_PKEY_get_raw_public_key(pkey.get(), pub, &len) != 1 || len != 32 ||
                std::memcmp(pub, raw.data.data() + 32, 32) != 0)
                return fail(KeyLoadStatus::bad_format, "64-byte Ed25519 key: public half does not match the seed");
        }
    }
    const int id = EVP_PKEY_get_base_id(pkey.get());
    if (id == EVP_PKEY_ED25519) {
        return KeyLoadResult{KeyLoadStatus::ok, {},
                             std::shared_ptr<const SigningKey>(new SigningKey(std::move(pkey), KeyType::ed25519, 256))};
    }
    if (id != EVP_PKEY_RSA) return fail(KeyLoadStatus::bad_format, "key type is neither RSA nor Ed25519");
    const int bits = EVP_PKEY_get_bits(pkey.get());
    if (bits < static_cast<int>(options.min_rsa_bits))
        return fail(KeyLoadStatus::weak_key, "RSA key of " + std::to_string(bits) + " bits is under the minimum of " +
                                                 std::to_string(options.min_rsa_bits) + " (RFC 8301)");
    if (bits > static_cast<int>(max_rsa_bits))
        return fail(KeyLoadStatus::weak_key, "RSA key of " + std::to_string(bits) + " bits is over the maximum of " +
                                                 std::to_string(max_rsa_bits));
    return KeyLoadResult{KeyLoadStatus::ok, {},
                         std::shared_ptr<const SigningKey>(
                             new SigningKey(std::move(pkey), KeyType::rsa, static_cast<unsigned>(bits)))};
}

std::shared_ptr<const SigningKey> SigningKey::generate(KeyType type, unsigned bits) {
    if (type == KeyType::rsa && (bits < min_rsa_bits || bits > max_rsa_bits))
        throw std::invalid_argument("RSA key size out of range");
    EvpPkeyCtx ctx(EVP_PKEY_CTX_new_id(type == KeyType::rsa ? EVP_PKEY_RSA : EVP_PKEY_ED25519, nullptr));
    if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1) throw std::runtime_error(ssl_error("keygen init"));
    if (type == KeyType::rsa && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), static_cast<int>(bits)) != 1)
        throw std::runtime_error(ssl_error("keygen bits"));
    EVP_PKEY* raw = nullptr;
    if (EVP_PKEY_keygen(ctx.get(), &raw) != 1) throw std::runtime_error(ssl_error("keygen"));
    EvpPkey pkey(raw);
    const unsigned real_bits = type == KeyType::rsa ? static_cast<unsigned>(EVP_PKEY_get_bits(pkey.get())) : 256;
    return std::shared_ptr<const SigningKey>(new SigningKey(std::move(pkey), type, real_bits));
}

const char* SigningKey::algorithm() const noexcept {
    return type_ == KeyType::rsa ? "rsa-sha256" : "ed25519-sha256";
}

std::string SigningKey::sign_sha256_digest(std::string_view digest) const {
    if (digest.size() != 32) throw std::invalid_argument("sign_sha256_digest needs a 32-byte digest");
    const auto* in = reinterpret_cast<const unsigned char*>(digest.data());
    std::string sig;
    if (type_ == KeyType::rsa) {
        EvpPkeyCtx ctx;
        {
            std::lock_guard<std::mutex> guard(contexts_->mutex);
            if (!contexts_->idle.empty()) {
                ctx = std::move(contexts_->idle.back());
                contexts_->idle.pop_back();
            }
        }
        if (!ctx) {
            ctx.reset(EVP_PKEY_CTX_new(pkey_.get(), nullptr));
            if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1 ||
                EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1 ||
                EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) != 1)
                throw std::runtime_error(ssl_error("RSA sign init"));
        }
        // The same parameters for every signature: EVP_PKEY_sign may be called again on the context.
        std::size_t len = static_cast<std::size_t>(EVP_PKEY_get_size(pkey_.get()));
        sig.resize(len);
        if (EVP_PKEY_sign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in, digest.size()) != 1)
            throw std::runtime_error(ssl_error("RSA sign"));  // the context is dropped, not reused
        sig.resize(len);
        std::lock_guard<std::mutex> guard(contexts_->mutex);
        if (contexts_->idle.size() < ContextPool::max_idle) contexts_->idle.push_back(std::move(ctx));
        return sig;
    }
    EvpMdCtx ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey_.get()) != 1)
        throw std::runtime_error(ssl_error("Ed25519 sign init"));
    std::size_t len = 64;
    sig.resize(len);
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in, digest.size()) != 1)
        throw std::runtime_error(ssl_error("Ed25519 sign"));
    sig.resize(len);
    return sig;
}

std::string SigningKey::sign(std::string_view data) const {
    return sign_sha256_digest(Digest::of(HashAlgorithm::sha256, data));
}

std::string SigningKey::public_key_base64() const {
    if (type_ == KeyType::ed25519) {
        unsigned char pub[32];
        std::size_t len = sizeof pub;
        if (EVP_PKEY_get_raw_public_key(pkey_.get(), pub, &len) != 1 || len != 32)
            throw std::runtime_error(ssl_error("Ed25519 public key"));
        return base64_encode(std::string_view(reinterpret_cast<const char*>(pub), len));
    }
    const int len = i2d_PUBKEY(pkey_.get(), nullptr);
    if (len <= 0) throw std::runtime_error(ssl_error("i2d_PUBKEY"));
    std::string der(static_cast<std::size_t>(len), '\0');
    auto* p = reinterpret_cast<unsigned char*>(der.data());
    if (i2d_PUBKEY(pkey_.get(), &p) != len) throw std::runtime_error(ssl_error("i2d_PUBKEY"));
    return base64_encode(der);
}

std::string SigningKey::write_pem_file(const std::string& path) const {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return "cannot create " + path + ": " + std::strerror(errno);
    Bio mem(BIO_new(BIO_s_mem()));
    if (!mem || PEM_write_bio_PrivateKey(mem.get(), pkey_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
        ::close(fd);
        ::unlink(path.c_str());
        return ssl_error("PEM encoding");
    }
    char* data = nullptr;
    const long len = BIO_get_mem_data(mem.get(), &data);
    std::size_t off = 0;
    std::string err;
    while (err.empty() && off < static_cast<std::size_t>(len)) {
        const ssize_t n = ::write(fd, data + off, static_cast<std::size_t>(len) - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) err = "cannot write " + path + ": " + std::strerror(errno);
        else off += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0 && err.empty()) err = "cannot sync " + path + ": " + std::strerror(errno);
    if (::close(fd) != 0 && err.empty()) err = "cannot close " + path + ": " + std::strerror(errno);
    if (len > 0) OPENSSL_cleanse(data, static_cast<std::size_t>(len));
    if (!err.empty()) ::unlink(path.c_str());
    return err;
}

PublicKeyResult PublicKey::from_dkim(KeyType type, std::string_view der, unsigned min_bits) {
    ssl_clear_errors();
    if (type == KeyType::ed25519) {
        if (der.size() != 32)
            return {PublicKeyStatus::bad_key, "Ed25519 key must be 32 bytes, got " + std::to_string(der.size()), nullptr};
        EvpPkey pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                                 reinterpret_cast<const unsigned char*>(der.data()), 32));
        if (!pkey) return {PublicKeyStatus::bad_key, ssl_error("Ed25519 key"), nullptr};
        return {PublicKeyStatus::ok, {}, std::make_shared<const PublicKey>(std::move(pkey), KeyType::ed25519, 256)};
    }
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    EvpPkey pkey(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
    if (!pkey || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
        ssl_clear_errors();
        p = reinterpret_cast<const unsigned char*>(der.data());
        pkey.reset(d2i_PublicKey(EVP_PKEY_RSA, nullptr, &p, static_cast<long>(der.size())));
        if (!pkey || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size())
            return {PublicKeyStatus::bad_key, ssl_error("not an RSA public key"), nullptr};
    }
    if (EVP_PKEY_get_base_id(pkey.get()) != EVP_PKEY_RSA)
        return {PublicKeyStatus::bad_key, "k=rsa but p= holds another key type", nullptr};
    const int bits = EVP_PKEY_get_bits(pkey.get());
    if (bits < static_cast<int>(min_bits))
        return {PublicKeyStatus::weak_key, "RSA key of " + std::to_string(bits) + " bits is too short (RFC 8301)", nullptr};
    if (bits > static_cast<int>(max_rsa_bits))
        return {PublicKeyStatus::weak_key, "RSA key of " + std::to_string(bits) + " bits is too long", nullptr};
    return {PublicKeyStatus::ok, {},
            std::make_shared<const PublicKey>(std::move(pkey), KeyType::rsa, static_cast<unsigned>(bits))};
}

VerifyStatus PublicKey::verify_digest(HashAlgorithm hash, std::string_view digest, std::string_view signature) const {
    if (digest.size() != hash_size(hash)) return VerifyStatus::error;
    const auto* d = reinterpret_cast<const unsigned char*>(digest.data());
    const auto* s = reinterpret_cast<const unsigned char*>(signature.data());
    if (type_ == KeyType::rsa) {
        EvpPkeyCtx ctx(EVP_PKEY_CTX_new(pkey_.get(), nullptr));
        if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1 ||
            EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1 ||
            EVP_PKEY_CTX_set_signature_md(ctx.get(), hash == HashAlgorithm::sha1 ? EVP_sha1() : EVP_sha256()) != 1) {
            ssl_clear_errors();
            return VerifyStatus::error;
        }
        const int r = EVP_PKEY_verify(ctx.get(), s, signature.size(), d, digest.size());
        ssl_clear_errors();
        return r == 1 ? VerifyStatus::valid : VerifyStatus::invalid;
    }
    if (hash != HashAlgorithm::sha256) return VerifyStatus::error;
    EvpMdCtx ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey_.get()) != 1) {
        ssl_clear_errors();
        return VerifyStatus::error;
    }
    const int r = EVP_DigestVerify(ctx.get(), s, signature.size(), d, digest.size());
    ssl_clear_errors();
    return r == 1 ? VerifyStatus::valid : VerifyStatus::invalid;
}

}  // namespace mailmoat::crypto
