// tests/unit/checks/blocklist_test.cpp - the managed blocklist: values derived from messages and envelopes,
// PCRE quoting checked by compiling and matching the rules with the real table code, the managed file
// format (ids, append, remove), and the scanner's blocklist keys.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <unistd.h>

#include "common/checks/blocklist.hpp"
#include "common/checks/scanner.hpp"
#include "common/table/table.hpp"

using namespace mailmoat;
using checks::BlockBy;

namespace {

/// Compiles rules as a pcre table file, as mailmoat-checks does.
std::shared_ptr<const table::Table> compile(const std::string& text) {
    char tmpl[] = "/tmp/mm-blocklist-XXXXXX";
    const int fd = ::mkstemp(tmpl);
    REQUIRE(fd >= 0);
    ::close(fd);
    std::ofstream(tmpl) << text;
    auto t = table::open_table(std::string("pcre:") + tmpl);
    std::remove(tmpl);
    return t;
}

bool matches(BlockBy by, const std::string& value, const std::string& input) {
    const auto t = compile(checks::blocklist_rule(by, value, "REJECT blocked") + "\n");
    return t->lookup(checks::blocklist_key(by, input)).found();
}

}  // namespace

TEST_CASE("pcre_quote: metacharacters, the delimiter, unicode and control bytes match only themselves") {
    CHECK(checks::pcre_quote("a.b") == "a\\.b");
    CHECK(checks::pcre_quote("x/y") == "x\\/y");
    CHECK(checks::pcre_quote("tab\there") == "tab\\x09here");
    CHECK(checks::pcre_quote("Grüße") == "Gr\xC3\xBC\xC3\x9F" "e");
    const std::vector<std::string> tricky{
        "Cheap pills",
        "$$$ Make money fast!!! (100%) [guaranteed] {now} ^_^ a|b +1? *",
        "back\\slash \\E \\Q end",
        "slash / delimiter # hash",
        "$1 ${1} $(1) substitution text",
        "Grüße aus Köln — 日本語の件名 🎉",
        "trailing space ",
        "   ",
        "\x01\x7f control",
    };
    for (const std::string& v : tricky) {
        INFO(v);
        CHECK(matches(BlockBy::subject, v, v));
        CHECK_FALSE(matches(BlockBy::subject, v, v + "x"));
        CHECK_FALSE(matches(BlockBy::subject, v, "x" + v));
        // another key kind never matches
        CHECK_FALSE(compile(checks::blocklist_rule(BlockBy::subject, v, "REJECT") + "\n")
                        ->lookup(checks::blocklist_key(BlockBy::sender, v))
                        .found());
    }
    // '.' must not match any character; the rule matches case-insensitively as pcre tables do.
    CHECK_FALSE(matches(BlockBy::from_domain, "example.com", "exampleXcom"));
    CHECK(matches(BlockBy::from_domain, "example.com", "EXAMPLE.com"));
    CHECK_FALSE(matches(BlockBy::from_domain, "example.com", "sub.example.com"));
}

TEST_CASE("values: subject decoding and unfolding, domains, senders, addresses") {
    CHECK(checks::subject_value(" =?UTF-8?B?R3LDvMOfZQ==?= =?UTF-8?Q?_aus_K=C3=B6ln?=\r\n") == "Grüße aus Köln");
    CHECK(checks::subject_value(" a long\r\n\tfolded subject") == "a long folded subject");  // controls become spaces
    CHECK(checks::subject_value(" =?ISO-8859-1?Q?caf=E9?= ") == "café");
    CHECK(checks::from_domain_value(" \"Spam, Inc.\" <Offers@Spam.Example>") == "spam.example");
    CHECK(checks::from_domain_value(" undisclosed-recipients:;") == std::nullopt);
    CHECK(checks::message_id_domain_value(" <abc.123@Mailer.Example.NET>") == "mailer.example.net");
    CHECK(checks::message_id_domain_value(" <no-at-sign>") == std::nullopt);
    CHECK(checks::sender_value("<bounce+x=y@list.example>") == "bounce+x=y@list.example");
    CHECK(checks::sender_value("<@relay.example:user@example.org>") == "user@example.org");
    CHECK(checks::sender_value("<>") == std::nullopt);
    CHECK(checks::client_ip_value("192.0.2.7") == "192.0.2.7");
    CHECK(checks::client_ip_value("[IPv6:2001:DB8::1]") == "2001:db8::1");
    CHECK(checks::client_ip_value("::ffff:192.0.2.1") == "192.0.2.1");
    CHECK(checks::client_ip_value("unknown") == std::nullopt);
    CHECK(checks::parse_block_by("message-id-domain") == BlockBy::message_id_domain);
    CHECK(checks::parse_block_by("domain") == std::nullopt);
}

