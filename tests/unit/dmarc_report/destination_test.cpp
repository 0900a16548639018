// tests/unit/dmarc_report/destination_test.cpp - rua URIs with size limits, external destination
// verification (RFC 7489 §7.1) against a fake resolver.
#include <catch2/catch.hpp>

#include "common/dmarc_report/destination.hpp"
#include "fakes/fake_resolver.hpp"

namespace dr = mailmoat::dmarc_report;

TEST_CASE("rua URIs: address, domain, size suffixes") {
    const auto a = dr::parse_rua(" mailto:dmarc@Example.ORG ");
    REQUIRE(a);
    CHECK(a->address == "dmarc@Example.ORG");
    CHECK(a->domain == "example.org");
    CHECK(a->max_bytes == 0);
    CHECK(dr::parse_rua("mailto:r@x.example!10m")->max_bytes == 10u << 20);
    CHECK(dr::parse_rua("mailto:r@x.example!50k")->max_bytes == 50u << 10);
    CHECK(dr::parse_rua("mailto:r@x.example!2048")->max_bytes == 2048);
    CHECK(dr::parse_rua("mailto:r%40weird@x.example")->address == "r@weird@x.example");
    CHECK_FALSE(dr::parse_rua("https://x.example/report"));
    CHECK_FALSE(dr::parse_rua("mailto:no-domain"));
    CHECK_FALSE(dr::parse_rua("mailto:r@x.example!10q"));
    CHECK_FALSE(dr::parse_rua("mailto:r@x.example!"));
}

TEST_CASE("external destinations need <policy-domain>._report._dmarc.<rua-domain>") {
    mailmoat::test::FakeResolver dns(R"(
example.org._report._dmarc.reports.example TXT "v=DMARC1"
example.org._report._dmarc.wrong.example TXT "v=spf1 -all"
example.org._report._dmarc.slow.example TEMPFAIL timeout
)");
    auto check = [&](const char* uri) {
        return dr::verify_destination(dns, "example.org", "example.org", *dr::parse_rua(uri));
    };
    CHECK(check("mailto:d@example.org") == dr::Authorization::internal);
    CHECK(check("mailto:d@reports.example.org") == dr::Authorization::internal);
    CHECK(check("mailto:d@reports.example") == dr::Authorization::authorized);
    CHECK(check("mailto:d@other.example") == dr::Authorization::not_authorized);
    CHECK(check("mailto:d@wrong.example") == dr::Authorization::not_authorized);
    CHECK(check("mailto:d@slow.example") == dr::Authorization::tempfail);
    CHECK(check("mailto:d@badexample.org") == dr::Authorization::not_authorized);
    // A subdomain's report to its organizational domain is internal.
    CHECK(dr::verify_destination(dns, "mail.example.org", "example.org", *dr::parse_rua("mailto:d@example.org")) ==
          dr::Authorization::internal);
}
