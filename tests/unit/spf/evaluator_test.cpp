// tests/unit/spf/evaluator_test.cpp - check_host(): limits, loops, budget, identities, exp=, CIDR.
#include <catch2/catch.hpp>

#include "common/spf/evaluator.hpp"
#include "suite_zone.hpp"

using namespace mailmoat;
using spf::Code;
using spf::test::FixedClock;
using spf::test::ZoneResolver;

namespace {

void txt(ZoneResolver& z, const std::string& name, const std::string& record) {
    z.add(name, {"TXT", {record}});
}
void a(ZoneResolver& z, const std::string& name, const std::string& addr) {
    z.add(name, {addr.find(':') != std::string::npos ? "AAAA" : "A", {addr}});
}
util::IpAddress ip(const char* s) {
    return *util::IpAddress::parse(s);
}

struct Fixture {
    ZoneResolver zone;
    FixedClock clock;
    spf::Options opt;
    spf::Result mail_from(const char* client, const char* sender, const char* helo = "mx.example.net") {
        spf::Evaluator ev(zone, clock, opt);
        return ev.check_mail_from(ip(client), sender, helo);
    }
};

}  // namespace

TEST_CASE("basic results and the matching mechanism", "[spf][evaluator]") {
    Fixture f;
    txt(f.zone, "example.com", "v=spf1 ip4:192.0.2.0/24 ~ip6:2001:db8::/32 -all");
    auto r = f.mail_from("192.0.2.9", "user@example.com");
    CHECK(r.code == Code::pass);
    CHECK(r.mechanism == "ip4:192.0.2.0/24");
    CHECK(r.domain == "example.com");
    r = f.mail_from("2001:db8::1", "user@example.com");
    CHECK(r.code == Code::softfail);
    r = f.mail_from("198.51.100.1", "user@example.com");
    CHECK(r.code == Code::fail);
    CHECK(r.mechanism == "-all");
    CHECK(r.queries == 1);
    CHECK(r.ttl == 3600);
    CHECK(f.mail_from("198.51.100.1", "user@nothing.example").code == Code::none);
    txt(f.zone, "neutral.example", "v=spf1 ip4:192.0.2.1");
    r = f.mail_from("198.51.100.1", "user@neutral.example");
    CHECK(r.code == Code::neutral);
    CHECK(r.mechanism == "default");
}

TEST_CASE("IPv4-mapped IPv6 clients are evaluated as IPv4", "[spf][evaluator]") {
    Fixture f;
    txt(f.zone, "example.com", "v=spf1 a ip6:::ffff:0:0/96 -all");
    a(f.zone, "example.com", "192.0.2.10");
    const auto r = f.mail_from("::ffff:192.0.2.10", "u@example.com");
    CHECK(r.code == Code::pass);
    CHECK(r.mechanism == "a");
    CHECK(f.mail_from("::ffff:192.0.2.11", "u@example.com").code == Code::fail);
}

TEST_CASE("a and mx with dual CIDR lengths for both families", "[spf][evaluator]") {
    Fixture f;
    txt(f.zone, "example.com", "v=spf1 a:host.example.com/24//64 mx/28//48 -all");
    a(f.zone, "host.example.com", "192.0.2.1");
    a(f.zone, "host.example.com", "2001:db8:1:2::1");
    f.zone.add("example.com", {"MX", {"10", "mx.example.com"}});
    a(f.zone, "mx.example.com", "198.51.100.1");
    a(f.zone, "mx.example.com", "2001:db8:9::1");
    CHECK(f.mail_from("192.0.2.200", "u@example.com").mechanism == "a:host.example.com/24//64");
    CHECK(f.mail_from("2001:db8:1:2:ffff::1", "u@example.com").code == Code::pass);
    CHECK(f.mail_from("2001:db8:1:3::1", "u@example.com").code == Code::fail);
    CHECK(f.mail_from("198.51.100.15", "u@example.com").mechanism == "mx/28//48");
    CHECK(f.mail_from("198.51.100.16", "u@example.com").code == Code::fail);
    CHECK(f.mail_from("2001:db8:9:ffff::1", "u@example.com").mechanism == "mx/28//48");
}

