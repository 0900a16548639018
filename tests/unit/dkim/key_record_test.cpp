// tests/unit/dkim/key_record_test.cpp - DKIM key records (RFC 6376 §3.6.1, RFC 8463 §4).
#include <catch2/catch.hpp>

#include "common/dkim/key_record.hpp"

using namespace mailmoat::dkim;
using mailmoat::crypto::KeyType;

TEST_CASE("key records with and without optional tags", "[dkim][keyrec]") {
    auto p = parse_key_record("v=DKIM1; k=rsa; p=AAAA");
    REQUIRE(p.status == KeyRecordStatus::ok);
    CHECK(p.record.type == KeyType::rsa);
    CHECK(p.record.public_key == std::string(3, '\0'));
    CHECK_FALSE(p.record.revoked);
    CHECK(p.record.allows_sha256);
    CHECK(p.record.allows_sha1);

    p = parse_key_record("p=AA AA");  // no v=, k= defaults to rsa, FWS inside base64
    REQUIRE(p.status == KeyRecordStatus::ok);
    CHECK(p.record.type == KeyType::rsa);

    p = parse_key_record("v=DKIM1; k=ed25519; h=sha256; s=email:other; t=y:s:zz; n=notes here; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=; future=1");
    REQUIRE(p.status == KeyRecordStatus::ok);
    CHECK(p.record.type == KeyType::ed25519);
    CHECK(p.record.public_key.size() == 32);
    CHECK(p.record.testing);
    CHECK(p.record.strict_identity);
    CHECK(p.record.allows_sha256);
    CHECK_FALSE(p.record.allows_sha1);
    CHECK(p.record.notes == "notes here");

    p = parse_key_record("v=DKIM1; p=");
    REQUIRE(p.status == KeyRecordStatus::ok);
    CHECK(p.record.revoked);
    p = parse_key_record("v=DKIM1; s=*; p= ");
    REQUIRE(p.status == KeyRecordStatus::ok);
    CHECK(p.record.revoked);
}

TEST_CASE("bad key records", "[dkim][keyrec]") {
    auto [text, status] = GENERATE(table<std::string, KeyRecordStatus>({
        {"", KeyRecordStatus::permerror},
        {"v=DKIM1; k=rsa", KeyRecordStatus::permerror},                 // no p=
        {"v=DKIM2; p=AAAA", KeyRecordStatus::permerror},
        {"k=rsa; v=DKIM1; p=AAAA", KeyRecordStatus::permerror},         // v= not first
        {"v=DKIM1: g=*; k=rsa; p=AAAA", KeyRecordStatus::permerror},    // dkimpy's badversion.txt shape
        {"v=DKIM1; k=rsa; p=AAAA; p=BBBB", KeyRecordStatus::permerror}, // duplicate
        {"v=DKIM1; p=AA*A", KeyRecordStatus::permerror},
        {"v=DKIM1; p=AAA", KeyRecordStatus::permerror},
        {"v=DKIM1; k=dsa; p=AAAA", KeyRecordStatus::unsupported},
        {"v=DKIM1; k=ed25519-sha256; p=AAAA", KeyRecordStatus::unsupported},
        {"v=DKIM1; s=tlsrpt; p=AAAA", KeyRecordStatus::unsupported},
        {"v=DKIM1; h=sha256::sha1; p=AAAA", KeyRecordStatus::permerror},
        {"this is not a key", KeyRecordStatus::permerror},
        {"v=spf1 -all", KeyRecordStatus::permerror},
    }));
    INFO(text);
    CHECK(parse_key_record(text).status == status);
}
