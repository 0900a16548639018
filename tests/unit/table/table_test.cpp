// tests/unit/table/table_test.cpp - table types, Postfix access(5) lookup order, errors, bounds, reload.
#include "common/table/table.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>

namespace fs = std::filesystem;
using mailmoat::table::KeyKind;
using mailmoat::table::Limits;
using mailmoat::table::Lookup;
using mailmoat::table::open_table;
using mailmoat::table::ParentStyle;
using mailmoat::table::Table;
using mailmoat::table::TableError;
using Status = mailmoat::table::Lookup::Status;

namespace {

/// A private temporary directory removed on every path.
struct TempDir {
    fs::path path;
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "mailmoat-table-XXXXXX").string();
        char* p = mkdtemp(tmpl.data());
        REQUIRE(p != nullptr);
        path = p;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string write(const std::string& name, const std::string& text) const {
        fs::path f = path / name;
        std::ofstream out(f, std::ios::binary | std::ios::trunc);
        out << text;
        return f.string();
    }
};

std::string value_of(const Table& t, std::string_view key) {
    Lookup r = t.lookup(key);
    if (r.status == Status::found) return r.value;
    return r.status == Status::not_found ? "<not found>" : "<tempfail>";
}

/// Throws the TableError of open_table and returns its message (or "<no error>").
std::string open_error(const std::string& spec, const Limits& limits = {}) {
    try {
        (void)open_table(spec, limits);
    } catch (const TableError& e) {
        return e.what();
    }
    return "<no error>";
}

/// Records every key looked up; answers `found` (or tempfail) for one key.
class RecordingTable final : public Table {
public:
    RecordingTable(KeyKind kind, std::string hit = {}, Status hit_status = Status::found)
        : Table("recording:test", kind), hit_(std::move(hit)), hit_status_(hit_status) {}
    Lookup lookup(std::string_view key) const override {
        std::lock_guard<std::mutex> g(mutex_);
        keys_.emplace_back(key);
        if (!hit_.empty() && key == hit_) return {hit_status_, "VALUE"};
        return Lookup::miss();
    }
    std::vector<std::string> keys() const {
        std::lock_guard<std::mutex> g(mutex_);
        return keys_;
    }

private:
    std::string hit_;
    Status hit_status_;
    mutable std::mutex mutex_;
    mutable std::vector<std::string> keys_;
};

}  // namespace

TEST_CASE("texthash reads postmap source text", "[table][texthash]") {
    TempDir dir;
    const std::string path = dir.write("access",
                                       "# a comment\n"
                                       "Example.COM   REJECT spam\r\n"
                                       "\n"
                                       "   # indented comment is skipped\n"
                                       "multi  first part\n"
                                       "   # a comment between a line and its continuation\n"
                                       "\tsecond part\n"
                                       "dup  first\n"
                                       "DUP  second\n"
                                       "user@example.net\tOK   \n");
    SECTION("explicit texthash:") {
        auto t = open_table("texthash:" + path);
        CHECK(t->name() == "texthash:" + path);
        CHECK(t->key_kind() == KeyKind::fixed);
        CHECK(value_of(*t, "example.com") == "REJECT spam");
        CHECK(value_of(*t, "EXAMPLE.com") == "REJECT spam");
        CHECK(value_of(*t, "multi") == "first part\tsecond part");
        CHECK(value_of(*t, "dup") == "first");  // postmap keeps the first duplicate
        CHECK(value_of(*t, "user@example.net") == "OK");
        CHECK(value_of(*t, "example") == "<not found>");
        CHECK(value_of(*t, "") == "<not found>");
        CHECK(value_of(*t, "#") == "<not found>");
    }
    SECTION("hash: and a plain path read the same source") {
        CHECK(value_of(*open_table("hash:" + path), "example.com") == "REJECT spam");
        auto plain = open_table(path);
        CHECK(plain->name() == "texthash:" + path);
        CHECK(value_of(*plain, "user@example.net") == "OK");
    }
}

