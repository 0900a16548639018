// tests/unit/crypto/digest_test.cpp - incremental SHA-256/SHA-1 (FIPS 180 "abc" vectors) and the
// OpenSSL error helper.
#include <catch2/catch.hpp>

#include <openssl/err.h>

#include "common/crypto/base64.hpp"
#include "common/crypto/digest.hpp"
#include "common/crypto/keys.hpp"
#include "common/crypto/ssl_error.hpp"

using namespace mailmoat::crypto;

TEST_CASE("SHA-256 and SHA-1 of 'abc', whole and in pieces", "[crypto][digest]") {
    CHECK(base64_encode(Digest::of(HashAlgorithm::sha256, "abc")) == "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
    CHECK(base64_encode(Digest::of(HashAlgorithm::sha1, "abc")) == "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=");
    Digest d(HashAlgorithm::sha256);
    d.update("a");
    d.update("");
    d.update("bc");
    CHECK(base64_encode(d.finish()) == "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
    // finish() leaves a fresh hash behind.
    d.update("abc");
    CHECK(base64_encode(d.finish()) == "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
    CHECK(hash_size(HashAlgorithm::sha1) == 20);
    CHECK(std::string(hash_name(HashAlgorithm::sha256)) == "sha256");
}

TEST_CASE("ssl_error drains the queue and names the context", "[crypto][error]") {
    ssl_clear_errors();
    CHECK(ssl_error("ctx") == "ctx");
    CHECK(ssl_error() == "unknown error");
    const auto r = SigningKey::from_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    CHECK(r.status == KeyLoadStatus::bad_format);
    CHECK_THAT(r.error, Catch::StartsWith("not a PEM private key"));
    CHECK(ERR_peek_error() == 0);  // nothing left behind for the next caller
}
