// tests/unit/dkim/signature_test.cpp - DKIM-Signature parsing (RFC 6376 §3.5) and building.
#include <catch2/catch.hpp>

#include <string>

#include "common/crypto/base64.hpp"
#include "common/dkim/signature.hpp"

using namespace mailmoat::dkim;

namespace {
const std::string bh = "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=";
std::string sig(const std::string& extra, const std::string& h = "from:to") {
    return " v=1; a=rsa-sha256; d=example.com; s=sel; h=" + h + "; bh=" + bh + "; b=AAAA" + extra;
}
}  // namespace

TEST_CASE("a complete signature parses with defaults", "[dkim][sig]") {
    const auto p = parse_signature(sig(""));
    REQUIRE(p.status == SignatureStatus::ok);
    const auto& s = p.signature;
    CHECK(s.algorithm == Algorithm::rsa_sha256);
    CHECK(s.domain == "example.com");
    CHECK(s.selector == "sel");
    CHECK(s.identity == "@example.com");
    CHECK(s.header_canon == Canon::simple);
    CHECK(s.body_canon == Canon::simple);
    CHECK(s.signed_headers == std::vector<std::string>{"from", "to"});
    CHECK(s.body_hash.size() == 32);
    CHECK(s.signature == std::string(3, '\0'));
    CHECK(s.key_name() == "sel._domainkey.example.com");
    CHECK_FALSE(s.body_length);
}

TEST_CASE("all optional tags", "[dkim][sig]") {
    const auto p = parse_signature(
        " v=1; a=ed25519-sha256; c=relaxed; d=Example.COM; s=Sel_1; i=user@sub.example.com;\r\n"
        "\tl=1234; q=dns/txt; t=1000; x=2000; z=From:foo|To:bar;\r\n"
        "\th=From : Subject :\r\n To; bh=" + bh + ";\r\n\tb=AA\r\n\t AA");
    REQUIRE(p.status == SignatureStatus::ok);
    const auto& s = p.signature;
    CHECK(s.algorithm == Algorithm::ed25519_sha256);
    CHECK(s.header_canon == Canon::relaxed);
    CHECK(s.body_canon == Canon::simple);
    CHECK(s.domain == "example.com");
    CHECK(s.selector == "sel_1");
    CHECK(s.identity == "user@sub.example.com");
    CHECK(s.identity_domain() == "sub.example.com");
    CHECK(*s.body_length == 1234);
    CHECK(*s.timestamp == 1000);
    CHECK(*s.expiration == 2000);
    CHECK(s.signed_headers == std::vector<std::string>{"from", "subject", "to"});
    CHECK(s.b_text == "AAAA");
}

TEST_CASE("malformed or unacceptable signatures", "[dkim][sig]") {
    auto [text, status, why] = GENERATE(table<std::string, SignatureStatus, std::string>({
        {" v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=" + bh, SignatureStatus::permerror, "missing tag b="},
        {" v=1; a=rsa-sha256; d=example.com; h=from; bh=" + bh + "; b=AAAA", SignatureStatus::permerror, "missing tag s="},
        {" a=rsa-sha256; d=example.com; s=s; h=from; bh=" + bh + "; b=AAAA", SignatureStatus::permerror, "missing tag v="},
        {" v=2; a=rsa-sha256; d=example.com; s=s; h=from; bh=" + bh + "; b=AAAA", SignatureStatus::unsupported, "version"},
        {" v=1; a=rsa-md5; d=example.com; s=s; h=from; bh=" + bh + "; b=AAAA", SignatureStatus::unsupported, "algorithm"},
        {sig("; c=fancy/simple"), SignatureStatus::unsupported, "canonicalization"},
        {sig("", "to:subject"), SignatureStatus::permerror, "From is not signed"},
        {sig("", "from::to"), SignatureStatus::permerror, "empty header name"},
        {sig("; i=joe@example.net"), SignatureStatus::permerror, "not within d="},
        {sig("; i=joe@badexample.com"), SignatureStatus::permerror, "not within d="},
        {sig("; i=joe"), SignatureStatus::permerror, "no '@'"},
        {sig("; l=12a"), SignatureStatus::permerror, "l= is not"},
        {sig("; t=-5"), SignatureStatus::permerror, "t= is not"},
        {sig("; t=1234567890123"), SignatureStatus::permerror, "t= is not"},
        {sig("; t=200; x=100"), SignatureStatus::permerror, "x= is not after t="},
        {sig("; t=200; x=200"), SignatureStatus::permerror, "x= is not after t="},
        {sig("; q=http/x"), SignatureStatus::unsupported, "q="},
        {sig("; d=other.com"), SignatureStatus::permerror, "duplicate tag d"},
        {sig("; b=BBBB"), SignatureStatus::permerror, "duplicate tag b"},
        {" v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=abc; b=AAAA", SignatureStatus::permerror, "bh="},
        {" v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=AAAA; b=AAAA", SignatureStatus::permerror, "wrong length"},
        {" v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=" + bh + "; b=A*AA", SignatureStatus::permerror, "b= is not"},
        {" v=1; a=rsa-sha256; d=exa mple.com; s=sel; h=from; bh=" + bh + "; b=AAAA", SignatureStatus::permerror, "bad domain"},
        {" v=1; a=rsa-sha256; d=-example.com; s=sel; h=from; bh=" + bh + "; b=AAAA", SignatureStatus::permerror, "bad domain"},
        {" v=1; a=rsa-sha256; d=example.com; s=a..b; h=from; bh=" + bh + "; b=AAAA", SignatureStatus::permerror, "bad selector"},
        {" v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=" + bh + "; b=AAAA;;", SignatureStatus::permerror, "syntax"},
        {"garbage", SignatureStatus::permerror, "syntax"},
        {"", SignatureStatus::permerror, "syntax"},
    }));
    INFO(text);
    const auto p = parse_signature(text);
    CHECK(p.status == status);
    CHECK_THAT(p.error, Catch::Contains(why));
}

