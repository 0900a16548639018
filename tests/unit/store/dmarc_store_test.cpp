// tests/unit/store/dmarc_store_test.cpp - the DMARC evaluation store contract, run against SQLite and a real
// Redis: round trip of every field, domain and time filters, persistence across reopen, concurrent
// writers, batches; SQLite's unwritable path and Redis going away.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "common/store/redis_dmarc_store.hpp"
#include "common/store/sqlite_dmarc_store.hpp"
#include "dmarc_backends.hpp"

namespace st = mailmoat::store;
namespace dm = mailmoat::dmarc;
using mailmoat::test::DmarcBackend;

namespace {

dm::ReportRecord sample(std::int64_t t, std::string domain) {
    dm::ReportRecord r;
    r.time = t;
    r.source_ip = "2001:db8::25";
    r.header_from = domain;
    r.envelope_from = "bounce." + domain;
    r.envelope_to = "example.net";
    r.organizational_domain = domain;
    r.policy.domain = domain;
    r.policy.p = "reject";
    r.policy.sp = "quarantine";
    r.policy.np = "reject";
    r.policy.adkim = "s";
    r.policy.testing = "y";
    r.policy.pct = 50;
    r.policy.fo = "1";
    r.policy.psd = "n";
    r.policy.discovery_method = "treewalk";
    r.policy.rua = {"mailto:a@" + domain, "mailto:b@example.net!10m"};
    r.dmarc_result = "fail";
    r.disposition = "none";
    r.dkim_aligned = "fail";
    r.spf_aligned = "pass";
    r.overrides = {{"local_policy", "comment with \x1f separator"}};
    r.dkim = {{domain, "s1", "pass", ""}, {"other.example", "s2", "fail", "body hash mismatch"}};
    r.spf = {{"bounce." + domain, "mfrom", "pass"}};
    return r;
}

}  // namespace

TEST_CASE("every field of a record survives the round trip, and the store survives a reopen") {
    const DmarcBackend backend(GENERATE(as<std::string>(), "sqlite", "redis"));
    INFO("backend " << backend.name());
    {
        auto first = backend.open();
        REQUIRE(first->add(sample(1000, "example.com")).status == st::Status::ok);
    }
    auto store = backend.open();
    auto got = store->records("example.com", 0, 2000, 10);
    REQUIRE(got.status == st::Status::ok);
    REQUIRE(got.records.size() == 1);
    const auto& r = got.records[0];
    CHECK(r.time == 1000);
    CHECK(r.source_ip == "2001:db8::25");
    CHECK(r.envelope_from == "bounce.example.com");
    CHECK(r.policy.sp == "quarantine");
    CHECK(r.policy.pct == 50);
    CHECK(r.policy.rua == std::vector<std::string>{"mailto:a@example.com", "mailto:b@example.net!10m"});
    CHECK(r.spf_aligned == "pass");
    REQUIRE(r.overrides.size() == 1);
    CHECK(r.overrides[0].comment == "comment with   separator");
    REQUIRE(r.dkim.size() == 2);
    CHECK(r.dkim[1].domain == "other.example");
    CHECK(r.dkim[1].human_result == "body hash mismatch");
    REQUIRE(r.spf.size() == 1);
    CHECK(r.spf[0].scope == "mfrom");
}

TEST_CASE("records filter by policy domain and half-open time range, oldest first") {
    const DmarcBackend backend(GENERATE(as<std::string>(), "sqlite", "redis"));
    INFO("backend " << backend.name());
    auto store = backend.open();
    for (std::int64_t t : {300, 100, 200}) REQUIRE(store->add(sample(t, "a.example")).status == st::Status::ok);
    REQUIRE(store->add(sample(150, "b.example")).status == st::Status::ok);
    auto a = store->records("a.example", 100, 300, 10);
    REQUIRE(a.records.size() == 2);
    CHECK(a.records[0].time == 100);
    CHECK(a.records[1].time == 200);
    CHECK(store->records("", 0, 1000, 10).records.size() == 4);
    CHECK(store->records("", 0, 1000, 3).records.size() == 3);
    CHECK(store->records("c.example", 0, 1000, 10).records.empty());
    // Across UTC days (the Redis store keeps one list per domain and day): still oldest first.
    const std::int64_t day = 86400;
    for (std::int64_t t : {3 * day + 5, day + 7, 2 * day - 1}) REQUIRE(store->add(sample(t, "d.example")).status == st::Status::ok);
    auto d = store->records("d.example", 0, 4 * day, 10);
    REQUIRE(d.records.size() == 3);
    CHECK(d.records[0].time == day + 7);
    CHECK(d.records[1].time == 2 * day - 1);
    CHECK(d.records[2].time == 3 * day + 5);
    CHECK(store->records("d.example", day + 8, 3 * day + 5, 10).records.size() == 1);
    // The first record at or after a time (how the report run finds the next period).
    auto first = store->records("d.example", day + 8, 4 * day, 1);
    REQUIRE(first.records.size() == 1);
    CHECK(first.records[0].time == 2 * day - 1);
}

