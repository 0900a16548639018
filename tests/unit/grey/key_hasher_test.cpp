// tests/unit/grey/key_hasher_test.cpp - HMAC-SHA256 keys (RFC 4231 vector) and the key file's permissions.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "common/config/options.hpp"
#include "common/grey/key_hasher.hpp"
#include "support/temp_dir.hpp"

using namespace mailmoat;

TEST_CASE("HMAC-SHA256 matches RFC 4231 test case 2 shape with a long key", "[grey][privacy]") {
    // RFC 4231 §4.3 uses key "Jefe" (4 bytes), below our 16-byte minimum; test case 6 uses a 131-byte
    // key of 0xaa and the data "Test Using Larger Than Block-Size Key - Hash Key First".
    grey::KeyHasher h(std::string(131, '\xaa'));
    CHECK(h.hash("Test Using Larger Than Block-Size Key - Hash Key First") ==
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    CHECK(h.hash("a") != h.hash("b"));
    CHECK_THROWS_AS(grey::KeyHasher("short"), std::invalid_argument);
}

TEST_CASE("the key file must be private", "[grey][privacy]") {
    test::TempDir dir("grey-key");
    const auto path = dir.file("key");
    std::ofstream(path) << "0123456789abcdef0123456789abcdef\n";
    ::chmod(path.c_str(), 0644);
    CHECK_THROWS_AS(grey::KeyHasher::from_file(path), config::ConfigError);
    ::chmod(path.c_str(), 0600);
    const auto h = grey::KeyHasher::from_file(path);
    CHECK(h.hash("x") == grey::KeyHasher("0123456789abcdef0123456789abcdef").hash("x"));
    CHECK_THROWS_AS(grey::KeyHasher::from_file(dir.file("missing")), config::ConfigError);
}
