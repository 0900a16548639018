// tests/unit/store/cached_grey_store_test.cpp - the in-memory front of the SQLite store: same answers as the
// store, new entries committed before they are answered, batched updates, reload, edits by another process.
#include <atomic>
#include <catch2/catch.hpp>
#include <thread>
#include <vector>

#include "common/store/cached_grey_store.hpp"
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

std::unique_ptr<store::SqliteGreyStore> sqlite(const test::TempDir& d) {
    store::SqliteOptions o;
    o.path = d.file("grey.db");
    return std::make_unique<store::SqliteGreyStore>(o);
}

store::CacheOptions slow_flush() {
    store::CacheOptions o;
    o.flush_interval = 60s;  // only explicit flushes (and new entries) write
    o.poll_interval = 60s;
    return o;
}

}  // namespace

TEST_CASE("cached: seen, touch, set_passed, restart and clients answer as the SQLite store does", "[store][cache]") {
    test::TempDir dir("grey-cache");
    store::CachedGreyStore s(sqlite(dir), slow_flush());
    auto a = s.seen("k", at(1000), max_age);
    REQUIRE(a.status == Status::ok);
    CHECK(a.created);
    auto b = s.seen("k", at(1100), max_age);
    REQUIRE(b.status == Status::ok);
    CHECK_FALSE(b.created);
    CHECK(b.entry.first_seen == at(1000));
    CHECK(b.entry.last_seen == at(1000));  // as it was before this attempt
    CHECK(b.entry.count == 1);
    auto p = s.set_passed("k");
    REQUIRE(p.status == Status::ok);
    CHECK(p.entry.passed);
    CHECK(p.entry.count == 2);
    CHECK(s.touch("k", at(1200), false).entry.passed);  // sticky
    auto r = s.restart("k", at(5000));
    CHECK(r.entry.first_seen == at(5000));
    CHECK_FALSE(r.entry.passed);
    CHECK(s.touch("absent", at(1), true).status == Status::not_found);
    CHECK(s.set_passed("absent").status == Status::not_found);
    // An entry older than max-age counts as absent.
    CHECK(s.seen("k", at(5000) + max_age + 1s, max_age).created);
    // Clients: at_least for a manual whitelist, max-age.
    CHECK(s.add_client_pass("c", at(1000), 0).client.count == 1);
    CHECK(s.add_client_pass("c", at(1000), 5).client.count == 5);
    CHECK(s.add_client_pass("c", at(1001), 0).client.count == 6);
    CHECK(s.client("c", at(1001), max_age).client.count == 6);
    CHECK(s.client("c", at(1001) + max_age + 1s, max_age).status == Status::not_found);
    CHECK(s.client("nobody", at(1001), max_age).status == Status::not_found);
}

TEST_CASE("cached: a new entry is in the file when seen() returns, updates wait for a flush", "[store][cache]") {
    test::TempDir dir("grey-cache");
    store::CachedGreyStore s(sqlite(dir), slow_flush());
    auto other = sqlite(dir);  // another reader of the same file
    REQUIRE(s.seen("new", at(1000), max_age).created);
    auto e = other->get("new");
    REQUIRE(e.status == Status::ok);
    CHECK(e.entry.count == 1);
    // An update of a known entry is batched: not yet in the file...
    REQUIRE(s.touch("new", at(1300), true).status == Status::ok);
    CHECK_FALSE(other->get("new").entry.passed);
    CHECK(s.pending() == 1);
    // ...until the flush (one transaction for every row waiting).
    REQUIRE(s.add_client_pass("c", at(1300), 0).status == Status::ok);
    auto f = s.flush();
    REQUIRE(f.status == Status::ok);
    CHECK(f.count == 2);
    CHECK(s.pending() == 0);
    CHECK(other->get("new").entry.passed);
    CHECK(other->client("c", at(1300), max_age).client.count == 1);
}

TEST_CASE("cached: the writer flushes by itself within the interval", "[store][cache]") {
    test::TempDir dir("grey-cache");
    store::CacheOptions o;
    o.flush_interval = 5ms;
    store::CachedGreyStore s(sqlite(dir), o);
    auto other = sqlite(dir);
    REQUIRE(s.seen("k", at(1000), max_age).created);
    REQUIRE(s.touch("k", at(1400), true).status == Status::ok);
    for (int i = 0; i < 400 && !other->get("k").entry.passed; ++i) std::this_thread::sleep_for(5ms);
    CHECK(other->get("k").entry.passed);
}

