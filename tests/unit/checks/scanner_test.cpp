// tests/unit/checks/scanner_test.cpp - Postfix header/body checks semantics over whole messages.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>

#include "common/checks/scanner.hpp"

using namespace mailmoat;
using namespace mailmoat::checks;

namespace {

/// A table file in a private temp dir, removed at the end of the test.
struct TempTable {
    std::string dir;
    std::string path;
    explicit TempTable(const std::string& text) {
        char tmpl[] = "/tmp/mm-checks-XXXXXX";
        const char* d = ::mkdtemp(tmpl);
        REQUIRE(d != nullptr);
        dir = d;
        path = dir + "/rules";
        std::ofstream(path) << text;
    }
    ~TempTable() {
        std::remove(path.c_str());
        ::rmdir(dir.c_str());
    }
};

std::shared_ptr<const RuleSet> rules(const std::string& header, const std::string& body = {},
                                     const std::string& mime = {}, const std::string& nested = {}) {
    auto r = std::make_shared<RuleSet>();
    if (!header.empty()) r->header = open_tables({header});
    if (!body.empty()) r->body = open_tables({body});
    if (!mime.empty()) {
        r->mime_header = open_tables({mime});
        r->mime_set = true;
    }
    if (!nested.empty()) {
        r->nested_header = open_tables({nested});
        r->nested_set = true;
    }
    return r;
}

/// Feeds a message "headers\r\n\r\nbody" (headers unfolded into logical lines as the milter sees them).
Outcome scan(std::shared_ptr<const RuleSet> rs, const std::string& message, std::size_t piece = 0) {
    Scanner s(std::move(rs));
    const std::size_t split = message.find("\r\n\r\n");
    const std::string head = message.substr(0, split);
    std::string logical;
    std::size_t pos = 0;
    while (pos <= head.size()) {
        std::size_t e = head.find("\r\n", pos);
        if (e == std::string::npos) e = head.size();
        const std::string l = head.substr(pos, e - pos);
        pos = e + 2;
        if (!l.empty() && (l[0] == ' ' || l[0] == '\t')) {
            logical += "\n" + l;
            continue;
        }
        if (!logical.empty()) s.header(logical);
        logical = l;
    }
    if (!logical.empty()) s.header(logical);
    s.end_of_headers();
    const std::string body = split == std::string::npos ? std::string() : message.substr(split + 4);
    if (piece == 0) {
        s.body(body);
    } else {
        for (std::size_t i = 0; i < body.size(); i += piece) s.body(std::string_view(body).substr(i, piece));
    }
    return s.finish();
}

const std::string plain =
    "From: a@example.org\r\nTo: b@example.net\r\nSubject: hello\r\n world\r\n\r\nfirst line\r\nsecond line\r\n";

}  // namespace

TEST_CASE("header_checks: first matching rule decides, FILE:LINE named") {
    TempTable t("# comment\n/^Subject:.*cheap/ REJECT no cheap\n\n/^Subject:/ WARN subject seen\n/^From:/ INFO from\n");
    auto o = scan(rules("pcre:" + t.path), plain);
    REQUIRE(o.hits.size() == 2);
    CHECK(o.hits[0].where == t.path + ":5");
    CHECK(o.hits[0].action.kind == ActionKind::info);
    CHECK(o.hits[1].where == t.path + ":4");
    CHECK(o.hits[1].input == "Subject: hello\n world");
    CHECK(o.final == Outcome::Final::accept);

    auto r = scan(rules("pcre:" + t.path), "Subject: Cheap pills\r\n\r\nx\r\n");
    CHECK(r.final == Outcome::Final::reject);
    CHECK(r.reply.code == "550");
    CHECK(r.reply.text == "no cheap");
    CHECK(r.hits.at(0).where == t.path + ":2");
}