TEST_CASE("texthash errors name file and line", "[table][texthash][errors]") {
    TempDir dir;
    const std::string bad = dir.write("bad", "good value\n\nkeyonly\n");
    CHECK(open_error("texthash:" + bad) == bad + ":3: expected format: key whitespace value");
    const std::string orphan = dir.write("orphan", "  continuation first\nkey value\n");
    CHECK_THAT(open_error("hash:" + orphan), Catch::Contains(orphan + ":1:"));
    CHECK_THAT(open_error("texthash:" + (dir.path / "missing").string()), Catch::Contains("cannot open"));
    CHECK_THAT(open_error("nosuchtype:/x"), Catch::Contains("unsupported table type"));
    CHECK_THAT(open_error(""), Catch::Contains("empty table name"));
}

TEST_CASE("table bounds are enforced at load time", "[table][limits]") {
    TempDir dir;
    Limits small;
    small.max_file_bytes = 100;
    small.max_line_bytes = 40;
    small.max_entries = 3;
    const std::string big = dir.write("big", std::string(200, 'a') + " b\n");
    CHECK_THAT(open_error("texthash:" + big, small), Catch::Contains("larger than 100 bytes"));
    const std::string longline = dir.write("long", "k " + std::string(50, 'v') + "\n");
    CHECK_THAT(open_error("texthash:" + longline, small), Catch::Contains(longline + ":1: line longer than 40"));
    const std::string longjoined =
        dir.write("joined", "k " + std::string(30, 'v') + "\n " + std::string(30, 'w') + "\n");
    CHECK_THAT(open_error("texthash:" + longjoined, small), Catch::Contains(longjoined + ":1: logical line longer"));
    const std::string many = dir.write("many", "a 1\nb 2\nc 3\nd 4\n");
    CHECK_THAT(open_error("texthash:" + many, small), Catch::Contains(many + ":4: more than 3 entries"));
    // Substitution results are bounded at lookup time: a tempfail, never a silently cut value.
    Limits res;
    res.max_result_bytes = 10;
    auto t = open_table("pcre:{ {/^(.*)$/ $1$1} }", res);
    CHECK(value_of(*t, "abcd") == "abcdabcd");
    CHECK(t->lookup("abcdefgh").status == Status::tempfail);
}

TEST_CASE("inline, static and fail tables", "[table][inline][static]") {
    auto t = open_table("inline:{ a=1, B=two, { c d = text with spaces }, {e=} }");
    CHECK(t->name() == "inline:{ a=1, B=two, { c d = text with spaces }, {e=} }");
    CHECK(value_of(*t, "A") == "1");
    CHECK(value_of(*t, "b") == "two");
    CHECK(value_of(*t, "c d") == "text with spaces");
    CHECK(value_of(*t, "e") == "");
    CHECK(value_of(*t, "x") == "<not found>");
    CHECK_THAT(open_error("inline:{ a=1, nokey }"), Catch::Contains("missing '='"));
    // Outside braces whitespace separates elements, as in Postfix: "f = 6" is three elements.
    CHECK_THAT(open_error("inline:{ f = 6 }"), Catch::Contains("missing '=' after attribute name in \"f\""));
    CHECK_THAT(open_error("inline:a=1"), Catch::Contains("{...}"));
    CHECK_THAT(open_error("inline:{ {a=1 }"), Catch::Contains("unbalanced"));

    auto s = open_table("static:REJECT");
    CHECK(value_of(*s, "anything") == "REJECT");
    CHECK(value_of(*s, "") == "<not found>");
    CHECK(value_of(*open_table("static:{ 550 go away }"), "k") == "550 go away");

    auto f = open_table("fail:broken");
    Lookup r = f->lookup("k");
    CHECK(r.status == Status::tempfail);
    CHECK_THAT(r.value, Catch::Contains("fail:broken"));
}

