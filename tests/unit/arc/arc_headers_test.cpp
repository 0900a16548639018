// tests/unit/arc/arc_headers_test.cpp - ARC field recognition, instance reading, AMS and AS parsing
// (RFC 8617 §4.1).
#include <catch2/catch.hpp>

#include "common/arc/arc_headers.hpp"

using namespace mailmoat::arc;

namespace {
const char* b64sig = "dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZQ==";
const char* bh32 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

std::string ams(const std::string& extra, const std::string& h = "from:to:subject") {
    return " i=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=arc; t=1700000000; h=" + h +
           "; bh=" + bh32 + "; " + extra + "b=" + b64sig;
}
std::string seal(const std::string& i, const std::string& cv, const std::string& extra = "") {
    return " i=" + i + "; a=rsa-sha256; cv=" + cv + "; d=Example.ORG; s=arc; t=1700000000; " + extra + "b=" + b64sig;
}
}  // namespace

TEST_CASE("field_kind recognises the three ARC fields case-insensitively") {
    CHECK(field_kind("ARC-Seal") == FieldKind::seal);
    CHECK(field_kind("arc-seal ") == FieldKind::seal);
    CHECK(field_kind("Arc-Message-Signature") == FieldKind::ams);
    CHECK(field_kind("ARC-AUTHENTICATION-RESULTS") == FieldKind::aar);
    CHECK_FALSE(field_kind("Authentication-Results"));
    CHECK_FALSE(field_kind("DKIM-Signature"));
    CHECK_FALSE(field_kind("ARC-Seal-X"));
    CHECK_FALSE(field_kind(""));
}

TEST_CASE("parse_instance reads i= of an AAR (RFC 8617 §4.1.1)") {
    struct Case {
        const char* value;
        InstanceStatus status;
        unsigned instance;
    };
    const Case cases[] = {
        {" i=1; mx.example; spf=pass", InstanceStatus::ok, 1},
        {"\r\n\ti = 12 ; mx.example; none", InstanceStatus::ok, 12},
        {" i=050; mx.example; none", InstanceStatus::ok, 50},
        {" i=51; mx.example; none", InstanceStatus::out_of_range, 51},
        {" i=0; mx.example; none", InstanceStatus::out_of_range, 0},
        {" mx.example; i=1; spf=pass", InstanceStatus::missing, 0},
        {" i=; mx.example", InstanceStatus::invalid, 0},
        {" i=1x; mx.example", InstanceStatus::invalid, 0},
        {" i=1 mx.example", InstanceStatus::invalid, 0},
        {"", InstanceStatus::missing, 0},
        {" i=99999999999999999999999; x", InstanceStatus::out_of_range, 9999},
    };
    for (const auto& c : cases) {
        INFO(c.value);
        const auto p = parse_instance(FieldKind::aar, c.value);
        CHECK(p.status == c.status);
        if (c.status == InstanceStatus::ok || c.status == InstanceStatus::out_of_range) CHECK(p.instance == c.instance);
    }
}

TEST_CASE("parse_instance reads i= from the tag-list of AMS and AS") {
    CHECK(parse_instance(FieldKind::seal, seal("3", "pass")).instance == 3);
    CHECK(parse_instance(FieldKind::seal, seal("3", "pass")).status == InstanceStatus::ok);
    CHECK(parse_instance(FieldKind::ams, " a=rsa-sha256; b=x").status == InstanceStatus::missing);
    CHECK(parse_instance(FieldKind::ams, " i=1; i=2; b=x").status == InstanceStatus::invalid);  // duplicate tag
    CHECK(parse_instance(FieldKind::seal, " i=abc; b=x").status == InstanceStatus::invalid);
    CHECK(parse_instance(FieldKind::seal, " i=77; b=x").status == InstanceStatus::out_of_range);
    CHECK(parse_instance(FieldKind::seal, "no tag list at all").status == InstanceStatus::invalid);
}

TEST_CASE("parse_message_signature accepts a well-formed AMS") {
    const auto p = parse_message_signature(ams("l=10; "));
    REQUIRE(p.status == ParseStatus::ok);
    CHECK(p.signature.instance == 1);
    CHECK(p.signature.domain == "example.org");
    CHECK(p.signature.selector == "arc");
    CHECK(p.signature.key_name() == "arc._domainkey.example.org");
    CHECK(p.signature.header_canon == mailmoat::dkim::Canon::relaxed);
    CHECK(p.signature.body_canon == mailmoat::dkim::Canon::relaxed);
    CHECK(p.signature.signed_headers == std::vector<std::string>{"from", "to", "subject"});
    CHECK(p.signature.body_length == 10U);
    CHECK(p.signature.timestamp == 1700000000);
    CHECK(p.signature.body_hash.size() == 32);
}

