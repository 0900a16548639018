// tests/unit/mail/auth_results_test.cpp - RFC 8601 Authentication-Results build/parse, appendix B, forged fields.
#include "common/mail/auth_results.hpp"

#include <catch2/catch.hpp>

using mailmoat::mail::auth_results_field;
using mailmoat::mail::auth_results_value;
using mailmoat::mail::AuthProperty;
using mailmoat::mail::AuthResult;
using mailmoat::mail::AuthResults;
using mailmoat::mail::parse_auth_results;
using mailmoat::mail::ParsedAuthResults;

namespace {

AuthResults parse_ok(const std::string& value) {
    ParsedAuthResults p = parse_auth_results(value);
    INFO(value << " -> " << p.error);
    REQUIRE(p.status == ParsedAuthResults::Status::ok);
    return p.value;
}

}  // namespace

TEST_CASE("builder writes RFC 8601 syntax", "[mail][auth_results]") {
    AuthResults ar;
    ar.authserv_id = "mx.example.org";
    CHECK(auth_results_value(ar) == "mx.example.org; none");
    ar.version = "1";
    CHECK(auth_results_value(ar) == "mx.example.org 1; none");
    ar.version.clear();

    ar.results.push_back({"spf", "", "pass", "", "", {{"smtp", "mailfrom", "sender@example.net"}}});
    ar.results.push_back(
        {"dkim",
         "1",
         "fail",
         "bad signature; 1024-bit key",
         "signature did not verify",
         {{"header", "d", "example.net"}, {"header", "i", "@example.net"}, {"header", "b", "AbC+/12"}}});
    ar.results.push_back({"x-custom", "", "neutral", "", "token", {{"policy", "note", "a b \"c\" \\ d"}}});
    CHECK(auth_results_value(ar) ==
          "mx.example.org; spf=pass smtp.mailfrom=sender@example.net; "
          "dkim/1=fail (bad signature; 1024-bit key) reason=\"signature did not verify\" header.d=example.net "
          "header.i=@example.net header.b=\"AbC+/12\"; "
          "x-custom=neutral reason=token policy.note=\"a b \\\"c\\\" \\\\ d\"");
}

TEST_CASE("builder neutralises control characters and odd input", "[mail][auth_results]") {
    AuthResults ar;
    ar.authserv_id = "mx.example.org";
    ar.results.push_back(
        {"dkim", "", "pass", "evil)\r\nX-Injected: yes", "line\r\nbreak", {{"header", "d", "a\r\nb"}}});
    const std::string v = auth_results_value(ar);
    CHECK(v.find('\r') == std::string::npos);
    CHECK(v.find('\n') == std::string::npos);
    CHECK(v == "mx.example.org; dkim=pass (evil\\)??X-Injected: yes) reason=\"line??break\" header.d=\"a??b\"");
    AuthResults back = parse_ok(v);
    CHECK(back.results.at(0).comment == "evil)??X-Injected: yes");
    CHECK(back.results.at(0).reason == "line??break");
}

TEST_CASE("build then parse round-trips", "[mail][auth_results][roundtrip]") {
    auto ar = GENERATE(values<AuthResults>({
        AuthResults{"example.com", "", {}},
        AuthResults{"example.com", "1", {}},
        AuthResults{"mx.example.org", "", {{"spf", "", "pass", "", "", {{"smtp", "mailfrom", "example.net"}}}}},
        AuthResults{"mx.example.org",
                    "1",
                    {{"dkim",
                      "",
                      "pass",
                      "2048-bit key; secure",
                      "",
                      {{"header", "d", "example.com"}, {"header", "s", "sel1"}, {"header", "b", "dGVzdA=="}}},
                     {"dmarc", "", "fail", "", "", {{"header", "from", "example.com"}, {"policy", "dmarc", "reject"}}},
                     {"arc", "", "none", "", "", {}},
                     {"iprev", "", "pass", "", "", {{"policy", "iprev", "192.0.2.200"}}},
                     {"auth", "", "pass", "cram-md5", "", {{"smtp", "auth", "sender@example.net"}}}}},
        AuthResults{
            "quoted id",
            "",
            {{"spf", "", "softfail", "", "the reason; with semicolon", {{"smtp", "helo", "mail.example.net"}}}}},
        AuthResults{"mx.example.org",
                    "",
                    {{"x-unknown-method",
                      "3",
                      "weird-result",
                      "nested (comment) here",
                      "",
                      {{"custom", "prop.erty", "va lue"}}}}},
        AuthResults{
            "mx.example.org", "", {{"dkim", "", "pass", "", "", {{"header", "i", "\"john doe\"@example.com"}}}}},
    }));
    const std::string folded = auth_results_field(ar, 40);
    CAPTURE(folded);
    REQUIRE(folded.rfind("Authentication-Results: ", 0) == 0);
    AuthResults back = parse_ok(folded.substr(23));
    CHECK(back == ar);
    // Even the shortest case is longer than 40 characters, so every case is folded.
    CHECK(folded.find("\r\n ") != std::string::npos);
}