TEST_CASE("cidr tables (cidr_table(5))", "[table][cidr]") {
    TempDir dir;
    const std::string path = dir.write("clients.cidr",
                                       "# first match wins\n"
                                       "192.0.2.1          exact\n"
                                       "192.0.2.0/24       net24\n"
                                       "192.0.0.0/16       net16\n"
                                       "[2001:db8::1]      v6exact\n"
                                       "2001:db8::/32      v6net\n"
                                       "if 198.51.100.0/24\n"
                                       "198.51.100.7/32    inside-if\n"
                                       "if !198.51.100.0/25\n"
                                       "0.0.0.0/0          upper-half\n"
                                       "endif\n"
                                       "endif\n"
                                       "0.0.0.0/0          any-v4\n"
                                       "::/0               any-v6\n");
    auto t = open_table("cidr:" + path);
    CHECK(t->key_kind() == KeyKind::pattern);
    CHECK(t->name() == "cidr:" + path);
    CHECK(value_of(*t, "192.0.2.1") == "exact");
    CHECK(value_of(*t, "192.0.2.77") == "net24");
    CHECK(value_of(*t, "192.0.9.9") == "net16");
    CHECK(value_of(*t, "::ffff:192.0.2.1") == "exact");  // IPv4-mapped is IPv4
    CHECK(value_of(*t, "2001:db8::1") == "v6exact");
    CHECK(value_of(*t, "2001:DB8:0:0::1") == "v6exact");
    CHECK(value_of(*t, "2001:db8:ffff::2") == "v6net");
    CHECK(value_of(*t, "198.51.100.7") == "inside-if");
    CHECK(value_of(*t, "198.51.100.200") == "upper-half");
    CHECK(value_of(*t, "198.51.100.8") == "any-v4");
    CHECK(value_of(*t, "203.0.113.5") == "any-v4");
    CHECK(value_of(*t, "2001:db9::1") == "any-v6");
    CHECK(value_of(*t, "not-an-address") == "<not found>");
    CHECK(value_of(*t, "") == "<not found>");

    SECTION("errors") {
        const std::string hostbits = dir.write("hb", "1.2.3.0/24 ok\n1.2.3.4/24 bad\n");
        CHECK_THAT(open_error("cidr:" + hostbits), Catch::Contains(hostbits + ":2: non-null host address bits"));
        const std::string badnet = dir.write("bn", "1.2.3.0/33 x\n");
        CHECK_THAT(open_error("cidr:" + badnet), Catch::Contains(badnet + ":1: bad net/mask pattern"));
        const std::string noval = dir.write("nv", "1.2.3.0/24\n");
        CHECK_THAT(open_error("cidr:" + noval), Catch::Contains(noval + ":1: no replacement text"));
        const std::string endif = dir.write("ei", "1.2.3.0/24 x\nendif\n");
        CHECK_THAT(open_error("cidr:" + endif), Catch::Contains(endif + ":2: ignoring ENDIF without matching IF"));
        const std::string neg = dir.write("ng", "!1.2.3.0/24 x\n");
        CHECK_THAT(open_error("cidr:" + neg), Catch::Contains(neg + ":1: negation is allowed only in IF"));
    }
    SECTION("inline cidr") {
        auto i = open_table("cidr:{ {10.0.0.0/8 private}, {::1 loopback} }");
        CHECK(value_of(*i, "10.1.2.3") == "private");
        CHECK(value_of(*i, "::1") == "loopback");
    }
}