TEST_CASE("parse_message_signature rejects what RFC 8617 §4.1.2 forbids") {
    CHECK(parse_message_signature(ams("", "from:arc-seal")).status == ParseStatus::permerror);
    CHECK(parse_message_signature(ams("", "from:ARC-Seal:to")).status == ParseStatus::permerror);
    CHECK(parse_message_signature(ams("", "from::to")).status == ParseStatus::permerror);
    std::string v = ams("");
    CHECK(parse_message_signature(std::string(v).replace(v.find("a=rsa-sha256"), 12, "a=rsa-sha1")).status ==
          ParseStatus::unsupported);
    CHECK(parse_message_signature(std::string(v).replace(v.find("a=rsa-sha256"), 12, "a=ed25519-sha256")).status ==
          ParseStatus::unsupported);
    CHECK(parse_message_signature(std::string(v).replace(v.find("i=1"), 3, "i=0")).status == ParseStatus::permerror);
    CHECK(parse_message_signature(std::string(v).replace(v.find("i=1"), 3, "i=51")).status == ParseStatus::permerror);
    CHECK(parse_message_signature(std::string(v).replace(v.find("c=relaxed/relaxed"), 17, "c=fancy")).status ==
          ParseStatus::unsupported);
    CHECK(parse_message_signature(std::string(v).replace(v.find("bh="), 3, "bx=")).status == ParseStatus::permerror);
    CHECK(parse_message_signature(std::string(v).replace(v.find("d=example.org"), 13, "d=exa mple")).status ==
          ParseStatus::permerror);
    CHECK(parse_message_signature(" i=1; a=rsa-sha256; b=").status == ParseStatus::permerror);
    CHECK(parse_message_signature("").status == ParseStatus::permerror);
}

TEST_CASE("parse_seal checks cv=, h= and the required tags (RFC 8617 §4.1.3)") {
    auto ok = parse_seal(seal("2", "Pass"));
    REQUIRE(ok.status == ParseStatus::ok);
    CHECK(ok.seal.instance == 2);
    CHECK(ok.seal.cv == Cv::pass);
    CHECK(ok.seal.domain == "example.org");
    CHECK(parse_seal(seal("1", "none")).seal.cv == Cv::none);
    CHECK(parse_seal(seal("3", "fail")).seal.cv == Cv::fail);
    CHECK(parse_seal(seal("1", "maybe")).status == ParseStatus::permerror);
    CHECK(parse_seal(seal("1", "none", "h=from:to; ")).status == ParseStatus::permerror);
    CHECK(parse_seal(seal("0", "none")).status == ParseStatus::permerror);
    CHECK(parse_seal(seal("x", "none")).status == ParseStatus::permerror);
    CHECK(parse_seal(" i=1; a=rsa-sha256; d=example.org; s=arc; b=abcd").status == ParseStatus::permerror);  // no cv
    std::string v = seal("1", "none");
    CHECK(parse_seal(std::string(v).replace(v.find("a=rsa-sha256"), 12, "a=rsa-sha1")).status == ParseStatus::unsupported);
    CHECK(parse_seal(std::string(v).replace(v.find("t=1700000000"), 12, "t=soon")).status == ParseStatus::permerror);
}

TEST_CASE("parse_aar gives the sealed Authentication-Results payload") {
    const auto p = parse_aar(" i=2; relay.lists.example;\r\n\tdkim=pass header.d=origin.example;\r\n\tdmarc=pass header.from=origin.example;\r\n\tarc=pass");
    REQUIRE(p.status == mailmoat::mail::ParsedAuthResults::Status::ok);
    CHECK(p.value.authserv_id == "relay.lists.example");
    REQUIRE(p.value.results.size() == 3);
    CHECK(p.value.results[1].method == "dmarc");
    CHECK(p.value.results[1].result == "pass");
    CHECK(p.value.results[1].properties[0].value == "origin.example");
    CHECK(parse_aar(" relay.lists.example; dmarc=pass").status == mailmoat::mail::ParsedAuthResults::Status::invalid);
    CHECK(parse_aar(" i=0; relay.lists.example; dmarc=pass").status == mailmoat::mail::ParsedAuthResults::Status::invalid);
}
