// tests/unit/store/sqlite_dmarc_report_store_test.cpp - the report bookkeeping and ingested-report tables
// of the SQLite DMARC store: settled destinations, closed periods, pruning, duplicate reports.
#include <catch2/catch.hpp>

#include <filesystem>
#include <unistd.h>

#include "common/store/sqlite_dmarc_store.hpp"

namespace fs = std::filesystem;
namespace st = mailmoat::store;
namespace dr = mailmoat::dmarc_report;

namespace {

struct TempDir {
    fs::path path = fs::temp_directory_path() / ("mm-dmarc-report-store-" + std::to_string(::getpid()));
    TempDir() { fs::create_directories(path); }
    ~TempDir() { fs::remove_all(path); }
};

dr::AggregateReport report(const std::string& org, const std::string& id) {
    dr::AggregateReport r;
    r.metadata.org_name = org;
    r.metadata.report_id = id;
    r.metadata.begin = 1000;
    r.metadata.end = 2000;
    r.policy.domain = "example.org";
    r.policy.p = "reject";
    dr::Row row;
    row.source_ip = "2001:db8::1";
    row.count = 7;
    row.disposition = "none";
    row.dkim = "pass";
    row.spf = "fail";
    row.header_from = "example.org";
    row.dkim_results = {{"example.org", "a", "pass", ""}, {"esp.example", "b", "pass", ""}};
    row.spf_results = {{"esp.example", "mfrom", "softfail"}};
    r.rows = {row, row};
    r.rows[1].source_ip = "192.0.2.3";
    r.rows[1].count = 2;
    return r;
}

}  // namespace

TEST_CASE("settled destinations and closed periods survive a reopen") {
    TempDir d;
    const auto path = (d.path / "s.db").string();
    {
        st::SqliteDmarcStore s{st::SqliteOptions{path}};
        CHECK(s.last_period_end("example.org").status == st::Status::not_found);
        CHECK(s.destination_settled("example.org", 100, "mailto:a@example.org") == st::Status::not_found);
        CHECK(s.settle_destination("example.org", 100, 200, "mailto:a@example.org", st::DeliveryState::sent, "id", 5) ==
              st::Status::ok);
        CHECK(s.close_period("example.org", 100, 200, "id", 3, 5) == st::Status::ok);
    }
    st::SqliteDmarcStore s{st::SqliteOptions{path}};
    CHECK(s.destination_settled("example.org", 100, "mailto:a@example.org") == st::Status::ok);
    const auto end = s.last_period_end("example.org");
    CHECK(end.status == st::Status::ok);
    CHECK(end.value == 200);
    CHECK(s.last_period_end("other.example").status == st::Status::not_found);
}

TEST_CASE("ingested reports: rows round trip, same org+report_id is a duplicate") {
    TempDir d;
    st::SqliteDmarcStore s{st::SqliteOptions{(d.path / "i.db").string()}};
    CHECK(s.add_report(report("Provider A", "r1"), 10).outcome == st::IngestOutcome::added);
    CHECK(s.add_report(report("Provider A", "r1"), 11).outcome == st::IngestOutcome::duplicate);
    CHECK(s.add_report(report("Provider B", "r1"), 12).outcome == st::IngestOutcome::added);
    const auto all = s.reports("", 0, 100);
    REQUIRE(all.status == st::Status::ok);
    REQUIRE(all.reports.size() == 2);
    const auto& r = all.reports[0];
    CHECK(r.metadata.org_name == "Provider A");
    REQUIRE(r.rows.size() == 2);
    CHECK(r.rows[0].count == 7);
    CHECK(r.rows[0].dkim_results.size() == 2);
    CHECK(r.rows[0].spf_results[0].result == "softfail");
    CHECK(r.message_count() == 9);
    CHECK(s.reports("other.example", 0, 100).reports.empty());
    CHECK(s.reports("example.org", 2000, 100).reports.empty());  // ends at 2000: not after it
}
