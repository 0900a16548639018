// tests/unit/mail/header_test.cpp - header block parsing, unfolding, malformed lines, bounds, folding, dates.
#include "common/mail/header.hpp"

#include <catch2/catch.hpp>

using mailmoat::mail::fold_header;
using mailmoat::mail::HeaderBlock;
using mailmoat::mail::HeaderField;
using mailmoat::mail::HeaderLimits;
using mailmoat::mail::HeaderProblem;
using mailmoat::mail::parse_header_block;
using mailmoat::mail::rfc5322_date;

namespace {
std::vector<HeaderProblem::Kind> kinds(const HeaderBlock& b) {
    std::vector<HeaderProblem::Kind> out;
    for (const auto& p : b.problems) out.push_back(p.kind);
    return out;
}
}  // namespace

TEST_CASE("header block with CRLF or LF, folded lines and a body", "[mail][header]") {
    auto eol = GENERATE(std::string("\r\n"), std::string("\n"));
    CAPTURE(eol.size());
    const std::string msg = "From: Alice <alice@example.com>" + eol + "Subject: a folded" + eol + "\tsubject line" +
                            eol + "  with spaces" + eol + "X-Empty:" + eol + "X-Spaces:   " + eol +
                            "to:bob@example.net" + eol + eol + "Body line" + eol;
    HeaderBlock b = parse_header_block(msg);
    CHECK(b.status == HeaderBlock::Status::ok);
    CHECK(b.has_separator);
    REQUIRE(b.fields.size() == 5);
    CHECK(msg.substr(b.body_offset) == "Body line" + eol);
    CHECK(b.fields[0].name == "From");
    CHECK(b.fields[0].raw_value == " Alice <alice@example.com>");
    CHECK(b.fields[1].raw_value == " a folded" + eol + "\tsubject line" + eol + "  with spaces");
    CHECK(b.fields[1].unfolded() == "a folded\tsubject line  with spaces");
    CHECK(b.fields[1].line == 2);
    CHECK(b.fields[2].raw_value.empty());
    CHECK(b.fields[2].unfolded().empty());
    CHECK(b.fields[3].raw_value == "   ");
    CHECK(b.fields[3].unfolded().empty());
    CHECK(b.fields[4].name == "to");
    CHECK(b.fields[4].unfolded() == "bob@example.net");
    CHECK(b.find("TO") == std::vector<std::size_t>{4});
    CHECK(b.find("subject") == std::vector<std::size_t>{1});
    CHECK(b.find("cc").empty());
}

TEST_CASE("header names compare case-insensitively", "[mail][header]") {
    CHECK(mailmoat::mail::header_name_equal("Authentication-Results", "authentication-RESULTS"));
    CHECK_FALSE(mailmoat::mail::header_name_equal("From", "Fro"));
    CHECK_FALSE(mailmoat::mail::header_name_equal("From", "Form"));
}

TEST_CASE("malformed header lines are reported, not thrown", "[mail][header]") {
    SECTION("no colon, bad name, orphan continuation, obsolete space before colon") {
        const std::string msg =
            "  orphan\n"
            "Subject : obsolete form\n"
            "this line has no colon\n"
            "  continuation of the bad line\n"
            "Bad Name: value\n"
            ": empty name\n"
            "Good: yes\n"
            "\n";
        HeaderBlock b = parse_header_block(msg);
        CHECK(b.status == HeaderBlock::Status::malformed);
        REQUIRE(b.fields.size() == 2);
        CHECK(b.fields[0].name == "Subject");
        CHECK(b.fields[0].unfolded() == "obsolete form");
        CHECK(b.fields[1].name == "Good");
        CHECK(kinds(b) ==
              std::vector<HeaderProblem::Kind>{HeaderProblem::Kind::orphan_continuation, HeaderProblem::Kind::no_colon,
                                               HeaderProblem::Kind::orphan_continuation, HeaderProblem::Kind::bad_name,
                                               HeaderProblem::Kind::bad_name});
        CHECK(b.problems[1].line == 3);
        CHECK(b.problems[3].line == 5);
    }
    SECTION("no empty line: the whole text is the header block") {
        HeaderBlock b = parse_header_block("A: 1\nB: 2");
        CHECK(b.status == HeaderBlock::Status::ok);
        CHECK_FALSE(b.has_separator);
        CHECK(b.body_offset == 9);
        REQUIRE(b.fields.size() == 2);
        CHECK(b.fields[1].raw_value == " 2");
    }
    SECTION("bare CR and mbox From_ line") {
        HeaderBlock b = parse_header_block("From someone Mon Nov 30 12:00:00 2026\nX: a\rb\n\n");
        CHECK(kinds(b) ==
              std::vector<HeaderProblem::Kind>{HeaderProblem::Kind::bad_name, HeaderProblem::Kind::bare_cr});
        REQUIRE(b.fields.size() == 1);
        CHECK(b.fields[0].raw_value == " a\rb");
    }
    SECTION("empty input") {
        HeaderBlock b = parse_header_block("");
        CHECK(b.status == HeaderBlock::Status::ok);
        CHECK(b.fields.empty());
    }
}

