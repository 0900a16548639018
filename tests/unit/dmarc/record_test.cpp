// tests/unit/dmarc/record_test.cpp - RFC 9989 §4.7-§4.8 record parsing: valid, invalid, unknown tags,
// repeated tags, the §4.10.1 p=/rua= rule, RFC 7489 legacy tags.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

#include "common/dmarc/record.hpp"

using namespace mailmoat::dmarc;

namespace {

bool has_note(const Record& r, const std::string& part) {
    return std::any_of(r.notes.begin(), r.notes.end(),
                       [&](const std::string& n) { return n.find(part) != std::string::npos; });
}

}  // namespace

TEST_CASE("§4.7 v=: the record must start with v=DMARC1, the value case-sensitive") {
    const auto [text, dmarc] = GENERATE(table<std::string, bool>({
        {"v=DMARC1; p=none", true},
        {"v=DMARC1", true},
        {"v=DMARC1;", true},
        {"v = DMARC1 ; p=reject", true},
        {"V=DMARC1; p=none", true},          // tag names are ABNF strings: case-insensitive
        {"  v=DMARC1; p=none", true},        // leading blanks tolerated
        {"v=dmarc1; p=none", false},         // %s"DMARC1": case-sensitive
        {"v=DMARC2; p=none", false},
        {"v=DMARC10; p=none", false},
        {"p=none; v=DMARC1", false},         // v must come first
        {"v=spf1 -all", false},
        {"", false},
        {"v=", false},
        {"vv=DMARC1", false},
    }));
    CAPTURE(text);
    CHECK(is_dmarc_record(text) == dmarc);
    CHECK((parse_record(text).status == RecordStatus::ok) == dmarc);
}

TEST_CASE("§4.7 every tag of a full record is read") {
    const auto r = parse_record(
                       "v=DMARC1; p=Reject; sp=quarantine; np=reject; adkim=s; aspf=S; t=y; psd=n; fo=0:d; "
                       "rua=mailto:agg@example.com, mailto:agg2@example.net!10m; ruf=mailto:f@example.com")
                       .record;
    CHECK(r.state == PolicyState::valid);
    CHECK(r.p == "reject");
    CHECK(r.sp == "quarantine");
    CHECK(r.np == "reject");
    CHECK(r.adkim == "s");
    CHECK(r.aspf == "s");
    CHECK(r.t == "y");
    CHECK(r.psd == "n");
    CHECK(r.fo == "0:d");
    CHECK(r.pct == -1);
    REQUIRE(r.rua.size() == 2);
    CHECK(r.rua[0] == "mailto:agg@example.com");
    CHECK(r.rua[1] == "mailto:agg2@example.net");  // obsolete !size suffix removed
    REQUIRE(r.ruf.size() == 1);
    CHECK(r.notes.empty());
}

TEST_CASE("§4.7 defaults when tags are absent") {
    const auto r = parse_record("v=DMARC1; p=none").record;
    CHECK(r.state == PolicyState::valid);
    CHECK(r.adkim == "r");
    CHECK(r.aspf == "r");
    CHECK(r.t.empty());
    CHECK(r.psd == "u");
    CHECK(r.sp.empty());
    CHECK(r.np.empty());
    CHECK(r.fo.empty());
    CHECK(r.rua.empty());
}

TEST_CASE("§4.7 unknown tags are ignored; rf= and ri= (removed in RFC 9989) too") {
    const auto r = parse_record("v=DMARC1; p=quarantine; foo=bar; rf=afrf; ri=86400; xyzzy=1").record;
    CHECK(r.state == PolicyState::valid);
    CHECK(r.p == "quarantine");
    CHECK(has_note(r, "unknown tag foo="));
    CHECK(has_note(r, "unknown tag xyzzy="));
    CHECK(has_note(r, "rf="));
}

TEST_CASE("§4.8 syntax errors outside p/sp/np fall back to defaults") {
    const auto [text, field, expected] = GENERATE(table<std::string, std::string, std::string>({
        {"v=DMARC1; p=none; adkim=x", "adkim", "r"},
        {"v=DMARC1; p=none; aspf=strict", "aspf", "r"},
        {"v=DMARC1; p=none; t=maybe", "t", ""},
        {"v=DMARC1; p=none; psd=yes", "psd", "u"},
        {"v=DMARC1; p=none; fo=0:1", "fo", ""},   // 0 and 1 are exclusive
        {"v=DMARC1; p=none; fo=d:d", "fo", ""},   // each at most once
        {"v=DMARC1; p=none; fo=x", "fo", ""},
        {"v=DMARC1; p=none; fo=1:s", "fo", "1:s"},
    }));
    CAPTURE(text);
    const auto r = parse_record(text).record;
    CHECK(r.state == PolicyState::valid);
    const std::string& got = field == "adkim" ? r.adkim : field == "aspf" ? r.aspf : field == "t" ? r.t
                             : field == "psd" ? r.psd : r.fo;
    CHECK(got == expected);
}

