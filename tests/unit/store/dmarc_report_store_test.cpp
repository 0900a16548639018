// tests/unit/store/dmarc_report_store_test.cpp - the report side of the DMARC store contract, run against
// SQLite and a real Redis: settled destinations, closed periods, claims, pruning, duplicate reports.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "dmarc_backends.hpp"

namespace st = mailmoat::store;
namespace dr = mailmoat::dmarc_report;
namespace dm = mailmoat::dmarc;
using mailmoat::test::DmarcBackend;

namespace {

dm::ReportRecord record(std::int64_t t, const std::string& domain) {
    dm::ReportRecord r;
    r.time = t;
    r.source_ip = "192.0.2.1";
    r.header_from = domain;
    r.policy.domain = domain;
    r.dmarc_result = "pass";
    return r;
}

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
    const DmarcBackend backend(GENERATE(as<std::string>(), "sqlite", "redis"));
    INFO("backend " << backend.name());
    {
        auto opened = backend.open();
        auto& s = *opened;
        CHECK(s.last_period_end("example.org").status == st::Status::not_found);
        CHECK(s.destination_settled("example.org", 100, "mailto:a@example.org") == st::Status::not_found);
        CHECK(s.settle_destination("example.org", 100, 200, "mailto:a@example.org", st::DeliveryState::sent, "id", 5) ==
              st::Status::ok);
        CHECK(s.close_period("example.org", 100, 200, "id", 3, 5) == st::Status::ok);
    }
    auto reopened = backend.open();
    auto& s = *reopened;
    CHECK(s.destination_settled("example.org", 100, "mailto:a@example.org") == st::Status::ok);
    const auto end = s.last_period_end("example.org");
    CHECK(end.status == st::Status::ok);
    CHECK(end.value == 200);
    CHECK(s.last_period_end("other.example").status == st::Status::not_found);
}

