// tests/unit/store/sqlite_dmarc_store_test.cpp - the DMARC evaluation store: round trip of every field,
// domain and time filters, persistence across reopen, an unwritable path.
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <thread>
#include <vector>
#include <unistd.h>

#include "common/store/sqlite_dmarc_store.hpp"

namespace fs = std::filesystem;
namespace st = mailmoat::store;
namespace dm = mailmoat::dmarc;

namespace {

struct TempDir {
    fs::path path = fs::temp_directory_path() / ("mm-dmarc-store-" + std::to_string(::getpid()));
    TempDir() { fs::create_directories(path); }
    ~TempDir() { fs::remove_all(path); }
};

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
    TempDir dir;
    const auto path = (dir.path / "dmarc.db").string();
    {
        st::SqliteDmarcStore store({path});
        REQUIRE(store.add(sample(1000, "example.com")).status == st::Status::ok);
    }
    st::SqliteDmarcStore store({path});
    auto got = store.records("example.com", 0, 2000, 10);
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
    TempDir dir;
    st::SqliteDmarcStore store({(dir.path / "dmarc.db").string()});
    for (std::int64_t t : {300, 100, 200}) REQUIRE(store.add(sample(t, "a.example")).status == st::Status::ok);
    REQUIRE(store.add(sample(150, "b.example")).status == st::Status::ok);
    auto a = store.records("a.example", 100, 300, 10);
    REQUIRE(a.records.size() == 2);
    CHECK(a.records[0].time == 100);
    CHECK(a.records[1].time == 200);
    CHECK(store.records("", 0, 1000, 10).records.size() == 4);
    CHECK(store.records("", 0, 1000, 3).records.size() == 3);
    CHECK(store.records("c.example", 0, 1000, 10).records.empty());
}

TEST_CASE("a store that cannot be created is a StoreError naming the path") {
    CHECK_THROWS_WITH(st::SqliteDmarcStore({"/nonexistent-dir/x/dmarc.db"}),
                      Catch::Contains("/nonexistent-dir/x/dmarc.db"));
}

TEST_CASE("concurrent writers share commits and every add() that says ok is stored") {
    TempDir dir;
    const auto path = (dir.path / "dmarc.db").string();
    constexpr int threads = 16;
    constexpr int per_thread = 50;
    std::atomic<int> ok{0};
    {
        st::SqliteDmarcStore store({path});
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t)
            pool.emplace_back([&, t] {
                for (int i = 0; i < per_thread; ++i)
                    if (store.add(sample(t * per_thread + i, "c.example")).status == st::Status::ok) ++ok;
            });
        for (auto& th : pool) th.join();
    }
    CHECK(ok.load() == threads * per_thread);
    st::SqliteDmarcStore reopened({path});
    auto got = reopened.records("c.example", 0, threads * per_thread, threads * per_thread + 10);
    REQUIRE(got.status == st::Status::ok);
    REQUIRE(got.records.size() == static_cast<std::size_t>(threads * per_thread));
    for (int i = 0; i < threads * per_thread; ++i) CHECK(got.records[static_cast<std::size_t>(i)].time == i);
}

TEST_CASE("add_batch stores every record of the batch in order, and refuses a null pointer alone") {
    TempDir dir;
    st::SqliteDmarcStore store({(dir.path / "dmarc.db").string()});
    const auto a = sample(10, "batch.example");
    const auto b = sample(20, "batch.example");
    const auto c = sample(30, "batch.example");
    const auto results = store.add_batch({&a, nullptr, &b, &c});
    REQUIRE(results.size() == 4);
    CHECK(results[0].status == st::Status::ok);
    CHECK(results[1].status == st::Status::tempfail);
    CHECK(results[2].status == st::Status::ok);
    CHECK(results[3].status == st::Status::ok);
    const auto got = store.records("batch.example", 0, 100, 10);
    REQUIRE(got.records.size() == 3);
    CHECK(got.records[0].time == 10);
    CHECK(got.records[1].time == 20);
    CHECK(got.records[2].time == 30);
    CHECK(store.add_batch({}).empty());
}
