// tests/unit/dmarc/evaluate_test.cpp - RFC 9989 §4.4 identifier alignment (relaxed/strict matrices for
// SPF and DKIM), §5.3 pass/fail, §4.7 t=y, RFC 7489 pct in both discovery modes, CVE-2019-20790,
// temperror handling and fill_record.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "common/dmarc/evaluator.hpp"
#include "fakes/fake_resolver.hpp"

using namespace mailmoat;
using dmarc::Disposition;
using dmarc::Result;
using test::FakeResolver;

namespace {

// example.com: the organisational domain; signing.example.com has its own record (RFC 9989 B.3 example);
// example.net is another organisation; bank.example is a PSD.
const char* const zone = R"(
_dmarc.example.com TXT "v=DMARC1; p=reject; adkim=r; aspf=r"
_dmarc.signing.example.com TXT "v=DMARC1; p=none"
_dmarc.strict.example TXT "v=DMARC1; p=reject; adkim=s; aspf=s"
_dmarc.example.net TXT "v=DMARC1; p=none"
_dmarc.bank.example TXT "v=DMARC1; p=reject; psd=y"
_dmarc.giant.bank.example TXT "v=DMARC1; p=reject"
mail.example.com A 192.0.2.1
)";

dmarc::DkimOutcome dkim(const std::string& d, const std::string& result = "pass") {
    dmarc::DkimOutcome o;
    o.domain = d;
    o.selector = "s1";
    o.result = result;
    return o;
}

dmarc::Inputs spf_only(const std::string& from, const std::string& mail_from, const std::string& spf = "pass") {
    dmarc::Inputs in;
    in.from_domain = from;
    in.mail_from_domain = mail_from;
    in.spf_result = spf;
    return in;
}

dmarc::Inputs dkim_only(const std::string& from, const std::string& d, const std::string& result = "pass") {
    dmarc::Inputs in;
    in.from_domain = from;
    in.spf_result = "none";
    in.dkim.push_back(dkim(d, result));
    return in;
}

}  // namespace

TEST_CASE("§4.4.2 SPF alignment matrix (MAIL FROM identity), treewalk") {
    const auto [from, mail_from, aligned] = GENERATE(table<std::string, std::string, bool>({
        {"example.com", "example.com", true},
        {"example.com", "bounce.example.com", true},           // relaxed: same org domain
        {"mail.example.com", "example.com", true},
        {"mail.example.com", "other.mail.example.com", true},
        {"example.com", "signing.example.com", true},          // its own record, org domain example.com
        {"example.com", "example.net", false},
        {"example.com", "examplexcom.net", false},
        {"example.com", "com", false},                         // a PSD never aligns
        {"strict.example", "strict.example", true},
        {"strict.example", "sub.strict.example", false},       // aspf=s
        {"giant.bank.example", "mail.giant.bank.example", true},
        {"giant.bank.example", "mega.bank.example", false},    // psd=y: different org domains
    }));
    CAPTURE(from, mail_from);
    FakeResolver dns(zone);
    const auto e = dmarc::evaluate(spf_only(from, mail_from), dns, {});
    CHECK(e.spf_aligned == aligned);
    CHECK_FALSE(e.dkim_aligned);
    CHECK(e.result == (aligned ? Result::pass : Result::fail));
}

TEST_CASE("§4.4.1 DKIM alignment matrix (each passing d=), treewalk") {
    const auto [from, d, result, aligned] = GENERATE(table<std::string, std::string, std::string, bool>({
        {"example.com", "example.com", "pass", true},
        {"news.example.com", "example.com", "pass", true},
        {"example.com", "signing.example.com", "pass", true},
        {"example.com", "example.net", "pass", false},
        {"example.com", "com", "pass", false},                 // "d=com would never align" (§4.4.1)
        {"example.com", "example.com", "fail", false},         // only passing signatures count
        {"example.com", "example.com", "neutral", false},
        {"example.com", "example.com", "policy", false},
        {"strict.example", "strict.example", "pass", true},
        {"strict.example", "a.strict.example", "pass", false}, // adkim=s
        {"mail.mega.bank.example", "mega.bank.example", "pass", true},
        {"giant.bank.example", "mega.bank.example", "pass", false},
    }));
    CAPTURE(from, d, result);
    FakeResolver dns(zone);
    const auto e = dmarc::evaluate(dkim_only(from, d, result), dns, {});
    CHECK(e.dkim_aligned == aligned);
    CHECK(e.result == (aligned ? Result::pass : Result::fail));
    if (aligned) CHECK(e.aligned_dkim_domain == d);
}

