// tests/unit/store/sqlite_grey_store_test.cpp - SQLite greylist store: first seen, touch, restart, clients,
// expiry, list/remove, reopen after close, concurrent first-seen, an unwritable path.
#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "common/store/sqlite_grey_store.hpp"
#include "common/store/sqlite_handles.hpp"
#include "support/temp_dir.hpp"

using namespace mailmoat;
using namespace std::chrono_literals;
using store::Status;

namespace {

store::TimePoint at(long long s) {
    return store::TimePoint{std::chrono::seconds(s)};
}
constexpr auto max_age = std::chrono::seconds(35 * 86400);

store::SqliteOptions options(const test::TempDir& d) {
    store::SqliteOptions o;
    o.path = d.file("grey.db");
    return o;
}

}  // namespace

TEST_CASE("seen inserts once, then records each attempt and returns the entry as it was", "[store]") {
    test::TempDir dir("grey-store");
    store::SqliteGreyStore s(options(dir));
    auto first = s.seen("k1", at(1000), max_age);
    REQUIRE(first.status == Status::ok);
    CHECK(first.created);
    CHECK(first.entry.count == 1);
    CHECK(first.entry.first_seen == at(1000));
    auto again = s.seen("k1", at(1100), max_age);
    REQUIRE(again.status == Status::ok);
    CHECK_FALSE(again.created);
    CHECK(again.entry.first_seen == at(1000));
    CHECK(again.entry.last_seen == at(1000));
    CHECK(again.entry.count == 1);
    auto third = s.seen("k1", at(1200), max_age);
    REQUIRE(third.status == Status::ok);
    CHECK_FALSE(third.created);
    CHECK(third.entry.first_seen == at(1000));
    CHECK(third.entry.last_seen == at(1100));  // the attempt recorded by the second call
    CHECK(third.entry.count == 2);
    CHECK_FALSE(third.entry.passed);
    auto p = s.set_passed("k1");
    REQUIRE(p.status == Status::ok);
    CHECK(p.entry.passed);
    CHECK(p.entry.count == 3);
    CHECK(p.entry.last_seen == at(1200));
    CHECK(s.seen("k1", at(1300), max_age).entry.passed);
    CHECK(s.set_passed("missing").status == Status::not_found);
    auto other = s.seen("k2", at(1100), max_age);
    REQUIRE(other.status == Status::ok);
    CHECK(other.created);
}

TEST_CASE("touch counts attempts and keeps passed sticky; restart starts over", "[store]") {
    test::TempDir dir("grey-store");
    store::SqliteGreyStore s(options(dir));
    REQUIRE(s.seen("k", at(1000), max_age).status == Status::ok);
    auto t1 = s.touch("k", at(1100), false);
    REQUIRE(t1.status == Status::ok);
    CHECK(t1.entry.count == 2);
    CHECK_FALSE(t1.entry.passed);
    CHECK(t1.entry.last_seen == at(1100));
    auto t2 = s.touch("k", at(1400), true);
    CHECK(t2.entry.passed);
    auto t3 = s.touch("k", at(1500), false);
    CHECK(t3.entry.passed);
    CHECK(t3.entry.count == 4);
    CHECK(t3.entry.first_seen == at(1000));
    auto r = s.restart("k", at(9000));
    REQUIRE(r.status == Status::ok);
    CHECK(r.entry.first_seen == at(9000));
    CHECK(r.entry.count == 1);
    CHECK_FALSE(r.entry.passed);
    CHECK(s.touch("missing", at(1), true).status == Status::not_found);
    CHECK(s.restart("missing", at(1)).status == Status::not_found);
}

TEST_CASE("an entry older than max-age counts as absent in seen", "[store]") {
    test::TempDir dir("grey-store");
    store::SqliteGreyStore s(options(dir));
    REQUIRE(s.seen("k", at(1000), 100s).status == Status::ok);
    auto within = s.seen("k", at(1100), 100s);  // exactly max-age old: still there (and seen again)
    CHECK_FALSE(within.created);
    auto still = s.seen("k", at(1200), 100s);  // max-age counts from the last attempt
    CHECK_FALSE(still.created);
    auto stale = s.seen("k", at(1301), 100s);
    REQUIRE(stale.status == Status::ok);
    CHECK(stale.created);
    CHECK(stale.entry.first_seen == at(1301));
    CHECK(stale.entry.count == 1);
}

TEST_CASE("client counters: add, at_least, max-age", "[store]") {
    test::TempDir dir("grey-store");
    store::SqliteGreyStore s(options(dir));
    CHECK(s.client("c", at(1000), max_age).status == Status::not_found);
    auto a = s.add_client_pass("c", at(1000), 0);
    REQUIRE(a.status == Status::ok);
    CHECK(a.client.count == 1);
    CHECK(s.add_client_pass("c", at(1001), 0).client.count == 2);
    CHECK(s.add_client_pass("c", at(1002), 10).client.count == 10);
    auto c = s.client("c", at(1002), max_age);
    REQUIRE(c.status == Status::ok);
    CHECK(c.client.count == 10);
    CHECK(s.client("c", at(1002 + 101), 100s).status == Status::not_found);
}

