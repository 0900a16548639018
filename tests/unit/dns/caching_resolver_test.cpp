// tests/unit/dns/caching_resolver_test.cpp - CachingResolver: TTLs, negative caching, bounds, counters, threads.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/dns/caching_resolver.hpp"
#include "common/dns/ldns_resolver.hpp"
#include "fakes/fake_clock.hpp"
#include "fakes/fake_resolver.hpp"
#include "support/dns_server.hpp"

using mailmoat::dns::Answer;
using mailmoat::dns::CachingResolver;
using mailmoat::dns::LdnsResolver;
using mailmoat::dns::RrType;
using mailmoat::dns::Status;
using mailmoat::test::DnsServer;
using mailmoat::test::FakeClock;
using mailmoat::test::FakeResolver;
using mailmoat::util::IpAddress;
using namespace std::chrono_literals;

namespace {

const char* const zone = R"(
$TTL 300
example.test. 3600 IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 120
example.test. 200 IN A 192.0.2.1
example.test. 300 IN TXT "v=spf1 " "-all"
zero.example.test. 0 IN A 192.0.2.2
servfail.example.test. IN A 192.0.2.4
;@servfail servfail.example.test
)";

std::shared_ptr<LdnsResolver> ldns_for(const DnsServer& server) {
    LdnsResolver::Options options;
    options.server = server.server();
    options.timeout = 2000ms;
    return std::make_shared<LdnsResolver>(options);
}

}  // namespace

TEST_CASE("CachingResolver honours the TTL and answers with the remaining TTL", "[dns][cache]") {
    DnsServer server(zone);
    FakeClock clock;
    CachingResolver cache(ldns_for(server), {}, clock);

    Answer first = cache.query("example.test", RrType::a);
    REQUIRE(first.status == Status::ok);
    CHECK(first.ttl == 200);
    CHECK(server.count("example.test", "A") == 1);

    clock.advance(50s);
    Answer second = cache.query("Example.TEST.", RrType::a);  // same key: case and trailing dot ignored
    REQUIRE(second.status == Status::ok);
    CHECK(second.addresses == first.addresses);
    CHECK(second.ttl == 150);
    CHECK(server.count("example.test", "A") == 1);  // did not reach the server

    // Another type is another key.
    CHECK(cache.query("example.test", RrType::txt).txt == std::vector<std::string>{"v=spf1 -all"});
    CHECK(server.count("example.test", "TXT") == 1);

    clock.advance(149s);
    CHECK(cache.query("example.test", RrType::a).ttl == 1);
    CHECK(server.count("example.test", "A") == 1);

    clock.advance(1s);  // 200 s after the answer: expired
    Answer third = cache.query("example.test", RrType::a);
    CHECK(third.status == Status::ok);
    CHECK(third.ttl == 200);
    CHECK(server.count("example.test", "A") == 2);

    auto st = cache.stats();
    CHECK(st.hits == 2);
    CHECK(st.misses == 3);
    CHECK(st.entries == 2);
    CHECK(st.evictions == 0);
}

TEST_CASE("CachingResolver does not cache TTL 0 answers", "[dns][cache]") {
    DnsServer server(zone);
    FakeClock clock;
    CachingResolver cache(ldns_for(server), {}, clock);
    CHECK(cache.query("zero.example.test", RrType::a).status == Status::ok);
    CHECK(cache.query("zero.example.test", RrType::a).status == Status::ok);
    CHECK(server.count("zero.example.test", "A") == 2);
    CHECK(cache.stats().entries == 0);
}

