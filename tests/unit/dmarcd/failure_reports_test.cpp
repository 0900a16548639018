// tests/unit/dmarcd/failure_reports_test.cpp - mailmoat-dmarc failure reports: which evaluations get a
// report (ruf=, fo=, psd=y, p=none), and the reporter's worker: external destination verification
// (RFC 9991 §5), rate limit per destination domain, "!size" limits, bcc copies, a full queue.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>

#include "fakes/fake_resolver.hpp"
#include "milters/dmarc/failure_reports.hpp"

using namespace mailmoat;

namespace {

dmarc::Evaluation failing(const std::string& domain, const std::string& fo, std::vector<std::string> ruf, const std::string& p = "reject") {
    dmarc::Evaluation e;
    e.result = dmarc::Result::fail;
    e.disposition = dmarc::Disposition::reject;
    e.lookup.status = dmarc::Result::pass;
    e.lookup.organizational_domain = domain;
    e.lookup.effective_policy = p;
    e.lookup.policy.domain = domain;
    e.lookup.policy.p = p;
    e.lookup.policy.fo = fo;
    e.lookup.policy.ruf = std::move(ruf);
    return e;
}

std::shared_ptr<const dmarcd::Settings> settings(bool enabled = true) {
    dmarcd::Settings s;
    s.authserv_id = "mx.receiver.test";
    s.failure_reports.enabled = enabled;
    s.failure_reports.sender = "dmarc-noreply@receiver.test";
    s.failure_reports.rate_per_hour = 2;
    return std::make_shared<const dmarcd::Settings>(s);
}

dmarcd::FailureMessage message() {
    dmarcd::FailureMessage m;
    m.queue_id = "4ABC";
    m.source_ip = "192.0.2.66";
    m.mail_from = "ceo@example.com";
    m.mail_from_domain = "example.com";
    m.authserv_id = "mx.receiver.test";
    m.delivery_result = "reject";
    m.spf = {"example.com", "mfrom", "fail"};
    return m;
}

std::vector<mail::HeaderField> headers() {
    return {{"From", " CEO <ceo@example.com>"}, {"To", " bob@receiver.test"}, {"Subject", " pay now"}};
}

struct Sent {
    std::string to;
    std::string message;
};

struct Harness {
    std::mutex mu;
    std::vector<Sent> sent;
    std::atomic<std::int64_t> now{1700000000};
    dmarc_report::DeliveryStatus status = dmarc_report::DeliveryStatus::delivered;
    dmarcd::FailureReporter reporter{[this](const dmarcd::Settings&, const std::string&, const std::string& to, const std::string& m) {
                                         std::lock_guard<std::mutex> lock(mu);
                                         sent.push_back({to, m});
                                         return dmarc_report::DeliveryResult{status, "test"};
                                     },
                                     [this] { return now.load(); }};
    std::vector<Sent> wait() {
        REQUIRE(reporter.drain(std::chrono::seconds(10)));
        std::lock_guard<std::mutex> lock(mu);
        return sent;
    }
};

std::vector<dmarcd::FailureJob> jobs_for(const dmarc::Evaluation& e, std::shared_ptr<const dmarcd::Settings> s = settings(),
                                         std::shared_ptr<dns::Resolver> r = std::make_shared<test::FakeResolver>()) {
    return dmarcd::failure_jobs(s, r, message(), headers(), {{"example.com", &e}});
}

}  // namespace

