// tests/unit/store/record_text_test.cpp - the separator-joined text of records and reports: round trips with
// empty fields (an empty first field must not shift the others), separators in free text, bad input.
#include <catch2/catch.hpp>

#include "common/store/record_text.hpp"

namespace tx = mailmoat::store::text;
namespace dr = mailmoat::dmarc_report;
namespace dm = mailmoat::dmarc;

TEST_CASE("a report with empty fields and separators in free text round-trips") {
    dr::AggregateReport r;
    r.format = dr::Format::rfc7489;
    r.version = "1.0";
    r.metadata.org_name = "Org \x1c with \x1d separators";
    r.metadata.report_id = "id-1";
    r.metadata.begin = 10;
    r.metadata.end = 20;
    r.metadata.errors = {"e1", "e2"};
    r.policy.domain = "example.org";
    r.policy.pct = 100;
    dr::Row row;  // empty source_ip, everything else empty too
    row.count = 3;
    dr::Row full;
    full.source_ip = "2001:db8::1";
    full.count = 18446744073709551615ULL;
    full.reasons = {{"forwarded", "via list"}};
    full.dkim_results = {{"a.example", "s", "pass", ""}};
    full.spf_results = {{"b.example", "mfrom", "fail"}};
    r.rows = {row, full};
    dr::AggregateReport back;
    REQUIRE(tx::decode_report(tx::encode_report(r), back));
    CHECK(back.format == dr::Format::rfc7489);
    CHECK(back.metadata.org_name == "Org   with   separators");
    CHECK(back.metadata.errors == std::vector<std::string>{"e1", "e2"});
    REQUIRE(back.rows.size() == 2);
    CHECK(back.rows[0].source_ip.empty());
    CHECK(back.rows[0].count == 3);
    CHECK(back.rows[1].count == full.count);
    CHECK(back.rows[1].reasons[0].comment == "via list");
    CHECK(back.rows[1].spf_results[0].result == "fail");
}

TEST_CASE("a record with an empty source and domain round-trips; garbage is refused") {
    dm::ReportRecord r;
    r.time = 42;
    r.policy.pct = -1;
    dm::ReportRecord back;
    REQUIRE(tx::decode_record(tx::encode_record(r), back));
    CHECK(back.time == 42);
    CHECK(back.policy.pct == -1);
    CHECK(back.source_ip.empty());
    CHECK_FALSE(tx::decode_record("", back));
    CHECK_FALSE(
        tx::decode_record("2\x1c"
                          "1",
                          back));
    CHECK_FALSE(tx::decode_record(std::string(30, '\x1c'), back));
    dr::AggregateReport rep;
    CHECK_FALSE(tx::decode_report("nonsense", rep));
}
