// tests/unit/policy/action_test.cpp - policy answers: keywords, wire format, sanitising, bounds.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

#include "common/policy/action.hpp"

using mailmoat::policy::Action;
using mailmoat::policy::sanitize_text;

TEST_CASE("every builder gives the access(5) keyword and text", "[policy]") {
    CHECK(Action::dunno().text() == "DUNNO");
    CHECK(Action::ok().text() == "OK");
    CHECK(Action::reject().text() == "REJECT");
    CHECK(Action::reject("5.7.1 go away").text() == "REJECT 5.7.1 go away");
    CHECK(Action::defer("4.7.1 later").text() == "DEFER 4.7.1 later");
    CHECK(Action::defer_if_permit("4.7.1 greylisted").text() == "DEFER_IF_PERMIT 4.7.1 greylisted");
    CHECK(Action::defer_if_reject("4.7.1 maybe").text() == "DEFER_IF_REJECT 4.7.1 maybe");
    CHECK(Action::hold().text() == "HOLD");
    CHECK(Action::hold("suspicious").text() == "HOLD suspicious");
    CHECK(Action::discard().text() == "DISCARD");
    CHECK(Action::prepend("Received-SPF: pass (example.org)").text() == "PREPEND Received-SPF: pass (example.org)");
    CHECK(Action::redirect("abuse@example.org").text() == "REDIRECT abuse@example.org");
    CHECK(Action::redirect("a b@example.org").text() == "REDIRECT ab@example.org");
    CHECK(Action::filter("smtp:[127.0.0.1]:10025").text() == "FILTER smtp:[127.0.0.1]:10025");
    CHECK(Action::warn("odd client").text() == "WARN odd client");
    CHECK(Action::info("note").text() == "INFO note");
    CHECK(Action::raw("550 5.7.1 no").text() == "550 5.7.1 no");
    CHECK(Action::reject("x").keyword() == "REJECT");
    CHECK(Action::dunno().keyword() == "DUNNO");
}

TEST_CASE("wire form is one action line and an empty line", "[policy]") {
    CHECK(Action::dunno().wire() == "action=DUNNO\n\n");
    CHECK(Action::defer_if_permit("4.3.0 temporary policy failure").wire() ==
          "action=DEFER_IF_PERMIT 4.3.0 temporary policy failure\n\n");
}

TEST_CASE("enhanced status codes are kept as given", "[policy]") {
    CHECK(Action::reject("4.7.1 try later").text() == "REJECT 4.7.1 try later");
    CHECK(Action::reject("5.7.23 SPF validation failed").text() == "REJECT 5.7.23 SPF validation failed");
}

TEST_CASE("text cannot break the protocol: CR, LF and control bytes become spaces", "[policy]") {
    const Action a = Action::reject("5.7.1 bad\r\naction=OK\n\nx\ty\x01z\x7f");
    CHECK(a.text() == "REJECT 5.7.1 bad action=OK x y z");
    CHECK(a.wire().find('\r') == std::string::npos);
    CHECK(a.wire() == "action=REJECT 5.7.1 bad action=OK x y z\n\n");
    CHECK(Action::reject("\r\n  ").text() == "REJECT");
    CHECK(Action::raw("DUNNO\naction=OK").text() == "DUNNO action=OK");
    CHECK(Action::prepend("X-Test: a\r\n b").text() == "PREPEND X-Test: a b");
}

TEST_CASE("text is bounded and never split inside a UTF-8 character", "[policy]") {
    const std::string long_text(5000, 'x');
    const Action a = Action::reject(long_text);
    CHECK(a.text().size() == std::string("REJECT ").size() + Action::max_text_length);
    // 'é' is two bytes; with an odd budget the last one must be dropped, not cut in half.
    std::string accents;
    for (int i = 0; i < 300; ++i) accents += "\xc3\xa9";
    const std::string s = sanitize_text(accents, 11);
    CHECK(s.size() == 10);
    CHECK(s == "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
}

TEST_CASE("invalid UTF-8 becomes '?', valid UTF-8 stays", "[policy]") {
    CHECK(sanitize_text("caf\xc3\xa9") == "caf\xc3\xa9");
    CHECK(sanitize_text("bad\xff\xfe") == "bad??");
    CHECK(sanitize_text("\xc3") == "?");                  // truncated sequence
    CHECK(sanitize_text("\xed\xa0\x80") == "???");        // UTF-16 surrogate
    CHECK(sanitize_text("\xf0\x9f\x98\x80") == "\xf0\x9f\x98\x80");
}

TEST_CASE("a bare 4NN/5NN code never reaches Postfix as 'all digits = OK'", "[policy]") {
    CHECK(Action::raw("450").text() == "450 4.7.1 Service unavailable, try again later");
    CHECK(Action::raw("554").text() == "554 5.7.1 Access denied");
    CHECK(Action::raw("450 4.2.0 greylisted").text() == "450 4.2.0 greylisted");
    CHECK(Action::raw("").text() == "DUNNO");
    CHECK(Action::raw(" \r\n").text() == "DUNNO");
}

TEST_CASE("PREPEND refuses a line that is not a header", "[policy]") {
    CHECK_THROWS_AS(Action::prepend("no colon here"), std::invalid_argument);
    CHECK_THROWS_AS(Action::prepend(": empty name"), std::invalid_argument);
    CHECK_THROWS_AS(Action::prepend("Bad Name: x"), std::invalid_argument);
}

TEST_CASE("clean text and text needing work are sanitised alike at every length", "[policy]") {
    // The clean fast path must agree with the general rules: leading, trailing and double spaces,
    // control bytes, DEL and the length bound.
    CHECK(sanitize_text("Greylisted, please try again in 300 seconds") == "Greylisted, please try again in 300 seconds");
    CHECK(sanitize_text(" a") == "a");
    CHECK(sanitize_text("a ") == "a");
    CHECK(sanitize_text("a  b") == "a b");
    CHECK(sanitize_text("a \tb") == "a b");
    CHECK(sanitize_text("a\x7f" "b") == "a b");
    CHECK(sanitize_text(" ") == "");
    CHECK(sanitize_text("") == "");
    CHECK(sanitize_text("abcdef", 6) == "abcdef");
    CHECK(sanitize_text("abcdefg", 6) == "abcdef");
    CHECK(sanitize_text("abc def", 4) == "abc");
}