TEST_CASE("cached: state is reloaded from the file, the destructor writes what waits", "[store][cache]") {
    test::TempDir dir("grey-cache");
    {
        store::CachedGreyStore s(sqlite(dir), slow_flush());
        REQUIRE(s.seen("k", at(1000), max_age).created);
        REQUIRE(s.touch("k", at(1400), true).status == Status::ok);
        REQUIRE(s.add_client_pass("c", at(1400), 3).status == Status::ok);
        REQUIRE(s.seen("gone", at(1000), max_age).created);
        REQUIRE(s.remove("gone", false).status == Status::ok);
        CHECK(s.remove("gone", false).status == Status::not_found);
    }
    store::CachedGreyStore s(sqlite(dir), slow_flush());
    auto e = s.seen("k", at(1500), max_age);
    REQUIRE(e.status == Status::ok);
    CHECK_FALSE(e.created);
    CHECK(e.entry.passed);
    CHECK(e.entry.count == 2);
    CHECK(s.client("c", at(1500), max_age).client.count == 3);
    CHECK(s.seen("gone", at(1500), max_age).created);
}

TEST_CASE("cached: expire drops old rows from memory and from the file", "[store][cache]") {
    test::TempDir dir("grey-cache");
    store::CachedGreyStore s(sqlite(dir), slow_flush());
    REQUIRE(s.seen("old", at(1000), max_age).created);
    REQUIRE(s.seen("new", at(9000), max_age).created);
    REQUIRE(s.add_client_pass("oldc", at(1000), 0).status == Status::ok);
    auto x = s.expire(at(5000));
    REQUIRE(x.status == Status::ok);
    CHECK(x.count == 2);
    auto l = s.list("", 100);  // list flushes first, then reads the file
    REQUIRE(l.status == Status::ok);
    REQUIRE(l.entries.size() == 1);
    CHECK(l.entries[0].key == "new");
    CHECK(l.clients.empty());
}

TEST_CASE("cached: 16 threads on one new key: one creates it, all answers ok", "[store][cache]") {
    test::TempDir dir("grey-cache");
    store::CachedGreyStore s(sqlite(dir));
    for (int round = 0; round < 5; ++round) {
        const auto key = "race" + std::to_string(round);
        std::atomic<int> created{0}, failed{0};
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

TEST_CASE("cached: many threads creating distinct entries share commits and all reach the file", "[store][cache]") {
    test::TempDir dir("grey-cache");
    store::CachedGreyStore s(sqlite(dir));
    std::atomic<int> failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 50; ++i)
                if (s.seen("t" + std::to_string(t) + "-" + std::to_string(i), at(1000), max_age).status != Status::ok)
                    ++failed;
        });
    for (auto& t : threads) t.join();
    CHECK(failed == 0);
    auto other = sqlite(dir);
    auto l = other->list("", 1000);
    CHECK(l.entries.size() == 400);  // every one committed before its answer, without any flush()
}

TEST_CASE("cached: edits by another process (the CLI) reach the daemon's memory", "[store][cache]") {
    test::TempDir dir("grey-cache");
    store::CachedGreyStore s(sqlite(dir), slow_flush());
    REQUIRE(s.seen("k", at(1000), max_age).created);
    REQUIRE(s.touch("k", at(1100), false).status == Status::ok);  // an update not yet written
    auto cli = sqlite(dir);
    REQUIRE(cli->remove("k", false).status == Status::ok);
    REQUIRE(cli->add_client_pass("c", at(1000), 5).status == Status::ok);
    REQUIRE(s.flush().status == Status::ok);  // applies the change log, then writes
    CHECK(s.seen("k", at(1200), max_age).created);  // the deletion won over the pending update
    CHECK(s.client("c", at(1200), max_age).client.count == 5);
    CHECK(cli->get("k").entry.first_seen == at(1200));
}

TEST_CASE("cached: manual whitelist entries pass through to the file", "[store][cache]") {
    test::TempDir dir("grey-cache");
    store::CachedGreyStore s(sqlite(dir), slow_flush());
    REQUIRE(s.add_manual("client", "192.0.2.0/24", at(1000)).status == Status::ok);
    REQUIRE(s.add_manual("sender", "example.org", at(1001)).status == Status::ok);
    auto m = sqlite(dir)->manual();
    REQUIRE(m.status == Status::ok);
    REQUIRE(m.entries.size() == 2);
    CHECK(m.entries[0].kind == "client");
    CHECK(m.entries[0].value == "192.0.2.0/24");
    CHECK(m.entries[1].added == at(1001));
    CHECK(s.remove_manual("client", "192.0.2.0/24").status == Status::ok);
    CHECK(s.remove_manual("client", "192.0.2.0/24").status == Status::not_found);
    CHECK(s.manual().entries.size() == 1);
}