TEST_CASE("pcre flags toggle the defaults i and s, regexp tables are case-insensitive") {
    struct Row {
        const char* table;
        const char* subject;
        bool match;
    };
    const auto row = GENERATE(values<Row>({
        {"pcre:{{/^Subject: foo/ REJECT}}", "Subject: FOO", true},
        {"pcre:{{/^Subject: foo/i REJECT}}", "Subject: FOO", false},
        {"pcre:{{/^Subject: foo/i REJECT}}", "Subject: foo", true},
        {"pcre:{{/^Subject: a.b/ REJECT}}", "Subject: a\n b", false},  // '.' over LF then ' b' != 'b'
        {"pcre:{{/^Subject: a.\\sb/ REJECT}}", "Subject: a\n b", true},
        {"pcre:{{/^Subject: a.\\sb/s REJECT}}", "Subject: a\n b", false},
        {"pcre:{{/^ b$/ REJECT}}", "Subject: a\n b", false},
        {"pcre:{{/^ b$/m REJECT}}", "Subject: a\n b", true},
        {"regexp:{{/^subject: FOO/ REJECT}}", "Subject: foo", true},
        {"regexp:{{/^subject: FOO/i REJECT}}", "Subject: foo", false},
        {"pcre:{{!/^Subject: ok/ REJECT}}", "Subject: bad", true},
        {"pcre:{{!/^Subject: ok/ REJECT}}", "Subject: ok", false},
        {"pcre:{{#^Subject: x/y# REJECT}}", "Subject: x/y", true},
        {"pcre:{{/^Subject: x\\/y/ REJECT}}", "Subject: x/y", true},
        {"pcre:{{/^Subject: (a|b) c/ REJECT}}", "Subject: b c", true},
    }));
    CAPTURE(row.table, row.subject);
    Scanner s(rules(row.table));
    s.header(row.subject);
    s.end_of_headers();
    CHECK((s.finish().final == Outcome::Final::reject) == row.match);
}

TEST_CASE("if/endif nesting, continuation lines, comments") {
    TempTable t(
        "if /^Subject:/\n"
        "# comment inside\n"
        "if !/sale/\n"
        "/./ WARN not a sale\n"
        "endif\n"
        "/x/ REJECT\n"
        "  continued text\n"
        "endif\n"
        "/^From:/ DUNNO\n");
    auto rs = rules("pcre:" + t.path);
    {
        Scanner s(rs);
        s.header("Subject: hello");
        s.end_of_headers();
        const auto& o = s.finish();
        REQUIRE(o.hits.size() == 1);
        CHECK(o.hits[0].where == t.path + ":4");
    }
    {
        Scanner s(rs);
        s.header("Subject: big sale xmas");
        s.end_of_headers();
        const auto& o = s.finish();
        REQUIRE(o.hits.size() == 1);
        CHECK(o.hits[0].where == t.path + ":6");
        CHECK(o.final == Outcome::Final::reject);
        CHECK(o.reply.text == "continued text");  // continuation joined; the action skips leading space
    }
    {
        Scanner s(rs);
        s.header("From: x@y");
        s.end_of_headers();
        const auto& o = s.finish();
        REQUIRE(o.hits.size() == 1);
        CHECK(o.hits[0].action.kind == ActionKind::dunno);
    }
}

TEST_CASE("table syntax errors name FILE:LINE") {
    struct Row {
        const char* text;
        const char* where;
    };
    const auto row = GENERATE(values<Row>({
        {"/ok/ DUNNO\n/unclosed REJECT\n", ":2:"},
        {"/ok/ DUNNO\n\n/x/q REJECT\n", ":3:"},
        {"/(/ REJECT\n", ":1:"},
        {"/x/\n", ":1:"},
        {"/ok/ DUNNO\nendif\n", ":2:"},
        {"!/x/ REJECT $1\n", ":1:"},
        {"/(x)/ REJECT $2\n", ":1:"},
        {"axa REJECT\n", ":1:"},
    }));
    TempTable t(row.text);
    CAPTURE(row.text);
    try {
        (void)open_tables({"pcre:" + t.path});
        FAIL("no error");
    } catch (const table::TableError& e) {
        CHECK(std::string(e.what()).find(t.path + row.where) != std::string::npos);
    }
}