TEST_CASE("§4.4.1 one aligned signature among several is enough; the first aligned d= is reported") {
    FakeResolver dns(zone);
    dmarc::Inputs in = dkim_only("example.com", "example.net");
    in.dkim.push_back(dkim("example.com", "fail"));
    in.dkim.push_back(dkim("mail.example.com"));
    in.dkim.push_back(dkim("example.com"));
    const auto e = dmarc::evaluate(in, dns, {});
    CHECK(e.result == Result::pass);
    CHECK(e.aligned_dkim_domain == "mail.example.com");
}

TEST_CASE("CVE-2019-20790: an SPF pass for the HELO identity never aligns") {
    FakeResolver dns(zone);
    // Null sender: the SPF check used postmaster@<HELO>; its pass must not make DMARC pass.
    dmarc::Inputs in = spf_only("example.com", "", "pass");
    const auto e = dmarc::evaluate(in, dns, {});
    CHECK_FALSE(e.spf_aligned);
    CHECK(e.result == Result::fail);
    CHECK(e.disposition == Disposition::reject);
    CHECK(e.reason.find("no MAIL FROM domain") != std::string::npos);
}

TEST_CASE("§4.10.2 relaxed alignment needs no walk when the identifiers equal the author domain") {
    FakeResolver dns(zone);
    dmarc::Inputs in = spf_only("example.com", "example.com");
    in.dkim.push_back(dkim("example.com"));
    const auto e = dmarc::evaluate(in, dns, {});
    CHECK(e.result == Result::pass);
    CHECK(dns.total_queries() == 1);  // only _dmarc.example.com
}

TEST_CASE("§4.7 disposition from p, sp and np; pass never has one") {
    FakeResolver dns(R"(
_dmarc.example.com TXT "v=DMARC1; p=reject; sp=quarantine; np=none"
www.example.com A 192.0.2.1
_dmarc.none.example TXT "v=DMARC1; p=none"
)");
    const auto p = dmarc::evaluate(spf_only("example.com", "example.net"), dns, {});
    CHECK(p.result == Result::fail);
    CHECK(p.disposition == Disposition::reject);
    CHECK(p.applied_policy == "p");
    const auto sp = dmarc::evaluate(spf_only("www.example.com", "example.net"), dns, {});
    CHECK(sp.disposition == Disposition::quarantine);
    CHECK(sp.applied_policy == "sp");
    const auto np = dmarc::evaluate(spf_only("gone.example.com", "example.net"), dns, {});
    CHECK(np.disposition == Disposition::none);
    CHECK(np.applied_policy == "np");
    const auto none = dmarc::evaluate(spf_only("none.example", "example.net"), dns, {});
    CHECK(none.result == Result::fail);
    CHECK(none.disposition == Disposition::none);
    const auto pass = dmarc::evaluate(spf_only("example.com", "example.com"), dns, {});
    CHECK(pass.result == Result::pass);
    CHECK(pass.disposition == Disposition::none);
    const auto nopolicy = dmarc::evaluate(spf_only("example.org", "example.net"), dns, {});
    CHECK(nopolicy.result == Result::none);
    CHECK(nopolicy.disposition == Disposition::none);
}

