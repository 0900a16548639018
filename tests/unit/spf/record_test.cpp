// tests/unit/spf/record_test.cpp - SPF record parsing: version, terms, CIDR, domain-specs, modifiers.
#include <catch2/catch.hpp>

#include "common/spf/record.hpp"

using namespace mailmoat;
using spf::MechanismKind;
using spf::ParseStatus;
using spf::Qualifier;

TEST_CASE("version tag", "[spf][record]") {
    CHECK(spf::has_spf_version("v=spf1"));
    CHECK(spf::has_spf_version("V=SpF1 -all"));
    CHECK_FALSE(spf::has_spf_version("v=spf10"));
    CHECK_FALSE(spf::has_spf_version("v=spf1\t-all"));
    CHECK_FALSE(spf::has_spf_version(" v=spf1"));
    CHECK_FALSE(spf::has_spf_version("spf2.0/pra"));
    CHECK(spf::parse_record("v=spf2 -all").status == ParseStatus::not_spf);
}

TEST_CASE("a full record parses into mechanisms and modifiers", "[spf][record]") {
    const auto r = spf::parse_record(
        "v=spf1  +a -mx:mail.example.com/24//64 ~ip4:192.0.2.0/24 ?ip6:2001:db8::/32 ptr include:_spf.%{d} "
        "exists:%{ir}.bl.example.org A/30 MX//0 IP4:192.0.2.1 redirect=other.example.com exp=why.%{d} "
        "foo.bar=%{l}x -all ");
    REQUIRE(r.status == ParseStatus::ok);
    const auto& m = r.record.mechanisms;
    REQUIRE(m.size() == 11);
    CHECK((m[0].kind == MechanismKind::a && m[0].qualifier == Qualifier::pass && m[0].domain_spec.empty()));
    CHECK((m[1].kind == MechanismKind::mx && m[1].qualifier == Qualifier::fail));
    CHECK(m[1].domain_spec == "mail.example.com");
    CHECK((m[1].cidr4 == 24 && m[1].cidr6 == 64));
    CHECK((m[2].kind == MechanismKind::ip4 && m[2].qualifier == Qualifier::softfail && m[2].cidr4 == 24));
    CHECK(m[2].network.to_string() == "192.0.2.0");
    CHECK((m[3].kind == MechanismKind::ip6 && m[3].qualifier == Qualifier::neutral && m[3].cidr6 == 32));
    CHECK((m[4].kind == MechanismKind::ptr && m[4].domain_spec.empty()));
    CHECK((m[5].kind == MechanismKind::include && m[5].domain_spec == "_spf.%{d}"));
    CHECK((m[6].kind == MechanismKind::exists && m[6].domain_spec == "%{ir}.bl.example.org"));
    CHECK((m[7].kind == MechanismKind::a && m[7].cidr4 == 30 && m[7].cidr6 == 128));
    CHECK((m[8].kind == MechanismKind::mx && m[8].cidr4 == 32 && m[8].cidr6 == 0));
    CHECK((m[9].kind == MechanismKind::ip4 && m[9].cidr4 == 32));
    CHECK((m[10].kind == MechanismKind::all && m[10].text == "-all"));
    CHECK(r.record.redirect == "other.example.com");
    CHECK(r.record.exp == "why.%{d}");
    CHECK(m[3].needs_dns() == false);
    CHECK(m[5].needs_dns());
}

TEST_CASE("valid edge cases", "[spf][record]") {
    const auto good = GENERATE(as<std::string>{}, "v=spf1", "v=spf1 ", "v=spf1 ip4:0.0.0.0/0", "v=spf1 ip6:::/0",
                               "v=spf1 ip6:::ffff:192.0.2.1/128", "v=spf1 a:example.com.", "v=spf1 a:%{d}",
                               "v=spf1 a:foo.%{d}.", "v=spf1 exists:%{i}.x-1.example", "v=spf1 a:ex.1-2",
                               "v=spf1 unknown-mod=anything%%", "v=spf1 a:foo.example.com/0//0");
    const auto r = spf::parse_record(good);
    INFO(good << ": " << r.error);
    CHECK(r.status == ParseStatus::ok);
}