TEST_CASE("failure_jobs: off by default, needs ruf=, follows fo=, skips psd=y and p=none", "[dmarcd]") {
    const auto e = failing("example.com", "1", {"mailto:ruf@example.com"});
    CHECK(jobs_for(e, settings(false)).empty());
    CHECK(jobs_for(failing("example.com", "1", {})).empty());
    const auto j = jobs_for(e);
    REQUIRE(j.size() == 1);
    CHECK(j[0].report.kind == dmarc_report::FailureKind::dmarc);
    CHECK(j[0].report.identity_alignment == "spf");  // aligned MAIL FROM failed SPF; no signature
    CHECK(j[0].spf_dns_domain == "example.com");
    CHECK(j[0].report.delivery_result == "reject");
    CHECK(j[0].report.headers.size() == 3);
    CHECK(j[0].report.auth_results == "mx.receiver.test; dmarc=fail (p=reject) header.from=example.com; spf=fail smtp.mailfrom=ceo@example.com");
    // fo=d without a failing signature: nothing; with one: a dkim report naming it.
    auto d = failing("example.com", "d", {"mailto:ruf@example.com"});
    CHECK(jobs_for(d).empty());
    auto m = message();
    m.dkim = {{"esp.example", "s1", "fail", "signature did not verify"}};
    const auto dj = dmarcd::failure_jobs(settings(), std::make_shared<test::FakeResolver>(), m, headers(), {{"example.com", &d}});
    REQUIRE(dj.size() == 1);
    CHECK(dj[0].report.kind == dmarc_report::FailureKind::dkim);
    REQUIRE(dj[0].report.dkim_failures.size() == 1);
    CHECK(dj[0].report.dkim_failures[0].domain == "esp.example");
    // fo=s: SPF failed.
    const auto s = jobs_for(failing("example.com", "s", {"mailto:ruf@example.com"}));
    REQUIRE(s.size() == 1);
    CHECK(s[0].report.kind == dmarc_report::FailureKind::spf);
    // psd=y (RFC 9991 §2) and p=none without failure-reports-on-none.
    auto psd = e;
    psd.lookup.policy.psd = "y";
    CHECK(jobs_for(psd).empty());
    const auto none = failing("example.com", "1", {"mailto:ruf@example.com"}, "none");
    CHECK(jobs_for(none).empty());
    auto on_none = std::make_shared<dmarcd::Settings>(*settings());
    on_none->failure_reports.on_none = true;
    CHECK(jobs_for(none, on_none).size() == 1);
    // No usable record, or a temperror: nothing.
    auto nolookup = e;
    nolookup.lookup.status = dmarc::Result::none;
    CHECK(jobs_for(nolookup).empty());
    auto temp = e;
    temp.result = dmarc::Result::temperror;
    CHECK(jobs_for(temp).empty());
}

TEST_CASE("the reporter verifies external destinations, rate-limits, honours !size and copies to bcc", "[dmarcd]") {
    auto dns = std::make_shared<test::FakeResolver>(
        "example.com TXT \"v=spf1 -all\"\n"
        "example.com._report._dmarc.reports.test TXT \"v=DMARC1\"\n");
    Harness h;
    // Internal, authorized external, unauthorized external, unsupported, and a size limit too small.
    auto e = failing("example.com", "1",
                     {"mailto:ruf@example.com", "mailto:ruf@reports.test", "mailto:ruf@stranger.test", "https://x.test/",
                      "mailto:small@example.com!100"});
    for (auto& j : jobs_for(e, settings(), dns)) REQUIRE(h.reporter.offer(std::move(j)));
    auto sent = h.wait();
    REQUIRE(sent.size() == 2);
    CHECK(sent[0].to == "ruf@example.com");
    CHECK(sent[1].to == "ruf@reports.test");
    const auto& m = sent[0].message;
    CHECK(m.find("SPF-DNS: txt : example.com : \"v=spf1 -all\"\n") != std::string::npos);
    CHECK(m.find("To: ruf@example.com\n") != std::string::npos);
    CHECK(m.find("ceo@") == std::string::npos);  // redacted by default
    CHECK(m.find("bob@") == std::string::npos);
    CHECK(h.reporter.stats().sent == 2);
    CHECK(h.reporter.stats().dropped == 3);  // stranger.test, https:, !100

    // The rate limit (2 per destination domain per hour, set above): example.com had 1 (the report refused
    // for its size did not count), so of 3 more only 1 goes out.
    for (int i = 0; i < 3; ++i)
        for (auto& j : jobs_for(failing("example.com", "1", {"mailto:ruf@example.com"}), settings(), dns)) REQUIRE(h.reporter.offer(std::move(j)));
    sent = h.wait();
    const auto to_example = std::count_if(sent.begin(), sent.end(), [](const Sent& s) { return s.to == "ruf@example.com"; });
    CHECK(to_example == 2);
    // A new hour opens the window again.
    h.now += 3600;
    for (auto& j : jobs_for(failing("example.com", "1", {"mailto:ruf@example.com"}), settings(), dns)) REQUIRE(h.reporter.offer(std::move(j)));
    sent = h.wait();
    CHECK(std::count_if(sent.begin(), sent.end(), [](const Sent& s) { return s.to == "ruf@example.com"; }) == 3);

    // bcc: a copy of the same report to each configured address.
    auto withbcc = std::make_shared<dmarcd::Settings>(*settings());
    withbcc->failure_reports.bcc = {"audit@receiver.test"};
    withbcc->failure_reports.redact = false;
    for (auto& j : jobs_for(failing("example.com", "1", {"mailto:ruf@reports.test"}), withbcc, dns)) REQUIRE(h.reporter.offer(std::move(j)));
    sent = h.wait();
    REQUIRE(sent.size() >= 2);
    CHECK(sent[sent.size() - 2].to == "ruf@reports.test");
    CHECK(sent.back().to == "audit@receiver.test");
    CHECK(sent.back().message == sent[sent.size() - 2].message);
    CHECK(sent.back().message.find("CEO <ceo@example.com>") != std::string::npos);  // redact off
}

