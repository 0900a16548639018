// tests/unit/dmarc_report/summary_test.cpp - adding up received reports per source and day; dates.
#include <catch2/catch.hpp>

#include "common/dmarc_report/summary.hpp"

namespace dr = mailmoat::dmarc_report;

namespace {

dr::Row row(std::string ip, std::uint64_t n, bool dkim, bool spf) {
    dr::Row r;
    r.source_ip = std::move(ip);
    r.count = n;
    r.dkim = dkim ? "pass" : "fail";
    r.spf = spf ? "pass" : "fail";
    r.disposition = dkim || spf ? "none" : "reject";
    r.header_from = "example.org";
    return r;
}

}  // namespace

TEST_CASE("per source totals, failing sources first, per day volume") {
    dr::AggregateReport a, b;
    a.metadata.org_name = "A";
    a.metadata.begin = 1764460800;
    a.policy.domain = "example.org";
    a.rows = {row("192.0.2.1", 10, true, true), row("203.0.113.9", 3, false, false), row("192.0.2.2", 4, true, false)};
    b = a;
    b.metadata.org_name = "B";
    b.metadata.begin = 1764460800 + 86400 + 5;
    b.rows = {row("203.0.113.9", 2, false, false), row("198.51.100.1", 1, false, true)};
    const auto s = dr::summarize({a, b});
    CHECK(s.reports == 2);
    CHECK(s.messages == 20);
    CHECK(s.dmarc_pass == 15);
    REQUIRE(s.sources.size() == 4);
    CHECK(s.sources[0].source_ip == "203.0.113.9");
    CHECK(s.sources[0].messages == 5);
    CHECK(s.sources[0].dmarc_fail() == 5);
    CHECK(s.sources[0].rejected == 5);
    CHECK(s.sources[0].reporters == std::vector<std::string>{"A", "B"});
    CHECK(s.sources[1].source_ip == "192.0.2.1");  // then by volume
    CHECK(s.sources[2].spf_fail() == 4);
    REQUIRE(s.days.size() == 2);
    CHECK(s.days[0].pass == 14);
    CHECK(s.days[0].fail == 3);
    CHECK(s.days[1].day == 1764460800 + 86400);
}

TEST_CASE("parse_date: YYYY-MM-DD at UTC midnight, Unix seconds, else -1") {
    CHECK(dr::parse_date("2025-11-30") == 1764460800);
    CHECK(dr::parse_date("1970-01-01") == 0);
    CHECK(dr::parse_date("1764460800") == 1764460800);
    CHECK(dr::parse_date("2025-13-01") == -1);
    CHECK(dr::parse_date("yesterday") == -1);
    CHECK(dr::parse_date("") == -1);
}
