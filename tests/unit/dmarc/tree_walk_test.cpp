// tests/unit/dmarc/tree_walk_test.cpp - RFC 9989 §4.10 DNS tree walk, §4.10.1 policy discovery and
// §4.10.2 organisational domains, against FakeResolver zones; query counts asserted.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "common/dmarc/evaluator.hpp"
#include "fakes/fake_resolver.hpp"

using namespace mailmoat;
using dmarc::Result;
using test::FakeResolver;

namespace {

std::vector<std::string> names(const dmarc::PolicyLookup& l) {
    std::vector<std::string> out;
    for (const auto& t : l.trace) out.push_back(t.name);
    return out;
}

const dmarc::Options treewalk{};

}  // namespace

TEST_CASE("§4.10.1 a record at the author domain is its policy (p=)") {
    FakeResolver dns(R"(
_dmarc.example.com TXT "v=DMARC1; p=reject; sp=none"
)");
    const auto l = dmarc::discover("example.com", dns, treewalk);
    CHECK(l.status == Result::pass);
    CHECK(l.policy.domain == "example.com");
    CHECK(l.applied_policy == "p");
    CHECK(l.effective_policy == "reject");
    CHECK(l.organizational_domain == "example.com");
    CHECK(l.policy.discovery_method == "treewalk");
    CHECK(names(l) == std::vector<std::string>{"_dmarc.example.com", "_dmarc.com"});
    CHECK(l.trace[0].outcome == "record");
    CHECK(l.trace[0].record == "v=DMARC1; p=reject; sp=none");
    CHECK(l.trace[1].outcome == "nxdomain");
}

TEST_CASE("§4.10.1 a subdomain without a record gets the organisational domain's sp=") {
    FakeResolver dns(R"(
_dmarc.example.com TXT "v=DMARC1; p=reject; sp=quarantine"
mail.example.com A 192.0.2.1
)");
    const auto l = dmarc::discover("a.mail.example.com", dns, treewalk);
    CHECK(l.status == Result::pass);
    CHECK(l.policy.domain == "example.com");
    CHECK(l.organizational_domain == "example.com");
    CHECK(l.applied_policy == "sp");
    CHECK(l.effective_policy == "quarantine");
    CHECK(names(l) == std::vector<std::string>{"_dmarc.a.mail.example.com", "_dmarc.mail.example.com",
                                               "_dmarc.example.com", "_dmarc.com"});
}

TEST_CASE("§4.10.1 without sp= the p= applies to subdomains") {
    FakeResolver dns(R"(_dmarc.example.com TXT "v=DMARC1; p=quarantine")");
    const auto l = dmarc::discover("x.example.com", dns, treewalk);
    CHECK(l.applied_policy == "p");
    CHECK(l.effective_policy == "quarantine");
}

TEST_CASE("§4.10.2 a policy at an intermediate label") {
    SECTION("only the intermediate label has a record: it is the organisational domain and the policy") {
        FakeResolver dns(R"(_dmarc.mail.example.com TXT "v=DMARC1; p=reject; sp=quarantine")");
        const auto l = dmarc::discover("a.b.mail.example.com", dns, treewalk);
        CHECK(l.status == Result::pass);
        CHECK(l.organizational_domain == "mail.example.com");
        CHECK(l.policy.domain == "mail.example.com");
        CHECK(l.effective_policy == "quarantine");
        CHECK(dns.total_queries() == 5);
    }
    SECTION("the intermediate record and one above it: the one with fewest labels is the org domain") {
        FakeResolver dns(R"(
_dmarc.mail.example.com TXT "v=DMARC1; p=none"
_dmarc.example.com TXT "v=DMARC1; p=reject; sp=reject"
)");
        const auto l = dmarc::discover("a.mail.example.com", dns, treewalk);
        CHECK(l.organizational_domain == "example.com");
        CHECK(l.policy.domain == "example.com");  // §4.10.1: author, org domain or PSD - nothing between
        CHECK(l.effective_policy == "reject");
    }
    SECTION("psd=n at the intermediate label makes it the org domain and stops the walk") {
        FakeResolver dns(R"(
_dmarc.mail.example.com TXT "v=DMARC1; p=quarantine; psd=n"
_dmarc.example.com TXT "v=DMARC1; p=reject"
)");
        const auto l = dmarc::discover("a.mail.example.com", dns, treewalk);
        CHECK(l.organizational_domain == "mail.example.com");
        CHECK(l.policy.domain == "mail.example.com");
        CHECK(l.effective_policy == "quarantine");
        CHECK(names(l) == std::vector<std::string>{"_dmarc.a.mail.example.com", "_dmarc.mail.example.com"});
        CHECK(dns.queries("_dmarc.example.com") == 0);
    }
}