TEST_CASE("a DNS failure or a delivery failure drops the report with a count, the worker goes on", "[dmarcd]") {
    auto dns = std::make_shared<test::FakeResolver>("example.com._report._dmarc.slow.test TEMPFAIL timeout\n");
    Harness h;
    for (auto& j : jobs_for(failing("example.com", "1", {"mailto:ruf@slow.test"}), settings(), dns)) REQUIRE(h.reporter.offer(std::move(j)));
    CHECK(h.wait().empty());
    CHECK(h.reporter.stats().dropped == 1);
    h.status = dmarc_report::DeliveryStatus::temporary_failure;
    for (auto& j : jobs_for(failing("example.com", "1", {"mailto:ruf@example.com"}), settings(), dns)) REQUIRE(h.reporter.offer(std::move(j)));
    CHECK(h.wait().size() == 1);
    CHECK(h.reporter.stats().sent == 0);
    CHECK(h.reporter.stats().dropped == 2);
}

TEST_CASE("a full queue drops at once instead of waiting", "[dmarcd]") {
    std::mutex gate;
    std::unique_lock<std::mutex> hold(gate);  // the worker blocks in its first delivery until released
    std::atomic<int> delivered{0};
    dmarcd::FailureReporter reporter([&](const dmarcd::Settings&, const std::string&, const std::string&, const std::string&) {
        std::lock_guard<std::mutex> wait(gate);
        ++delivered;
        return dmarc_report::DeliveryResult{dmarc_report::DeliveryStatus::delivered, ""};
    });
    auto small = std::make_shared<dmarcd::Settings>(*settings());
    small->failure_reports.queue_size = 2;
    small->failure_reports.rate_per_hour = 100;
    auto dns = std::make_shared<test::FakeResolver>();
    int accepted = 0, refused = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 10; ++i)
        for (auto& j : jobs_for(failing("example.com", "1", {"mailto:ruf@example.com"}), small, dns))
            (reporter.offer(std::move(j)) ? accepted : refused)++;
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
    // One job is in the worker's hands (blocked), two wait in the queue; the rest were refused. The
    // worker may not have taken the first one yet, so 2 or 3 were accepted.
    CHECK(accepted >= 2);
    CHECK(accepted <= 3);
    CHECK(refused == 10 - accepted);
    hold.unlock();
    REQUIRE(reporter.drain(std::chrono::seconds(10)));
    CHECK(delivered == accepted);
    CHECK(reporter.stats().dropped == static_cast<std::uint64_t>(refused));
}

TEST_CASE("HeaderCopy keeps fields in order within its bounds", "[dmarcd]") {
    dmarcd::HeaderCopy c;
    c.add("From", "a@example.com");
    c.add("Subject", "hi\n\tthere");
    REQUIRE(c.fields().size() == 2);
    CHECK(c.fields()[0].raw_value == " a@example.com");
    CHECK(c.fields()[1].raw_value == " hi\r\n\tthere");
    for (int i = 0; i < 1000; ++i) c.add("X-Many", "v");
    CHECK(c.fields().size() == dmarcd::HeaderCopy::max_fields);
    c.clear();
    c.add("X-Big", std::string(dmarcd::HeaderCopy::max_bytes, 'x'));
    CHECK(c.fields().empty());
}
