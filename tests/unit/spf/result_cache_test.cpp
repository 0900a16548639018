// tests/unit/spf/result_cache_test.cpp - ResultCache: hits cost no DNS, TTL expiry, LRU bound, keys.
#include <catch2/catch.hpp>

#include "common/spf/result_cache.hpp"
#include "suite_zone.hpp"

using namespace mailmoat;
using spf::CacheStatus;
using spf::Code;

namespace {
util::IpAddress ip(const char* s) {
    return *util::IpAddress::parse(s);
}
}  // namespace

TEST_CASE("a cached result costs no DNS and expires with its TTL", "[spf][cache]") {
    spf::test::ZoneResolver zone;
    spf::test::FixedClock clock;
    zone.add("example.com", {"TXT", {"v=spf1 ip4:192.0.2.0/24 -all"}});
    spf::Evaluator ev(zone, clock);
    spf::ResultCache cache(clock, {100, std::chrono::seconds(600)});

    auto r = spf::check_mail_from_cached(ev, cache, ip("192.0.2.1"), "a@example.com", "h.example");
    CHECK(r.code == Code::pass);
    CHECK(zone.queries == 1);
    CHECK(cache.size() == 1);
    // Another local-part of the same domain: the record used no sender macros, so it hits.
    r = spf::check_mail_from_cached(ev, cache, ip("192.0.2.1"), "b@EXAMPLE.com", "other.example");
    CHECK(r.code == Code::pass);
    CHECK(zone.queries == 1);
    // Another client: miss.
    r = spf::check_mail_from_cached(ev, cache, ip("198.51.100.1"), "a@example.com", "h.example");
    CHECK(r.code == Code::fail);
    CHECK(zone.queries == 2);
    // TTL 3600 capped at 600 s.
    clock.mono += std::chrono::seconds(599);
    CHECK(cache.find(ip("192.0.2.1"), spf::Identity::mailfrom, "example.com", "x", "y").status == CacheStatus::hit);
    clock.mono += std::chrono::seconds(2);
    CHECK(cache.find(ip("192.0.2.1"), spf::Identity::mailfrom, "example.com", "x", "y").status == CacheStatus::expired);
    CHECK(cache.find(ip("192.0.2.1"), spf::Identity::mailfrom, "example.com", "x", "y").status == CacheStatus::miss);
    // HELO and MAIL FROM identities are separate entries.
    CHECK(cache.find(ip("198.51.100.1"), spf::Identity::helo, "example.com", "postmaster", "example.com").status ==
          CacheStatus::miss);
}

TEST_CASE("sender-specific results only hit for the same local-part and HELO", "[spf][cache]") {
    spf::test::ZoneResolver zone;
    spf::test::FixedClock clock;
    zone.add("example.com", {"TXT", {"v=spf1 exists:%{l}.users.example.com -all"}});
    zone.add("alice.users.example.com", {"A", {"127.0.0.2"}});
    spf::Evaluator ev(zone, clock);
    spf::ResultCache cache(clock);
    auto r = spf::check_mail_from_cached(ev, cache, ip("192.0.2.1"), "alice@example.com", "h.example");
    CHECK(r.code == Code::pass);
    CHECK(r.sender_specific);
    r = spf::check_mail_from_cached(ev, cache, ip("192.0.2.1"), "bob@example.com", "h.example");
    CHECK(r.code == Code::fail);
    const auto before = zone.queries;
    r = spf::check_mail_from_cached(ev, cache, ip("192.0.2.1"), "bob@example.com", "h.example");
    CHECK(r.code == Code::fail);
    CHECK(zone.queries == before);
}

TEST_CASE("temperror is not cached; the cache is bounded (LRU)", "[spf][cache]") {
    spf::test::ZoneResolver zone;
    spf::test::FixedClock clock;
    zone.add("slow.example", {"TIMEOUT", {}});
    for (int i = 0; i < 5; ++i) zone.add("d" + std::to_string(i) + ".example", {"TXT", {"v=spf1 -all"}});
    spf::Evaluator ev(zone, clock);
    spf::ResultCache cache(clock, {3, std::chrono::seconds(3600)});
    auto r = spf::check_mail_from_cached(ev, cache, ip("192.0.2.1"), "a@slow.example", "h.example");
    CHECK(r.code == Code::temperror);
    CHECK(cache.size() == 0);
    for (int i = 0; i < 5; ++i) {
        const auto sender = "a@d" + std::to_string(i) + ".example";
        (void)spf::check_mail_from_cached(ev, cache, ip("192.0.2.1"), sender, "h.example");
        if (i == 2) {  // touch d0 so that d1 is the least recently used
            CHECK(cache.find(ip("192.0.2.1"), spf::Identity::mailfrom, "d0.example", "a", "h").status ==
                  CacheStatus::hit);
        }
    }
    CHECK(cache.size() == 3);
    CHECK(cache.find(ip("192.0.2.1"), spf::Identity::mailfrom, "d1.example", "a", "h").status == CacheStatus::miss);
    CHECK(cache.find(ip("192.0.2.1"), spf::Identity::mailfrom, "d4.example", "a", "h").status == CacheStatus::hit);
    cache.clear();
    CHECK(cache.size() == 0);
}
