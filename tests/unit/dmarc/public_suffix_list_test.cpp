// tests/unit/dmarc/public_suffix_list_test.cpp - RFC 7489 §3.2 organisational domains with the Public
// Suffix List: every case of the list's own test file (Debian's publicsuffix ships it), plus loading.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <regex>
#include <string>
#include <unistd.h>

#include "common/dmarc/evaluator.hpp"
#include "common/mail/address.hpp"

using namespace mailmoat;

namespace {

const char* const list_path = "/usr/share/publicsuffix/public_suffix_list.dat";
const char* const test_path = "/usr/share/doc/publicsuffix/examples/test_psl.txt";

/// The A-label form the engine works with (the test file mixes U-labels and A-labels).
std::string a_label(const std::string& s) {
    const auto r = mail::normalize_domain(s);
    return r.status == mail::DomainResult::Status::ok ? r.domain : std::string();
}

}  // namespace

TEST_CASE("publicsuffix.org test_psl.txt: every checkPublicSuffix case") {
    const auto psl = dmarc::PublicSuffixList::load(list_path);
    std::ifstream in(test_path);
    REQUIRE(in.good());
    const std::regex call(R"(^checkPublicSuffix\((null|'([^']*)'), (null|'([^']*)')\);)");
    std::string line;
    int cases = 0;
    while (std::getline(in, line)) {
        std::smatch m;
        if (!std::regex_search(line, m, call)) continue;
        ++cases;
        CAPTURE(line);
        const bool input_null = m[1] == "null";
        const bool expect_null = m[3] == "null";
        const std::string input = input_null ? std::string() : m[2].str();
        const std::string got = psl->organizational_domain(input);
        if (expect_null) {
            // No registrable domain: the input is itself a public suffix (the interface then answers
            // the name itself), or it is not a valid name at all (empty answer).
            const std::string name = a_label(input);
            if (name.empty() || input.front() == '.') {
                CHECK(got.empty());
            } else {
                CHECK(got == name);
                CHECK(psl->public_suffix(input) == name);
            }
        } else {
            CHECK(got == a_label(m[4].str()));
            CHECK(psl->public_suffix(input) != got);
        }
    }
    CHECK(cases >= 70);  // the file has 75 active cases; a parse slip must not pass silently
}

TEST_CASE("PublicSuffixList::load refuses unreadable and empty lists") {
    CHECK_THROWS_WITH(dmarc::PublicSuffixList::load("/nonexistent/psl.dat"), Catch::Contains("/nonexistent/psl.dat"));
    char tmpl[] = "/tmp/mm-psl-XXXXXX";
    const int fd = mkstemp(tmpl);
    REQUIRE(fd >= 0);
    const char text[] = "// only a comment\n";
    REQUIRE(write(fd, text, sizeof text - 1) == static_cast<ssize_t>(sizeof text - 1));
    close(fd);
    CHECK_THROWS_WITH(dmarc::PublicSuffixList::load(tmpl), Catch::Contains("no rule"));
    std::remove(tmpl);
}

TEST_CASE("a small private list: wildcard and exception rules") {
    char tmpl[] = "/tmp/mm-psl-XXXXXX";
    const int fd = mkstemp(tmpl);
    REQUIRE(fd >= 0);
    const char text[] = "// ===BEGIN ICANN DOMAINS===\ntest\n*.wild.test\n!www.wild.test\nco.test\n"
                        "// ===END ICANN DOMAINS===\n";
    REQUIRE(write(fd, text, sizeof text - 1) == static_cast<ssize_t>(sizeof text - 1));
    close(fd);
    const auto psl = dmarc::PublicSuffixList::load(tmpl);
    std::remove(tmpl);
    CHECK(psl->organizational_domain("a.b.example.test") == "example.test");
    CHECK(psl->organizational_domain("a.example.co.test") == "example.co.test");
    CHECK(psl->organizational_domain("a.b.x.wild.test") == "b.x.wild.test");   // *.wild.test
    CHECK(psl->organizational_domain("a.www.wild.test") == "www.wild.test");   // !www.wild.test
    CHECK(psl->organizational_domain("x.wild.test") == "x.wild.test");         // a suffix itself
    CHECK(psl->organizational_domain("EXAMPLE.Test.") == "example.test");
    CHECK(psl->organizational_domain("") == "");
    CHECK(psl->organizational_domain("a..test") == "");
}