TEST_CASE("cached: a commit that fails gives the creator tempfail, the rows are written once the lock is gone",
          "[store][cache]") {
    test::TempDir dir("grey-cache");
    store::SqliteOptions o;
    o.path = dir.file("grey.db");
    o.busy_timeout = 50ms;
    store::CacheOptions c = slow_flush();
    c.commit_timeout = 1000ms;
    store::CachedGreyStore s(std::make_unique<store::SqliteGreyStore>(o), c);
    REQUIRE(s.seen("k", at(1000), max_age).created);
    // Another handle holds the write lock past the busy timeout.
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(o.path.c_str(), &raw) == SQLITE_OK);
    store::SqliteDb other(raw);
    REQUIRE(sqlite3_exec(other.get(), "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);
    auto r = s.seen("k2", at(1000), max_age);
    CHECK(r.status == Status::tempfail);  // not answered as stored: it is not
    CHECK_FALSE(r.error.empty());
    CHECK(s.touch("k", at(1001), true).status == Status::ok);  // memory answers; the write waits
    CHECK(s.flush().status == Status::tempfail);
    CHECK(s.pending() == 2);
    REQUIRE(sqlite3_exec(other.get(), "ROLLBACK", nullptr, nullptr, nullptr) == SQLITE_OK);
    REQUIRE(s.flush().status == Status::ok);
    auto check = sqlite(dir);
    CHECK(check->get("k2").status == Status::ok);
    CHECK(check->get("k").entry.passed);
}

TEST_CASE("cached: a repeated attempt is written on the slow schedule, a pass on the fast one", "[store][cache]") {
    test::TempDir dir("grey-cache");
    store::CacheOptions o;
    o.flush_interval = 5ms;
    o.seen_flush_interval = 60s;
    o.poll_interval = 60s;
    store::CachedGreyStore s(sqlite(dir), o);
    auto other = sqlite(dir);
    REQUIRE(s.seen("k", at(1000), max_age).created);
    REQUIRE(s.seen("k2", at(1000), max_age).created);
    // An early retry only moves last seen and the count: not urgent, not counted as pending.
    auto e = s.seen("k", at(1100), max_age);
    REQUIRE(e.status == Status::ok);
    CHECK_FALSE(e.created);
    CHECK(s.pending() == 0);
    // A pass of another entry goes out on the fast schedule; the repeated attempt waits for the slow one.
    REQUIRE(s.set_passed("k2").status == Status::ok);
    for (int i = 0; i < 400 && !other->get("k2").entry.passed; ++i) std::this_thread::sleep_for(5ms);
    CHECK(other->get("k2").entry.passed);
    CHECK(other->get("k").entry.count == 1);
    CHECK(other->get("k").entry.last_seen == at(1000));
    // A repeated attempt followed by a pass: written with the urgent rows, with both changes.
    REQUIRE_FALSE(s.seen("k", at(1200), max_age).created);
    REQUIRE(s.set_passed("k").status == Status::ok);
    CHECK(s.pending() == 1);
    for (int i = 0; i < 400 && !other->get("k").entry.passed; ++i) std::this_thread::sleep_for(5ms);
    auto k = other->get("k");
    CHECK(k.entry.passed);
    CHECK(k.entry.count == 3);
    CHECK(k.entry.last_seen == at(1200));
}

TEST_CASE("cached: the writer writes repeated attempts by itself within the slow interval", "[store][cache]") {
    test::TempDir dir("grey-cache");
    store::CacheOptions o;
    o.flush_interval = 5ms;
    o.seen_flush_interval = 20ms;
    store::CachedGreyStore s(sqlite(dir), o);
    auto other = sqlite(dir);
    REQUIRE(s.seen("k", at(1000), max_age).created);
    REQUIRE_FALSE(s.seen("k", at(1100), max_age).created);
    for (int i = 0; i < 400 && other->get("k").entry.count != 2; ++i) std::this_thread::sleep_for(5ms);
    CHECK(other->get("k").entry.count == 2);
    CHECK(other->get("k").entry.last_seen == at(1100));
}

TEST_CASE("cached: flush() and the destructor write repeated attempts too", "[store][cache]") {
    test::TempDir dir("grey-cache");
    {
        store::CachedGreyStore s(sqlite(dir), slow_flush());
        REQUIRE(s.seen("k", at(1000), max_age).created);
        REQUIRE_FALSE(s.seen("k", at(1010), max_age).created);
        auto other = sqlite(dir);
        CHECK(other->get("k").entry.count == 1);  // the slow schedule has not run
        REQUIRE(s.flush().status == Status::ok);
        CHECK(other->get("k").entry.count == 2);
        REQUIRE_FALSE(s.seen("k", at(1020), max_age).created);
    }
    CHECK(sqlite(dir)->get("k").entry.count == 3);
}
