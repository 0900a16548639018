// tests/unit/crypto/base64_test.cpp - strict base64 (RFC 4648 test vectors, DKIM whitespace rules).
#include <catch2/catch.hpp>

#include "common/crypto/base64.hpp"

using mailmoat::crypto::base64_decode;
using mailmoat::crypto::base64_encode;

TEST_CASE("RFC 4648 §10 vectors round-trip", "[crypto][base64]") {
    auto [plain, enc] = GENERATE(table<std::string, std::string>({
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}, {std::string("\0\xff\x10", 3), "AP8Q"}}));
    CHECK(base64_encode(plain) == enc);
    const auto d = base64_decode(enc);
    REQUIRE(d);
    CHECK(*d == plain);
}

TEST_CASE("whitespace is skipped, junk refused", "[crypto][base64]") {
    CHECK(*base64_decode(" Zm9v\r\n\tYmFy ") == "foobar");
    CHECK(*base64_decode("Zm8 =") == "fo");
    for (const char* bad : {"Zm9", "Zm9vY", "Zm=v", "Zg==Zg==", "Z===", "Zm9v!", "Zh==", "Zm9=", "====", "Zg=\x01="})
        CHECK_FALSE(base64_decode(bad));
}