TEST_CASE("syntax errors are permerror material", "[spf][record]") {
    const auto bad = GENERATE(
        as<std::string>{}, "v=spf1 all:foo", "v=spf1 -", "v=spf1 include", "v=spf1 include:", "v=spf1 exists",
        "v=spf1 a:", "v=spf1 a:foo", "v=spf1 a:111.222.33.44", "v=spf1 a:example.-com", "v=spf1 a:example.com-",
        "v=spf1 a/33", "v=spf1 a//129", "v=spf1 a/024", "v=spf1 a/", "v=spf1 ip4:192.0.2.1/33", "v=spf1 ip4:192.0.2",
        "v=spf1 ip4:192.0.02.1", "v=spf1 ip4:", "v=spf1 ip6:192.0.2.1", "v=spf1 ip6::::1", "v=spf1 ip6:::1/129",
        "v=spf1 ip4:192.0.2.1/", "v=spf1 mx:example.com//", "v=spf1 redirect=a.com redirect=b.com",
        "v=spf1 exp=a.com exp=b.com", "v=spf1 redirect=", "v=spf1 exp=%{c}.example.com",
        "v=spf1 exists:%(ir).sbl.example.com", "v=spf1 exists:foo%.sbl.example.com", "v=spf1 a:\xc3\xaf.example.net",
        "v=spf1 a:ctrl.example.com\rptr", "v=spf1 foo", "v=spf1 -redirect=a.example.com", "v=spf1 bad-mod=%",
        "v=spf1 =foo", "v=spf1 +-all", "v=spf1 a:%{d}com");
    const auto r = spf::parse_record(bad);
    INFO(bad);
    CHECK(r.status == ParseStatus::syntax_error);
    CHECK_FALSE(r.error.empty());
    CHECK(r.record.mechanisms.empty());
}

TEST_CASE("record bounds", "[spf][record]") {
    std::string many = "v=spf1";
    for (int i = 0; i < 500; ++i) many += " ip4:192.0.2." + std::to_string(i % 250);
    const auto r = spf::parse_record(many);
    REQUIRE(r.status == ParseStatus::ok);
    CHECK(r.record.mechanisms.size() == 500);
    std::string huge = "v=spf1";
    while (huge.size() <= spf::max_record_length) huge += " ?all";
    CHECK(spf::parse_record(huge).status == ParseStatus::syntax_error);
    std::string terms = "v=spf1";
    for (std::size_t i = 0; i <= spf::max_record_terms; ++i) terms += " a";
    CHECK(spf::parse_record(terms).status == ParseStatus::syntax_error);
}

TEST_CASE("domain-spec validation", "[spf][record]") {
    CHECK(spf::valid_domain_spec("example.com"));
    CHECK(spf::valid_domain_spec("%{d}"));
    CHECK(spf::valid_domain_spec("%{ir}.%{v}._spf.%{d2}"));
    CHECK(spf::valid_domain_spec("x.%%"));
    std::string why;
    CHECK_FALSE(spf::valid_domain_spec("museum", &why));
    CHECK_FALSE(why.empty());
    CHECK_FALSE(spf::valid_domain_spec(""));
    CHECK_FALSE(spf::valid_domain_spec("."));
    CHECK_FALSE(spf::valid_domain_spec("example.123"));
}

TEST_CASE("random mutations of records never break the parser", "[spf][record]") {
    // Deterministic pseudo-random edits of real-world-like records; under the sanitizer build this
    // doubles as a small fuzz run. Every outcome must be one of the three states with its invariants.
    const std::vector<std::string> seeds = {
        "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx:mail.example.com/24//64 include:_spf.google.com ~all",
        "v=spf1 exists:%{ir}.%{l1r-}.lp._spf.%{d2} redirect=_spf.%{o} exp=explain.%{d}",
        "v=spf1 -ptr:%{p}.example.org ?a:%{h} unknown=%{c}%%%_%- -all",
    };
    std::uint32_t state = 12345;
    const auto next = [&state] {
        state = state * 1103515245U + 12345U;
        return (state >> 8) & 0xffffU;
    };
    static constexpr char alphabet[] = "v=spf1 %{}/:.-+~?alxmpi46rdsoch0123456789_,\x01\xff";
    unsigned ok = 0;
    for (int round = 0; round < 20000; ++round) {
        std::string rec = seeds[next() % seeds.size()];
        const int edits = 1 + static_cast<int>(next() % 4);
        for (int e = 0; e < edits && !rec.empty(); ++e) {
            const std::size_t pos = next() % rec.size();
            const char c = alphabet[next() % (sizeof alphabet - 1)];
            switch (next() % 3) {
                case 0:
                    rec[pos] = c;
                    break;
                case 1:
                    rec.insert(rec.begin() + static_cast<std::ptrdiff_t>(pos), c);
                    break;
                default:
                    rec.erase(pos, 1);
                    break;
            }
        }
        const auto r = spf::parse_record(rec);
        if (r.status == ParseStatus::ok) {
            ++ok;
            for (const auto& m : r.record.mechanisms) {
                REQUIRE(m.cidr4 <= 32);
                REQUIRE(m.cidr6 <= 128);
                REQUIRE(!m.text.empty());
            }
        } else if (r.status == ParseStatus::syntax_error) {
            REQUIRE(!r.error.empty());
            REQUIRE(r.record.mechanisms.empty());
        } else {
            REQUIRE(!spf::has_spf_version(rec));
        }
    }
    CHECK(ok > 0);  // the mutations keep some records valid, so both paths are exercised
}
