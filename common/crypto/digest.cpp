// common/crypto/digest.cpp - incremental SHA-256 / SHA-1 over OpenSSL EVP.
#include "common/crypto/digest.hpp"

#include <stdexcept>

#include "common/crypto/ssl_error.hpp"

namespace mailmoat::crypto {
namespace {
const EVP_MD* md_of(HashAlgorithm h) { return h == HashAlgorithm::sha1 ? EVP_sha1() : EVP_sha256(); }
}  // namespace

const char* hash_name(HashAlgorithm h) noexcept { return h == HashAlgorithm::sha1 ? "sha1" : "sha256"; }
std::size_t hash_size(HashAlgorithm h) noexcept { return h == HashAlgorithm::sha1 ? 20 : 32; }

Digest::Digest(HashAlgorithm h) : alg_(h), ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), md_of(h), nullptr) != 1)
        throw std::runtime_error(ssl_error("digest init"));
}

void Digest::update(std::string_view data) {
    if (!data.empty()) EVP_DigestUpdate(ctx_.get(), data.data(), data.size());
}

std::string Digest::finish() {
    unsigned char buf[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), buf, &len) != 1) throw std::runtime_error(ssl_error("digest final"));
    if (EVP_DigestInit_ex(ctx_.get(), md_of(alg_), nullptr) != 1) throw std::runtime_error(ssl_error("digest init"));
    return {reinterpret_cast<const char*>(buf), len};
}

std::string Digest::of(HashAlgorithm h, std::string_view data) {
    Digest d(h);
    d.update(data);
    return d.finish();
}

}  // namespace mailmoat::crypto