TEST_CASE("identities: null sender uses the HELO name, HELO check", "[spf][evaluator]") {
    Fixture f;
    txt(f.zone, "mx.example.net", "v=spf1 a -all");
    a(f.zone, "mx.example.net", "192.0.2.5");
    f.opt.default_explanation = "%{s} %{l}";
    auto r = f.mail_from("192.0.2.6", "");
    CHECK(r.code == Code::fail);
    CHECK(r.domain == "mx.example.net");
    CHECK(r.explanation == "postmaster@mx.example.net postmaster");
    spf::Evaluator ev(f.zone, f.clock, f.opt);
    r = ev.check_helo(ip("192.0.2.5"), "mx.example.net");
    CHECK(r.code == Code::pass);
    CHECK(r.identity == spf::Identity::helo);
    CHECK(ev.check_helo(ip("192.0.2.5"), "[192.0.2.5]").code == Code::none);
    CHECK(ev.check_helo(ip("192.0.2.5"), "localhost").code == Code::none);
    // No "@": the whole sender is the domain, local-part postmaster.
    CHECK(f.mail_from("192.0.2.5", "mx.example.net").code == Code::pass);
}

TEST_CASE("the 10 DNS-term limit counts across include and redirect", "[spf][evaluator]") {
    Fixture f;
    // A chain of includes: each level costs one term; level n includes level n+1.
    for (int i = 0; i < 12; ++i) {
        txt(f.zone, "l" + std::to_string(i) + ".example", "v=spf1 include:l" + std::to_string(i + 1) + ".example");
    }
    txt(f.zone, "l12.example", "v=spf1 +all");
    // Starting at l2: 10 includes (l2..l11) reach l12: pass at the limit.
    CHECK(f.mail_from("192.0.2.1", "u@l2.example").code == Code::pass);
    const auto r = f.mail_from("192.0.2.1", "u@l1.example");
    CHECK(r.code == Code::permerror);
    CHECK(r.dns_terms == 11);
    // Redirect counts too.
    txt(f.zone, "r.example", "v=spf1 a a a a a a a a a redirect=l11.example");
    a(f.zone, "r.example", "198.51.100.1");
    CHECK(f.mail_from("192.0.2.1", "u@r.example").code == Code::permerror);
    // Non-DNS terms do not count.
    std::string many = "v=spf1";
    for (int i = 0; i < 40; ++i) many += " ip4:198.51.100." + std::to_string(i);
    txt(f.zone, "many.example", many + " a a a a a a a a a a +all");
    a(f.zone, "many.example", "198.51.100.200");
    CHECK(f.mail_from("192.0.2.1", "u@many.example").code == Code::pass);
}

TEST_CASE("include and redirect loops end in permerror", "[spf][evaluator]") {
    Fixture f;
    txt(f.zone, "loop.example", "v=spf1 include:loop2.example -all");
    txt(f.zone, "loop2.example", "v=spf1 include:loop.example -all");
    auto r = f.mail_from("192.0.2.1", "u@loop.example");
    CHECK(r.code == Code::permerror);
    CHECK(r.queries <= 12);
    txt(f.zone, "rloop.example", "v=spf1 redirect=rloop.example");
    r = f.mail_from("192.0.2.1", "u@rloop.example");
    CHECK(r.code == Code::permerror);
    txt(f.zone, "self.example", "v=spf1 include:%{d} -all");
    CHECK(f.mail_from("192.0.2.1", "u@self.example").code == Code::permerror);
}

