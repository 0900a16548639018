// tests/unit/mail/address_test.cpp - RFC 5322 address lists, RFC 2047 display names, IDN, envelope domains.
#include "common/mail/address.hpp"

#include <catch2/catch.hpp>

using mailmoat::mail::AddressList;
using mailmoat::mail::decode_encoded_words;
using mailmoat::mail::DomainResult;
using mailmoat::mail::envelope_domain;
using mailmoat::mail::normalize_domain;
using mailmoat::mail::parse_address_list;

namespace {
struct Expected {
    std::string display;
    std::string local;
    std::string domain;
    std::string group;
};
}  // namespace

TEST_CASE("address lists parse into mailboxes", "[mail][address]") {
    struct Case {
        const char* value;
        std::vector<Expected> mailboxes;
    };
    auto c = GENERATE(values<Case>({
        {"alice@example.com", {{"", "alice", "example.com", ""}}},
        {"Alice <alice@example.com>", {{"Alice", "alice", "example.com", ""}}},
        {"\"Smith, John\" <john@EXAMPLE.com>", {{"Smith, John", "john", "example.com", ""}}},
        {"\"Quote \\\"me\\\"\" <q@x.org>", {{"Quote \"me\"", "q", "x.org", ""}}},
        {"John Q. Public <jqp@x.org>", {{"John Q. Public", "jqp", "x.org", ""}}},  // obs-phrase with '.'
        {"  Mary   Smith   <mary@x.net>", {{"Mary Smith", "mary", "x.net", ""}}},
        {"(comment (nested) here) bob@x.org (trailing)", {{"", "bob", "x.org", ""}}},
        {"Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>", {{"Pete", "pete", "silly.test", ""}}},
        {"a@b.c, \"d\" <e@f.g>,, h@i.j", {{"", "a", "b.c", ""}, {"d", "e", "f.g", ""}, {"", "h", "i.j", ""}}},
        {"undisclosed-recipients:;", {}},
        {"A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;, last@x.org",
         {{"Ed Jones", "c", "a.test", "A Group"},
          {"", "joe", "where.test", "A Group"},
          {"John", "jdoe", "one.test", "A Group"},
          {"", "last", "x.org", ""}}},
        {"<@route1.example,@route2.example:user@dest.example>", {{"", "user", "dest.example", ""}}},
        {"\"john doe\"@example.com", {{"", "\"john doe\"", "example.com", ""}}},
        {"first.last@sub.example.com.", {{"", "first.last", "sub.example.com", ""}}},
        {"user@[192.0.2.1]", {{"", "user", "[192.0.2.1]", ""}}},
        {"user@[IPv6:2001:db8::1]", {{"", "user", "[IPv6:2001:db8::1]", ""}}},
        {"=?utf-8?q?J=C3=B6rg?= <j@x.de>", {{"Jörg", "j", "x.de", ""}}},
        {"=?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>", {{"André Pirard", "PIRARD", "vm1.ulg.ac.be", ""}}},
        {"=?UTF-8?B?w4XDhMOW?= =?utf-8?b?IMOcYmVy?= <u@x.org>", {{"ÅÄÖ Über", "u", "x.org", ""}}},
        {"\"=?utf-8?q?quoted_word?=\" <q@x.org>", {{"quoted word", "q", "x.org", ""}}},
        {"=?koi8-r?b?8tXT08vJ?= <r@x.ru>", {{"=?koi8-r?b?8tXT08vJ?=", "r", "x.ru", ""}}},  // left raw
        {"Jürgen <j@bücher.example>", {{"Jürgen", "j", "xn--bcher-kva.example", ""}}},
        {"x@XN--BCHER-KVA.Example", {{"", "x", "xn--bcher-kva.example", ""}}},
        {"", {}},
        {"  (only a comment)  ", {}},
    }));
    CAPTURE(c.value);
    AddressList r = parse_address_list(c.value);
    CAPTURE(r.error);
    CHECK(r.status == (c.mailboxes.empty() ? AddressList::Status::empty : AddressList::Status::ok));
    REQUIRE(r.mailboxes.size() == c.mailboxes.size());
    for (std::size_t i = 0; i < c.mailboxes.size(); ++i) {
        CHECK(r.mailboxes[i].display_name == c.mailboxes[i].display);
        CHECK(r.mailboxes[i].local_part == c.mailboxes[i].local);
        CHECK(r.mailboxes[i].domain == c.mailboxes[i].domain);
        CHECK(r.mailboxes[i].group == c.mailboxes[i].group);
    }
}

TEST_CASE("groups are reported even when empty", "[mail][address]") {
    AddressList r = parse_address_list("undisclosed-recipients:;, Team: a@b.c;");
    CHECK(r.status == AddressList::Status::ok);
    CHECK(r.groups == std::vector<std::string>{"undisclosed-recipients", "Team"});
    REQUIRE(r.mailboxes.size() == 1);
    CHECK(r.mailboxes[0].address() == "a@b.c");
}

TEST_CASE("garbage gives invalid with a reason", "[mail][address]") {
    struct Case {
        const char* value;
        const char* why;
        std::size_t parsed_before;
    };
    auto c = GENERATE(values<Case>({
        {"just-a-name", "address without '@domain'", 0},
        {"John Doe", "address without '@domain'", 0},
        {"<>", "empty angle address", 0},
        {"a@b.c, <x@y.z", "expected '>'", 1},
        {"\"unterminated <a@b.c>", "unterminated quoted-string", 0},
        {"(unterminated comment a@b.c", "unterminated comment", 0},
        {"a@b.c d@e.f", "expected ','", 1},
        {"a..b@c.d", "misplaced '.'", 0},
        {"a@", "missing domain", 0},
        {"a@b..c", "bad domain: empty label", 0},
        {"Group: a@b.c", "group without ';'", 1},
        {"@@@", "missing local part", 0},
        {";", "unexpected character", 0},
        {"a@[1.2.3.4", "unterminated domain literal", 0},
        {"a@xn--ab\xff.com", "bad domain", 0},
    }));
    CAPTURE(c.value);
    AddressList r = parse_address_list(c.value);
    CHECK(r.status == AddressList::Status::invalid);
    CHECK_THAT(r.error, Catch::Contains(c.why));
    CHECK(r.mailboxes.size() == c.parsed_before);
}