TEST_CASE("RFC 8601 appendix B examples parse", "[mail][auth_results][rfc8601]") {
    SECTION("B.2 nearly trivial case") {
        AuthResults a = parse_ok(" example.org 1; none");
        CHECK(a.authserv_id == "example.org");
        CHECK(a.version == "1");
        CHECK(a.results.empty());
    }
    SECTION("B.3 typical case") {
        AuthResults a = parse_ok(" example.com;\r\n                  spf=pass smtp.mailfrom=example.net");
        CHECK(a.authserv_id == "example.com");
        REQUIRE(a.results.size() == 1);
        CHECK(a.results[0] == AuthResult{"spf", "", "pass", "", "", {{"smtp", "mailfrom", "example.net"}}});
    }
    SECTION("B.4 service provided, authentication done") {
        AuthResults a = parse_ok(
            " example.com;\r\n                  auth=pass (cram-md5) smtp.auth=sender@example.net;\r\n"
            "                  spf=pass smtp.mailfrom=example.net");
        REQUIRE(a.results.size() == 2);
        CHECK(a.results[0] == AuthResult{"auth", "", "pass", "cram-md5", "", {{"smtp", "auth", "sender@example.net"}}});
        CHECK(a.results[1] == AuthResult{"spf", "", "pass", "", "", {{"smtp", "mailfrom", "example.net"}}});
        AuthResults b = parse_ok(" example.com; iprev=pass\r\n                  policy.iprev=192.0.2.200");
        REQUIRE(b.results.size() == 1);
        CHECK(b.results[0] == AuthResult{"iprev", "", "pass", "", "", {{"policy", "iprev", "192.0.2.200"}}});
    }
    SECTION("B.5 service provided, several authentications done, single MTA") {
        AuthResults a = parse_ok(
            " example.com;\r\n              sender-id=fail header.from=example.com;\r\n"
            "              dkim=pass (good signature) header.d=example.com");
        REQUIRE(a.results.size() == 2);
        CHECK(a.results[0] == AuthResult{"sender-id", "", "fail", "", "", {{"header", "from", "example.com"}}});
        CHECK(a.results[1] == AuthResult{"dkim", "", "pass", "good signature", "", {{"header", "d", "example.com"}}});
    }
    SECTION("B.6 several authentications done, different MTAs") {
        AuthResults a = parse_ok(
            " example.com;\r\n              dkim=pass reason=\"good signature\"\r\n"
            "                header.i=@mail-router.example.net;\r\n              dkim=fail reason=\"bad signature\"\r\n"
            "                header.i=@newyork.example.com");
        REQUIRE(a.results.size() == 2);
        CHECK(a.results[0] ==
              AuthResult{"dkim", "", "pass", "", "good signature", {{"header", "i", "@mail-router.example.net"}}});
        CHECK(a.results[1] ==
              AuthResult{"dkim", "", "fail", "", "bad signature", {{"header", "i", "@newyork.example.com"}}});
        AuthResults b =
            parse_ok(" example.net;\r\n              dkim=pass (good signature) header.i=@newyork.example.com");
        CHECK(b.authserv_id == "example.net");
        REQUIRE(b.results.size() == 1);
        CHECK(b.results[0].comment == "good signature");
    }
    SECTION("B.7 comment-heavy example") {
        AuthResults a = parse_ok(
            " foo.example.net (foobar) 1 (baz);\r\n    dkim (Because I like it) / 1 (One yay) = (wait for it) fail\r\n"
            "      policy (A dot can go here) . (like that) expired\r\n"
            "      (this surprised me) = (as I wasn't expecting it) 1362471462");
        CHECK(a.authserv_id == "foo.example.net");
        CHECK(a.version == "1");
        REQUIRE(a.results.size() == 1);
        CHECK(a.results[0].method == "dkim");
        CHECK(a.results[0].method_version == "1");
        CHECK(a.results[0].result == "fail");
        CHECK(a.results[0].properties == std::vector<AuthProperty>{{"policy", "expired", "1362471462"}});
    }
}

