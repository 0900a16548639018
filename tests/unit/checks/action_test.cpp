// tests/unit/checks/action_test.cpp - header_checks action parsing and REJECT reply codes.
#include <catch2/catch.hpp>

#include "common/checks/action.hpp"

using namespace mailmoat::checks;

TEST_CASE("parse_action: every keyword, case-insensitive, with its text") {
    struct Row {
        const char* value;
        ActionKind kind;
        const char* text;
    };
    const auto row = GENERATE(values<Row>({
        {"REJECT", ActionKind::reject, ""},
        {"reject go away", ActionKind::reject, "go away"},
        {"REJECT 4.7.1 later", ActionKind::reject, "4.7.1 later"},
        {"DISCARD spam", ActionKind::discard, "spam"},
        {"HOLD", ActionKind::hold, ""},
        {"FILTER smtp:[127.0.0.1]:10025", ActionKind::filter, "smtp:[127.0.0.1]:10025"},
        {"REDIRECT abuse@example.org", ActionKind::redirect, "abuse@example.org"},
        {"BCC copy@example.org", ActionKind::bcc, "copy@example.org"},
        {"PREPEND X-Seen: yes", ActionKind::prepend, "X-Seen: yes"},
        {"REPLACE Subject: clean", ActionKind::replace, "Subject: clean"},
        {"IGNORE", ActionKind::ignore, ""},
        {"STRIP removed", ActionKind::strip, "removed"},
        {"INFO note", ActionKind::info, "note"},
        {"warn look", ActionKind::warn, "look"},
        {"PASS", ActionKind::pass, ""},
        {"DUNNO", ActionKind::dunno, ""},
        {"OK", ActionKind::dunno, ""},
        {"\tREJECT\t  spaced", ActionKind::unknown, "REJECT\t  spaced"},
        {"REJECTED", ActionKind::unknown, ""},
        {"FROBNICATE now", ActionKind::unknown, "now"},
        {"REDIRECT nobody", ActionKind::invalid, "nobody"},
        {"BCC nobody", ActionKind::invalid, "nobody"},
        {"FILTER nocolon", ActionKind::invalid, "nocolon"},
        {"PREPEND", ActionKind::invalid, ""},
    }));
    CAPTURE(row.value);
    const Action a = parse_action(row.value);
    CHECK(a.kind == row.kind);
    if (row.kind != ActionKind::unknown || std::string(row.text).size() > 0) CHECK(a.text == row.text);
}

TEST_CASE("reject_reply: Postfix's codes for REJECT text") {
    struct Row {
        const char* text;
        const char* code;
        const char* status;
        const char* rest;
    };
    const auto row = GENERATE(values<Row>({
        {"", "550", "5.7.1", "message content rejected"},
        {"no thanks", "550", "5.7.1", "no thanks"},
        {"4.7.1 try later", "451", "4.7.1", "try later"},
        {"5.7.0 policy", "550", "5.7.0", "policy"},
        {"2.0.0 odd", "451", "4.0.0", "odd"},
        {"4.7 short", "550", "5.7.1", "4.7 short"},
        {"4.7.1x glued", "550", "5.7.1", "4.7.1x glued"},
        {"4.7.1", "451", "4.7.1", ""},
    }));
    CAPTURE(row.text);
    const Reply r = reject_reply(row.text);
    CHECK(r.code == row.code);
    CHECK(r.status == row.status);
    CHECK(r.text == row.rest);
}

TEST_CASE("is_header_text: what a header PREPEND/REPLACE may insert") {
    CHECK(is_header_text("X-Foo: bar"));
    CHECK(is_header_text("X-Foo:bar"));
    CHECK(is_header_text("X-Foo : bar"));
    CHECK_FALSE(is_header_text("not a header"));
    CHECK_FALSE(is_header_text(": empty name"));
    CHECK_FALSE(is_header_text("X-Foo"));
    CHECK_FALSE(is_header_text(""));
}