TEST_CASE("value_from_message: each kind from a delivered message") {
    const std::string m =
        "Return-Path: <bounces@mailer.example>\r\n"
        "Received: from client.mailmoat.test (localhost [127.0.0.1])\r\n"
        "\tby mx.example.net (Postfix) with ESMTP id 4AB12\r\n"
        "\tfor <user@example.net>; Tue, 01 Dec 2026 00:00:00 +0000 (UTC)\r\n"
        "Received: from spam-host (spam-host [198.51.100.9]) by client.mailmoat.test; Tue, 1 Dec 2026\r\n"
        "From: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= <offers@Spam.Example>\r\n"
        "Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n"
        " (really)\r\n"
        "Message-ID: <x1@Bulk.Example>\r\n"
        "\r\n"
        "body\r\n";
    std::string why;
    CHECK(checks::value_from_message(BlockBy::sender, m, why) == "bounces@mailer.example");
    CHECK(checks::value_from_message(BlockBy::client_ip, m, why) == "127.0.0.1");  // the topmost: our own MTA's
    CHECK(checks::value_from_message(BlockBy::from_domain, m, why) == "spam.example");
    CHECK(checks::value_from_message(BlockBy::subject, m, why) == "Grüße (really)");
    CHECK(checks::value_from_message(BlockBy::message_id_domain, m, why) == "bulk.example");
    const std::string bare = "Subject: hi\r\n\r\nbody\r\n";
    CHECK(checks::value_from_message(BlockBy::sender, bare, why) == std::nullopt);
    CHECK(why.find("no Return-Path") != std::string::npos);
    CHECK(checks::value_from_message(BlockBy::client_ip, bare, why) == std::nullopt);
    CHECK(checks::value_from_message(BlockBy::from_domain, bare, why) == std::nullopt);
}

TEST_CASE("managed table: append, parse with stable ids, find, remove; hand-written rules kept") {
    checks::ManagedTable t = checks::parse_managed_table("# my own rules\n/^subject=hand$/ DISCARD\n");
    CHECK(t.entries.empty());
    std::size_t id1 = 0, id2 = 0, id3 = 0;
    std::string text = checks::append_entry(t, BlockBy::subject, "Cheap \"pills\"", "REJECT 5.7.1 blocked",
                                            "spam run", "2026-12-01T04:40:00Z", id1);
    CHECK(id1 == 1);
    t = checks::parse_managed_table(text);
    text = checks::append_entry(t, BlockBy::client_ip, "192.0.2.7", "REJECT", "", "2026-12-01T04:41:00Z", id2);
    t = checks::parse_managed_table(text);
    text = checks::append_entry(t, BlockBy::from_domain, "spam.example", "HOLD", "", "2026-12-01T04:42:00Z", id3);
    t = checks::parse_managed_table(text);
    CHECK(id2 == 2);
    CHECK(id3 == 3);
    REQUIRE(t.entries.size() == 3);
    CHECK(t.entries[0].value == "Cheap \"pills\"");
    CHECK(t.entries[0].reason == "spam run");
    CHECK(t.entries[0].added == "2026-12-01T04:40:00Z");
    CHECK(t.entries[1].by == BlockBy::client_ip);
    CHECK(text.find("# [1] 2026-12-01T04:40:00Z by=subject value=\"Cheap \\\"pills\\\"\" reason=\"spam run\"\n"
                    "/^subject\\=Cheap\\ \\\"pills\\\"$/ REJECT 5.7.1 blocked\n") != std::string::npos);
    CHECK(checks::find_entry(t, BlockBy::subject, "CHEAP \"PILLS\"") == &t.entries[0]);
    CHECK(checks::find_entry(t, BlockBy::sender, "Cheap \"pills\"") == nullptr);

    // The whole file compiles as a pcre table, and the first rule stays the hand-written one.
    const auto compiled = compile(text);
    CHECK(compiled->lookup("subject=hand").value == "DISCARD");
    CHECK(compiled->lookup("subject=Cheap \"pills\"").value == "REJECT 5.7.1 blocked");
    CHECK(compiled->lookup("client-ip=192.0.2.7").found());

    // Removing entry 2 keeps the ids of the others; a new entry never reuses an id.
    text = checks::remove_entries(t, {2});
    t = checks::parse_managed_table(text);
    REQUIRE(t.entries.size() == 2);
    CHECK(t.entries[0].id == 1);
    CHECK(t.entries[1].id == 3);
    CHECK(text.find("192.0.2.7") == std::string::npos);
    CHECK(text.find("/^subject=hand$/ DISCARD") != std::string::npos);
    text = checks::remove_entries(t, {3});
    t = checks::parse_managed_table(text);
    std::size_t id4 = 0;
    (void)checks::append_entry(t, BlockBy::sender, "x@y.example", "REJECT", "", "t", id4);
    CHECK(id4 == 4);
}