TEST_CASE("parser keywords are case-insensitive, values kept", "[mail][auth_results]") {
    AuthResults a = parse_ok("MX.Example.ORG; DKIM=Pass Header.D=Example.COM");
    CHECK(a.authserv_id == "MX.Example.ORG");
    CHECK(a.results.at(0) == AuthResult{"dkim", "", "pass", "", "", {{"header", "d", "Example.COM"}}});
}

TEST_CASE("parser reports partial and invalid values", "[mail][auth_results]") {
    struct Case {
        const char* value;
        ParsedAuthResults::Status status;
        std::size_t results;
    };
    auto c = GENERATE(values<Case>({
        {"", ParsedAuthResults::Status::invalid, 0},
        {"   (just a comment)", ParsedAuthResults::Status::invalid, 0},
        {"; spf=pass", ParsedAuthResults::Status::invalid, 0},
        {"\"unterminated", ParsedAuthResults::Status::invalid, 0},
        {"example.com", ParsedAuthResults::Status::partial, 0},
        {"example.com; spf", ParsedAuthResults::Status::partial, 0},
        {"example.com; spf=pass; dkim=", ParsedAuthResults::Status::partial, 1},
        {"example.com; spf=pass smtp.mailfrom", ParsedAuthResults::Status::partial, 0},
        {"example.com; spf=pass (unterminated", ParsedAuthResults::Status::partial, 0},
        {"example.com; none; spf=pass", ParsedAuthResults::Status::partial, 0},
        {"example.com; spf=pass;", ParsedAuthResults::Status::ok, 1},
        {"example.com; spf=pass smtp.mailfrom=a\x01b", ParsedAuthResults::Status::partial, 0},
        {"example.com; spf=pass reason=\"a\x7f\"", ParsedAuthResults::Status::partial, 0},
        {"example.com; spf=pass (a\x1b)", ParsedAuthResults::Status::partial, 0},
    }));
    CAPTURE(c.value);
    ParsedAuthResults p = parse_auth_results(c.value);
    CHECK(p.status == c.status);
    CHECK(p.value.results.size() == c.results);
    if (p.status != ParsedAuthResults::Status::ok) CHECK_FALSE(p.error.empty());
    CHECK(parse_auth_results("x; " + std::string(70000, 'a')).status == ParsedAuthResults::Status::invalid);
}

TEST_CASE("forged Authentication-Results with our authserv-id are found", "[mail][auth_results][forged]") {
    using mailmoat::mail::ForgedField;
    using mailmoat::mail::HeaderField;
    std::vector<HeaderField> fields = {
        {"Received", " from a by b", 1},
        {"Authentication-Results", " MX.example.ORG; spf=pass smtp.mailfrom=x.org", 2},
        {"authentication-results", " other.example; dkim=pass", 3},
        {"Subject", " hi", 4},
        {"Authentication-Results", " mx.example.org (forged)\r\n  1; none", 5},
        {"Authentication-Results", " mx.example.org.evil; none", 6},
        {"Authentication-Results", " \"mx.example.org\"; garbage here", 7},
        {"Authentication-Results", " ;;;", 8},
        {"Authentication-Results", std::string(" mx.example.org; spf=pass smtp.mailfrom=a\0b", 43), 9},
    };
    auto forged = mailmoat::mail::forged_auth_results(fields, "mx.example.org");
    CHECK(forged == std::vector<ForgedField>{{1, 1}, {4, 3}, {6, 5}, {8, 7}});
    CHECK(mailmoat::mail::forged_auth_results(fields, "nobody.example").empty());
}