TEST_CASE("§4.7 t=y asks for the policy one level below; legacy pct maps per Appendix A.6") {
    const auto [record, mode, sample, disposition, testing] =
        GENERATE(table<std::string, dmarc::Discovery, unsigned, Disposition, bool>({
            {"v=DMARC1; p=reject; t=y", dmarc::Discovery::treewalk, 0, Disposition::quarantine, true},
            {"v=DMARC1; p=quarantine; t=y", dmarc::Discovery::treewalk, 0, Disposition::none, true},
            {"v=DMARC1; p=reject; t=n", dmarc::Discovery::treewalk, 0, Disposition::reject, false},
            // treewalk: pct=0 is t=y, any other pct is t=n; an explicit t= wins.
            {"v=DMARC1; p=reject; pct=0", dmarc::Discovery::treewalk, 0, Disposition::quarantine, true},
            {"v=DMARC1; p=reject; pct=50", dmarc::Discovery::treewalk, 99, Disposition::reject, false},
            {"v=DMARC1; p=reject; pct=100", dmarc::Discovery::treewalk, 99, Disposition::reject, false},
            {"v=DMARC1; p=reject; pct=0; t=n", dmarc::Discovery::treewalk, 0, Disposition::reject, false},
            // psl mode: RFC 7489 §6.6.4 sampling; not selected -> the next less strict policy.
            {"v=DMARC1; p=reject; pct=50", dmarc::Discovery::psl, 49, Disposition::reject, false},
            {"v=DMARC1; p=reject; pct=50", dmarc::Discovery::psl, 50, Disposition::quarantine, true},
            {"v=DMARC1; p=quarantine; pct=0", dmarc::Discovery::psl, 0, Disposition::none, true},
            {"v=DMARC1; p=reject; pct=100", dmarc::Discovery::psl, 99, Disposition::reject, false},
            {"v=DMARC1; p=reject; t=y", dmarc::Discovery::psl, 0, Disposition::quarantine, true},
        }));
    CAPTURE(record, static_cast<int>(mode), sample);
    FakeResolver dns("_dmarc.example.com TXT \"" + record + "\"");
    dmarc::Options options;
    options.discovery = mode;
    if (mode == dmarc::Discovery::psl)
        options.psl = dmarc::PublicSuffixList::load("/usr/share/publicsuffix/public_suffix_list.dat");
    const auto e = dmarc::evaluate(spf_only("example.com", "example.net"), dns, options, sample);
    CHECK(e.result == Result::fail);
    CHECK(e.disposition == disposition);
    CHECK(e.testing == testing);
    dmarc::ReportRecord row;
    dmarc::fill_record(e, row);
    const bool sampled = mode == dmarc::Discovery::psl && record.find("pct=") != std::string::npos && testing &&
                         record.find("t=y") == std::string::npos;
    CHECK(e.sampled_out == sampled);
    CHECK((row.overrides.size() == 1 && row.overrides[0].type == "sampled_out") == sampled);
}

TEST_CASE("§5.3.6 temporary errors: no pass, no fail, no policy") {
    FakeResolver dns(R"(
_dmarc.example.com TXT "v=DMARC1; p=reject"
_dmarc.broken.example TEMPFAIL
_dmarc.example.org TXT "v=DMARC1; p=reject"
_dmarc.org TEMPFAIL
)");
    SECTION("policy lookup fails") {
        const auto e = dmarc::evaluate(spf_only("broken.example", "broken.example"), dns, {});
        CHECK(e.result == Result::temperror);
        CHECK(e.disposition == Disposition::none);
    }
    SECTION("SPF temperror for a domain that would align") {
        const auto e = dmarc::evaluate(spf_only("example.com", "bounce.example.com", "temperror"), dns, {});
        CHECK(e.result == Result::temperror);
        CHECK(e.disposition == Disposition::none);
    }
    SECTION("DKIM temperror for an unrelated domain does not turn a failure into temperror") {
        dmarc::Inputs in = dkim_only("example.com", "example.net", "temperror");
        const auto e = dmarc::evaluate(in, dns, {});
        CHECK(e.result == Result::fail);
        CHECK(e.disposition == Disposition::reject);
    }
    SECTION("the org-domain walk of a passing identifier fails") {
        dmarc::Inputs in = dkim_only("example.org", "mail.example.org");
        const auto e = dmarc::evaluate(in, dns, {});
        CHECK(e.result == Result::temperror);
    }
    SECTION("an aligned pass wins over another identifier's temporary error") {
        dmarc::Inputs in = spf_only("example.com", "example.com");
        in.dkim.push_back(dkim("example.com", "temperror"));
        CHECK(dmarc::evaluate(in, dns, {}).result == Result::pass);
    }
}

