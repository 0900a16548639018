// tests/unit/spf/rfc7208_suite_test.cpp - runs every case of the openspf RFC 7208 and RFC 4408 test
// suites (as shipped in Debian's python3-spf, converted by tests/data/spf/convert_suite.py) through
// the evaluator and reports each case by name.
#include <catch2/catch.hpp>

#include <iostream>
#include <map>

#include "common/spf/evaluator.hpp"
#include "suite_zone.hpp"

using namespace mailmoat;
using spf::test::Suite;
using spf::test::SuiteCase;

namespace {

/// Cases where this engine deliberately gives a result the suite does not list, with the reason.
/// They still run: the test checks that the engine gives exactly the result stated here.
struct Divergence {
    const char* result;
    const char* reason;
};

const std::map<std::string, Divergence> rfc7208_divergences = {};

/// RFC 4408 cases where RFC 7208 changed the rules; the engine follows RFC 7208.
const std::map<std::string, Divergence> rfc4408_divergences = {};

struct Tally {
    unsigned total = 0;
    unsigned passed = 0;
    unsigned diverged = 0;
};

Tally run_suite(const std::string& file, const std::map<std::string, Divergence>& divergences) {
    Suite suite = spf::test::load_suite(std::string(MAILMOAT_TEST_DATA) + "/spf/" + file);
    REQUIRE(!suite.cases.empty());
    Tally tally;
    for (const auto& c : suite.cases) {
        ++tally.total;
        spf::test::FixedClock clock;
        spf::Options opt;
        opt.default_explanation = "DEFAULT";  // what the suite's reference driver sets
        spf::Evaluator ev(*c.zone, clock, opt);
        const auto ip = util::IpAddress::parse(c.host);
        REQUIRE(ip);
        const auto r = ev.check_mail_from(*ip, c.mailfrom, c.helo);
        const std::string got = spf::code_name(r.code);
        bool result_ok = false;
        for (const auto& want : c.results) result_ok = result_ok || want == got;
        const bool exp_ok = !c.explanation || *c.explanation == r.explanation;
        const bool ok = result_ok && exp_ok;

        INFO(file << ": case " << c.id << " (" << c.scenario << ", spec " << c.spec << ")");
        INFO("host=" << c.host << " mailfrom=" << c.mailfrom << " helo=" << c.helo);
        INFO("got " << got << " mechanism=" << r.mechanism << " problem=" << r.problem
                    << " explanation=" << r.explanation);
        std::string wanted;
        for (const auto& w : c.results) wanted += w + " ";
        INFO("expected " << wanted << (c.explanation ? " explanation=" + *c.explanation : std::string()));
        // One line per case, so the run lists every case by name and outcome.
        std::cout << file << ": " << (ok ? "ok   " : "FAIL ") << c.id << " got=" << got << " expected=" << wanted
                  << "\n";
        const auto d = divergences.find(c.id);
        if (d != divergences.end()) {
            ++tally.diverged;
            INFO("listed divergence: " << d->second.reason);
            CHECK_FALSE(ok);  // a divergence that starts passing must be removed from the list
            CHECK(got == d->second.result);
            continue;
        }
        CHECK(ok);
        if (ok) ++tally.passed;
    }
    std::cout << file << ": " << tally.passed << " of " << tally.total << " cases pass, " << tally.diverged
              << " listed divergences\n";
    return tally;
}

}  // namespace

TEST_CASE("RFC 7208 test suite (openspf 2014.04)", "[spf][suite]") {
    const auto t = run_suite("rfc7208-tests.txt", rfc7208_divergences);
    CHECK(t.total == 203);
    CHECK(t.passed + t.diverged == t.total);
}

TEST_CASE("RFC 4408 test suite (openspf 2009.10)", "[spf][suite]") {
    const auto t = run_suite("rfc4408-tests.txt", rfc4408_divergences);
    CHECK(t.total == 191);
    CHECK(t.passed + t.diverged == t.total);
}