TEST_CASE("§4.10.2 psd=y: the organisational domain is one label below the PSD") {
    SECTION("RFC example: giant.bank.example with its own record, bank.example psd=y") {
        FakeResolver dns(R"(
_dmarc.giant.bank.example TXT "v=DMARC1; p=quarantine"
_dmarc.bank.example TXT "v=DMARC1; p=reject; psd=y"
)");
        const auto l = dmarc::discover("giant.bank.example", dns, treewalk);
        CHECK(l.organizational_domain == "giant.bank.example");
        CHECK(l.policy.domain == "giant.bank.example");
        CHECK(l.effective_policy == "quarantine");
        CHECK(dns.queries("_dmarc.example") == 0);  // the walk stopped at psd=y
    }
    SECTION("no record below the PSD: the PSD's record applies (sp/np), org domain one below it") {
        FakeResolver dns(R"(
_dmarc.bank.example TXT "v=DMARC1; p=reject; sp=quarantine; psd=y"
mega.bank.example A 192.0.2.3
)");
        const auto l = dmarc::discover("mail.mega.bank.example", dns, treewalk);
        CHECK(l.status == Result::pass);
        CHECK(l.organizational_domain == "mega.bank.example");
        CHECK(l.policy.domain == "bank.example");
        CHECK(l.policy.psd == "y");
        CHECK(l.applied_policy == "sp");
        CHECK(l.effective_policy == "quarantine");
    }
    SECTION("psd=y at the start of the walk: the domain is its own organisational domain") {
        FakeResolver dns(R"(_dmarc.bank.example TXT "v=DMARC1; p=reject; psd=y")");
        const auto l = dmarc::discover("bank.example", dns, treewalk);
        CHECK(l.organizational_domain == "bank.example");
        CHECK(l.applied_policy == "p");
        CHECK(dns.queries("_dmarc.example") == 0);
    }
    SECTION("an org domain with its own record is not overridden by the PSD (§4.10.1 note)") {
        FakeResolver dns(R"(
_dmarc.giant.bank.example TXT "v=DMARC1; p=none; sp=none"
_dmarc.bank.example TXT "v=DMARC1; p=reject; psd=y"
)");
        const auto l = dmarc::discover("www.giant.bank.example", dns, treewalk);
        CHECK(l.policy.domain == "giant.bank.example");
        CHECK(l.effective_policy == "none");
    }
}