TEST_CASE("include result mapping (§5.2)", "[spf][evaluator]") {
    Fixture f;
    txt(f.zone, "pass.example", "v=spf1 +all");
    txt(f.zone, "fail.example", "v=spf1 -all");
    txt(f.zone, "soft.example", "v=spf1 ~all");
    txt(f.zone, "neutral.example", "v=spf1 ?all");
    txt(f.zone, "perm.example", "v=spf1 foo");
    f.zone.add("temp.example", {"TIMEOUT", {}});
    const auto check = [&](const std::string& target, Code want) {
        ZoneResolver& z = f.zone;
        z.zone.erase("inc.example");
        txt(z, "inc.example", "v=spf1 -include:" + target + " ?all");
        INFO(target);
        CHECK(f.mail_from("192.0.2.1", "u@inc.example").code == want);
    };
    check("pass.example", Code::fail);  // pass matches; the qualifier decides
    check("fail.example", Code::neutral);
    check("soft.example", Code::neutral);
    check("neutral.example", Code::neutral);
    check("perm.example", Code::permerror);
    check("temp.example", Code::temperror);
    check("none.example", Code::permerror);
}

TEST_CASE("void lookup limit", "[spf][evaluator]") {
    Fixture f;
    txt(f.zone, "void.example", "v=spf1 a:n1.example mx:n2.example exists:n3.example +all");
    auto r = f.mail_from("192.0.2.1", "u@void.example");
    CHECK(r.code == Code::permerror);
    CHECK(r.void_lookups == 3);
    txt(f.zone, "void2.example", "v=spf1 a:n1.example exists:n3.example +all");
    CHECK(f.mail_from("192.0.2.1", "u@void2.example").code == Code::pass);
}

TEST_CASE("MX and PTR per-lookup limits", "[spf][evaluator]") {
    Fixture f;
    txt(f.zone, "mx11.example", "v=spf1 mx -all");
    txt(f.zone, "mx10.example", "v=spf1 mx -all");
    for (int i = 0; i < 11; ++i) {
        const auto host = "h" + std::to_string(i) + ".example";
        f.zone.add("mx11.example", {"MX", {std::to_string(i), host}});
        if (i < 10) f.zone.add("mx10.example", {"MX", {std::to_string(i), host}});
        a(f.zone, host, "198.51.100." + std::to_string(i));
    }
    CHECK(f.mail_from("198.51.100.0", "u@mx11.example").code == Code::permerror);
    CHECK(f.mail_from("198.51.100.9", "u@mx10.example").code == Code::pass);
    // Eleven PTR names: only the first ten are tried, so a match on the eleventh is ignored.
    txt(f.zone, "ptr.example", "v=spf1 ptr -all");
    for (int i = 0; i < 11; ++i) {
        const auto host = "p" + std::to_string(i) + ".ptr.example";
        f.zone.add("1.2.0.192.in-addr.arpa", {"PTR", {host}});
        if (i == 10) a(f.zone, host, "192.0.2.1");
    }
    CHECK(f.mail_from("192.0.2.1", "u@ptr.example").code == Code::fail);
    a(f.zone, "p3.ptr.example", "192.0.2.1");
    CHECK(f.mail_from("192.0.2.1", "u@ptr.example").code == Code::pass);
}

TEST_CASE("temperror versus permerror", "[spf][evaluator]") {
    Fixture f;
    f.zone.add("timeout.example", {"TIMEOUT", {}});
    CHECK(f.mail_from("192.0.2.1", "u@timeout.example").code == Code::temperror);
    txt(f.zone, "two.example", "v=spf1 -all");
    txt(f.zone, "two.example", "v=spf1 +all");
    CHECK(f.mail_from("192.0.2.1", "u@two.example").code == Code::permerror);
    txt(f.zone, "a-timeout.example", "v=spf1 a:timeout.example -all");
    CHECK(f.mail_from("192.0.2.1", "u@a-timeout.example").code == Code::temperror);
    // ptr never turns DNS errors into temperror (§5.5).
    txt(f.zone, "ptr-timeout.example", "v=spf1 ptr -all");
    f.zone.add("1.2.0.192.in-addr.arpa", {"TIMEOUT", {}});
    CHECK(f.mail_from("192.0.2.1", "u@ptr-timeout.example").code == Code::fail);
    // A syntax error anywhere is a permerror even after a would-be match.
    txt(f.zone, "late.example", "v=spf1 +all ip4:1.2.3.4/99");
    CHECK(f.mail_from("192.0.2.1", "u@late.example").code == Code::permerror);
    // Redirect to a domain without a record.
    txt(f.zone, "redir.example", "v=spf1 redirect=nowhere.example");
    CHECK(f.mail_from("192.0.2.1", "u@redir.example").code == Code::permerror);
}