TEST_CASE("i= equal to d= or a subdomain; l= saturates", "[dkim][sig]") {
    CHECK(parse_signature(sig("; i=@example.com")).status == SignatureStatus::ok);
    CHECK(parse_signature(sig("; i=@EXAMPLE.com")).status == SignatureStatus::ok);
    CHECK(parse_signature(sig("; i=a@b.c.example.com")).status == SignatureStatus::ok);
    const auto p = parse_signature(sig("; l=99999999999999999999999999"));
    REQUIRE(p.status == SignatureStatus::ok);
    CHECK(*p.signature.body_length == std::numeric_limits<std::uint64_t>::max());
    CHECK(domain_within("Mail.Example.com", "example.COM"));
    CHECK_FALSE(domain_within("example.com", "mail.example.com"));
    CHECK_FALSE(domain_within("notexample.com", "example.com"));
}

TEST_CASE("rsa-sha1 parses (to be reported as failing) with a 20-byte bh=", "[dkim][sig]") {
    const auto p = parse_signature(" v=1; a=rsa-sha1; d=example.com; s=sel; h=from; bh=uoq1oCgLlTqpdDX/iUbLy7J1Wic=; b=AAAA");
    REQUIRE(p.status == SignatureStatus::ok);
    CHECK(p.signature.algorithm == Algorithm::rsa_sha1);
}

TEST_CASE("built signatures are folded at 78 columns, b= last, and parse back", "[dkim][sig]") {
    SignatureFields f;
    f.algorithm = Algorithm::rsa_sha256;
    f.domain = "a-rather-long-subdomain.example-domain.example";
    f.selector = "selector2026";
    f.identity = "someone@mail.a-rather-long-subdomain.example-domain.example";
    f.timestamp = 1700000000;
    f.expiration = 1700086400;
    f.signed_headers = {"from", "from", "to", "to", "subject", "subject", "date", "date", "message-id",
                        "message-id", "mime-version", "content-type", "content-transfer-encoding", "reply-to"};
    f.body_hash = std::string(32, '\x42');
    const std::string b64 = mailmoat::crypto::base64_encode(std::string(256, '\x7f'));
    const std::string v = build_signature_value(f, b64);
    std::size_t line_start = 0;
    std::size_t first_extra = std::string("DKIM-Signature:").size();
    while (true) {
        const auto e = v.find("\r\n", line_start);
        const std::size_t len = (e == std::string::npos ? v.size() : e) - line_start + first_extra;
        CHECK(len <= 78);
        first_extra = 0;
        if (e == std::string::npos) break;
        CHECK((v[e + 2] == '\t'));
        line_start = e + 2;
    }
    CHECK(v.rfind("b=") > v.find("bh="));
    const auto p = parse_signature(v);
    REQUIRE(p.status == SignatureStatus::ok);
    CHECK(p.signature.signed_headers == f.signed_headers);
    CHECK(p.signature.b_text == b64);
    CHECK(p.signature.identity == *f.identity);
    CHECK(*p.signature.expiration == 1700086400);
    // Removing the b= value gives exactly the unsigned form that was hashed.
    CHECK(strip_b_value(v) == build_signature_value(f));
    CHECK(build_signature_value(f).substr(build_signature_value(f).size() - 5) == "\r\n\tb=");
}

TEST_CASE("strip_b_value finds b= and not bh=", "[dkim][sig]") {
    CHECK(strip_b_value(" a=1; bh=xyz; b=abc def ; c=2") == " a=1; bh=xyz; b= ; c=2");
    CHECK(strip_b_value(" b =\r\n abc\r\n\tdef") == " b =\r\n ");
    CHECK(strip_b_value(" bh=xyz") == " bh=xyz");
    CHECK(strip_b_value(" bh=xyz;b=") == " bh=xyz;b=");
}
