// tests/unit/dmarc_report/report_run_test.cpp - the report run on a real SQLite store with a recording
// sender: periods per UTC day, exactly once across reruns and failed deliveries, refused destinations,
// size limits, --until now, dry runs, pruning, claims of another run.
#include <catch2/catch.hpp>

#include <filesystem>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

#include "common/dmarc_report/report_message.hpp"
#include "common/dmarc_report/report_reader.hpp"
#include "common/dmarc_report/report_run.hpp"
#include "common/store/sqlite_dmarc_store.hpp"
#include "fakes/fake_resolver.hpp"

namespace fs = std::filesystem;
namespace dr = mailmoat::dmarc_report;
namespace dm = mailmoat::dmarc;
namespace st = mailmoat::store;

namespace {

constexpr std::int64_t day0 = 1764460800;  // 2025-11-30T00:00:00Z

struct TempDir {
    fs::path path = fs::temp_directory_path() / ("mm-report-run-" + std::to_string(::getpid()) + "-" +
                                                 std::to_string(reinterpret_cast<std::uintptr_t>(this)));
    TempDir() { fs::create_directories(path); }
    ~TempDir() { fs::remove_all(path); }
};

dm::ReportRecord rec(std::int64_t t, const std::string& domain, std::vector<std::string> rua, bool pass = true) {
    dm::ReportRecord r;
    r.time = t;
    r.source_ip = pass ? "192.0.2.10" : "198.51.100.66";
    r.header_from = domain;
    r.envelope_from = domain;
    r.envelope_to = "receiver.example";
    r.organizational_domain = domain;
    r.policy.domain = domain;
    r.policy.p = "reject";
    r.policy.rua = std::move(rua);
    r.dmarc_result = pass ? "pass" : "fail";
    r.disposition = pass ? "none" : "reject";
    r.dkim_aligned = pass ? "pass" : "fail";
    r.spf_aligned = pass ? "pass" : "fail";
    r.dkim = {{domain, "sel", pass ? "pass" : "fail", ""}};
    r.spf = {{domain, "mfrom", pass ? "pass" : "fail"}};
    return r;
}

struct Sent {
    std::string to;
    std::string message;
};

struct Fixture {
    TempDir dir;
    st::SqliteDmarcStore store{st::SqliteOptions{(dir.path / "dmarc.db").string()}};
    mailmoat::test::FakeResolver dns{"example.org._report._dmarc.thirdparty.example TXT \"v=DMARC1\"\n"};
    std::vector<Sent> sent;
    bool fail_delivery = false;
    std::ostringstream log;

    dr::RunOptions options(std::int64_t until) {
        dr::RunOptions o;
        o.reporter = {"Receiver", "dmarc@receiver.example", "", "receiver.example", "mailmoat test", dr::Format::rfc9990};
        o.now = until;
        o.until = until;
        o.resolver = &dns;
        o.send = [this](const std::string&, const std::string& to, const std::string& msg) {
            if (fail_delivery) return dr::DeliveryResult{dr::DeliveryStatus::temporary_failure, "test says no"};
            sent.push_back({to, msg});
            return dr::DeliveryResult{dr::DeliveryStatus::delivered, "ok"};
        };
        return o;
    }
    void add(const dm::ReportRecord& r, int n = 1) {
        for (int i = 0; i < n; ++i) REQUIRE(store.add(r).status == st::Status::ok);
    }
    dr::AggregateReport report_of(const Sent& s) {
        const auto rr = dr::read_reports(s.message);
        REQUIRE(rr.status == dr::ParseStatus::ok);
        REQUIRE(rr.reports.size() == 1);
        REQUIRE(rr.reports[0].status == dr::ParseStatus::ok);
        return rr.reports[0].report;
    }
};

}  // namespace