TEST_CASE("exp= explanations, failures ignored", "[spf][evaluator]") {
    Fixture f;
    f.opt.default_explanation = "default for %{d}";
    txt(f.zone, "e.example", "v=spf1 -all exp=why.%{d}");
    txt(f.zone, "why.e.example", "%{c} may not send for %{o} (%{v})");
    auto r = f.mail_from("192.0.2.1", "u@e.example");
    CHECK(r.code == Code::fail);
    CHECK(r.explanation == "192.0.2.1 may not send for e.example (in-addr)");
    txt(f.zone, "bad.example", "v=spf1 -all exp=why.bad.example");
    txt(f.zone, "why.bad.example", "bad %{x} macro");
    CHECK(f.mail_from("192.0.2.1", "u@bad.example").explanation == "default for bad.example");
    txt(f.zone, "to.example", "v=spf1 -all exp=timeout.example");
    f.zone.add("timeout.example", {"TIMEOUT", {}});
    r = f.mail_from("192.0.2.1", "u@to.example");
    CHECK(r.code == Code::fail);
    CHECK(r.explanation == "default for to.example");
    // Only fail gets an explanation.
    txt(f.zone, "soft.example", "v=spf1 ~all exp=why.e.example");
    CHECK(f.mail_from("192.0.2.1", "u@soft.example").explanation.empty());
    // Through redirect the target's exp= is used; through include the includer's.
    txt(f.zone, "via-redirect.example", "v=spf1 redirect=e.example exp=other.example");
    CHECK(f.mail_from("192.0.2.1", "u@via-redirect.example").explanation ==
          "192.0.2.1 may not send for via-redirect.example (in-addr)");
}

TEST_CASE("time budget: temperror between lookups", "[spf][evaluator]") {
    Fixture f;
    std::string rec = "v=spf1";
    for (int i = 0; i < 9; ++i) rec += " a:h" + std::to_string(i) + ".example";
    txt(f.zone, "slow.example", rec + " -all");
    for (int i = 0; i < 9; ++i) a(f.zone, "h" + std::to_string(i) + ".example", "198.51.100.1");
    f.opt.time_budget = std::chrono::milliseconds(450);
    f.clock.step_per_call = std::chrono::milliseconds(100);  // every lookup "takes" 100 ms
    const auto r = f.mail_from("192.0.2.1", "u@slow.example");
    CHECK(r.code == Code::temperror);
    CHECK(r.problem == "time budget spent");
    CHECK(r.queries < 6);
    f.clock.step_per_call = std::chrono::milliseconds(0);
    CHECK(f.mail_from("192.0.2.1", "u@slow.example").code == Code::fail);
}