TEST_CASE("$n substitution in action text") {
    Scanner s(rules("pcre:{{/^Subject: (\\w+) (\\w+)/ REJECT ${2} before $1 costs $$5}}"));
    s.header("Subject: alpha beta");
    s.end_of_headers();
    const auto& o = s.finish();
    CHECK(o.reply.text == "beta before alpha costs $5");
}

TEST_CASE("MIME routing: header, mime_header, nested_header and body tables") {
    const std::string msg =
        "From: a@example.org\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"BND\"\r\n"
        "Subject: s\r\n"
        "\r\n"
        "prolog line\r\n"
        "--BND\r\n"
        "Content-Type: text/plain\r\n"
        "X-Part: one\r\n"
        "\r\n"
        "part one text\r\n"
        "--BND\r\n"
        "Content-Type: message/rfc822\r\n"
        "\r\n"
        "From: inner@example.com\r\n"
        "Subject: inner\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "inner body\r\n"
        "--BND--\r\n"
        "epilog\r\n";
    auto rs = rules("pcre:{{/^(.*)$/ INFO h:$1}}", "pcre:{{/^(.*)$/ INFO b:$1}}", "pcre:{{/^(.*)$/ INFO m:$1}}",
                    "pcre:{{/^(.*)$/ INFO n:$1}}");
    for (std::size_t piece : {std::size_t{0}, std::size_t{1}, std::size_t{7}}) {
        CAPTURE(piece);
        auto o = scan(rs, msg, piece);
        std::vector<std::string> got;
        for (const auto& h : o.hits) got.push_back(h.action.text);
        const std::vector<std::string> want = {
            "h:From: a@example.org", "m:MIME-Version: 1.0", "m:Content-Type: multipart/mixed; boundary=\"BND\"",
            "h:Subject: s", "b:prolog line", "b:--BND", "m:Content-Type: text/plain", "m:X-Part: one",
            "b:part one text", "b:--BND", "m:Content-Type: message/rfc822", "n:From: inner@example.com",
            "n:Subject: inner", "m:Content-Type: text/plain", "b:inner body", "b:--BND--", "b:epilog"};
        CHECK(got == want);
    }
    // mime and nested default to header_checks.
    auto d = scan(rules("pcre:{{/^(.*)$/ INFO h:$1}}"), msg);
    std::size_t headers = 0;
    for (const auto& h : d.hits) headers += h.action.text.rfind("h:", 0) == 0;
    CHECK(headers == 10);
}

TEST_CASE("body lines: 2048-byte pieces, body_checks_size_limit per segment, empty lines never match") {
    const std::string long_line = std::string(2048, 'a') + "NEEDLE" + std::string(100, 'b');
    auto rs = rules({}, "pcre:{{/^NEEDLE/ REJECT piece}}");
    CHECK(scan(rs, "Subject: x\r\n\r\n" + long_line + "\r\n").final == Outcome::Final::reject);
    const std::string straddle = std::string(2045, 'a') + "NEEDLE";
    CHECK(scan(rules({}, "pcre:{{/NEEDLE/ REJECT}}"), "Subject: x\r\n\r\n" + straddle + "\r\n").final ==
          Outcome::Final::accept);

    std::string big;
    for (int i = 0; i < 60; ++i) big += std::string(999, 'x') + "\r\n";  // 60,000 bytes, lines of 1000 with LF
    auto late = rules({}, "pcre:{{/^late/ REJECT}}");
    CHECK(scan(late, "Subject: x\r\n\r\n" + big + "late\r\n").final == Outcome::Final::accept);
    CHECK(scan(late, "Subject: x\r\n\r\n" + big.substr(0, 50 * 1001) + "late\r\n").final == Outcome::Final::reject);
    auto unlimited = std::make_shared<RuleSet>(*late);
    unlimited->body_size_limit = 0;
    CHECK(scan(unlimited, "Subject: x\r\n\r\n" + big + "late\r\n").final == Outcome::Final::reject);

    // A new MIME part starts a new segment.
    const std::string mime = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n" + big + "--b\r\n\r\nlate\r\n--b--\r\n";
    CHECK(scan(late, mime).final == Outcome::Final::reject);

    CHECK(scan(rules({}, "pcre:{{/^$/ REJECT}}"), "Subject: x\r\n\r\n\r\n\r\n").final == Outcome::Final::accept);
}