TEST_CASE("one report per domain and UTC day, counts match, sent once across reruns") {
    Fixture f;
    f.add(rec(day0 + 10, "example.org", {"mailto:agg@example.org"}), 3);
    f.add(rec(day0 + 20, "example.org", {"mailto:agg@example.org"}, false), 2);
    f.add(rec(day0 + 86400 + 5, "example.org", {"mailto:agg@example.org"}), 4);
    f.add(rec(day0 + 30, "example.com", {"mailto:d@example.com"}), 1);
    const auto s1 = dr::run_reports(f.store, f.store, f.options(day0 + 2 * 86400), f.log);
    CHECK(s1.periods == 3);
    CHECK(s1.delivered == 3);
    CHECK(s1.messages == 10);
    REQUIRE(f.sent.size() == 3);
    // example.com first (sorted), then example.org's two days.
    CHECK(f.sent[0].to == "d@example.com");
    const auto d1 = f.report_of(f.sent[1]);
    CHECK(d1.policy.domain == "example.org");
    CHECK(d1.metadata.begin == day0);
    CHECK(d1.metadata.end == day0 + 86399);
    CHECK(d1.message_count() == 5);
    CHECK(d1.rows.size() == 2);
    CHECK(f.report_of(f.sent[2]).message_count() == 4);
    std::string unfolded = f.sent[1].message;
    for (std::size_t i = 0; (i = unfolded.find("\n ")) != std::string::npos;) unfolded.erase(i, 1);
    CHECK(unfolded.find("Subject: Report Domain: example.org Submitter: receiver.example Report-ID: <") !=
          std::string::npos);
    CHECK(f.sent[1].message.find("receiver.example!example.org!" + std::to_string(day0) + "!" +
                                 std::to_string(day0 + 86399) + ".xml.gz") != std::string::npos);
    // A rerun sends nothing more.
    const auto s2 = dr::run_reports(f.store, f.store, f.options(day0 + 2 * 86400), f.log);
    CHECK(s2.periods == 0);
    CHECK(f.sent.size() == 3);
}

TEST_CASE("the current day is not reported until it ends, unless --until now closes it early") {
    Fixture f;
    f.add(rec(day0 + 100, "example.org", {"mailto:agg@example.org"}), 2);
    CHECK(dr::run_reports(f.store, f.store, f.options(day0), f.log).periods == 0);  // midnight before the records
    CHECK(f.sent.empty());
    const auto s = dr::run_reports(f.store, f.store, f.options(day0 + 200), f.log);  // "now"
    CHECK(s.periods == 1);
    REQUIRE(f.sent.size() == 1);
    CHECK(f.report_of(f.sent[0]).metadata.end == day0 + 199);
    // Later records of the same day go into the next report, which starts where the last ended.
    f.add(rec(day0 + 300, "example.org", {"mailto:agg@example.org"}), 1);
    CHECK(dr::run_reports(f.store, f.store, f.options(day0 + 86400), f.log).periods == 1);
    REQUIRE(f.sent.size() == 2);
    const auto second = f.report_of(f.sent[1]);
    CHECK(second.metadata.begin == day0 + 200);
    CHECK(second.message_count() == 1);
}

TEST_CASE("a failed delivery is retried by the next run, and only the missing destination") {
    Fixture f;
    f.add(rec(day0 + 10, "example.org", {"mailto:a@example.org", "mailto:b@example.org"}), 2);
    int calls = 0;
    auto o = f.options(day0 + 86400);
    auto inner = o.send;
    o.send = [&](const std::string& from, const std::string& to, const std::string& msg) {
        ++calls;
        if (to == "b@example.org" && calls < 3) return dr::DeliveryResult{dr::DeliveryStatus::temporary_failure, "4xx"};
        return inner(from, to, msg);
    };
    const auto s1 = dr::run_reports(f.store, f.store, o, f.log);
    CHECK(s1.delivered == 1);
    CHECK(s1.failed == 1);
    REQUIRE(f.sent.size() == 1);
    CHECK(f.sent[0].to == "a@example.org");
    const auto s2 = dr::run_reports(f.store, f.store, o, f.log);
    CHECK(s2.delivered == 1);
    CHECK(s2.failed == 0);
    REQUIRE(f.sent.size() == 2);
    CHECK(f.sent[1].to == "b@example.org");
    CHECK(f.report_of(f.sent[1]).metadata.report_id == f.report_of(f.sent[0]).metadata.report_id);
    CHECK(dr::run_reports(f.store, f.store, o, f.log).periods == 0);
}