TEST_CASE("§4.10.1 invalid records: permerror without rua, p=none with rua") {
    FakeResolver dns(R"(
_dmarc.bad.example TXT "v=DMARC1; p=block"
_dmarc.rua.example TXT "v=DMARC1; p=block; rua=mailto:r@rua.example"
)");
    const auto bad = dmarc::evaluate(spf_only("bad.example", "other.example"), dns, {});
    CHECK(bad.result == Result::permerror);
    CHECK(bad.disposition == Disposition::none);
    const auto rua = dmarc::evaluate(spf_only("rua.example", "other.example"), dns, {});
    CHECK(rua.result == Result::fail);
    CHECK(rua.disposition == Disposition::none);
    CHECK(rua.lookup.policy.p == "none");
}

TEST_CASE("fill_record copies what an aggregate report row needs") {
    FakeResolver dns(zone);
    dmarc::Inputs in = spf_only("news.example.com", "example.net");
    in.dkim.push_back(dkim("example.com"));
    const auto e = dmarc::evaluate(in, dns, {});
    dmarc::ReportRecord row;
    dmarc::fill_record(e, row);
    CHECK(row.dmarc_result == "pass");
    CHECK(row.disposition == "none");
    CHECK(row.dkim_aligned == "pass");
    CHECK(row.spf_aligned == "fail");
    CHECK(row.policy.domain == "example.com");
    CHECK(row.policy.p == "reject");
    CHECK(row.policy.discovery_method == "treewalk");
    CHECK(row.organizational_domain == "example.com");
    CHECK(row.overrides.empty());
}

TEST_CASE("the failure reason names each identifier and why it did not count") {
    FakeResolver dns(zone);
    dmarc::Inputs in = spf_only("example.com", "example.net", "pass");
    in.dkim.push_back(dkim("example.net"));
    in.dkim.push_back(dkim("example.com", "fail"));
    const auto e = dmarc::evaluate(in, dns, {});
    CHECK(e.result == Result::fail);
    CHECK(e.reason.find("SPF pass for example.net not aligned") != std::string::npos);
    CHECK(e.reason.find("DKIM pass for d=example.net not aligned") != std::string::npos);
    CHECK(e.reason.find("DKIM fail for d=example.com") != std::string::npos);
}

TEST_CASE("psl mode: RFC 7489 §6.6.3 author then organisational domain; alignment by the PSL") {
    dmarc::Options psl;
    psl.discovery = dmarc::Discovery::psl;
    psl.psl = dmarc::PublicSuffixList::load("/usr/share/publicsuffix/public_suffix_list.dat");
    FakeResolver dns(R"(
_dmarc.example.co.uk TXT "v=DMARC1; p=reject; sp=quarantine"
_dmarc.mail.example.co.uk TXT "v=DMARC1; p=none"
_dmarc.co.uk TXT "v=DMARC1; p=reject; psd=y"
www.example.co.uk A 192.0.2.1
)");
    const auto l = dmarc::discover("a.b.www.example.co.uk", dns, psl);
    CHECK(l.status == Result::pass);
    CHECK(l.policy.discovery_method == "psl");
    CHECK(l.organizational_domain == "example.co.uk");
    CHECK(l.policy.domain == "example.co.uk");
    CHECK(l.applied_policy == "sp");
    CHECK(l.trace.size() == 2);  // no walk: the author domain, then the organisational domain
    CHECK(dns.queries("_dmarc.www.example.co.uk") == 0);

    // Intermediate records are not consulted in psl mode, and alignment uses the PSL's org domain.
    dns.reset_counts();
    const auto e = dmarc::evaluate(spf_only("x.mail.example.co.uk", "bounce.example.co.uk"), dns, psl);
    CHECK(e.lookup.policy.domain == "example.co.uk");
    CHECK(e.result == Result::pass);
    CHECK(dns.total_queries() == 2);
    const auto other = dmarc::evaluate(spf_only("example.co.uk", "other.co.uk"), dns, psl);
    CHECK(other.result == Result::fail);
    CHECK(other.disposition == Disposition::reject);
}