TEST_CASE("§4.10.1 no valid p= (or a bad sp=/np=): p=none with a valid rua=, otherwise unusable") {
    const auto [text, state] = GENERATE(table<std::string, PolicyState>({
        {"v=DMARC1; rua=mailto:d@example.com", PolicyState::none_for_rua},          // p missing
        {"v=DMARC1; p=bogus; rua=mailto:d@example.com", PolicyState::none_for_rua},
        {"v=DMARC1; p=reject; sp=bogus; rua=mailto:d@example.com", PolicyState::none_for_rua},
        {"v=DMARC1; p=reject; np=; rua=mailto:d@example.com", PolicyState::none_for_rua},
        {"v=DMARC1", PolicyState::unusable},
        {"v=DMARC1; p=bogus", PolicyState::unusable},
        {"v=DMARC1; p=reject; sp=hold", PolicyState::unusable},
        {"v=DMARC1; p=bogus; rua=not a uri", PolicyState::unusable},
        {"v=DMARC1; p=bogus; rua=example.com", PolicyState::unusable},  // no scheme
    }));
    CAPTURE(text);
    const auto r = parse_record(text).record;
    CHECK(r.state == state);
    if (state == PolicyState::none_for_rua) {
        CHECK(r.p == "none");
        CHECK(r.sp.empty());
        CHECK(r.np.empty());
    } else {
        CHECK(r.p.empty());
    }
}

TEST_CASE("a repeated tag keeps its first value") {
    const auto r = parse_record("v=DMARC1; p=reject; p=none; adkim=s; adkim=r").record;
    CHECK(r.p == "reject");
    CHECK(r.adkim == "s");
    CHECK(has_note(r, "repeated tag p="));
}

TEST_CASE("RFC 7489 pct= is kept when 0-100, dropped otherwise") {
    const auto [text, pct] = GENERATE(table<std::string, int>({
        {"v=DMARC1; p=reject; pct=0", 0},
        {"v=DMARC1; p=reject; pct=50", 50},
        {"v=DMARC1; p=reject; pct=100", 100},
        {"v=DMARC1; p=reject; pct=101", -1},
        {"v=DMARC1; p=reject; pct=-5", -1},
        {"v=DMARC1; p=reject; pct=5x", -1},
        {"v=DMARC1; p=reject; pct=0050", -1},
    }));
    CAPTURE(text);
    CHECK(parse_record(text).record.pct == pct);
}

TEST_CASE("malformed tag-specs are skipped, the rest of the record still counts") {
    const auto r = parse_record("v=DMARC1;; p=reject ; noequals; 9x=1; =v; sp = none ;").record;
    CHECK(r.state == PolicyState::valid);
    CHECK(r.p == "reject");
    CHECK(r.sp == "none");
    CHECK(has_note(r, "malformed tag"));
}

TEST_CASE("reporting URIs: schemes checked, bad entries dropped, the count bounded") {
    std::string out;
    CHECK(parse_report_uri("mailto:a@example.com", out));
    CHECK(out == "mailto:a@example.com");
    CHECK(parse_report_uri(" https://example.com/r ", out));
    CHECK(parse_report_uri("mailto:a@example.com!50k", out));
    CHECK(out == "mailto:a@example.com");
    CHECK_FALSE(parse_report_uri("a@example.com", out));
    CHECK_FALSE(parse_report_uri("mailto:", out));
    CHECK_FALSE(parse_report_uri("1mailto:a@example.com", out));
    CHECK_FALSE(parse_report_uri("mailto:a b@example.com", out));
    CHECK_FALSE(parse_report_uri("mailto:a@example.com!x", out));
    const auto r = parse_record("v=DMARC1; p=none; rua=mailto:a@example.com, bogus, mailto:b@example.com").record;
    CHECK(r.rua == std::vector<std::string>{"mailto:a@example.com", "mailto:b@example.com"});
    std::string many = "v=DMARC1; p=none; rua=";
    for (int i = 0; i < 100; ++i) many += (i ? "," : "") + std::string("mailto:r") + std::to_string(i) + "@example.com";
    CHECK(parse_record(many).record.rua.size() == max_report_uris);
}

TEST_CASE("absurd records stay bounded") {
    std::string big = "v=DMARC1; p=reject";
    for (int i = 0; i < 5000; ++i) big += "; x" + std::string(1, static_cast<char>('a' + i % 26)) + "=1";
    const auto r = parse_record(big).record;
    CHECK(r.p == "reject");
    CHECK(r.notes.size() <= max_record_tags + 3);
    const auto ctl = parse_record(std::string("v=DMARC1; p=reject; sp=no") + '\x01' + "ne").record;
    CHECK(ctl.state == PolicyState::unusable);  // the sp= value is unprintable: invalid, no rua=
}

TEST_CASE("ruf= URIs are also kept as published, with the legacy !size suffix (RFC 9991 reports honour it)") {
    const auto p = mailmoat::dmarc::parse_record("v=DMARC1; p=reject; ruf=mailto:f@example.com!20k, bad uri, mailto:g@example.net");
    REQUIRE(p.status == mailmoat::dmarc::RecordStatus::ok);
    CHECK(p.record.ruf == std::vector<std::string>{"mailto:f@example.com", "mailto:g@example.net"});
    CHECK(p.record.ruf_published == std::vector<std::string>{"mailto:f@example.com!20k", "mailto:g@example.net"});
}
