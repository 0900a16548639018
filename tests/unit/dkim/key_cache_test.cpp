// tests/unit/dkim/key_cache_test.cpp - parsed public key cache: hits, bounds, failures not cached.
#include <catch2/catch.hpp>

#include "common/crypto/base64.hpp"
#include "common/dkim/key_cache.hpp"

using namespace mailmoat;

TEST_CASE("public key cache returns the same parsed key and stays bounded", "[dkim][cache]") {
    dkim::PublicKeyCache cache(2);
    const auto k1 = crypto::SigningKey::generate(crypto::KeyType::ed25519);
    const auto k2 = crypto::SigningKey::generate(crypto::KeyType::ed25519);
    const auto k3 = crypto::SigningKey::generate(crypto::KeyType::ed25519);
    const auto der1 = *crypto::base64_decode(k1->public_key_base64());
    auto a = cache.get(crypto::KeyType::ed25519, der1, 1024);
    auto b = cache.get(crypto::KeyType::ed25519, der1, 1024);
    REQUIRE(a.status == crypto::PublicKeyStatus::ok);
    CHECK(a.key == b.key);
    CHECK(cache.hits() == 1);
    CHECK(cache.get(crypto::KeyType::rsa, der1, 1024).status == crypto::PublicKeyStatus::bad_key);
    CHECK(cache.size() == 1);
    (void)cache.get(crypto::KeyType::ed25519, *crypto::base64_decode(k2->public_key_base64()), 1024);
    (void)cache.get(crypto::KeyType::ed25519, *crypto::base64_decode(k3->public_key_base64()), 1024);
    CHECK(cache.size() <= 2);
}