TEST_CASE("hostile records stay bounded", "[spf][evaluator]") {
    Fixture f;
    // A macro bomb: the expansion is refused (permerror), no query for a giant name.
    std::string bomb = "v=spf1 exists:";
    for (int i = 0; i < 150; ++i) bomb += "%{S}";
    txt(f.zone, "bomb.example", bomb + ".example -all");
    const std::string sender = std::string(60, 'x') + "@bomb.example";
    auto r = f.mail_from("192.0.2.1", sender.c_str());
    CHECK(r.code == Code::permerror);
    CHECK(r.queries == 1);
    // Long expansions within the bound are truncated to 253 octets (§7.3) and looked up.
    txt(f.zone, "long.example", "v=spf1 exists:%{l}.%{l}.%{l}.%{l}.%{l}.%{l}.example -all");
    const std::string local = std::string(60, 'y') + "@long.example";
    r = f.mail_from("192.0.2.1", local.c_str());
    CHECK(r.code == Code::fail);
    CHECK(r.void_lookups == 1);
    // 500 mechanisms: evaluated, correct result.
    std::string many = "v=spf1";
    for (int i = 0; i < 500; ++i) many += " ip4:10." + std::to_string(i / 250) + "." + std::to_string(i % 250) + ".1";
    txt(f.zone, "many.example", many + " ip4:192.0.2.1 -all");
    CHECK(f.mail_from("192.0.2.1", "u@many.example").code == Code::pass);
    // Records split over many strings are joined without spaces.
    f.zone.add("split.example", {"TXT", {"v=spf1 ip4:19", "2.0.2.1", " -all"}});
    CHECK(f.mail_from("192.0.2.1", "u@split.example").code == Code::pass);
}

TEST_CASE("mapped addresses built from bytes are normalised too", "[spf][evaluator]") {
    Fixture f;
    txt(f.zone, "example.com", "v=spf1 ip4:192.0.2.0/24 -all");
    const std::uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7};
    spf::Evaluator ev(f.zone, f.clock, f.opt);
    const auto r = ev.check_mail_from(util::IpAddress::from_bytes(mapped, false), "u@example.com", "h.example");
    CHECK(r.code == Code::pass);
}

TEST_CASE("sender-specific results are flagged", "[spf][evaluator]") {
    Fixture f;
    txt(f.zone, "plain.example", "v=spf1 exists:%{i}.%{d} -all");
    txt(f.zone, "user.example", "v=spf1 exists:%{l}.%{d} -all");
    CHECK_FALSE(f.mail_from("192.0.2.1", "u@plain.example").sender_specific);
    CHECK(f.mail_from("192.0.2.1", "u@user.example").sender_specific);
}

TEST_CASE("split_sender follows §4.3", "[spf][evaluator]") {
    auto p = spf::split_sender("", "helo.example.");
    CHECK((p.local_part == "postmaster" && p.domain == "helo.example"));
    p = spf::split_sender("@example.com", "h");
    CHECK((p.local_part == "postmaster" && p.domain == "example.com"));
    p = spf::split_sender("a@b@example.com", "h");
    CHECK((p.local_part == "a@b" && p.domain == "example.com"));
    p = spf::split_sender("example.org", "h");
    CHECK((p.local_part == "postmaster" && p.domain == "example.org"));
}

TEST_CASE("the query cap does not bind within the RFC limits", "[spf][evaluator]") {
    Fixture f;
    // Ten mx terms with ten MX names each: 1 + 10 * 11 queries, no match: neutral, not an error.
    std::string rec = "v=spf1";
    for (int t = 0; t < 10; ++t) {
        const auto d = "d" + std::to_string(t) + ".example";
        rec += " mx:" + d;
        for (int i = 0; i < 10; ++i) {
            const auto host = "h" + std::to_string(i) + "." + d;
            f.zone.add(d, {"MX", {std::to_string(i), host}});
            a(f.zone, host, "198.51.100." + std::to_string(t * 10 + i));
        }
    }
    txt(f.zone, "wide.example", rec);
    const auto r = f.mail_from("192.0.2.1", "u@wide.example");
    CHECK(r.code == Code::neutral);
    CHECK(r.queries == 111);
    CHECK(f.mail_from("198.51.100.99", "u@wide.example").code == Code::pass);
    f.opt.max_queries = 50;
    CHECK(f.mail_from("192.0.2.1", "u@wide.example").code == Code::permerror);
}