TEST_CASE("header bounds", "[mail][header][limits]") {
    SECTION("lines over 998 are kept and reported") {
        HeaderBlock b = parse_header_block("X: " + std::string(1200, 'a') + "\n\n");
        CHECK(b.status == HeaderBlock::Status::malformed);
        REQUIRE(b.fields.size() == 1);
        CHECK(b.fields[0].raw_value.size() == 1201);
        CHECK(kinds(b) == std::vector<HeaderProblem::Kind>{HeaderProblem::Kind::line_too_long});
    }
    SECTION("field count") {
        HeaderLimits l;
        l.max_fields = 3;
        HeaderBlock b = parse_header_block("A: 1\nB: 2\nC: 3\nD: 4\nE: 5\n\nbody", l);
        CHECK(b.status == HeaderBlock::Status::truncated);
        CHECK(b.fields.size() == 3);
        CHECK(kinds(b) == std::vector<HeaderProblem::Kind>{HeaderProblem::Kind::too_many_fields});
        CHECK(b.problems[0].line == 4);
    }
    SECTION("block size and hard line length") {
        HeaderLimits l;
        l.max_block_bytes = 20;
        HeaderBlock b = parse_header_block("A: 1\nB: 2\nC: 333333333333\n\n", l);
        CHECK(b.status == HeaderBlock::Status::truncated);
        CHECK(b.fields.size() == 2);
        HeaderLimits h;
        h.hard_line_bytes = 10;
        HeaderBlock c = parse_header_block("A: 1\nB: 12345678901\n", h);
        CHECK(c.status == HeaderBlock::Status::truncated);
        CHECK(c.fields.size() == 1);
    }
}

TEST_CASE("fold_header wraps at 78 on whitespace and unfolds back", "[mail][header][fold]") {
    std::string value;
    for (int i = 0; i < 30; ++i) value += "word" + std::to_string(i) + " ";
    value += "end";
    const std::string folded = fold_header("X-Long", value);
    std::size_t start = 0;
    int lines = 0;
    while (start <= folded.size()) {
        std::size_t e = folded.find("\r\n", start);
        std::string line = folded.substr(start, e == std::string::npos ? std::string::npos : e - start);
        CHECK(line.size() <= 78);
        ++lines;
        if (e == std::string::npos) break;
        CHECK((folded[e + 2] == ' ' || folded[e + 2] == '\t'));
        start = e + 2;
    }
    CHECK(lines > 2);
    HeaderField f{"X-Long", folded.substr(folded.find(':') + 1), 1};
    CHECK(f.unfolded() == value);

    SECTION("short values stay on one line") {
        CHECK(fold_header("Subject", "hello world") == "Subject: hello world");
    }
    SECTION("quoted strings and comments are not broken") {
        const std::string q = "a \"" + std::string(40, 'x') + " " + std::string(40, 'y') + "\" (" +
                              std::string(30, 'c') + " " + std::string(30, 'd') + ") tail";
        const std::string f2 = fold_header("X", q, 78, "\n");
        CHECK(f2 == "X: a\n \"" + std::string(40, 'x') + " " + std::string(40, 'y') + "\"\n (" + std::string(30, 'c') +
                        " " + std::string(30, 'd') + ") tail");
    }
    SECTION("a word longer than the width stays whole") {
        const std::string w(100, 'z');
        CHECK(fold_header("X", "a " + w + " b") == "X: a\r\n " + w + "\r\n b");
    }
    SECTION("never breaks right after the colon") {
        const std::string w(100, 'z');
        CHECK(fold_header("X", w) == "X: " + w);
    }
}

TEST_CASE("rfc5322_date: RFC 5322 §3.3 date-time in UTC") {
    CHECK(rfc5322_date(0) == "Thu, 01 Jan 1970 00:00:00 +0000");
    CHECK(rfc5322_date(1796105100) == "Tue, 01 Dec 2026 06:05:00 +0000");
}