TEST_CASE("regexp tables keep regexp_table(5) syntax", "[table][regexp]") {
    TempDir dir;
    const std::string path = dir.write("checks.regexp",
                                       "/^Subject:.*viagra/      REJECT drugs\n"
                                       "/^From:.*<(.+)@(.+)>$/   FROM $2 USER ${1} $(1) $$5\n"
                                       "/^To: CaseSensitive$/i   CASE\n"
                                       "/^Multi: (.*)$/m         LINE $1\n"
                                       "/^X-Bre: \\(ab\\)\\{2\\}+$/x   BRE $1\n"
                                       "/^Bracket: [\\.]$/      BRACKET\n"
                                       "!/^Received:/            NOT-RECEIVED\n");
    auto t = open_table("regexp:" + path);
    CHECK(t->key_kind() == KeyKind::pattern);
    CHECK(value_of(*t, "Subject: cheap VIAGRA here") == "REJECT drugs");
    CHECK(value_of(*t, "subject: folded\n\tviagra") == "REJECT drugs");  // '.' matches newline without m
    CHECK(value_of(*t, "From: Someone <me@example.com>") == "FROM example.com USER me me $5");
    CHECK(value_of(*t, "To: CaseSensitive") == "CASE");
    CHECK(value_of(*t, "To: casesensitive") == "NOT-RECEIVED");   // i toggled ICASE off
    CHECK(value_of(*t, "Multi: one\nMulti: two") == "LINE one");  // with m, $ matches before \n
    CHECK(value_of(*t, "X-Bre: abab+") == "BRE ab");              // BRE: \( \) \{ \} groups, + literal
    CHECK(value_of(*t, "X-Bre: ababb") == "NOT-RECEIVED");
    CHECK(value_of(*t, "Bracket: \\") == "BRACKET");  // POSIX: backslash literal in brackets
    CHECK(value_of(*t, "Bracket: .") == "BRACKET");
    CHECK(value_of(*t, "Received: from x") == "<not found>");

    SECTION("if/endif and nested blocks") {
        auto i = open_table(
            "regexp:{ {if /^From:/}, {if !/example\\.com/}, {/./ FOREIGN}, {endif}, {/./ OURS}, {endif}, {/^To:/ TO} "
            "}");
        CHECK(value_of(*i, "From: a@example.com") == "OURS");
        CHECK(value_of(*i, "From: a@example.org") == "FOREIGN");
        CHECK(value_of(*i, "To: x") == "TO");
        CHECK(value_of(*i, "Cc: x") == "<not found>");
    }
    SECTION("errors name file and line") {
        const std::string flag = dir.write("f", "/a/ OK\n/b/q REJECT\n");
        CHECK_THAT(open_error("regexp:" + flag), Catch::Contains(flag + ":2: unknown regexp option \"q\""));
        const std::string pcreflag = dir.write("pf", "/a/s OK\n");  // s is a pcre flag, not a regexp one
        CHECK_THAT(open_error("regexp:" + pcreflag), Catch::Contains(pcreflag + ":1: unknown regexp option"));
        const std::string range = dir.write("r", "/(a)/ $2\n");
        CHECK_THAT(open_error("regexp:" + range), Catch::Contains(range + ":1: out of range replacement index \"2\""));
        const std::string negsub = dir.write("n", "!/(a)/ $1\n");
        CHECK_THAT(open_error("regexp:" + negsub), Catch::Contains(negsub + ":1: $number found in negative match"));
        const std::string unclosed = dir.write("u", "# c\n/abc REJECT\n");
        CHECK_THAT(open_error("regexp:" + unclosed),
                   Catch::Contains(unclosed + ":2: no closing regular expression delimiter"));
        const std::string badre = dir.write("b", "/a(/ X\n");
        CHECK_THAT(open_error("regexp:" + badre), Catch::Contains(badre + ":1: error in regular expression"));
        const std::string noaction = dir.write("na", "/a/\n");
        CHECK_THAT(open_error("regexp:" + noaction), Catch::Contains(noaction + ":1: no replacement text"));
        const std::string garbage = dir.write("g", "if /a/ X\nendif\n");
        CHECK_THAT(open_error("regexp:" + garbage), Catch::Contains(garbage + ":1: garbage after IF"));
        const std::string name = dir.write("nm", "/(a)/ $x\n");
        CHECK_THAT(open_error("regexp:" + name), Catch::Contains(name + ":1: non-numeric replacement index"));
    }
}

