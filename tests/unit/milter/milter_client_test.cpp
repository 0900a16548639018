// tests/unit/milter/milter_client_test.cpp - milter packet encoding/decoding against hand-built wire bytes.
#include <catch2/catch.hpp>

#include <string>

#include "common/milter/milter_client.hpp"

using namespace mailmoat::milter;
using namespace std::string_literals;

TEST_CASE("event packets encode as the protocol defines them", "[milter][wire]") {
    CHECK(wire::optneg(6, 0x1FF, 0x1FFFFF) == "\x00\x00\x00\x0d" "O" "\x00\x00\x00\x06" "\x00\x00\x01\xff" "\x00\x1f\xff\xff"s);
    CHECK(wire::macros('C', {{"j", "mx.example"}, {"{daemon_name}", "smtpd"}}) ==
          "\x00\x00\x00\x23" "DC" "j\0mx.example\0{daemon_name}\0smtpd\0"s);
    CHECK(wire::connect("mail.example", '4', 25, "192.0.2.1") ==
          "\x00\x00\x00\x1b" "C" "mail.example\0" "4" "\x00\x19" "192.0.2.1\0"s);
    CHECK(wire::connect("[2001:db8::1]", '6', 0x1234, "2001:db8::1") ==
          "\x00\x00\x00\x1e" "C" "[2001:db8::1]\0" "6" "\x12\x34" "2001:db8::1\0"s);
    CHECK(wire::connect("localhost", 'L', 0, "/run/x") == "\x00\x00\x00\x15" "C" "localhost\0" "L" "\x00\x00" "/run/x\0"s);
    CHECK(wire::connect("unknown", 'U', 0, "ignored") == "\x00\x00\x00\x0a" "C" "unknown\0" "U"s);
    CHECK(wire::helo("client.example") == "\x00\x00\x00\x10" "H" "client.example\0"s);
    CHECK(wire::mail({"<a@example.org>", "SIZE=100"}) == "\x00\x00\x00\x1a" "M" "<a@example.org>\0SIZE=100\0"s);
    CHECK(wire::rcpt({"<b@example.net>"}) == "\x00\x00\x00\x11" "R" "<b@example.net>\0"s);
    CHECK(wire::header("Subject", " hi") == "\x00\x00\x00\x0d" "L" "Subject\0 hi\0"s);
    CHECK(wire::body("line\r\n") == "\x00\x00\x00\x07" "B" "line\r\n"s);
    CHECK(wire::unknown("XYZZY") == "\x00\x00\x00\x07" "U" "XYZZY\0"s);
    CHECK(wire::simple('T') == "\x00\x00\x00\x01" "T"s);
    CHECK(wire::simple('N') == "\x00\x00\x00\x01" "N"s);
    CHECK(wire::simple('E') == "\x00\x00\x00\x01" "E"s);
    CHECK(wire::simple('A') == "\x00\x00\x00\x01" "A"s);
    CHECK(wire::simple('Q') == "\x00\x00\x00\x01" "Q"s);
    CHECK(wire::simple('K') == "\x00\x00\x00\x01" "K"s);
}

TEST_CASE("body chunks are bounded at 65535 bytes", "[milter][wire]") {
    const std::string max(wire::max_chunk, 'x');
    const auto p = wire::body(max);
    CHECK(p.size() == 5 + wire::max_chunk);
    CHECK(p.substr(0, 5) == "\x00\x01\x00\x00" "B"s);  // 65536 = data + command byte
    CHECK_THROWS_AS(wire::body(max + "y"), std::invalid_argument);
}