TEST_CASE("external destinations without authorisation and reports over the size limit are refused") {
    Fixture f;
    f.add(rec(day0 + 10, "example.org",
              {"mailto:x@thirdparty.example", "mailto:y@unauthorised.example", "mailto:z@example.org!100"}),
          1);
    const auto s = dr::run_reports(f.store, f.store, f.options(day0 + 86400), f.log);
    CHECK(s.delivered == 1);
    CHECK(s.refused == 2);
    REQUIRE(f.sent.size() == 1);
    CHECK(f.sent[0].to == "x@thirdparty.example");
    CHECK(f.log.str().find("reason=external_not_authorized") != std::string::npos);
    CHECK(f.log.str().find("reason=size_limit") != std::string::npos);
    CHECK(f.dns.queries("example.org._report._dmarc.unauthorised.example", mailmoat::dns::RrType::txt) == 1);
    CHECK(dr::run_reports(f.store, f.store, f.options(day0 + 86400), f.log).periods == 0);  // settled for good
}

TEST_CASE("dry run writes files and leaves the store alone, pruning keeps unreported records") {
    Fixture f;
    f.add(rec(day0 + 10, "example.org", {"mailto:agg@example.org"}), 2);
    f.add(rec(day0 + 5 * 86400, "example.org", {"mailto:agg@example.org"}), 1);
    auto o = f.options(day0 + 86400);
    o.dry_run = true;
    o.output_dir = f.dir.path.string();
    o.send = nullptr;
    const auto s = dr::run_reports(f.store, f.store, o, f.log);
    CHECK(s.files == 1);
    const auto file = f.dir.path / ("receiver.example!example.org!" + std::to_string(day0) + "!" +
                                    std::to_string(day0 + 86399) + ".xml.gz");
    CHECK(fs::exists(file));
    CHECK(fs::exists(file.string().substr(0, file.string().size() - 3)));
    CHECK(dr::run_reports(f.store, f.store, o, f.log).files == 1);  // nothing was marked
    // Prune everything older than day 3: only the reported day-0 records may go.
    auto real = f.options(day0 + 86400);
    real.prune_before = day0 + 3 * 86400;
    const auto p = dr::run_reports(f.store, f.store, real, f.log);
    CHECK(p.delivered == 1);
    CHECK(p.pruned == 2);
    CHECK(f.store.records("example.org", 0, day0 + 10 * 86400, 100).records.size() == 1);
}

TEST_CASE("a destination another run is delivering is left to it; a dead run's claim is taken over") {
    Fixture f;
    f.add(rec(day0 + 10, "example.org", {"mailto:agg@example.org"}), 2);
    char host[256] = {};
    REQUIRE(::gethostname(host, sizeof host - 1) == 0);
    // Another host's run holds the claim: nothing is sent, the period stays open.
    REQUIRE(f.store.claim_destination("example.org", day0, "mailto:agg@example.org", "otherhost 1", day0 + 86400, 600, "")
                .outcome == st::ClaimOutcome::claimed);
    auto o = f.options(day0 + 86400);
    o.owner = std::string(host) + " " + std::to_string(::getpid());
    const auto busy = dr::run_reports(f.store, f.store, o, f.log);
    CHECK(busy.busy == 1);
    CHECK(busy.delivered == 0);
    CHECK(f.sent.empty());
    CHECK(f.store.last_period_end("example.org").status == st::Status::not_found);
    CHECK(f.log.str().find("busy domain=example.org") != std::string::npos);
    // A run of this host whose process is gone (a child that exited) holds it: taken over at once.
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    REQUIRE(child > 0);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    const std::string dead = std::string(host) + " " + std::to_string(child);
    CHECK(dr::owner_gone(dead));
    CHECK_FALSE(dr::owner_gone(o.owner));        // this process runs
    CHECK_FALSE(dr::owner_gone("otherhost 1"));  // another host: cannot tell
    REQUIRE(f.store.release_destination("example.org", day0, "mailto:agg@example.org", "otherhost 1") == st::Status::ok);
    REQUIRE(f.store.claim_destination("example.org", day0, "mailto:agg@example.org", dead, day0 + 86400, 600, "")
                .outcome == st::ClaimOutcome::claimed);
    const auto taken = dr::run_reports(f.store, f.store, o, f.log);
    CHECK(taken.busy == 0);
    CHECK(taken.delivered == 1);
    REQUIRE(f.sent.size() == 1);
    CHECK(f.log.str().find("takeover domain=example.org") != std::string::npos);
    CHECK(f.store.last_period_end("example.org").value == day0 + 86400);
    // The claim was given back after settling: a later run finds the destination settled, sends nothing.
    const auto again = dr::run_reports(f.store, f.store, o, f.log);
    CHECK(again.delivered == 0);
    CHECK(f.sent.size() == 1);
}