TEST_CASE("actions: HOLD first wins, BCC dedup, REDIRECT/PASS/DISCARD stop inspection") {
    auto rs = rules("pcre:{{/^X-A:/ HOLD first}, {/^X-B:/ HOLD second}, {/^X-R1:/ REDIRECT r1@x.org},"
                    " {/^X-R2:/ REDIRECT r2@x.org}, {/^X-C:/ BCC c@x.org}, {/^X-P:/ PASS},"
                    " {/^X-D:/ DISCARD}, {/^X-Z:/ REJECT}}");
    auto o = scan(rs, "X-A: 1\r\nX-B: 2\r\nX-C: 1\r\nX-C: 2\r\nX-R1: 1\r\nX-R2: 2\r\nX-Z: 1\r\n\r\nbody\r\n");
    CHECK(o.hold == std::optional<std::string>("first"));
    CHECK(o.redirect == std::optional<std::string>("r1@x.org"));
    CHECK(o.stopped);
    CHECK(o.bcc == std::vector<std::string>{"c@x.org"});
    CHECK(o.final == Outcome::Final::accept);
    CHECK(o.hits.size() == 5);  // X-R2 and X-Z are not inspected after REDIRECT

    auto p = scan(rs, "X-P: 1\r\nX-Z: 1\r\n\r\nbody\r\n");
    CHECK(p.final == Outcome::Final::pass);
    CHECK(p.hits.size() == 1);
    auto d = scan(rs, "X-D: 1\r\nX-Z: 1\r\n\r\n");
    CHECK(d.final == Outcome::Final::discard);
    CHECK(d.hits.size() == 1);
}

TEST_CASE("header edits: PREPEND/REPLACE/IGNORE/STRIP with positions and occurrences, bad text ignored") {
    auto rs = rules("pcre:{{/^Subject: (.*)/ REPLACE Subject: [x] $1}, {/^X-Del:/ IGNORE}, {/^X-Strip:/ STRIP why},"
                    " {/^To:/ PREPEND X-Was-To: yes}, {/^Cc:/ PREPEND not a header}, {/^Bcc:/ FILTER smtp:x}}");
    auto o = scan(rs, "To: a\r\nX-Del: 1\r\nX-Del: 2\r\nSubject: hi\r\nX-Strip: 3\r\nCc: c\r\nBcc: d\r\n\r\n");
    REQUIRE(o.header_edits.size() == 5);
    CHECK(o.header_edits[0].kind == ActionKind::prepend);
    CHECK(o.header_edits[0].position == 0);
    CHECK(o.header_edits[0].text == "X-Was-To: yes");
    CHECK(o.header_edits[2].occurrence == 2);
    CHECK(o.header_edits[2].name == "X-Del");
    CHECK(o.header_edits[3].kind == ActionKind::replace);
    CHECK(o.header_edits[3].text == "Subject: [x] hi");
    CHECK(o.header_edits[4].kind == ActionKind::strip);
    CHECK(o.problems.size() == 2);  // bad PREPEND text, FILTER unsupported
}

TEST_CASE("body edits and rewrite_body") {
    auto rs = rules("pcre:{{/^X-Part: / IGNORE}}", "pcre:{{/^secret/ REPLACE [removed]}, {/^drop/ IGNORE},"
                                                   " {/^mark/ PREPEND >> marked}}");
    const std::string body = "Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nX-Part: a\r\n  b\r\n\r\nsecret 1\r\ndrop me\r\nmark\r\nkeep\r\n--q--\r\n";
    auto o = scan(rs, body);
    REQUIRE(o.body_edits.size() == 4);
    const std::string raw = body.substr(body.find("\r\n\r\n") + 4);
    CHECK(rewrite_body(raw, o.body_edits) == "--q\r\n\r\n[removed]\r\n>> marked\r\nmark\r\nkeep\r\n--q--\r\n");
}