TEST_CASE("CachingResolver caches NXDOMAIN and NODATA for the SOA minimum", "[dns][cache]") {
    DnsServer server(zone);
    FakeClock clock;
    CachingResolver cache(ldns_for(server), {}, clock);

    CHECK(cache.query("nope.example.test", RrType::a).status == Status::nxdomain);
    CHECK(cache.query("example.test", RrType::mx).status == Status::nodata);
    clock.advance(119s);
    Answer nx = cache.query("nope.example.test", RrType::a);
    CHECK(nx.status == Status::nxdomain);
    CHECK(nx.ttl == 1);
    Answer nodata = cache.query("example.test", RrType::mx);
    CHECK(nodata.status == Status::nodata);
    CHECK(nodata.ttl == 1);
    CHECK(server.count("nope.example.test", "A") == 1);
    CHECK(server.count("example.test", "MX") == 1);

    clock.advance(1s);
    CHECK(cache.query("nope.example.test", RrType::a).status == Status::nxdomain);
    CHECK(cache.query("example.test", RrType::mx).status == Status::nodata);
    CHECK(server.count("nope.example.test", "A") == 2);
    CHECK(server.count("example.test", "MX") == 2);
}

TEST_CASE("CachingResolver caps positive and negative TTLs", "[dns][cache]") {
    DnsServer server(zone);
    FakeClock clock;
    CachingResolver::Options options;
    options.max_ttl = 100;
    options.max_negative_ttl = 10;
    CachingResolver cache(ldns_for(server), options, clock);

    CHECK(cache.query("example.test", RrType::a).ttl == 100);
    CHECK(cache.query("nope.example.test", RrType::a).ttl == 10);
    clock.advance(10s);
    CHECK(cache.query("nope.example.test", RrType::a).status == Status::nxdomain);
    CHECK(server.count("nope.example.test", "A") == 2);
    clock.advance(89s);
    CHECK(cache.query("example.test", RrType::a).ttl == 1);
    clock.advance(1s);
    CHECK(cache.query("example.test", RrType::a).ttl == 100);
    CHECK(server.count("example.test", "A") == 2);
}

TEST_CASE("CachingResolver does not cache tempfail unless told to", "[dns][cache]") {
    DnsServer server(zone);
    FakeClock clock;
    {
        CachingResolver cache(ldns_for(server), {}, clock);
        CHECK(cache.query("servfail.example.test", RrType::a).status == Status::tempfail);
        Answer again = cache.query("servfail.example.test", RrType::a);
        CHECK(again.status == Status::tempfail);
        CHECK(again.error == "SERVFAIL");
        CHECK(server.count("servfail.example.test", "A") == 2);
        CHECK(cache.stats().entries == 0);
    }
    CachingResolver::Options options;
    options.tempfail_ttl = 30;
    CachingResolver cache(ldns_for(server), options, clock);
    CHECK(cache.query("servfail.example.test", RrType::a).status == Status::tempfail);
    clock.advance(29s);
    Answer cached = cache.query("servfail.example.test", RrType::a);
    CHECK(cached.status == Status::tempfail);
    CHECK(cached.error == "SERVFAIL");
    CHECK(server.count("servfail.example.test", "A") == 3);
    clock.advance(1s);
    CHECK(cache.query("servfail.example.test", RrType::a).status == Status::tempfail);
    CHECK(server.count("servfail.example.test", "A") == 4);
}

TEST_CASE("CachingResolver evicts the least recently used entry at its bound", "[dns][cache]") {
    auto fake = std::make_shared<FakeResolver>(R"(
a.test A 192.0.2.1
b.test A 192.0.2.2
c.test A 192.0.2.3
d.test A 192.0.2.4
)");
    FakeClock clock;
    CachingResolver::Options options;
    options.max_entries = 3;
    CachingResolver cache(fake, options, clock);

    for (const char* n : {"a.test", "b.test", "c.test"}) CHECK(cache.query(n, RrType::a).ok());
    CHECK(cache.query("a.test", RrType::a).ok());  // a is now the most recently used
    CHECK(cache.query("d.test", RrType::a).ok());  // evicts b
    auto st = cache.stats();
    CHECK(st.entries == 3);
    CHECK(st.evictions == 1);
    CHECK(st.hits == 1);
    CHECK(st.misses == 4);

    CHECK(cache.query("a.test", RrType::a).ok());
    CHECK(cache.query("c.test", RrType::a).ok());
    CHECK(cache.query("d.test", RrType::a).ok());
    CHECK(fake->queries("a.test", RrType::a) == 1);
    CHECK(fake->queries("c.test", RrType::a) == 1);
    CHECK(fake->queries("d.test", RrType::a) == 1);
    CHECK(cache.query("b.test", RrType::a).ok());
    CHECK(fake->queries("b.test", RrType::a) == 2);
    CHECK(cache.stats().evictions == 2);

    cache.clear();
    CHECK(cache.stats().entries == 0);
    CHECK(cache.query("a.test", RrType::a).ok());
    CHECK(fake->queries("a.test", RrType::a) == 2);
}