TEST_CASE("expire deletes entries and clients unseen since the cutoff", "[store]") {
    test::TempDir dir("grey-store");
    store::SqliteGreyStore s(options(dir));
    REQUIRE(s.seen("old", at(1000), max_age).status == Status::ok);
    REQUIRE(s.seen("new", at(5000), max_age).status == Status::ok);
    REQUIRE(s.add_client_pass("oldc", at(1000), 0).status == Status::ok);
    auto e = s.expire(at(2000));
    REQUIRE(e.status == Status::ok);
    CHECK(e.count == 2);
    auto l = s.list("", 100);
    REQUIRE(l.status == Status::ok);
    REQUIRE(l.entries.size() == 1);
    CHECK(l.entries[0].key == "new");
    CHECK(l.clients.empty());
}

TEST_CASE("list filters by substring and limit; remove reports not_found", "[store]") {
    test::TempDir dir("grey-store");
    store::SqliteGreyStore s(options(dir));
    for (int i = 0; i < 5; ++i)
        REQUIRE(s.seen("n:192.0.2.0/24/a@x/" + std::to_string(i), at(1000 + i), max_age).status == Status::ok);
    REQUIRE(s.seen("n:198.51.100.0/24/b@y/z", at(2000), max_age).status == Status::ok);
    auto l = s.list("192.0.2.", 3);
    REQUIRE(l.status == Status::ok);
    REQUIRE(l.entries.size() == 3);
    CHECK(l.entries[0].key == "n:192.0.2.0/24/a@x/0");
    CHECK(s.remove("n:198.51.100.0/24/b@y/z", false).status == Status::ok);
    CHECK(s.remove("n:198.51.100.0/24/b@y/z", false).status == Status::not_found);
    CHECK(s.list("198.51", 10).entries.empty());
}

TEST_CASE("state survives closing and reopening; the database is in WAL mode and intact", "[store]") {
    test::TempDir dir("grey-store");
    {
        store::SqliteGreyStore s(options(dir));
        REQUIRE(s.seen("k", at(1000), max_age).status == Status::ok);
        REQUIRE(s.touch("k", at(1400), true).status == Status::ok);
        REQUIRE(s.add_client_pass("c", at(1400), 0).status == Status::ok);
    }
    store::SqliteGreyStore s(options(dir));
    auto e = s.seen("k", at(1500), max_age);
    REQUIRE(e.status == Status::ok);
    CHECK_FALSE(e.created);
    CHECK(e.entry.passed);
    CHECK(e.entry.count == 2);
    CHECK(s.client("c", at(1500), max_age).client.count == 1);
    CHECK(s.integrity_check() == "ok");
    // WAL mode is persistent in the file header: bytes 18 and 19 are 2 for WAL.
    std::ifstream f(dir.file("grey.db"), std::ios::binary);
    char header[20] = {};
    f.read(header, sizeof header);
    CHECK(header[18] == 2);
    CHECK(header[19] == 2);
}

TEST_CASE("many threads asking about one new key: exactly one creates it", "[store]") {
    test::TempDir dir("grey-store");
    store::SqliteGreyStore s(options(dir));
    for (int round = 0; round < 5; ++round) {
        const auto key = "race" + std::to_string(round);
        std::atomic<int> created{0};
        std::atomic<int> failed{0};
        std::vector<std::thread> threads;
        for (int i = 0; i < 16; ++i)
            threads.emplace_back([&] {
                auto r = s.seen(key, at(1000), max_age);
                if (r.status != Status::ok)
                    ++failed;
                else if (r.created)
                    ++created;
            });
        for (auto& t : threads) t.join();
        CHECK(failed == 0);
        CHECK(created == 1);
    }
}

TEST_CASE("an unopenable path is a StoreError at construction", "[store]") {
    test::TempDir dir("grey-store");
    store::SqliteOptions o;
    o.path = dir.file("no/such/dir/grey.db");
    CHECK_THROWS_AS(store::SqliteGreyStore(o), store::StoreError);
}

TEST_CASE("a store locked by another writer past the busy timeout gives tempfail, not not_found", "[store]") {
    test::TempDir dir("grey-store");
    auto o = options(dir);
    o.busy_timeout = 50ms;
    store::SqliteGreyStore s(o);
    REQUIRE(s.seen("k", at(1000), max_age).status == Status::ok);
    // A second handle holds the write lock: the store must give up after its busy timeout.
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(o.path.c_str(), &raw) == SQLITE_OK);
    store::SqliteDb other(raw);
    REQUIRE(sqlite3_exec(other.get(), "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);
    auto r = s.seen("k2", at(1000), max_age);
    CHECK(r.status == Status::tempfail);
    CHECK_FALSE(r.error.empty());
    auto t = s.touch("k", at(1001), true);
    CHECK(t.status == Status::tempfail);
    REQUIRE(sqlite3_exec(other.get(), "ROLLBACK", nullptr, nullptr, nullptr) == SQLITE_OK);
    CHECK(s.seen("k2", at(1000), max_age).status == Status::ok);
}