TEST_CASE("pcre tables (pcre_table(5) flags and substitution)", "[table][pcre]") {
    struct Case {
        const char* rule;
        const char* input;
        const char* expected;
    };
    auto c = GENERATE(values<Case>({
        {"/abc/ HIT", "xxABCxx", "HIT"},           // i is on by default
        {"/abc/i HIT", "xxABCxx", "<not found>"},  // i toggles it off
        {"/abc/i HIT", "xxabcxx", "HIT"},
        {"/a.c/ HIT", "a\nc", "HIT"},  // s (DOTALL) is on by default
        {"/a.c/s HIT", "a\nc", "<not found>"},
        {"/^b$/ HIT", "a\nb", "<not found>"},
        {"/^b$/m HIT", "a\nb", "HIT"},
        {"/a b c/x HIT", "abc", "HIT"},
        {"/bc/ HIT", "abc", "HIT"},
        {"/bc/A HIT", "abc", "<not found>"},  // anchored
        {"/c$/ HIT", "abc\n", "HIT"},
        {"/c$/E HIT", "abc\n", "<not found>"},  // dollar end only
        {"/<(.+)>/ [$1]", "<a><b>", "[a><b]"},
        {"/<(.+)>/U [$1]", "<a><b>", "[a]"},  // ungreedy
        {"/x/X HIT", "x", "HIT"},             // X accepted, no effect with PCRE2
        {"/^(\\w+)@(\\w+)\\.com$/ ${2}:$1:$$", "me@corp.com", "corp:me:$"},
        {"~^a/b~ TILDE", "a/b", "TILDE"},  // any delimiter
        {"/a\\/b/ ESC", "a/b", "ESC"},     // escaped delimiter
        {"!/^Received:/ NOT", "Subject: x", "NOT"},
        {"!!/^Received:/ TWICE", "Received: x", "TWICE"},  // each ! toggles
        {"/(a)|(b)/ [$1|$2]", "b", "[|b]"},                // unmatched group is empty
    }));
    CAPTURE(c.rule, c.input);
    auto t = open_table(std::string("pcre:{ {") + c.rule + "} }");
    CHECK(value_of(*t, c.input) == c.expected);
}

TEST_CASE("pcre file with if/endif, errors and match limits", "[table][pcre]") {
    TempDir dir;
    const std::string path = dir.write("header_checks.pcre",
                                       "if /^Subject:/\n"
                                       "/free money/     REJECT scam\n"
                                       "/^Subject: \\[(\\w+)\\]/  PREPEND X-Tag: $1\n"
                                       "endif\n"
                                       "/^Subject:/       DUNNO\n"
                                       "/^X-Spam: (yes)/  DISCARD $1\n");
    auto t = open_table("pcre:" + path);
    CHECK(t->name() == "pcre:" + path);
    CHECK(value_of(*t, "Subject: FREE MONEY") == "REJECT scam");
    CHECK(value_of(*t, "Subject: [list] hello") == "PREPEND X-Tag: list");
    CHECK(value_of(*t, "Subject: hello") == "DUNNO");
    CHECK(value_of(*t, "X-Spam: yes") == "DISCARD yes");
    CHECK(value_of(*t, "X-Other: free money") == "<not found>");

    const std::string noendif = dir.write("ne", "if /^a/\n/b/ X\n");
    auto ne = open_table("pcre:" + noendif);  // Postfix: the block extends to the end of the file
    CHECK(value_of(*ne, "ab") == "X");
    CHECK(value_of(*ne, "b") == "<not found>");

    const std::string baddelim = dir.write("bd", "aabc/ X\n");
    CHECK_THAT(open_error("pcre:" + baddelim), Catch::Contains(baddelim + ":1: invalid regular expression delimiter"));

    // Catastrophic backtracking hits the match limit: no match (as Postfix), with the reason.
    auto slow = open_table("pcre:{ {/^(a+)+$/ X} }");
    Lookup r = slow->lookup(std::string(40, 'a') + "b");
    CHECK(r.status == Status::not_found);
    CHECK_THAT(r.value, Catch::Contains("match error"));
    CHECK(value_of(*slow, "aaaa") == "X");
}

TEST_CASE("lookup_address follows access(5) EMAIL ADDRESS PATTERNS order", "[table][order]") {
    struct Case {
        const char* address;
        std::vector<std::string> keys;
    };
    auto c = GENERATE(values<Case>({
        {"User+Ext@Sub.Example.COM",
         {"User+Ext@Sub.Example.COM", "User@Sub.Example.COM", "sub.example.com", "example.com", "com", "User+Ext@",
          "User@"}},
        {"user@example.com", {"user@example.com", "example.com", "com", "user@"}},
        {"a+b+c@x.org", {"a+b+c@x.org", "a@x.org", "x.org", "org", "a+b+c@", "a@"}},
        {"+start@x.org", {"+start@x.org", "x.org", "org", "+start@"}},  // leading delimiter: no split
        {"user@[192.0.2.1]", {"user@[192.0.2.1]", "[192.0.2.1]", "user@"}},
        {"postmaster", {"postmaster@"}},
        {"", {"<>"}},
    }));
    CAPTURE(c.address);
    RecordingTable t(KeyKind::fixed);
    auto m = mailmoat::table::lookup_address(t, c.address);
    CHECK_FALSE(m.found());
    CHECK(t.keys() == c.keys);
}