TEST_CASE("§4.10 names with 8 or more labels jump to 7 labels: at most 8 queries") {
    FakeResolver dns(R"(_dmarc.example.com TXT "v=DMARC1; p=reject")");
    const auto l = dmarc::discover("a.b.c.d.e.f.g.h.i.j.mail.example.com", dns, treewalk);
    CHECK(names(l) == std::vector<std::string>{
                          "_dmarc.a.b.c.d.e.f.g.h.i.j.mail.example.com", "_dmarc.g.h.i.j.mail.example.com",
                          "_dmarc.h.i.j.mail.example.com", "_dmarc.i.j.mail.example.com",
                          "_dmarc.j.mail.example.com", "_dmarc.mail.example.com", "_dmarc.example.com",
                          "_dmarc.com"});
    CHECK(dns.total_queries() == 8);
    CHECK(l.organizational_domain == "example.com");
    CHECK(l.effective_policy == "reject");

    // Exactly 8 labels also jumps (x >= 8); 7 labels walks one by one: 7 queries.
    FakeResolver eight(R"(_dmarc.example.com TXT "v=DMARC1; p=none")");
    const auto l8 = dmarc::discover("a.b.c.d.e.f.example.com", eight, treewalk);
    CHECK(l8.trace.size() == 8);
    CHECK(l8.trace[1].name == "_dmarc.b.c.d.e.f.example.com");
    FakeResolver seven(R"(_dmarc.example.com TXT "v=DMARC1; p=none")");
    const auto l7 = dmarc::discover("b.c.d.e.f.example.com", seven, treewalk);
    CHECK(l7.trace.size() == 7);

    // RFC 9989 §5.1.8: a psd=n record skipped over by the jump is never seen.
    FakeResolver skipped(R"(
_dmarc.b.c.d.e.f.g.example.com TXT "v=DMARC1; p=none; psd=n"
_dmarc.example.com TXT "v=DMARC1; p=reject"
)");
    const auto ls = dmarc::discover("mail.a.b.c.d.e.f.g.example.com", skipped, treewalk);
    CHECK(skipped.queries("_dmarc.b.c.d.e.f.g.example.com") == 0);
    CHECK(ls.organizational_domain == "example.com");
    CHECK(ls.effective_policy == "reject");
}

TEST_CASE("§4.10 step 2: non-DMARC TXT records are discarded; several DMARC records at one name too") {
    FakeResolver dns(R"(
_dmarc.sub.example.com TXT "v=DMARC1; p=none"
_dmarc.sub.example.com TXT "v=DMARC1; p=reject"
_dmarc.example.com TXT "v=spf1 -all"
_dmarc.example.com TXT "v=DMARC1; p=quarantine"
_dmarc.example.com TXT "some verification token"
)");
    const auto l = dmarc::discover("sub.example.com", dns, treewalk);
    CHECK(l.trace[0].outcome == "multiple");
    CHECK(l.status == Result::pass);
    CHECK(l.policy.domain == "example.com");
    CHECK(l.effective_policy == "quarantine");

    FakeResolver only_multiple(R"(
_dmarc.example.org TXT "v=DMARC1; p=none"
_dmarc.example.org TXT "v=DMARC1; p=reject"
)");
    const auto m = dmarc::discover("example.org", only_multiple, treewalk);
    CHECK(m.status == Result::none);
    CHECK_FALSE(m.notes.empty());
}

TEST_CASE("§4.10.1 np= applies to a non-existent author domain, sp= to an existing one") {
    FakeResolver dns(R"(
_dmarc.example.com TXT "v=DMARC1; p=none; sp=quarantine; np=reject"
exists.example.com MX 10 mx.example.com
)");
    const auto gone = dmarc::discover("nosuch.example.com", dns, treewalk);
    CHECK(gone.applied_policy == "np");
    CHECK(gone.effective_policy == "reject");
    CHECK(dns.queries("nosuch.example.com", dns::RrType::a) == 1);

    dns.reset_counts();
    const auto there = dmarc::discover("exists.example.com", dns, treewalk);
    CHECK(there.applied_policy == "sp");
    CHECK(there.effective_policy == "quarantine");

    // NODATA at _dmarc.<author> proves the author exists: no existence query.
    FakeResolver nodata(R"(
_dmarc.example.com TXT "v=DMARC1; p=none; np=reject"
_dmarc.sub.example.com TXT "not dmarc"
)");
    const auto sub = dmarc::discover("sub.example.com", nodata, treewalk);
    CHECK(sub.applied_policy == "p");
    CHECK(nodata.queries("sub.example.com", dns::RrType::a) == 0);

    // np= without sp=: existing subdomains get p=.
    FakeResolver nosp(R"(
_dmarc.example.net TXT "v=DMARC1; p=quarantine; np=reject"
www.example.net A 192.0.2.9
)");
    CHECK(dmarc::discover("www.example.net", nosp, treewalk).effective_policy == "quarantine");
    CHECK(dmarc::discover("gone.example.net", nosp, treewalk).effective_policy == "reject");
}