TEST_CASE("decode splits a stream into packets and rejects bad lengths", "[milter][wire]") {
    wire::Packet p;
    std::size_t used = 0;
    const std::string two = "\x00\x00\x00\x01" "c" "\x00\x00\x00\x05" "h" "A\0B\0"s;
    REQUIRE(wire::decode(two, 1024, &p, &used) == wire::Decode::ok);
    CHECK(p.command == 'c');
    CHECK(p.data.empty());
    CHECK(used == 5);
    REQUIRE(wire::decode(std::string_view(two).substr(used), 1024, &p, &used) == wire::Decode::ok);
    CHECK(p.command == 'h');
    CHECK(p.data == "A\0B\0"s);
    CHECK(used == 9);

    CHECK(wire::decode("\x00\x00"s, 1024, &p, &used) == wire::Decode::incomplete);
    CHECK(wire::decode("\x00\x00\x00\x05h"s, 1024, &p, &used) == wire::Decode::incomplete);
    CHECK(wire::decode("\x00\x00\x00\x00"s, 1024, &p, &used) == wire::Decode::malformed);
    CHECK(wire::decode("\x7f\xff\xff\xff" "c"s, 1024, &p, &used) == wire::Decode::malformed);
    CHECK(wire::decode("\x00\x00\x04\x01" "c"s, 1024, &p, &used) == wire::Decode::malformed);  // 1025 > 1024
}

TEST_CASE("option negotiation replies parse with and without macro lists", "[milter][wire]") {
    wire::Packet p{'O', "\x00\x00\x00\x06" "\x00\x00\x01\x01" "\x00\x00\x00\xa0"s};
    auto n = wire::parse_optneg(p);
    REQUIRE(n);
    CHECK(n->version == 6);
    CHECK(n->actions == 0x101);
    CHECK(n->protocol == 0xa0);
    CHECK(n->macro_lists.empty());

    p.data += "\x00\x00\x00\x05" "i\0" "\x00\x00\x00\x02" "{auth_authen} {mail_addr}\0"s;
    n = wire::parse_optneg(p);
    REQUIRE(n);
    REQUIRE(n->macro_lists.size() == 2);
    CHECK(n->macro_lists[5] == std::vector<std::string>{"i"});
    CHECK(n->macro_lists[2] == std::vector<std::string>{"{auth_authen}", "{mail_addr}"});

    CHECK_FALSE(wire::parse_optneg({'O', "\x00\x00\x00\x06"s}));                                   // short
    CHECK_FALSE(wire::parse_optneg({'c', p.data}));                                                // wrong command
    CHECK_FALSE(wire::parse_optneg({'O', p.data.substr(0, 12) + "\x00\x00\x00\x05" "i"s}));         // no NUL
    CHECK_FALSE(wire::parse_optneg({'O', p.data.substr(0, 12) + "\x00\x00\x00\x09" "i\0"s}));       // bad stage
}

TEST_CASE("modification replies parse into typed edits", "[milter][wire]") {
    using K = Modification::Kind;
    struct Case {
        wire::Packet packet;
        Modification expected;
    };
    const Case cases[] = {
        {{'h', "X-A\0v 1\0"s}, {K::add_header, 0, "X-A", "v 1"}},
        {{'i', "\x00\x00\x00\x00" "X-B\0w\0"s}, {K::insert_header, 0, "X-B", "w"}},
        {{'m', "\x00\x00\x00\x02" "Subject\0\0"s}, {K::change_header, 2, "Subject", ""}},
        {{'+', "<c@example.com>\0"s}, {K::add_rcpt, 0, "<c@example.com>", ""}},
        {{'2', "<c@example.com>\0NOTIFY=NEVER\0"s}, {K::add_rcpt_par, 0, "<c@example.com>", "NOTIFY=NEVER"}},
        {{'-', "<d@example.com>\0"s}, {K::del_rcpt, 0, "<d@example.com>", ""}},
        {{'e', "<e@example.com>\0"s}, {K::change_from, 0, "<e@example.com>", ""}},
        {{'q', "held for review\0"s}, {K::quarantine, 0, "held for review", ""}},
        {{'b', "new body\r\n"s}, {K::replace_body, 0, "", "new body\r\n"}},
    };
    for (const auto& c : cases) {
        INFO("command " << c.packet.command);
        const auto m = parse_modification(c.packet);
        REQUIRE(m);
        CHECK(*m == c.expected);
    }
    CHECK_FALSE(parse_modification({'h', "X-A\0v"s}));          // missing NUL
    CHECK_FALSE(parse_modification({'h', "X-A\0"s}));           // missing value
    CHECK_FALSE(parse_modification({'i', "\x00\x00"s}));        // short index
    CHECK_FALSE(parse_modification({'-', "a\0b\0"s}));          // too many strings
    CHECK_FALSE(parse_modification({'z', "x\0"s}));             // unknown command
}