TEST_CASE("lookup_address options, pattern tables, first hit and tempfail", "[table][order]") {
    SECTION("dot style parents") {
        RecordingTable t(KeyKind::fixed);
        mailmoat::table::AddressOptions o;
        o.parent_style = ParentStyle::dot;
        (void)mailmoat::table::lookup_address(t, "u@a.b.c", o);
        CHECK(t.keys() == std::vector<std::string>{"u@a.b.c", "a.b.c", ".b.c", ".c", "u@"});
    }
    SECTION("'-' delimiter keeps owner- and -request") {
        mailmoat::table::AddressOptions o;
        o.recipient_delimiter = "-+";
        RecordingTable t1(KeyKind::fixed);
        (void)mailmoat::table::lookup_address(t1, "owner-list@x.org", o);
        CHECK(t1.keys() == std::vector<std::string>{"owner-list@x.org", "x.org", "org", "owner-list@"});
        RecordingTable t2(KeyKind::fixed);
        (void)mailmoat::table::lookup_address(t2, "user-ext@x.org", o);
        CHECK(t2.keys() ==
              std::vector<std::string>{"user-ext@x.org", "user@x.org", "x.org", "org", "user-ext@", "user@"});
        RecordingTable t3(KeyKind::fixed);
        o.recipient_delimiter.clear();
        (void)mailmoat::table::lookup_address(t3, "user+ext@x.org", o);
        CHECK(t3.keys() == std::vector<std::string>{"user+ext@x.org", "x.org", "org", "user+ext@"});
    }
    SECTION("pattern tables get the whole string only") {
        RecordingTable t(KeyKind::pattern);
        (void)mailmoat::table::lookup_address(t, "user+ext@sub.example.com");
        CHECK(t.keys() == std::vector<std::string>{"user+ext@sub.example.com"});
    }
    SECTION("the search stops at the first hit and reports its key") {
        RecordingTable t(KeyKind::fixed, "example.com");
        auto m = mailmoat::table::lookup_address(t, "user+x@sub.example.com");
        CHECK(m.found());
        CHECK(m.key == "example.com");
        CHECK(m.value == "VALUE");
        CHECK(t.keys().size() == 4);
    }
    SECTION("a tempfail stops the search") {
        RecordingTable t(KeyKind::fixed, "user@x.org", Status::tempfail);
        auto m = mailmoat::table::lookup_address(t, "user+e@x.org");
        CHECK(m.status == Status::tempfail);
        CHECK(m.key == "user@x.org");
        CHECK(t.keys().size() == 2);
    }
    SECTION("with a real access table") {
        auto t =
            open_table("inline:{ example.com=REJECT, { postmaster@ = OK }, { user+special@example.com = 451 later } }");
        CHECK(mailmoat::table::lookup_address(*t, "someone@mail.EXAMPLE.com").value == "REJECT");
        auto pm = mailmoat::table::lookup_address(*t, "postmaster@other.org");
        CHECK(pm.key == "postmaster@");
        CHECK(pm.value == "OK");
        CHECK(mailmoat::table::lookup_address(*t, "user+special@example.com").value == "451 later");
        CHECK_FALSE(mailmoat::table::lookup_address(*t, "nobody@example.org").found());
        auto f = mailmoat::table::lookup_address(*open_table("fail:x"), "a@b.c");
        CHECK(f.status == Status::tempfail);
        CHECK(f.key == "a@b.c");
    }
}