TEST_CASE("address list bounds", "[mail][address][limits]") {
    mailmoat::mail::AddressLimits l;
    l.max_mailboxes = 2;
    CHECK(parse_address_list("a@b.c, d@e.f, g@h.i", l).status == AddressList::Status::invalid);
    l.max_value_bytes = 10;
    CHECK(parse_address_list("abcdefghij@k.l", l).status == AddressList::Status::invalid);
    std::string deep = std::string(100, '(') + std::string(100, ')') + " a@b.c";
    AddressList r = parse_address_list(deep);
    CHECK(r.status == AddressList::Status::invalid);
    CHECK_THAT(r.error, Catch::Contains("nested too deeply"));
}

TEST_CASE("RFC 2047 decoding", "[mail][address][rfc2047]") {
    struct Case {
        const char* in;
        const char* out;
    };
    auto c = GENERATE(values<Case>({
        {"=?utf-8?q?hello_world?=", "hello world"},
        {"=?UTF-8?Q?a?= =?UTF-8?Q?b?=", "ab"},  // whitespace between encoded words dropped
        {"=?UTF-8?Q?a?=\r\n =?UTF-8?Q?b?=", "ab"},
        {"=?UTF-8?Q?a?= plain =?UTF-8?Q?b?=", "a plain b"},
        {"=?iso-8859-1?q?caf=E9?=", "café"},
        {"=?us-ascii*en?q?lang_tag?=", "lang tag"},  // RFC 2231 language suffix
        {"=?utf-8?b?4oKs?=", "€"},
        {"=?utf-8?b?not base64?=", "=?utf-8?b?not base64?="},
        {"=?utf-8?q?bad=ZZ?=", "=?utf-8?q?bad=ZZ?="},
        {"=?utf-8?x?unknown?=", "=?utf-8?x?unknown?="},
        {"=?utf-8?b?/w==?=", "=?utf-8?b?/w==?="},  // not valid UTF-8: left raw
        {"=?windows-1251?q?x?=", "=?windows-1251?q?x?="},
        {"plain text", "plain text"},
        {"=?utf-8?q?unterminated", "=?utf-8?q?unterminated"},
    }));
    CAPTURE(c.in);
    CHECK(decode_encoded_words(c.in) == c.out);
}

TEST_CASE("domain normalisation", "[mail][address][idn]") {
    struct Case {
        const char* in;
        DomainResult::Status status;
        const char* out;
    };
    auto c = GENERATE(values<Case>({
        {"Example.COM", DomainResult::Status::ok, "example.com"},
        {"example.com.", DomainResult::Status::ok, "example.com"},
        {"bücher.example", DomainResult::Status::ok, "xn--bcher-kva.example"},
        {"BÜCHER.example", DomainResult::Status::ok, "xn--bcher-kva.example"},
        {"пример.рф", DomainResult::Status::ok, "xn--e1afmkfd.xn--p1ai"},
        {"[192.0.2.1]", DomainResult::Status::ok, "[192.0.2.1]"},
        {"", DomainResult::Status::empty, ""},
        {".", DomainResult::Status::invalid, ""},
        {"a..b", DomainResult::Status::invalid, ""},
        {"[1.2.3.4", DomainResult::Status::invalid, ""},
    }));
    CAPTURE(c.in);
    DomainResult r = normalize_domain(c.in);
    CHECK(r.status == c.status);
    CHECK(r.domain == c.out);
    CHECK(normalize_domain(std::string(64, 'a') + ".com").status == DomainResult::Status::invalid);
    std::string long_name;
    for (int i = 0; i < 50; ++i) long_name += "abcde.";
    long_name += "com";
    CHECK(normalize_domain(long_name).status == DomainResult::Status::invalid);
}

TEST_CASE("envelope_domain for MAIL FROM paths", "[mail][address][envelope]") {
    struct Case {
        const char* in;
        DomainResult::Status status;
        const char* out;
    };
    auto c = GENERATE(values<Case>({
        {"<user@Example.COM>", DomainResult::Status::ok, "example.com"},
        {"user@example.com", DomainResult::Status::ok, "example.com"},
        {"<\"odd@local\"@example.org>", DomainResult::Status::ok, "example.org"},
        {"<@relay.example:user@dest.example>", DomainResult::Status::ok, "dest.example"},
        {"<user@bücher.example>", DomainResult::Status::ok, "xn--bcher-kva.example"},
        {"<>", DomainResult::Status::empty, ""},
        {"", DomainResult::Status::empty, ""},
        {"<postmaster>", DomainResult::Status::invalid, ""},
        {"<user@example.com", DomainResult::Status::invalid, ""},
        {"<user@>", DomainResult::Status::invalid, ""},
        {"<@relay.example>", DomainResult::Status::invalid, ""},
    }));
    CAPTURE(c.in);
    DomainResult r = envelope_domain(c.in);
    CHECK(r.status == c.status);
    CHECK(r.domain == c.out);
    CHECK(envelope_domain("<" + std::string(1100, 'a') + "@b.c>").status == DomainResult::Status::invalid);
}