TEST_CASE("CachingResolver stays within its bound across shards", "[dns][cache]") {
    std::string text;
    for (int i = 0; i < 5000; ++i) text += "h" + std::to_string(i) + ".test A 192.0.2.1\n";
    auto fake = std::make_shared<FakeResolver>(text);
    FakeClock clock;
    CachingResolver::Options options;
    options.max_entries = 4096;
    CachingResolver cache(fake, options, clock);
    for (int i = 0; i < 5000; ++i) CHECK(cache.query("h" + std::to_string(i) + ".test", RrType::a).ok());
    auto st = cache.stats();
    CHECK(st.entries <= 4096);
    CHECK(st.entries >= 3000);  // the shards fill roughly evenly
    CHECK(st.evictions == 5000 - st.entries);
    CHECK(st.misses == 5000);
}

TEST_CASE("CachingResolver refuses a null upstream or no room", "[dns][cache]") {
    FakeClock clock;
    CHECK_THROWS_AS(CachingResolver(nullptr, {}, clock), std::invalid_argument);
    CachingResolver::Options options;
    options.max_entries = 0;
    CHECK_THROWS_AS(CachingResolver(std::make_shared<FakeResolver>(), options, clock), std::invalid_argument);
}

TEST_CASE("CachingResolver is safe under concurrent use", "[dns][cache]") {
    std::string text;
    for (int i = 0; i < 64; ++i) text += "n" + std::to_string(i) + ".test 60 A 192.0.2." + std::to_string(i) + "\n";
    text += "gone.test NXDOMAIN\nbroken.test TEMPFAIL upstream down\n";
    auto fake = std::make_shared<FakeResolver>(text);
    FakeClock clock;
    CachingResolver::Options options;
    options.max_entries = 24;  // smaller than the working set: evictions under contention
    CachingResolver cache(fake, options, clock);

    constexpr int threads = 8;
    constexpr int per_thread = 3000;
    std::atomic<int> wrong{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                int k = (i * 7 + t * 13) % 70;
                if (k < 64) {
                    Answer a = cache.query("n" + std::to_string(k) + ".test", RrType::a);
                    if (!a.ok() || a.addresses.size() != 1 ||
                        a.addresses[0] != *IpAddress::parse("192.0.2." + std::to_string(k)))
                        wrong.fetch_add(1);
                } else if (k < 67) {
                    if (cache.query("gone.test", RrType::a).status != Status::nxdomain) wrong.fetch_add(1);
                } else {
                    Answer a = cache.query("broken.test", RrType::txt);
                    if (a.status != Status::tempfail || a.error != "upstream down") wrong.fetch_add(1);
                }
                if (t == 0 && i % 500 == 0) clock.advance(30s);  // entries expire while others read
            }
        });
    }
    for (auto& th : pool) th.join();
    CHECK(wrong == 0);
    auto st = cache.stats();
    CHECK(st.hits + st.misses == static_cast<std::uint64_t>(threads * per_thread));
    CHECK(st.misses == fake->total_queries());
    CHECK(st.entries <= 24);
    CHECK(st.evictions > 0);
    CHECK(st.hits > 0);
}
