// tests/unit/dmarc_report/report_builder_test.cpp - aggregation of evaluation records into report rows and
// the UTC day arithmetic.
#include <catch2/catch.hpp>

#include "common/dmarc_report/report_builder.hpp"

namespace dr = mailmoat::dmarc_report;
namespace dm = mailmoat::dmarc;

TEST_CASE("utc_day_start floors to UTC midnight") {
    CHECK(dr::utc_day_start(1764460800) == 1764460800);  // 2025-11-30T00:00:00Z
    CHECK(dr::utc_day_start(1764460800 + 86399) == 1764460800);
    CHECK(dr::utc_day_start(1764460800 + 86400) == 1764460800 + 86400);
    CHECK(dr::utc_day_start(-1) == -86400);
}

TEST_CASE("records with the same tuple share a row, any difference starts a new row") {
    dm::ReportRecord a;
    a.source_ip = "192.0.2.1";
    a.header_from = "example.org";
    a.disposition = "none";
    a.dkim_aligned = "pass";
    a.spf_aligned = "fail";
    a.dkim = {{"example.org", "s", "pass", ""}};
    auto b = a;
    auto c = a;
    c.dkim.push_back({"other.example", "t", "fail", ""});
    auto d = a;
    d.source_ip = "192.0.2.2";
    auto e = a;
    e.overrides = {{"mailing_list", "list"}};
    const auto rows = dr::aggregate_rows({a, b, c, d, e, a});
    REQUIRE(rows.size() == 4);
    CHECK(rows[0].count == 3);
    CHECK(rows[1].count == 1);
    CHECK(rows[1].dkim_results.size() == 2);
    CHECK(rows[2].source_ip == "192.0.2.2");
    CHECK(rows[3].reasons.size() == 1);
}

TEST_CASE("build_report: id stable for the period, policy from the newest record, end inclusive") {
    dm::ReportRecord a;
    a.source_ip = "192.0.2.1";
    a.header_from = "example.org";
    a.policy.domain = "example.org";
    a.policy.p = "none";
    auto b = a;
    b.policy.p = "reject";
    dr::Reporter who;
    who.org_name = "r";
    const auto r1 = dr::build_report("example.org", 100, 200, {a, b}, who);
    const auto r2 = dr::build_report("example.org", 100, 200, {a}, who);
    CHECK(r1.metadata.report_id == r2.metadata.report_id);
    CHECK(r1.metadata.report_id != dr::build_report("example.org", 100, 300, {a}, who).metadata.report_id);
    CHECK(r1.policy.p == "reject");
    CHECK(r1.metadata.end == 199);
    CHECK(r1.message_count() == 2);
}