TEST_CASE("bad input is bounded: deep nesting, huge lines, catastrophic backtracking") {
    std::string deep = "Content-Type: multipart/mixed; boundary=b0\r\n\r\n";
    for (int i = 0; i < 150; ++i)
        deep += "--b" + std::to_string(i) + "\r\nContent-Type: multipart/mixed; boundary=b" + std::to_string(i + 1) + "\r\n\r\n";
    deep += "--b150\r\n\r\nbottom\r\n";
    auto o = scan(rules({}, "pcre:{{/^bottom/ WARN}}"), deep);
    CHECK(o.hits.size() == 1);

    const std::string huge(10U << 20, 'z');
    const auto t0 = std::chrono::steady_clock::now();
    auto h = scan(rules({}, "pcre:{{/^z+y/ REJECT}}"), "Subject: x\r\n\r\n" + huge + "\r\n", 65536);
    CHECK(h.final == Outcome::Final::accept);

    auto slow = std::make_shared<RuleSet>(*rules({}, "pcre:{{/^(a+)+$/ REJECT}}"));
    slow->time_limit = std::chrono::milliseconds(500);
    std::string lines;
    for (int i = 0; i < 200; ++i) lines += std::string(40, 'a') + "!\r\n";
    auto b = scan(slow, "Subject: x\r\n\r\n" + lines);
    CHECK(b.final == Outcome::Final::accept);
    CHECK_FALSE(b.problems.empty());  // match limit errors and/or the time limit are reported
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20));
}

TEST_CASE("decoded-body-checks: base64 and quoted-printable text parts, charset converted to UTF-8") {
    auto rs = std::make_shared<RuleSet>(*rules({}, "pcre:{{/hidden phrase/ REJECT raw}}"));
    rs->decoded_body = open_tables({"pcre:{{/caf\xC3\xA9 cr\xC3\xA8me/ WARN utf8}, {/hidden phrase/ REJECT 5.7.1 decoded}}"});
    // "this has a hidden phrase inside" in base64, split over two lines mid-quantum
    const std::string b64 = "dGhpcyBoYXMgYSBoaWRk\r\nZW4gcGhyYXNlIGluc2lkZQ==\r\n";
    const std::string msg = "Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\nContent-Type: text/plain\r\n"
                            "Content-Transfer-Encoding: base64\r\n\r\n" + b64 + "--z--\r\n";
    auto o = scan(rs, msg);
    CHECK(o.final == Outcome::Final::reject);
    CHECK(o.reply.text == "decoded");
    REQUIRE(o.hits.size() == 1);
    CHECK(o.hits[0].input_class == InputClass::decoded_body);
    CHECK(o.hits[0].input == "this has a hidden phrase inside");

    // Without decoded tables only the raw rule runs, and it misses.
    CHECK(scan(rules({}, "pcre:{{/hidden phrase/ REJECT raw}}"), msg).final == Outcome::Final::accept);

    // Attachments that are not text are not decoded.
    const std::string att = "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64;
    CHECK(scan(rs, att).final == Outcome::Final::accept);

    // quoted-printable with a soft line break and =XX bytes in ISO-8859-1.
    const std::string qp = "Content-Type: text/plain; charset=\"ISO-8859-1\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
                           "caf=E9 cr=\r\n=E8me and a hidden=20phrase\r\n";
    auto q = scan(rs, qp);
    REQUIRE(q.hits.size() == 1);
    CHECK(q.hits[0].action.kind == ActionKind::warn);
    CHECK(q.hits[0].input == "caf\xC3\xA9 cr\xC3\xA8me and a hidden phrase");
}