TEST_CASE("quote_value / unquote_value round trip") {
    for (const std::string v : {"", "plain", "with \"quotes\" and \\ backslash", "ctl\x01\x1f\x7f", "ünïcödé"}) {
        const std::string q = checks::quote_value(v);
        std::size_t used = 0;
        CHECK(checks::unquote_value(q + " rest", &used) == v);
        CHECK(used == q.size());
    }
    CHECK(checks::unquote_value("\"unterminated") == std::nullopt);
}

TEST_CASE("scanner: blocklist keys from the envelope and the headers; actions through the same path") {
    const auto table = compile(checks::blocklist_rule(BlockBy::client_ip, "192.0.2.7", "REJECT 5.7.1 bad client") + "\n" +
                               checks::blocklist_rule(BlockBy::sender, "spammer@bulk.example", "DISCARD") + "\n" +
                               checks::blocklist_rule(BlockBy::from_domain, "spam.example", "HOLD blocked domain") + "\n" +
                               checks::blocklist_rule(BlockBy::message_id_domain, "mailer.example", "PREPEND X-Blocked: id") + "\n" +
                               checks::blocklist_rule(BlockBy::subject, "Grüße (really)", "REJECT 4.7.1 later") + "\n");
    auto rules = std::make_shared<checks::RuleSet>();
    rules->blocklist = {table};
    auto run = [&](const std::string& ip, const std::string& from_arg, std::vector<std::string> headers) {
        auto s = std::make_unique<checks::Scanner>(rules);
        s->envelope(ip, from_arg);
        for (const auto& h : headers) s->header(h);
        s->end_of_headers();
        s->body("text\r\n");
        (void)s->finish();
        return s;
    };
    auto s = run("192.0.2.7", "<a@b.example>", {"Subject: x"});
    CHECK(s->outcome().final == checks::Outcome::Final::reject);
    REQUIRE(s->outcome().hits.size() == 1);
    CHECK(s->outcome().hits[0].input_class == checks::InputClass::blocklist);
    CHECK(s->outcome().hits[0].input == "client-ip=192.0.2.7");
    CHECK(s->outcome().hits[0].where.find(":1") != std::string::npos);
    CHECK(run("::ffff:192.0.2.7", "", {})->outcome().final == checks::Outcome::Final::reject);
    CHECK(run("192.0.2.8", "<SPAMMER@bulk.example>", {})->outcome().final == checks::Outcome::Final::discard);
    auto held = run("192.0.2.8", "<a@b.example>", {"From: Offers <o@SPAM.example>"});
    REQUIRE(held->outcome().hold);
    CHECK(*held->outcome().hold == "blocked domain");
    auto pre = run("192.0.2.8", "", {"From: x@ok.example", "Message-ID: <1@mailer.example>"});
    REQUIRE(pre->outcome().header_edits.size() == 1);
    CHECK(pre->outcome().header_edits[0].text == "X-Blocked: id");
    auto later = run("", "", {"Subject: =?UTF-8?B?R3LDvMOfZQ==?=\n (really)"});
    CHECK(later->outcome().final == checks::Outcome::Final::reject);
    CHECK(later->outcome().reply.code == "451");
    auto clean = run("192.0.2.8", "<a@b.example>", {"From: a@b.example", "Subject: Grüße"});
    CHECK(clean->outcome().hits.empty());
    CHECK(clean->outcome().final == checks::Outcome::Final::accept);
}