TEST_CASE("a store that cannot be created is a StoreError naming the path") {
    CHECK_THROWS_WITH(st::SqliteDmarcStore({"/nonexistent-dir/x/dmarc.db"}),
                      Catch::Contains("/nonexistent-dir/x/dmarc.db"));
}

TEST_CASE("concurrent writers share commits and every add() that says ok is stored") {
    const DmarcBackend backend(GENERATE(as<std::string>(), "sqlite", "redis"));
    INFO("backend " << backend.name());
    constexpr int threads = 16;
    constexpr int per_thread = 50;
    std::atomic<int> ok{0};
    {
        auto store = backend.open();
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t)
            pool.emplace_back([&, t] {
                for (int i = 0; i < per_thread; ++i)
                    if (store->add(sample(t * per_thread + i, "c.example")).status == st::Status::ok) ++ok;
            });
        for (auto& th : pool) th.join();
    }
    CHECK(ok.load() == threads * per_thread);
    auto reopened = backend.open();
    auto got = reopened->records("c.example", 0, threads * per_thread, threads * per_thread + 10);
    REQUIRE(got.status == st::Status::ok);
    REQUIRE(got.records.size() == static_cast<std::size_t>(threads * per_thread));
    for (int i = 0; i < threads * per_thread; ++i) CHECK(got.records[static_cast<std::size_t>(i)].time == i);
}

TEST_CASE("Redis going away: add() fails at once (no waiting on a dead server), and works again after") {
    const DmarcBackend backend("redis");
    auto store = backend.open();
    REQUIRE(store->add(sample(100, "e.example")).status == st::Status::ok);
    backend.redis()->stop();
    const auto t0 = std::chrono::steady_clock::now();
    const auto lost = store->add(sample(101, "e.example"));
    CHECK(lost.status == st::Status::tempfail);
    CHECK(lost.error.find("redis") != std::string::npos);
    // Within the backoff no connection is tried: the answer comes at once.
    const auto again = store->add(sample(102, "e.example"));
    CHECK(again.status == st::Status::tempfail);
    CHECK(again.error.find("waiting before reconnecting") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3));
    CHECK(store->records("e.example", 0, 1000, 10).status == st::Status::tempfail);
    backend.redis()->start();  // empty: nothing persisted
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // past the first backoff
    st::RecordResult back;
    for (int i = 0; i < 50 && (back = store->add(sample(103, "e.example"))).status != st::Status::ok; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(back.status == st::Status::ok);
    auto got = store->records("e.example", 0, 1000, 10);
    REQUIRE(got.records.size() == 1);
    CHECK(got.records[0].time == 103);
}

TEST_CASE("a wrong Redis password is a tempfail naming the reason, never a crash") {
    const DmarcBackend backend("redis");
    auto spec = st::parse_dmarc_store_url(backend.url());
    REQUIRE(spec);
    spec->redis.password = "wrong";
    auto store = st::open_dmarc_store(*spec);
    const auto r = store->add(sample(1, "f.example"));
    CHECK(r.status == st::Status::tempfail);
    CHECK_THAT(r.error, Catch::Contains("WRONGPASS") || Catch::Contains("invalid"));
}

TEST_CASE("add_batch stores every record of the batch in order, and refuses a null pointer alone") {
    const DmarcBackend backend(GENERATE(as<std::string>(), "sqlite", "redis"));
    INFO("backend " << backend.name());
    auto store = backend.open();
    const auto a = sample(10, "batch.example");
    const auto b = sample(20, "batch.example");
    const auto c = sample(30, "batch.example");
    const auto results = store->add_batch({&a, nullptr, &b, &c});
    REQUIRE(results.size() == 4);
    CHECK(results[0].status == st::Status::ok);
    CHECK(results[1].status == st::Status::tempfail);
    CHECK(results[2].status == st::Status::ok);
    CHECK(results[3].status == st::Status::ok);
    const auto got = store->records("batch.example", 0, 100, 10);
    REQUIRE(got.records.size() == 3);
    CHECK(got.records[0].time == 10);
    CHECK(got.records[1].time == 20);
    CHECK(got.records[2].time == 30);
    CHECK(store->add_batch({}).empty());
}