TEST_CASE("lookup_domain follows DOMAIN NAME PATTERNS", "[table][order]") {
    struct Case {
        const char* domain;
        ParentStyle style;
        std::vector<std::string> keys;
    };
    auto c = GENERATE(values<Case>({
        {"Mail.Example.COM.", ParentStyle::parent, {"mail.example.com", "example.com", "com"}},
        {"mail.example.com", ParentStyle::dot, {"mail.example.com", ".example.com", ".com"}},
        {"localhost", ParentStyle::parent, {"localhost"}},
        {"192.0.2.1", ParentStyle::parent, {"192.0.2.1"}},  // numerical: no subdomain magic
        {"", ParentStyle::parent, {}},
    }));
    CAPTURE(c.domain);
    RecordingTable t(KeyKind::fixed);
    (void)mailmoat::table::lookup_domain(t, c.domain, c.style);
    CHECK(t.keys() == c.keys);
    RecordingTable p(KeyKind::pattern);
    (void)mailmoat::table::lookup_domain(p, c.domain, c.style);
    CHECK(p.keys().size() == (c.keys.empty() ? 0U : 1U));
}

TEST_CASE("lookup_client follows HOST ADDRESS PATTERNS", "[table][order]") {
    struct Case {
        const char* ip;
        std::vector<std::string> keys;
    };
    auto c = GENERATE(values<Case>({
        {"192.0.2.1", {"192.0.2.1", "192.0.2", "192.0", "192"}},
        {"::ffff:192.0.2.1", {"192.0.2.1", "192.0.2", "192.0", "192"}},
        {"2001:DB8:0:0:0:0:0:1", {"2001:db8::1", "2001:db8:", "2001:db8", "2001"}},
        {"2001:db8:1:2:3:4:5:6",
         {"2001:db8:1:2:3:4:5:6", "2001:db8:1:2:3:4:5", "2001:db8:1:2:3:4", "2001:db8:1:2:3", "2001:db8:1:2",
          "2001:db8:1", "2001:db8", "2001"}},
        {"::1", {"::1", ":"}},
    }));
    CAPTURE(c.ip);
    RecordingTable t(KeyKind::fixed);
    (void)mailmoat::table::lookup_client(t, c.ip);
    CHECK(t.keys() == c.keys);

    auto cidr = open_table("cidr:{ {192.0.2.0/24 NET}, {2001:db8::/32 NET6}, {::1 LO} }");
    auto m = mailmoat::table::lookup_client(*cidr, c.ip);
    CHECK(m.found());
    CHECK(m.key == c.keys.front());
}

TEST_CASE("TableSet reloads all tables or keeps the old ones", "[table][reload]") {
    TempDir dir;
    const std::string a = dir.write("a", "k one\n");
    const std::string b = dir.write("b.cidr", "10.0.0.0/8 ten\n");
    mailmoat::table::TableSet set;
    CHECK(set.reload().status == mailmoat::table::TableSet::ReloadResult::Status::empty);
    auto ta = set.get("texthash:" + a);
    auto tb = set.get("cidr:" + b);
    CHECK(set.get("texthash:" + a) == ta);  // opened once
    CHECK(set.size() == 2);
    CHECK(set.current("nope") == nullptr);
    CHECK_THROWS_AS(set.get("texthash:" + (dir.path / "missing").string()), TableError);
    CHECK(set.size() == 2);

    dir.write("a", "k two\n");
    auto ok = set.reload();
    CHECK(ok.status == mailmoat::table::TableSet::ReloadResult::Status::reloaded);
    CHECK(value_of(*set.current("texthash:" + a), "k") == "two");
    CHECK(value_of(*ta, "k") == "one");  // a holder of the old snapshot keeps it

    dir.write("a", "k three\n");
    dir.write("b.cidr", "10.0.0.0/8 ten\n10.1.2.3/8 bad\n");
    auto bad = set.reload();
    CHECK(bad.status == mailmoat::table::TableSet::ReloadResult::Status::failed);
    CHECK_THAT(bad.error, Catch::Contains(b + ":2: non-null host address bits"));
    // All or nothing: the good new file a is not taken either.
    CHECK(value_of(*set.current("texthash:" + a), "k") == "two");
    CHECK(value_of(*set.current("cidr:" + b), "10.9.9.9") == "ten");
}