TEST_CASE("§4.10.1 DNS failures are temperror, absence is none") {
    FakeResolver dns(R"(
_dmarc.example.com TXT "v=DMARC1; p=reject"
_dmarc.broken.example TEMPFAIL timeout
_dmarc.example.net TEMPFAIL SERVFAIL
)");
    CHECK(dmarc::discover("broken.example", dns, treewalk).status == Result::temperror);
    // A tempfail higher up the walk leaves the policy undetermined when the author has none.
    CHECK(dmarc::discover("a.example.net", dns, treewalk).status == Result::temperror);
    CHECK(dmarc::discover("nothing.example.org", dns, treewalk).status == Result::none);
    const auto l = dmarc::discover("example.net", dns, treewalk);
    CHECK(l.status == Result::temperror);
    CHECK(l.trace.back().outcome.find("tempfail") == 0);
}

TEST_CASE("§4.10.1 an invalid record: p=none with rua=, permerror without") {
    FakeResolver dns(R"(
_dmarc.rua.example TXT "v=DMARC1; p=bogus; rua=mailto:d@rua.example"
_dmarc.norua.example TXT "v=DMARC1; p=bogus"
)");
    const auto a = dmarc::discover("rua.example", dns, treewalk);
    CHECK(a.status == Result::pass);
    CHECK(a.effective_policy == "none");
    const auto b = dmarc::discover("norua.example", dns, treewalk);
    CHECK(b.status == Result::permerror);
    CHECK(b.trace[0].outcome.rfind("invalid:", 0) == 0);
}

TEST_CASE("invalid author domains are permerror without DNS") {
    FakeResolver dns;
    for (const char* bad : {"", ".", "a..b", "[192.0.2.1]", "exa mple.com", "x;y.com"}) {
        CAPTURE(bad);
        CHECK(dmarc::discover(bad, dns, treewalk).status == Result::permerror);
    }
    CHECK(dns.total_queries() == 0);
    // Case and a trailing dot are normalised.
    FakeResolver ok(R"(_dmarc.example.com TXT "v=DMARC1; p=reject")");
    CHECK(dmarc::discover("EXAMPLE.com.", ok, treewalk).policy.domain == "example.com");
}

TEST_CASE("§4.10.2 separate walk per identifier") {
    FakeResolver dns(R"(
_dmarc.example.com TXT "v=DMARC1; p=reject"
_dmarc.signing.example.com TXT "v=DMARC1; p=none"
_dmarc.dept.example.org TXT "v=DMARC1; p=none; psd=n"
_dmarc.example.org TXT "v=DMARC1; p=reject"
_dmarc.bank.example TXT "v=DMARC1; p=reject; psd=y"
)");
    auto org = [&](const char* d) { return dmarc::organizational_domain(d, dns, treewalk).domain; };
    CHECK(org("signing.example.com") == "example.com");
    CHECK(org("a.b.signing.example.com") == "example.com");
    CHECK(org("x.dept.example.org") == "dept.example.org");
    CHECK(org("mail.mega.bank.example") == "mega.bank.example");
    CHECK(org("other.example.net") == "other.example.net");  // no record anywhere: itself
    CHECK(org("com") == "com");
    FakeResolver broken(R"(_dmarc.example.com TEMPFAIL)");
    CHECK(dmarc::organizational_domain("a.example.com", broken, treewalk).status == Result::temperror);
}