TEST_CASE("ingested reports: rows round trip, same org+report_id is a duplicate") {
    const DmarcBackend backend(GENERATE(as<std::string>(), "sqlite", "redis"));
    INFO("backend " << backend.name());
    auto opened = backend.open();
    auto& s = *opened;
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

TEST_CASE("record_domains lists policy domains with records in a half-open range, not the empty one") {
    const DmarcBackend backend(GENERATE(as<std::string>(), "sqlite", "redis"));
    INFO("backend " << backend.name());
    auto s = backend.open();
    const std::int64_t day = 86400;
    REQUIRE(s->add(record(day + 10, "b.example")).status == st::Status::ok);
    REQUIRE(s->add(record(day + 20, "a.example")).status == st::Status::ok);
    REQUIRE(s->add(record(3 * day + 5, "c.example")).status == st::Status::ok);
    REQUIRE(s->add(record(day + 30, "")).status == st::Status::ok);  // no policy found
    auto all = s->record_domains(0, 4 * day);
    REQUIRE(all.status == st::Status::ok);
    CHECK(all.domains == std::vector<std::string>{"a.example", "b.example", "c.example"});
    CHECK(s->record_domains(0, 3 * day).domains == std::vector<std::string>{"a.example", "b.example"});
    // Boundaries inside a day are exact.
    CHECK(s->record_domains(day + 15, 3 * day + 5).domains == std::vector<std::string>{"a.example"});
    CHECK(s->record_domains(day + 15, 3 * day + 6).domains == std::vector<std::string>{"a.example", "c.example"});
    CHECK(s->record_domains(5 * day, 6 * day).domains.empty());
}

TEST_CASE("claims: one owner at a time, own and stale claims retaken, released only by the holder") {
    const DmarcBackend backend(GENERATE(as<std::string>(), "sqlite", "redis"));
    INFO("backend " << backend.name());
    auto a = backend.open();
    auto b = backend.open();  // a second report run (another process or host)
    const std::string dest = "mailto:rua@example.org";
    auto c1 = a->claim_destination("example.org", 100, dest, "host-a 1", 1000, 600, "");
    CHECK(c1.outcome == st::ClaimOutcome::claimed);
    auto c2 = b->claim_destination("example.org", 100, dest, "host-b 2", 1000, 600, "");
    CHECK(c2.outcome == st::ClaimOutcome::taken);
    CHECK(c2.owner == "host-a 1");
    CHECK(a->claim_destination("example.org", 100, dest, "host-a 1", 1001, 600, "").outcome == st::ClaimOutcome::claimed);
    // Another destination or period is a separate claim.
    CHECK(b->claim_destination("example.org", 200, dest, "host-b 2", 1000, 600, "").outcome == st::ClaimOutcome::claimed);
    // Only the holder releases; afterwards the other may claim.
    CHECK(b->release_destination("example.org", 100, dest, "host-b 2") == st::Status::not_found);
    CHECK(b->claim_destination("example.org", 100, dest, "host-b 2", 1000, 600, "").outcome == st::ClaimOutcome::taken);
    CHECK(a->release_destination("example.org", 100, dest, "host-a 1") == st::Status::ok);
    CHECK(b->claim_destination("example.org", 100, dest, "host-b 2", 1000, 600, "").outcome == st::ClaimOutcome::claimed);
    // A holder known to be dead is taken over; a wrong guess is not.
    CHECK(a->claim_destination("example.org", 100, dest, "host-a 3", 1000, 600, "host-x 9").outcome ==
          st::ClaimOutcome::taken);
    CHECK(a->claim_destination("example.org", 100, dest, "host-a 3", 1000, 600, "host-b 2").outcome ==
          st::ClaimOutcome::claimed);
}

TEST_CASE("claims: of many concurrent claimers exactly one wins") {
    const DmarcBackend backend(GENERATE(as<std::string>(), "sqlite", "redis"));
    INFO("backend " << backend.name());
    constexpr int runs = 8;
    std::atomic<int> won{0}, lost{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < runs; ++i)
        threads.emplace_back([&, i] {
            auto s = backend.open();
            auto r = s->claim_destination("example.org", 100, "mailto:r@example.org", "host " + std::to_string(i), 1000,
                                          600, "");
            if (r.outcome == st::ClaimOutcome::claimed) ++won;
            if (r.outcome == st::ClaimOutcome::taken) ++lost;
        });
    for (auto& t : threads) t.join();
    CHECK(won.load() == 1);
    CHECK(lost.load() == runs - 1);
}

TEST_CASE("prune deletes only records of closed periods older than the cutoff") {
    const DmarcBackend backend(GENERATE(as<std::string>(), "sqlite", "redis"));
    INFO("backend " << backend.name());
    auto s = backend.open();
    const std::int64_t day = 86400;
    for (std::int64_t d = 0; d < 4; ++d) {
        REQUIRE(s->add(record(d * day + 100, "p.example")).status == st::Status::ok);
        REQUIRE(s->add(record(d * day + 200, "q.example")).status == st::Status::ok);
    }
    // p.example reported up to day 3; q.example never reported.
    REQUIRE(s->close_period("p.example", 0, day, "r1", 1, 10) == st::Status::ok);
    REQUIRE(s->close_period("p.example", day, 3 * day, "r2", 2, 10) == st::Status::ok);
    auto pr = s->prune(2 * day);
    REQUIRE(pr.status == st::Status::ok);
    CHECK(pr.count == 2);  // p.example's days 0 and 1
    CHECK(s->records("p.example", 0, 10 * day, 10).records.size() == 2);
    CHECK(s->records("q.example", 0, 10 * day, 10).records.size() == 4);
    // A later cutoff stops at the last closed period.
    pr = s->prune(10 * day);
    REQUIRE(pr.status == st::Status::ok);
    CHECK(pr.count == 1);
    auto left = s->records("p.example", 0, 10 * day, 10);
    REQUIRE(left.records.size() == 1);
    CHECK(left.records[0].time == 3 * day + 100);
    CHECK(s->last_period_end("p.example").value == 3 * day);
    CHECK(s->record_domains(0, 10 * day).domains == std::vector<std::string>{"p.example", "q.example"});
}
